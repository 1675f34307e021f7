"""Outbound benchmark: contact lists through the API → Celery workers → the provider emulator, and back.

    python -m bench.outbound [--contacts 20000] [--layouts one-pool,split] [--send-threads 8]
                             [--callback-delay-ms 200] [--web-workers 4]

1. Emulator alone: wrk against its Twilio send endpoint (it must not be what is measured).
2. Floors, the fastest a user could write against the same emulator with the workers' total
   concurrency: a `requests` keep-alive loop in threads, and an asyncio loop (aiohttp, keep-alive).
3. For each worker layout the README documents — one pool on every queue (`celery -A config worker
   --concurrency 2`, as `make worker` and the main production command run it), and the split (one
   worker for `-Q bulk`, one for `-Q default,replies`) — two runs of the same campaign, requests of
   100 contacts through `POST /api/v1/outbound/requests/`:
   - send-only: status callbacks deferred past the run; first accepted request → last message the
     emulator received;
   - end to end: the emulator's status callbacks live (`sent`, then `delivered`, each
     `--callback-delay-ms` later), through gunicorn to the workers; first accepted request → last
     `delivered` recorded. The status backlog (callbacks stored, not yet applied) is sampled over
     time, and an agent-style reply (queue "replies") is queued every second to measure reply
     latency during the campaign.
   Each run gets a fresh emulator, so its callback queue carries only that run's callbacks.
   CPU per delivered message is reported per process (web, workers, emulator, PostgreSQL, Redis).

Results go to docs/benchmarks.md (section "outbound").
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.common import (
    REDIS,
    WORK,
    base_env,
    cpu_seconds,
    cpu_used,
    free_port,
    gunicorn,
    log,
    machine_table,
    production_threads,
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



def aio_floor(url: str, count: int, concurrency: int) -> float:
    """The same sends from one asyncio loop: aiohttp, keep-alive, ``concurrency`` requests in flight."""
    import aiohttp

    endpoint = f"{url}/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    headers = {"Authorization": "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()}

    async def run() -> float:
        counter = iter(range(count))
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
            async def sender() -> None:
                for i in counter:
                    async with session.post(endpoint, data={
                            "To": f"+1555{i:07d}", "From": NUMBER, "Body": f"Hi Customer {i}, case {i}.",
                            "StatusCallback": "http://127.0.0.1:9/status/"}) as response:
                        response.raise_for_status()
                        await response.read()

            started = time.monotonic()
            await asyncio.gather(*(sender() for _ in range(concurrency)))
            return count / (time.monotonic() - started)

    return asyncio.run(run())


#: Worker layouts the README documents: (name, [(queues or None for a plain worker, concurrency), …]).
LAYOUTS = {
    "one-pool": [(None, 2)],
    "split": [("bulk", 1), ("default,replies", 1)],
}


def workers_ready(names: list[str], procs: list) -> None:
    """Wait until every worker answers a ping (started and consuming)."""
    from config.celery import app

    deadline = time.monotonic() + 120
    while True:
        answered = {name.split("@")[0] for reply in app.control.ping(timeout=1.0) for name in reply}
        if all(name in answered for name in names):
            return
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError(f"workers not ready: {sorted(set(names) - answered)}")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


class Hub:
    """The benchmark's database objects, made once; the processes are started per run."""

    def __init__(self, args, env: dict[str, str], emulator_port: int, web_port: int) -> None:
        from django.contrib.auth import get_user_model
        from rest_framework.authtoken.models import Token

        from channels_app.services import NumberSpec, account_create
        from outbound.models import MessageTemplate, OutboundConfiguration, TemplateLocalization

        self.args, self.env = args, env
        self.emulator_port, self.web_port = emulator_port, web_port
        self.emulator_url, self.web_url = f"http://127.0.0.1:{emulator_port}", f"http://127.0.0.1:{web_port}"
        self.account = account_create(name="Bench Twilio", channel="sms", provider="twilio",
                                      credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
                                      numbers=[NumberSpec(NUMBER, "long_code")])
        template = MessageTemplate.objects.create(name="Case created", channel="sms", default_language="en")
        TemplateLocalization.objects.create(template=template, language="en",
                                            text="Hi {CustomerName}, we opened case {CaseName}.")
        self.configuration = OutboundConfiguration.objects.create(
            name="Bench", channel_type="sms", phone_number=self.account.numbers.get(), template=template)
        admin = get_user_model().objects.create_superuser("bench", password="bench-password")
        self.token = Token.objects.create(user=admin).key
        self.offset = 0

    def forget_earlier_runs(self) -> None:
        """A run starts from a clean broker: what an earlier run left (one that gave up leaves tasks in the
        queues, callbacks not applied, messages not sent) is set aside, so it is not this run's work."""
        import subprocess

        from channels_app.models import InboundEvent, Message

        subprocess.run(["redis-cli", "-u", REDIS, "FLUSHDB"], check=True, capture_output=True)
        Message.objects.filter(status__in=["queued", "sending"]).update(status="failed", error_code="bench")
        InboundEvent.objects.filter(state="pending").update(state="failed", error="left by an earlier run")

    def emulator(self, callback_delay_ms: float):
        return start("emulator", [sys.executable, "manage.py", "run_provider_emulator", "--no-tls", "--port",
                                  str(self.emulator_port), "--twilio-account", f"{TWILIO_SID}:{TWILIO_TOKEN}",
                                  "--callback-delay-ms", str(callback_delay_ms), "--max-messages", "1000",
                                  "--max-records", "1000", "--max-callbacks", "1000"], self.env)

    def run(self, layout: str, live: bool) -> dict:
        """One campaign of ``--contacts`` through the API; returns what was measured."""
        from django.db import connection, transaction

        from channels_app.models import Message
        from channels_app.services import delivery
        from channels_app.services.inbound import contact_for

        args = self.args
        contacts = args.contacts
        offset, self.offset = self.offset, self.offset + contacts
        self.forget_earlier_runs()
        base_id = Message.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        replier = contact_for("+15559990000")
        phone = self.account.numbers.get()
        emulator = self.emulator(args.callback_delay_ms if live else 3_600_000)
        with running(emulator):
            from bench.common import wait_http

            wait_http(f"{self.emulator_url}/_emulator/health")
            with running(gunicorn("web", "config.wsgi", self.web_port, self.env, args.web_workers,
                                  args.web_threads)) as (web,):
                workers = []
                for n, (queues, concurrency) in enumerate(LAYOUTS[layout]):
                    only = ["-Q", queues] if queues else []
                    workers.append(start(f"worker-{layout}-{n}", [
                        sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel",
                        os.environ.get("BENCH_WORKER_LOG_LEVEL", "WARNING"),
                        "--concurrency", str(concurrency), *only, "--without-mingle", "--without-gossip",
                        "--hostname", f"bench-{layout}-{n}@%h"], self.env))
                workers_ready([f"bench-{layout}-{n}" for n in range(len(workers))], workers)
                memory = {"start": sum(rss_mb(w.pid) for w in workers)}
                first_accept: list[tuple[float, float]] = []
                submit_failures: list[int] = []
                replies: list[int] = []
                done = threading.Event()

                def submit(r: int) -> None:
                    rows = [{"tocontactid": f"+1556{(offset + r * 100 + i):07d}", "channelid": "SMS", "optin": True,
                             "CustomerName": f"Customer {r * 100 + i}", "CaseName": f"C-{r * 100 + i}"}
                            for i in range(100)]
                    for attempt in range(5):  # a web tier busy with callbacks may time a request out
                        try:
                            with requests.Session() as s:
                                s.headers["Authorization"] = f"Token {self.token}"
                                response = s.post(f"{self.web_url}/api/v1/outbound/requests/", timeout=120,
                                                  json={"configuration_id": str(self.configuration.configuration_id),
                                                        "contacts": rows})
                        except requests.RequestException as exc:
                            log(f"request {r}, attempt {attempt + 1}: {exc}")
                            continue
                        if response.status_code == 202:
                            break
                        log(f"request {r}, attempt {attempt + 1}: HTTP {response.status_code} {response.text[:200]}")
                        time.sleep(1)
                    else:
                        submit_failures.append(r)
                        return
                    if not first_accept:
                        first_accept.append((time.time(), time.monotonic()))

                def reply_now_and_then() -> None:
                    # An agent's reply (queue "replies") every second while the campaign runs.
                    while not done.wait(1.0):
                        with transaction.atomic():
                            replies.append(delivery.message_queue(phone_number=phone, contact=replier,
                                                                  body=f"Reply {len(replies)}").pk)
                    connection.close()

                submitter = threading.Thread(target=lambda: list(
                    ThreadPoolExecutor(args.api_clients).map(submit, range(contacts // 100))))
                replier_thread = threading.Thread(target=reply_now_and_then)
                cpu_before = cpu_seconds()
                started = time.monotonic()
                submitter.start()
                replier_thread.start()
                samples: list[tuple[float, int, int, int]] = []  # (s, at the emulator, delivered, backlog)
                last_send = None
                timed_out: tuple[int, int] | None = None
                with connection.cursor() as cursor:
                    while True:
                        now = time.monotonic()
                        sent = emulator_sent(self.emulator_url)
                        if live:
                            cursor.execute(
                                "SELECT count(*) FROM channels_app_message WHERE id > %s AND kind = 'outbound' "
                                "AND status = 'delivered'", [base_id])
                            delivered = cursor.fetchone()[0]
                            cursor.execute("SELECT count(*) FROM channels_app_inboundevent WHERE state = 'pending' "
                                           "AND kind = 'status'")
                            backlog = cursor.fetchone()[0]
                        else:
                            delivered = backlog = 0
                        samples.append((round(now - started, 1), sent, delivered, backlog))
                        memory["peak"] = max(memory.get("peak", 0), sum(rss_mb(w.pid) for w in workers))
                        if sent >= contacts and last_send is None:
                            last_send = now
                        if last_send is not None and (not live or (delivered >= contacts and backlog == 0)):
                            settled = now
                            break
                        if submit_failures and not submitter.is_alive():
                            raise RuntimeError(f"requests {submit_failures} were not accepted after 5 attempts")
                        if now - started > args.max_seconds:
                            # Gave up: reported as such, with what was done by then.
                            log(f"{layout} {'live' if live else 'send-only'}: {sent} sent, {delivered} delivered "
                                f"of {contacts} after {args.max_seconds:g} s")
                            timed_out = (sent, delivered)
                            settled = last_send = last_send or now
                            break
                        time.sleep(0.5)
                done.set()
                submitter.join()
                replier_thread.join()
                cpu_after = cpu_seconds()
                memory["end"] = sum(rss_mb(w.pid) for w in workers)
                cpu = {"web": cpu_used(cpu_before, cpu_after, f"pgid:{web.pid}")}
                for n, w in enumerate(workers):
                    cpu[f"worker {LAYOUTS[layout][n][0] or 'all queues'}"] = cpu_used(cpu_before, cpu_after,
                                                                                     f"pgid:{w.pid}")
                cpu.update({"emulator": cpu_used(cpu_before, cpu_after, f"pgid:{emulator.pid}"),
                            "PostgreSQL": cpu_used(cpu_before, cpu_after, "postgres"),
                            "Redis": cpu_used(cpu_before, cpu_after, "redis")})
                for w in workers:
                    stop(w)
        campaign = Message.objects.filter(pk__gt=base_id, kind="outbound")
        if timed_out:
            sent_rate = timed_out[0] / (last_send - first_accept[0][1])
            rate = (timed_out[1] if live else timed_out[0]) / (last_send - first_accept[0][1])
        else:
            sent_rate = contacts / (last_send - first_accept[0][1])
            if live:
                last = max(m.timestamp() for m in campaign.values_list("delivered_at", flat=True))
                rate = contacts / (last - first_accept[0][0])
            else:
                rate = sent_rate
        reply_latency = [(m.sent_at - m.created_at).total_seconds() * 1000
                         for m in Message.objects.filter(pk__in=replies).exclude(sent_at=None)]
        result = {"layout": layout, "live": live, "rate": rate, "sent_rate": sent_rate, "cpu": cpu, "memory": memory,
                  "timed_out": timed_out,
                  "samples": samples, "after_last_send": settled - last_send, "replies": len(replies),
                  "replies_sent": len(reply_latency), "reply_p50": pct(reply_latency, 0.5),
                  "reply_p95": pct(reply_latency, 0.95), "reply_max": max(reply_latency, default=float("nan"))}
        done = (timed_out[1] if live else timed_out[0]) if timed_out else contacts
        log(f"{layout} {'end to end' if live else 'send-only'}: {rate:.0f} msg/s (sent {sent_rate:.0f}/s); "
            f"settled {result['after_last_send']:.1f} s after the last send; replies p50 {result['reply_p50']:.0f} "
            f"ms, p95 {result['reply_p95']:.0f} ms; CPU ms/msg: "
            + ", ".join(f"{k} {v * 1000 / max(done, 1):.2f}" for k, v in cpu.items()))
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=20_000, help="Contacts per campaign (20000 = 200 requests).")
    parser.add_argument("--layouts", default="one-pool,split", help="Worker layouts (one-pool,split).")
    parser.add_argument("--send-threads", type=int, default=8, help="OUTBOUND_SEND_CONCURRENCY per process (8).")
    parser.add_argument("--api-clients", type=int, default=4, help="Parallel API clients submitting requests (4).")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn worker processes (4).")
    parser.add_argument("--web-threads", type=int, default=production_threads(),
                        help="Threads per gunicorn process (production's, from config/gunicorn.py).")
    parser.add_argument("--callback-delay-ms", type=float, default=200, help="Emulator: time between sent and "
                        "delivered (200).")
    parser.add_argument("--max-seconds", type=float, default=900, help="Give up a run after this long (900).")
    args = parser.parse_args()
    layouts = [name.strip() for name in args.layouts.split(",") if name.strip()]
    unknown = [name for name in layouts if name not in LAYOUTS]
    if unknown:
        parser.error(f"unknown layout {', '.join(unknown)}: choose from {', '.join(LAYOUTS)}")

    emulator_port, web_port = free_port(), free_port()
    env = base_env(PUBLIC_BASE_URL=f"http://127.0.0.1:{web_port}", TWILIO_API_URL=f"http://127.0.0.1:{emulator_port}",
                   OUTBOUND_SEND_CONCURRENCY=str(args.send_threads), LOG_LEVEL="WARNING",
                   OUTBOUND_MAX_REQUESTS_PER_HOUR="1000000")
    reset_database(env)
    setup_django(env)
    hub = Hub(args, env, emulator_port, web_port)
    threads = 2 * args.send_threads  # every layout runs two worker processes
    floor_count = min(args.contacts, 20_000)
    with running(hub.emulator(3_600_000)):
        from bench.common import wait_http

        wait_http(f"{hub.emulator_url}/_emulator/health")
        emulator_rps = wrk_emulator(hub.emulator_url, 10)
        log(f"emulator alone: {emulator_rps:.0f} sends/s")
        floor_rate = floor(hub.emulator_url, floor_count, threads)
        log(f"floor (requests, {threads} threads): {floor_rate:.0f} sends/s")
        aio_rate = aio_floor(hub.emulator_url, floor_count, threads)
        log(f"floor (aiohttp, {threads} in flight): {aio_rate:.0f} sends/s")
    results = []
    for layout in layouts:
        for live in (False, True):
            results.append(hub.run(layout, live))

    rows = []
    for r in results:
        ratio_send = ""
        if r["live"]:
            send_only = next(x for x in results if x["layout"] == r["layout"] and not x["live"])
            ratio_send = f"{r['rate'] / send_only['rate']:.2f}×"
        gave_up = (f" (gave up after {args.max_seconds:g} s: {r['timed_out'][0]} sent, {r['timed_out'][1]} "
                   "delivered)") if r["timed_out"] else ""
        rows.append(f"| {r['layout']} | {'end to end (callbacks live)' if r['live'] else 'send-only'} | "
                    f"**{r['rate']:.0f}**{gave_up} | {r['sent_rate']:.0f} | {ratio_send} | "
                    f"{r['rate'] / floor_rate:.2f}× / {r['rate'] / aio_rate:.2f}× | "
                    f"{r['after_last_send']:.1f} s | {r['reply_p50']:.0f} / {r['reply_p95']:.0f} / "
                    f"{r['reply_max']:.0f} ms ({r['replies_sent']} of {r['replies']}) |")
    details = []
    for r in results:
        count = (r["timed_out"][1] if r["live"] else r["timed_out"][0]) if r["timed_out"] else args.contacts
        per = ", ".join(f"{k} {v * 1000 / max(count, 1):.2f}" for k, v in r["cpu"].items())
        total = sum(r["cpu"].values()) - r["cpu"]["emulator"]
        step = max(1, len(r["samples"]) // 14)
        curve = ", ".join(f"{t:g}s:{s}/{d}/{b}" if r["live"] else f"{t:g}s:{s}"
                          for t, s, d, b in r["samples"][::step] + r["samples"][-1:])
        mem = ", ".join(f"{k} {v:.0f} MB" for k, v in r["memory"].items())
        details.append(f"- **{r['layout']}, {'end to end' if r['live'] else 'send-only'}**: CPU ms per "
                       f"{'delivered ' if r['live'] else ''}message: {per}; hub total (web, workers, PostgreSQL, "
                       f"Redis) {total * 1000 / max(count, 1):.2f} ms. Worker memory: {mem}.\n  "
                       + ("Sent / delivered / status backlog over time: " if r["live"] else "Sends over time: ")
                       + curve)
    write_section("outbound", f"""
## Outbound sends, send-only and end to end

`make bench-outbound` (`python -m bench.outbound --contacts {args.contacts} --layouts {','.join(layouts)}
--send-threads {args.send_threads} --web-workers {args.web_workers} --web-threads {args.web_threads}
--callback-delay-ms {args.callback_delay_ms:g}`),
run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Per run, {args.contacts // 100} requests of 100 contacts
through the API ({args.api_clients} clients; gunicorn, {args.web_workers} workers × {args.web_threads} threads,
which also receive the status callbacks) → Celery workers → the provider emulator (a fresh one per run);
PostgreSQL and Redis on this machine. End to end: the emulator calls back `sent` and then `delivered`,
{args.callback_delay_ms:g} ms apart.

| | sends/s | |
|---|---|---|
| emulator alone (wrk, 64 connections) | {emulator_rps:.0f} | well above the rest: it is not what is measured |
| floor: `requests` keep-alive loop, {threads} threads, {floor_count} sends | {floor_rate:.0f} | |
| floor: asyncio loop (aiohttp, keep-alive), {threads} in flight, {floor_count} sends | {aio_rate:.0f} | |

| layout | run | messages/s | sent/s | end to end ÷ send-only | ÷ floors (requests / asyncio) \
| settled after the last send \
| reply latency p50 / p95 / max |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Send-only: first accepted request → last message the emulator received. End to end: first accepted
request → last `delivered` recorded (when a run gave up: what it had delivered, per second). "Settled": from
the last send until every message is delivered and
no status callback waits. Reply latency: a reply queued every second during the campaign, queued → the
provider answered. Layouts: *one-pool* is one `celery -A config worker --concurrency 2` on every queue;
*split* is a worker for `-Q bulk` beside one for `-Q default,replies` (one process each).

{chr(10).join(details)}

Machine:

{machine_table()}
""")


if __name__ == "__main__":
    main()
