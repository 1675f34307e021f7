"""Shared pieces of the benchmarks: a fresh PostgreSQL database, process control, wrk, machine facts,
and writing results into docs/benchmarks.md between per-benchmark markers."""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "benchmarks.md"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DB", "hub_bench")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/7")
WORK = Path(os.environ.get("BENCH_WORK", str(ROOT / "var" / "bench")))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def base_env(**extra: str) -> dict[str, str]:
    """Production-like settings for every process of a benchmark."""
    WORK.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "benchmark-secret-key-not-for-production",
        "FIELD_ENCRYPTION_KEYS": "qYtqEMKJTE8OyYg3Vw6LHzbquQ7qKQGt8XcxRtyLLAw=",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"{PG}/{DB_NAME}",
        "REDIS_URL": REDIS,
        "CELERY_BROKER_URL": REDIS,
        "LOG_LEVEL": "WARNING",
        "HUB_VAR_DIR": str(WORK / "var"),
        "STATIC_ROOT": str(WORK / "static"),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


def setup_django(env: dict[str, str]) -> None:
    """Use the benchmark database from this process too."""
    os.environ.update({k: v for k, v in env.items() if k in (
        "DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL",
        "CELERY_BROKER_URL", "LOG_LEVEL", "HUB_VAR_DIR", "STATIC_ROOT", "PUBLIC_BASE_URL", "TWILIO_API_URL",
        "TELESIGN_API_URL")})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def reset_database(env: dict[str, str]) -> None:
    """Drop and recreate the benchmark database, migrate it, and empty the benchmark's Redis database."""
    log(f"fresh database {DB_NAME}")
    admin = f"{PG}/postgres"
    subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"], check=True)
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {DB_NAME}"], check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(["redis-cli", "-u", REDIS, "FLUSHDB"], check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    log_file = (WORK / f"{name}.log").open("ab")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_http(url: str, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def production_threads() -> int:
    """The threads per web process that config/gunicorn.py gives production."""
    import runpy

    return int(runpy.run_path(str(Path(__file__).resolve().parent.parent / "config" / "gunicorn.py"))["threads"])


def gunicorn(name: str, wsgi: str, port: int, env: dict[str, str], workers: int, threads: int = 1) -> subprocess.Popen:
    """gunicorn with ``workers`` processes, sync workers or (``threads`` > 1) gthread workers, no access log."""
    proc = start(name, [sys.executable, "-m", "gunicorn", wsgi, "--bind", f"127.0.0.1:{port}", "--workers",
                        str(workers), "--worker-class", "gthread" if threads > 1 else "sync", "--threads",
                        str(threads), "--backlog", "2048", "--timeout", "60", "--log-level", "warning"], env)
    wait_http(f"http://127.0.0.1:{port}/")
    return proc


@contextmanager
def running(*procs: subprocess.Popen):
    try:
        yield procs
    finally:
        for proc in procs:
            stop(proc)


def wrk(url: str, *, script: Path, duration: int, connections: int, threads: int,
        env: dict[str, str]) -> dict:
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout",
                          "10s", "-s", str(script), url], capture_output=True, text=True,
                         env={**env, "BENCH_THREADS": str(threads)}, check=True)
    match = re.search(r"^\{.*\}$", out.stdout, re.MULTILINE)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    result = json.loads(match.group(0))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) used so far, per process group, for the PostgreSQL backends serving the
    benchmark's database, and for Redis: ``{"pgid:<n>": s, "postgres": s, "redis": s}``. Differences over a
    phase divided by its requests give the CPU each request cost, which drifts far less than throughput on a
    shared machine."""
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if comm.startswith("postgres"):
            # Only this benchmark's backends: the server may be serving other databases at the same time.
            try:
                if f" {DB_NAME} ".encode() not in (entry / "cmdline").read_bytes():
                    continue
            except OSError:
                continue
        # With the CPU of its children that have exited (a PostgreSQL backend that closed, a gunicorn
        # worker recycled): the totals never go down while the process tree lives.
        used = (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
        key = "postgres" if comm.startswith("postgres") else "redis" if comm.startswith("redis") \
            else f"pgid:{fields[2]}"
        totals[key] = totals.get(key, 0.0) + used
    return totals


def cpu_used(before: dict[str, float], after: dict[str, float], key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


def _cmd(*args: str) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0)
    import celery
    import django
    import gunicorn as gunicorn_pkg

    return {
        "cpu": f"{cpu} × {os.cpu_count()}",
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "celery": celery.__version__,
        "gunicorn": gunicorn_pkg.__version__,
        "postgresql": _cmd("psql", "--version"),
        "redis": _cmd("redis-server", "--version").split(" sha=")[0],
        "wrk": _cmd("wrk", "--version").splitlines()[0] if _cmd("wrk", "--version") else "unknown",
    }


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section between ``<!-- bench:NAME -->`` markers in docs/benchmarks.md."""
    RESULTS.parent.mkdir(exist_ok=True)
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.DOTALL)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)
    log(f"results written to {RESULTS.relative_to(ROOT)} (section {name})")


def machine_table() -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in machine().items())
    return f"| | |\n|---|---|\n{rows}"


def ms(us: float) -> str:
    return f"{us / 1000:.1f}"
