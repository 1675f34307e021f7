"""Outbound benchmark: contact lists through the API → Celery workers → the provider emulator.

    python -m bench.outbound [--contacts 100000] [--celery-workers 2] [--concurrency 1] [--send-threads 8]

1. Emulator alone: wrk against its Twilio send endpoint (it must not be what is measured).
2. Floor: a bare Python loop POSTing the same messages to the same emulator with keep-alive and the
   same concurrency as the workers.
3. Hub: requests of 100 contacts through `POST /api/v1/outbound/requests/`, sent by Celery workers;
   messages per second from the first accepted request to the last message the emulator received,
   per-message latency (accepted → provider answered), worker memory as the campaign grows.

Status callbacks are deferred past the run: this measures the send path. Results go to
docs/benchmarks.md (section "outbound").
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.common import (
    WORK,
    base_env,
    cpu_seconds,
    cpu_used,
    free_port,
    gunicorn,
    log,
    machine_table,
    reset_database,
    running,
    setup_django,
    start,
    stop,
    write_section,
)

TWILIO_SID, TWILIO_TOKEN = "AC" + "c" * 32, "bench-outbound-token"
NUMBER = "+14155550100"
WRK_SCRIPT = WORK / "twilio_send.lua"  # written at run time: it carries the credentials


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (a Celery worker and its pool)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def emulator_sent(url: str) -> int:
    counters = requests.get(f"{url}/_emulator/stats", timeout=5).json()["counters"]
    return int(counters.get("messages.twilio.outbound-api", 0))


def wrk_emulator(url: str, seconds: int) -> float:
    import subprocess

    auth = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    WRK_SCRIPT.write_text(
        'wrk.method = "POST"\n'
        f'wrk.headers["Authorization"] = "Basic {auth}"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        f'wrk.body = "To=%2B15551230000&From={NUMBER.replace("+", "%2B")}&Body=Benchmark"\n')
    out = subprocess.run(["wrk", "-t", "2", "-c", "64", "-d", f"{seconds}s", "-s", str(WRK_SCRIPT),
                          f"{url}/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"],
                         capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("Requests/sec"))
    return float(line.split()[1])


def floor(url: str, count: int, threads: int) -> float:
    """The same sends, straight from a keep-alive loop with the workers' concurrency."""
    sessions = threading.local()
    endpoint = f"{url}/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"

    def send(i: int) -> None:
        session = getattr(sessions, "s", None)
        if session is None:
            session = sessions.s = requests.Session()
            session.trust_env = False  # as the hub's provider sessions
        response = session.post(endpoint, auth=(TWILIO_SID, TWILIO_TOKEN), timeout=30,
                                data={"To": f"+1555{i:07d}", "From": NUMBER, "Body": f"Hi Customer {i}, case {i}.",
                                      "StatusCallback": "http://127.0.0.1:9/status/"})
        response.raise_for_status()

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, range(count)))
    return count / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000, help="Contacts in all (100000 = 1000 requests).")
    parser.add_argument("--celery-workers", type=int, default=2, help="Celery worker processes (2).")
    parser.add_argument("--concurrency", type=int, default=1, help="Prefork children per worker (1).")
    parser.add_argument("--send-threads", type=int, default=8, help="OUTBOUND_SEND_CONCURRENCY per process (8).")
    parser.add_argument("--api-clients", type=int, default=4, help="Parallel API clients submitting requests (4).")
    args = parser.parse_args()

    emulator_port, web_port = free_port(), free_port()
    emulator_url, web_url = f"http://127.0.0.1:{emulator_port}", f"http://127.0.0.1:{web_port}"
    env = base_env(PUBLIC_BASE_URL=web_url, TWILIO_API_URL=emulator_url,
                   OUTBOUND_SEND_CONCURRENCY=str(args.send_threads), LOG_LEVEL="WARNING")
    reset_database(env)
    setup_django(env)
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from channels_app.models import Message
    from channels_app.services import NumberSpec, account_create
    from outbound.models import MessageTemplate, OutboundConfiguration, TemplateLocalization

    account = account_create(name="Bench Twilio", channel="sms", provider="twilio",
                             credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
                             numbers=[NumberSpec(NUMBER, "long_code")])
    template = MessageTemplate.objects.create(name="Case created", channel="sms", default_language="en")
    TemplateLocalization.objects.create(template=template, language="en",
                                        text="Hi {CustomerName}, we opened case {CaseName}.")
    configuration = OutboundConfiguration.objects.create(name="Bench", channel_type="sms",
                                                         phone_number=account.numbers.get(), template=template)
    admin = get_user_model().objects.create_superuser("bench", password="bench-password")
    token = Token.objects.create(user=admin).key

    emulator = start("emulator", [sys.executable, "manage.py", "run_provider_emulator", "--port", str(emulator_port),
                                  "--twilio-account", f"{TWILIO_SID}:{TWILIO_TOKEN}", "--callback-delay-ms", "3600000",
                                  "--max-messages", "1000", "--max-records", "1000"], env)
    with running(emulator):
        from bench.common import wait_http

        wait_http(f"{emulator_url}/_emulator/health")
        emulator_rps = wrk_emulator(emulator_url, 10)
        log(f"emulator alone: {emulator_rps:.0f} sends/s")
        threads = args.celery_workers * args.concurrency * args.send_threads
        floor_count = min(args.contacts, 20_000)
        floor_rate = floor(emulator_url, floor_count, threads)
        log(f"floor: {floor_rate:.0f} sends/s ({threads} threads, {floor_count} sends)")

        base = emulator_sent(emulator_url)
        with running(gunicorn("web", "config.wsgi", web_port, env, 2)) as (web,):
            workers = [start(f"worker-{i}", [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel",
                                             "WARNING", "--concurrency", str(args.concurrency), "-Q", "bulk,default",
                                             "--without-mingle", "--without-gossip", "--hostname",
                                             f"bench-out{i}@%h"], env) for i in range(args.celery_workers)]
            time.sleep(4)
            memory: dict[str, float] = {"start": sum(rss_mb(w.pid) for w in workers)}
            session = requests.Session()
            session.headers["Authorization"] = f"Token {token}"
            requests_count = args.contacts // 100
            first_accept: list[float] = []

            def submit(r: int) -> None:
                contacts = [{"tocontactid": f"+1556{(r * 100 + i):07d}", "channelid": "SMS", "optin": True,
                             "CustomerName": f"Customer {r * 100 + i}", "CaseName": f"C-{r * 100 + i}"}
                            for i in range(100)]
                with requests.Session() as s:
                    s.headers["Authorization"] = f"Token {token}"
                    response = s.post(f"{web_url}/api/v1/outbound/requests/", timeout=60,
                                      json={"configuration_id": str(configuration.configuration_id),
                                            "contacts": contacts})
                if response.status_code != 202:
                    raise RuntimeError(f"request {r}: HTTP {response.status_code} {response.text[:200]}")
                if not first_accept:
                    first_accept.append(time.monotonic())

            submitter = threading.Thread(target=lambda: list(
                ThreadPoolExecutor(args.api_clients).map(submit, range(requests_count))))
            cpu_before = cpu_seconds()
            started = time.monotonic()
            submitter.start()
            marks = {10_000: "10k", 100_000: "100k", 1_000_000: "1M"}
            progress = []
            while True:
                sent = emulator_sent(emulator_url) - base
                now = time.monotonic()
                progress.append((round(now - started, 1), sent))
                for mark, label in marks.items():
                    if sent >= mark and label not in memory:
                        memory[label] = sum(rss_mb(w.pid) for w in workers)
                memory["peak"] = max(memory.get("peak", 0), sum(rss_mb(w.pid) for w in workers))
                if sent >= args.contacts:
                    last = now
                    break
                if now - started > 1800:
                    raise RuntimeError(f"only {sent} of {args.contacts} sends after 30 minutes")
                time.sleep(0.2)
            submitter.join()
            cpu_after = cpu_seconds()
            cpu = {"workers": sum(cpu_used(cpu_before, cpu_after, f"pgid:{w.pid}") for w in workers),
                   "web (API)": cpu_used(cpu_before, cpu_after, f"pgid:{web.pid}"),
                   "emulator": cpu_used(cpu_before, cpu_after, f"pgid:{emulator.pid}"),
                   "PostgreSQL": cpu_used(cpu_before, cpu_after, "postgres"),
                   "Redis": cpu_used(cpu_before, cpu_after, "redis"),
                   "load generator": cpu_used(cpu_before, cpu_after, f"pgid:{os.getpgid(0)}")}
            log("CPU ms per message: " + ", ".join(f"{k} {v * 1000 / args.contacts:.2f}" for k, v in cpu.items()))
            memory["end"] = sum(rss_mb(w.pid) for w in workers)
            for w in workers:
                stop(w)
    rate = args.contacts / (last - first_accept[0])
    log(f"hub: {rate:.0f} messages/s ({rate / floor_rate:.2f}x the floor)")
    latencies = sorted((m.sent_at - m.created_at).total_seconds() * 1000
                       for m in Message.objects.filter(kind="outbound").exclude(sent_at=None).only(
                           "sent_at", "created_at").iterator())

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] if latencies else float("nan")

    curve = ", ".join(f"{t:g}s:{n}" for t, n in progress[:: max(1, len(progress) // 12)])
    mem = ", ".join(f"{k} {v:.0f} MB" for k, v in memory.items())
    cpu_line = ", ".join(f"{k} {v * 1000 / args.contacts:.2f} ms" for k, v in cpu.items())
    write_section("outbound", f"""
## Outbound sends

`make bench-outbound` (`python -m bench.outbound --contacts {args.contacts} --celery-workers {args.celery_workers}
--concurrency {args.concurrency} --send-threads {args.send_threads}`), run
{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. {args.contacts // 100} requests of 100 contacts through the
API (gunicorn, 2 workers; {args.api_clients} clients) → Celery workers → the provider emulator; PostgreSQL and
Redis on this machine. Status callbacks are deferred past the run (this measures the send path).

| | messages/s | |
|---|---|---|
| emulator alone (wrk, 64 connections) | {emulator_rps:.0f} | must be ≥ 5,000 so that it is not what is measured |
| floor: keep-alive loop, {threads} threads, {floor_count} sends | {floor_rate:.0f} | |
| **hub**: API → workers → emulator, first accept to last receipt | **{rate:.0f}** | target ≥ 834 and ≥ 0.6× the floor |

- **Ratio to the floor: {rate / floor_rate:.2f}×.**
- Per-message latency, accepted → provider answered: p50 {pct(0.5):.0f} ms, p95 {pct(0.95):.0f} ms,
  p99 {pct(0.99):.0f} ms (queueing behind earlier requests included; mean {statistics.fmean(latencies):.0f} ms).
- CPU per message, by process: {cpu_line}.
- Worker memory (all worker processes): {mem}.
- Sends over time (seconds: messages at the emulator): {curve}.

Machine:

{machine_table()}
""")


if __name__ == "__main__":
    main()
