"""End to end: the web app under gunicorn, a Celery worker and beat as real processes, PostgreSQL and Redis,
and the provider emulator standing in for TeleSign and Twilio.

The processes use the test database (pytest-django's) and the configured Redis; each test gets its own
stack. Logs of every process are kept and printed when a test fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from devtools.emulator.server import ProviderEmulator
from tests.integration.conftest import _database_url, broker_reset

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.xdist_group("real-worker"))


def needs_real_services():
    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("end-to-end tests run on PostgreSQL and Redis (set DATABASE_URL and REDIS_URL)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Process:
    name: str
    cmd: list[str]
    log: Path
    proc: subprocess.Popen | None = None

    def start(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=env, stdout=self.log.open("ab"),
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL the whole process group, as an out-of-memory kill or a power cut would."""
        self.stop(signal.SIGKILL)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Stack:
    web_url: str
    emulator: ProviderEmulator
    env: dict[str, str]
    processes: dict[str, Process] = field(default_factory=dict)

    def api(self, token: str) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        return session

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} -----\n{p.text()[-4000:]}" for p in self.processes.values())

    def start_worker(self, name: str = "worker", concurrency: int = 2, queues: str | None = None) -> Process:
        """A plain ``celery -A config worker`` (every declared queue), or one for ``-Q queues``."""
        only = ["-Q", queues] if queues else []
        process = Process(name, [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
                                 "--concurrency", str(concurrency), *only,
                                 "--without-mingle", "--without-gossip", "--hostname", f"{name}-{os.getpid()}@%h"],
                          self.processes["web"].log.with_name(f"{name}.log"))
        process.start(self.env)
        self.processes[name] = process
        wait_for_text(process, "ready.", timeout=60)
        return process


def wait_for_text(process: Process, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in process.text():
        if process.proc is not None and process.proc.poll() is not None:
            raise RuntimeError(f"{process.name} exited:\n{process.text()[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{process.name} did not get ready:\n{process.text()[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def emulator_tls(tmp_path_factory):
    """The emulator's HTTPS certificate (its ACS endpoint), trusted by the hub's processes."""
    from devtools.emulator.tls import self_signed_certificate

    return self_signed_certificate(tmp_path_factory.mktemp("emulator-tls"))


@pytest.fixture
def stack_env() -> dict[str, str]:
    """More environment for every process of the stack; override in a test module."""
    return {}


@pytest.fixture
def stack(transactional_db, tmp_path, request, stack_env, emulator_tls):
    """Emulator + gunicorn + worker + beat against the test database and Redis."""
    needs_real_services()
    broker_reset()
    emulator = ProviderEmulator(callback_delay_ms=20, seed=7, tls_cert=str(emulator_tls[0]),
                                tls_key=str(emulator_tls[1]), acs_callback_retry_ms=[500, 1000])
    emulator_url = emulator.start_in_thread()
    port = free_port()
    web_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PUBLIC_BASE_URL": web_url,
        "TWILIO_API_URL": emulator_url,
        "TELESIGN_API_URL": emulator_url,
        # ACS accounts name the emulator's HTTPS port as their resource endpoint.
        "PROVIDER_CA_BUNDLE": str(emulator_tls[0]),
        "ACS_ENDPOINT_HOSTS": "127.0.0.1",
        # The emulator's media and the tests' bots live on this machine (config/egress.py).
        "EGRESS_ALLOWED_NETWORKS": "127.0.0.0/8",
        "HUB_VAR_DIR": str(tmp_path / "var"),
        "PYTHONUNBUFFERED": "1",
        # Fast recovery and retries, so failures play out within a test.
        "HUB_SWEEP_SECONDS": "2",
        "MESSAGE_RETRY_BASE_SECONDS": "0.5",
        "MESSAGE_RETRY_MAX_SECONDS": "2",
        "MESSAGE_REQUEUE_AFTER_SECONDS": "3",
        "MESSAGE_SENDING_STALE_SECONDS": "6",
        "INBOUND_EVENT_REQUEUE_AFTER_SECONDS": "3",
        "PROVIDER_READ_TIMEOUT": "1.5",
        "OUTBOUND_REQUEUE_AFTER_SECONDS": "3",
        "OUTBOUND_REQUEST_LEASE_SECONDS": "5",
        **stack_env,
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    settings.PUBLIC_BASE_URL = web_url  # the test process builds the same callback URLs
    settings.ACS_ENDPOINT_HOSTS = ["127.0.0.1"]
    s = Stack(web_url=web_url, emulator=emulator, env=env)
    web = Process("web", [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
                          "--workers", "2", "--threads", "4", "--timeout", "30"], tmp_path / "web.log")
    beat = Process("beat", [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
                            "--schedule", str(tmp_path / "beat-schedule")], tmp_path / "beat.log")
    s.processes["web"] = web
    try:
        web.start(env)
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{web_url}/healthz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if web.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{web.text()[-3000:]}")
            time.sleep(0.2)
        s.start_worker()
        s.processes["beat"] = beat
        beat.start(env)
        yield s
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print(s.logs())
        for process in reversed(list(s.processes.values())):
            process.stop()
        emulator.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report


def wait_until(predicate, *, timeout: float = 60.0, interval: float = 0.25, what: str = "condition", stack=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def answering_admin_token(username: str = "admin") -> str:
    """An API token of a superuser who is also an available agent of the default queue, with room for every
    conversation of a test: answering an open conversation takes it, and distribution gives work only to
    a present member with capacity."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from workstreams.models import AgentProfile
    from workstreams.services.routing import default_queue

    admin = get_user_model().objects.create_superuser(username, password="x")
    AgentProfile.objects.create(user=admin, presence="available", capacity=100_000)
    default_queue().members.add(admin)
    return Token.objects.create(user=admin).key
