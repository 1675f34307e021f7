"""Run the web server, a Celery worker and Celery beat together in the foreground (development).

A process that dies is started again, after a pause that doubles with each quick failure (1 s up to
30 s; back to 1 s once it has run for a minute), and the runner says so. Ctrl-C (or SIGTERM) stops
everything. The web server's port is checked before anything starts, and the banner is printed
once the web server answers.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devtools.management.commands.setup_demo import demo_banner

COLOURS = {"web": "\033[36m", "worker": "\033[33m", "beat": "\033[35m", "emulator": "\033[32m"}
RESET = "\033[0m"
EMULATOR_PORT = 8025
#: Restart pauses: doubled after each quick failure, reset once a process has run STABLE_SECONDS.
FIRST_PAUSE, MAX_PAUSE, STABLE_SECONDS = 1.0, 30.0, 60.0


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (None when it can)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"{host} is not an address this machine has ({exc})"
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            return f"{host}:{port} is in use ({exc.strerror})" if exc.errno == 98 else f"{host}:{port}: {exc}"
    return None


def split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not port.isdigit():
        raise CommandError(f"--addr {addr!r}: give host:port, e.g. 127.0.0.1:8000.")
    return (host.strip("[]") or "127.0.0.1"), int(port)


@dataclass
class Child:
    name: str
    cmd: list[str]
    proc: subprocess.Popen | None = None
    started: float = 0.0
    pause: float = FIRST_PAUSE
    restarts: int = 0
    restart_at: float | None = None
    env: dict[str, str] = field(default_factory=dict)


class Command(BaseCommand):
    help = ("Start web server, Celery worker and Celery beat together; a process that dies is started again. "
            "Ctrl-C stops all of them.")

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("HUB_ADDR", "127.0.0.1:8000"),
                            help="Address for the web server (default 127.0.0.1:8000, or HUB_ADDR).")
        parser.add_argument("--concurrency", type=int, default=2, help="Worker processes (default 2).")
        parser.add_argument("--no-beat", action="store_true", help="Do not start beat.")
        parser.add_argument("--emulator", action="store_true",
                            help=f"Also run the provider emulator on 127.0.0.1:{EMULATOR_PORT} (ACS over HTTPS on "
                                 f"{EMULATOR_PORT + 1}) with the hub's TeleSign, Twilio and ACS accounts (point "
                                 "TWILIO_API_URL / TELESIGN_API_URL at it).")

    def handle(self, *args, **options):
        host, port = split_addr(options["addr"])
        emulator_ports = (EMULATOR_PORT, EMULATOR_PORT + 1) if options["emulator"] else ()  # HTTP, and ACS's HTTPS
        problems = [p for p in (port_problem(host, port), *(port_problem("127.0.0.1", n) for n in emulator_ports))
                    if p]
        if problems:
            raise CommandError("; ".join(problems) + ". Is another hub running? Stop it, or run this one elsewhere: "
                               "make run HUB_ADDR=127.0.0.1:8001 (or manage.py run_hub --addr …).")
        python = sys.executable
        children = [
            # runserver serves each request in a thread of its own: kept-open database connections would pile up.
            Child("web", [python, "manage.py", "runserver", options["addr"], "--noreload"],
                  env={"DATABASE_CONN_MAX_AGE": "0"}),
            Child("worker", [python, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
                             "--concurrency", str(options["concurrency"]),
                             "-Q", ",".join(settings.CELERY_TASK_QUEUES_ALL)]),
        ]
        if not options["no_beat"]:
            children.append(Child("beat", [python, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
                                           "--pidfile="]))
        if options["emulator"]:
            children.append(Child("emulator", [python, "manage.py", "run_provider_emulator", "--from-hub", "--port",
                                               str(EMULATOR_PORT)]))
        # Counters of an earlier run's processes would add to this run's (config/metrics.py).
        shutil.rmtree(settings.METRICS_DIR, ignore_errors=True)
        settings.METRICS_DIR.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        stopping = threading.Event()

        def stop(*_):
            stopping.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        url = f"http://{'localhost' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
        banner_due = True
        try:
            for child in children:
                self.start(child)
            while not stopping.is_set():
                now = time.monotonic()
                for child in children:
                    if child.restart_at is not None:
                        if now >= child.restart_at:
                            child.restart_at = None
                            self.start(child)
                        continue
                    code = child.proc.poll()
                    if code is None:
                        if now - child.started >= STABLE_SECONDS:
                            child.pause = FIRST_PAUSE
                        continue
                    self.say(f"{child.name} exited ({describe(code)}); starting it again in {child.pause:g} s.")
                    child.restart_at = now + child.pause
                    child.restarts += 1
                    child.pause = min(MAX_PAUSE, child.pause * 2)
                if banner_due and web_answers(url):
                    banner_due = False
                    demo_banner(self.stdout, self.style, url=url, emulator=options["emulator"])
                stopping.wait(0.3)
        finally:
            running = [c.proc for c in children if c.proc is not None and c.proc.poll() is None]
            for proc in running:
                proc.send_signal(signal.SIGTERM)  # each main process stops its own children
            deadline = time.monotonic() + 10
            for proc in running:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        self.stdout.write("All processes stopped.")

    def say(self, text: str) -> None:
        self.stderr.write(self.style.WARNING(f"run_hub | {text}"))

    def start(self, child: Child) -> None:
        child.proc = subprocess.Popen(child.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      env={**self.env, **child.env}, start_new_session=True, errors="replace")
        child.started = time.monotonic()
        if child.restarts:
            self.say(f"{child.name} started again (pid {child.proc.pid}, restart {child.restarts}).")
        else:
            self.stdout.write(f"run_hub | {child.name} started (pid {child.proc.pid})")
        pump = threading.Thread(target=self.pump, args=(child.name, child.proc), daemon=True)
        pump.start()

    def pump(self, name: str, proc: subprocess.Popen) -> None:
        colour = COLOURS.get(name, "") if sys.stdout.isatty() else ""
        reset = RESET if colour else ""
        for line in proc.stdout:
            sys.stdout.write(f"{colour}{name:>8} |{reset} {line}")
            sys.stdout.flush()


def describe(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def web_answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False
