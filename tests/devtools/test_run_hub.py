"""``run_hub`` (what ``make run`` runs): it refuses a port in use before printing anything, prints the banner once
the web server answers, and starts again a process that dies instead of stopping everything.

Real processes on the configured database and broker (SQLite and the filesystem broker on the embedded
defaults)."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from django.conf import settings

from tests.integration.conftest import ROOT, _database_url, broker_reset, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("real-worker")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
           "HUB_VAR_DIR": str(tmp_path / "var"), "PYTHONUNBUFFERED": "1", "HUB_SWEEP_SECONDS": "5"}
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


class Runner:
    def __init__(self, tmp_path, *args):
        self.log = tmp_path / "run_hub.log"
        self.proc = subprocess.Popen([sys.executable, "manage.py", "run_hub", *args], cwd=ROOT, env=_env(tmp_path),
                                     stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def pid_of(self, name: str, after: int = 0) -> int:
        pids = re.findall(rf"{name} started(?: again)? \(pid (\d+)", self.text())
        return int(pids[after]) if len(pids) > after else 0

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def test_a_port_in_use_is_refused_before_the_banner(transactional_db, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        runner = Runner(tmp_path, "--addr", f"127.0.0.1:{port}")
        assert runner.proc.wait(timeout=60) != 0
    text = runner.text()
    assert f"127.0.0.1:{port} is in use" in text and "HUB_ADDR" in text
    assert "Messaging hub is ready" not in text and "started (pid" not in text


def test_a_process_that_dies_is_started_again_and_the_others_keep_running(transactional_db, tmp_path):
    broker_reset()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    runner = Runner(tmp_path, "--addr", f"127.0.0.1:{port}", "--concurrency", "1")
    try:
        wait_for(lambda: "Messaging hub is ready" in runner.text() or runner.proc.poll() is not None, timeout=90,
                 what="the banner")
        assert runner.proc.poll() is None, runner.text()[-3000:]
        text = runner.text()
        assert f"Admin:    {url}/admin/" in text
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200  # the banner came after the web server
        wait_for(lambda: "ready." in runner.text(), timeout=60, what="the worker")

        # The worker dies as an out-of-memory kill would take it: it is started again, web and beat go on.
        worker = runner.pid_of("worker")
        beat = runner.pid_of("beat")
        os.killpg(worker, signal.SIGKILL)
        wait_for(lambda: runner.pid_of("worker", after=1), timeout=30, what="the worker to be started again")
        assert "worker exited (killed by SIGKILL); starting it again in 1 s." in runner.text()
        wait_for(lambda: runner.text().count("ready.") >= 2, timeout=60, what="the new worker to be ready")
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
        assert runner.pid_of("beat", after=1) == 0 and os.kill(beat, 0) is None  # beat was never restarted

        # The web server too; and a second quick death waits twice as long.
        web = runner.pid_of("web")
        os.killpg(web, signal.SIGKILL)
        wait_for(lambda: runner.pid_of("web", after=1), timeout=30, what="the web server to be started again")
        wait_for(lambda: _answers(url), timeout=60, what="the web server to answer again")
        os.killpg(runner.pid_of("web", after=1), signal.SIGKILL)
        wait_for(lambda: "web exited (killed by SIGKILL); starting it again in 2 s." in runner.text(), timeout=30,
                 what="the doubled pause")
        wait_for(lambda: _answers(url), timeout=60, what="the web server to answer again")
        assert runner.proc.poll() is None
        assert runner.text().count("Messaging hub is ready") == 1
    finally:
        code = runner.stop()
    assert code == 0, runner.text()[-3000:]
    assert "All processes stopped." in runner.text()


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        time.sleep(0.1)
        return False
