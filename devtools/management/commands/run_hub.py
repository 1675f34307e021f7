"""Run the web server, a Celery worker and Celery beat together in the foreground (development).

Ctrl-C (or SIGTERM) stops all three. If one exits, the others are stopped too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

COLOURS = {"web": "\033[36m", "worker": "\033[33m", "beat": "\033[35m", "emulator": "\033[32m"}
RESET = "\033[0m"


class Command(BaseCommand):
    help = "Start web server, Celery worker and Celery beat together; Ctrl-C stops all of them."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("HUB_ADDR", "127.0.0.1:8000"),
                            help="Address for the web server (default 127.0.0.1:8000).")
        parser.add_argument("--concurrency", type=int, default=2, help="Worker processes (default 2).")
        parser.add_argument("--no-beat", action="store_true", help="Do not start beat.")
        parser.add_argument("--emulator", action="store_true",
                            help="Also run the provider emulator on 127.0.0.1:8025 (ACS over HTTPS on 8026) with the "
                                 "hub's TeleSign, Twilio and ACS accounts (point TWILIO_API_URL / TELESIGN_API_URL "
                                 "at it).")

    def handle(self, *args, **options):
        python = sys.executable
        commands = {
            "web": [python, "manage.py", "runserver", options["addr"], "--noreload"],
            "worker": [python, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
                       "--concurrency", str(options["concurrency"]),
                       "-Q", ",".join(settings.CELERY_TASK_QUEUES_ALL)],
        }
        if not options["no_beat"]:
            commands["beat"] = [python, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
                                "--pidfile="]
        if options["emulator"]:
            commands["emulator"] = [python, "manage.py", "run_provider_emulator", "--from-hub", "--port", "8025"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        procs: dict[str, subprocess.Popen] = {}
        stopping = threading.Event()

        def pump(name: str, proc: subprocess.Popen) -> None:
            colour = COLOURS.get(name, "") if sys.stdout.isatty() else ""
            reset = RESET if colour else ""
            for line in proc.stdout:
                sys.stdout.write(f"{colour}{name:>8} |{reset} {line}")
                sys.stdout.flush()

        def stop(*_):
            stopping.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for name, cmd in commands.items():
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                        start_new_session=True)
                procs[name] = proc
                threading.Thread(target=pump, args=(name, proc), daemon=True).start()
            while not stopping.is_set():
                exited = [n for n, p in procs.items() if p.poll() is not None]
                if exited:
                    self.stderr.write(f"{', '.join(exited)} exited; stopping the others.")
                    break
                time.sleep(0.3)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)  # each main process stops its own children
            deadline = time.monotonic() + 10
            for proc in procs.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        failed = {n: p.returncode for n, p in procs.items() if p.returncode not in (0, -signal.SIGTERM, None)}
        if failed and not stopping.is_set():
            raise CommandError(f"stopped because a process failed: {failed}")
        self.stdout.write("All processes stopped.")
