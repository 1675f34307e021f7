"""The broker under load: several processes publish thousands of tasks at once while a real worker consumes
them and beat sends its sweeps every second. Every task runs exactly once and the worker never stops.

It runs on the configured broker: the embedded filesystem broker (in a folder of its own) on the embedded
defaults, Redis otherwise."""

import os
import subprocess
import sys
import time
from collections import Counter

from django.conf import settings

from tests.integration.conftest import ROOT, _database_url, broker_reset, wait_for

PUBLISHERS = 4
PER_PUBLISHER = 1000
TOTAL = PUBLISHERS * PER_PUBLISHER


def _env(tmp_path):
    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
           "PYTHONUNBUFFERED": "1", "HUB_SWEEP_SECONDS": "1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    if settings.CELERY_BROKER_URL.startswith("filesystem"):
        env["HUB_VAR_DIR"] = str(tmp_path / "var")  # a broker folder of its own
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


def _start(cmd, env, log):
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_thousands_of_tasks_from_several_processes_each_run_exactly_once(transactional_db, tmp_path):
    broker_reset()
    env = _env(tmp_path)
    results = tmp_path / "ran.txt"
    queues = settings.CELERY_TASK_QUEUES_ALL
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    worker = _start([sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
                     "--concurrency", "2", "-Q", ",".join(queues), "--include", "tests.integration.broker_probe",
                     "--hostname", f"stress-{os.getpid()}@%h"], env, worker_log)
    beat = _start([sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
                   "--schedule", str(tmp_path / "beat-schedule"), "--pidfile="], env, beat_log)
    publishers = []
    try:
        wait_for(lambda: "ready." in worker_log.read_text() or worker.poll() is not None, timeout=60,
                 what="the worker to start")
        assert worker.poll() is None, worker_log.read_text()[-3000:]
        for n in range(PUBLISHERS):
            code = (f"from tests.integration.broker_probe import publish; "
                    f"publish({n * PER_PUBLISHER}, {PER_PUBLISHER}, {str(results)!r}, {tuple(queues)!r})")
            publishers.append(_start([sys.executable, "-c", code], env, tmp_path / f"publisher-{n}.log"))
        for n, publisher in enumerate(publishers):
            assert publisher.wait(timeout=180) == 0, (tmp_path / f"publisher-{n}.log").read_text()[-3000:]

        def all_ran():
            assert worker.poll() is None, f"the worker stopped:\n{worker_log.read_text()[-4000:]}"
            return results.exists() and len(results.read_text().split()) >= TOTAL

        wait_for(all_ran, timeout=240, interval=0.5, what=f"{TOTAL} tasks to run")
        time.sleep(2)  # a task delivered twice would run within this time
        assert worker.poll() is None and beat.poll() is None
    finally:
        for proc in publishers:
            _stop(proc)
        _stop(beat)
        _stop(worker)
    ran = Counter(int(line) for line in results.read_text().split())
    assert set(ran) == set(range(TOTAL)), f"{TOTAL - len(ran)} tasks never ran"
    twice = {n: c for n, c in ran.items() if c > 1}
    assert not twice, f"{len(twice)} tasks ran more than once"
    log = worker_log.read_text()
    assert "Unrecoverable error" not in log and "Traceback" not in log, log[-4000:]
    assert "Sending due task" in beat_log.read_text(), "beat sent nothing during the test"
