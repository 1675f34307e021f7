"""Embedded brokers under load: several processes publish thousands of tasks at once while a real worker
(two processes) consumes them and beat sends its sweeps every second, on a SQLite database as with
``make run``. Compared: the hub's filesystem broker, kombu's own filesystem transport, and kombu's
SQLAlchemy transport on a SQLite file.

    python -m bench.broker [--publishers 4] [--tasks 1000] [--rounds 2] [--variants filesystem,stock-filesystem,sqla]

Per round: publishing rate (all publishers together), tasks run per second from the first publish to
the last task, and tasks lost, run twice or left when the worker stopped. Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter

from bench.common import ROOT, WORK, log, machine_table, start, stop, write_section

QUEUES = ("default", "replies", "bulk")


def publish(first: int, count: int, path: str) -> None:
    import django

    django.setup()
    from bench.broker_app import app

    with app.producer_or_acquire() as producer:
        for number in range(first, first + count):
            app.send_task("bench.broker_probe", args=[number, path], queue=QUEUES[number % len(QUEUES)],
                          producer=producer)


def _env(variant: str, folder) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder / 'hub.sqlite3'}", "HUB_VAR_DIR": str(folder),
           "HUB_SWEEP_SECONDS": "1", "LOG_LEVEL": "WARNING", "BENCH_BROKER_VARIANT": variant,
           "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    for name in ("REDIS_URL", "CELERY_TASK_ALWAYS_EAGER"):
        env.pop(name, None)
    env["CELERY_BROKER_URL"] = f"sqla+sqlite:///{folder / 'broker.sqlite3'}" if variant == "sqla" else "filesystem://"
    return env


def _round(variant: str, publishers: int, tasks: int, index: int) -> dict:
    folder = WORK / "broker" / f"{variant}-{index}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    env = _env(variant, folder)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    results = folder / "ran.txt"
    total = publishers * tasks
    worker = start(f"broker-{variant}-worker", [
        sys.executable, "-m", "celery", "-A", "bench.broker_app", "worker", "--loglevel", "INFO", "--concurrency",
        "2", "-Q", ",".join(QUEUES), "--hostname", f"bench-{variant}-{index}@%h"], env)
    beat = start(f"broker-{variant}-beat", [sys.executable, "-m", "celery", "-A", "bench.broker_app", "beat",
                                            "--schedule", str(folder / "beat-schedule"), "--pidfile="], env)
    worker_log = WORK / f"broker-{variant}-worker.log"
    offset = worker_log.stat().st_size if worker_log.exists() else 0
    outcome = {"variant": variant, "crashed": False}
    try:
        deadline = time.monotonic() + 60
        while b"ready." not in worker_log.read_bytes()[offset:]:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"{variant}: the worker did not start")
            time.sleep(0.2)
        started = time.monotonic()
        procs = [start(f"broker-{variant}-publisher", [
            sys.executable, "-c", f"from bench.broker import publish; publish({n * tasks}, {tasks}, {str(results)!r})"],
            env) for n in range(publishers)]
        for proc in procs:
            proc.wait(timeout=600)
        published = time.monotonic() - started
        deadline = time.monotonic() + 300
        count = 0
        while time.monotonic() < deadline:
            count = len(results.read_text().splitlines()) if results.exists() else 0
            if count >= total or worker.poll() is not None:
                break
            time.sleep(0.1)
        finished = time.monotonic() - started
        time.sleep(2)  # a task delivered twice runs within this time
        outcome["crashed"] = worker.poll() is not None
    finally:
        stop(beat)
        stop(worker)
    log_text = worker_log.read_bytes()[offset:].decode(errors="replace")
    outcome["crashed"] = outcome["crashed"] or "Unrecoverable error" in log_text
    ran = Counter(int(line.split()[0]) for line in results.read_text().splitlines()) if results.exists() else {}
    outcome.update(publish_rate=total / published, run_rate=min(count, total) / finished,
                   lost=total - len(ran), twice=sum(1 for c in ran.values() if c > 1), total=total)
    log(f"{variant} round {index + 1}: published {outcome['publish_rate']:.0f}/s, ran {outcome['run_rate']:.0f}/s, "
        f"lost {outcome['lost']}, twice {outcome['twice']}, crashed {outcome['crashed']}")
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per publisher")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variants", default="filesystem,stock-filesystem,sqla")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    variants = args.variants.split(",")
    if "sqla" in variants:
        try:
            import sqlalchemy  # noqa: F401
        except ImportError:
            log("SQLAlchemy is not installed: skipping the sqla variant (pip install SQLAlchemy to measure it)")
            variants.remove("sqla")
    rounds = [_round(v, args.publishers, args.tasks, i) for i in range(args.rounds) for v in variants]
    rows = []
    for variant in variants:
        mine = [r for r in rounds if r["variant"] == variant]
        rows.append(
            f"| {variant} | {statistics.median(r['publish_rate'] for r in mine):,.0f}/s "
            f"| {statistics.median(r['run_rate'] for r in mine):,.0f}/s "
            f"| {sum(r['lost'] for r in mine)} | {sum(r['twice'] for r in mine)} "
            f"| {sum(r['crashed'] for r in mine)} of {len(mine)} |")
    total = args.publishers * args.tasks
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    write_section("broker", f"""## Embedded broker (`python -m bench.broker`, {when})

{args.publishers} processes publish {total:,} tasks at once over the three queues; one worker (two processes)
runs them while beat sends its sweeps every second; SQLite database, as with `make run`. Medians over
{args.rounds} rounds per broker; lost, run twice and worker crashes summed over the rounds.

| broker | publishing | tasks run (first publish → last task) | lost | run twice | worker crashed |
|---|---|---|---|---|---|
{chr(10).join(rows)}

{machine_table()}""")


if __name__ == "__main__":
    main()
