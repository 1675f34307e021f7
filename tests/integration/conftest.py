"""Real processes for integration tests: a Celery worker on the configured broker and test database.

The suite runs these tests on whatever ``DATABASE_URL`` / ``CELERY_BROKER_URL`` say: PostgreSQL
and Redis in CI's first pass, SQLite and the filesystem broker in its second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{db['NAME']}"


def pytest_collection_modifyitems(items):
    # One worker process at a time: they share the broker's queues (make test runs them in a serial pass).
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.xdist_group("real-worker"))


def broker_reset() -> None:
    """Start a test with real workers from a clean broker: nothing left in the hub's queues by earlier tests
    (their beat sweeps, a killed worker's tasks), and no coalescing flag of this test database still set.
    Safe because these tests run one at a time (make test runs them in a serial pass)."""
    with celery_app.connection_for_write() as conn:
        for name in settings.CELERY_TASK_QUEUES_ALL:
            try:
                conn.default_channel.queue_purge(name)
            except Exception:  # a queue that does not exist yet has nothing to purge
                pass
    if settings.REDIS_URL:
        from django.core.cache import cache

        client = cache._cache.get_client()
        database = connection.settings_dict["NAME"]
        for pattern in (f"*inbound-drain:{database}:*", f"*assignment-cycle-queued:{database}"):
            for key in client.scan_iter(match=pattern):
                client.delete(key)


@pytest.fixture
def worker_env() -> dict[str, str]:
    """Extra environment for the worker process; override in a test module."""
    return {}


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path, worker_env):
    """Start ``celery worker`` against the test database; tasks published by the test go to it."""
    env = {
        **os.environ,
        **worker_env,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "HUB_VAR_DIR": str(settings.VAR_DIR),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    broker_reset()
    log_path = tmp_path / "worker.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "1",
         "-Q", ",".join(settings.CELERY_TASK_QUEUES_ALL), "--without-mingle", "--without-gossip", "--hostname", f"test-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    celery_app.conf.task_always_eager = False
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("celery worker did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.2)
        proc.log_path = log_path
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class ProviderStub:
    """A tiny HTTP stand-in for Twilio and TeleSign that records every request it gets."""

    def __init__(self):
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                with stub._lock:
                    stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                          "form": parse_qs(body)})
                if self.path.startswith("/2010-04-01/"):
                    payload, status = {"sid": "SM" + uuid.uuid4().hex, "status": "queued"}, 201
                else:
                    payload, status = {"reference_id": uuid.uuid4().hex.upper(), "status": {"code": 290}}, 200
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider_stub():
    stub = ProviderStub()
    yield stub
    stub.close()


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    """Poll ``predicate`` until it is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
