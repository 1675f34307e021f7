"""Scale-out benchmark: what grows with what.

    make bench-scale-out, or: python -m bench.scale_out [--web 1,2,4] [--workers 1,2] [--duration 15] [--messages 4000]

1. Web tier: signed Twilio webhooks (wrk, one unique MessageSid each) into gunicorn with 1, 2 and 4 sync
   workers (processes), no Celery worker running: webhooks accepted per second, and the CPU each one cost
   in gunicorn and in PostgreSQL + Redis.
2. Workers, inbound: the accepted backlog of webhooks turned into messages in conversations by 1 and 2
   Celery worker processes (`celery worker --concurrency 1` each, as on separate hosts): events/s.
3. Workers, outbound: a campaign (requests of 100 contacts through the API, queued while no worker runs) sent
   to the provider emulator by 1 and 2 worker processes: first send → last send at the emulator, messages/s.
   Status callbacks are held back past the run, so the web tier is not part of what is measured.

Each phase records the CPU its processes used, which gives the capacity of one process on a core of its own
(what a host of its own would give it), and the load average of the machine (other work on it skews the
throughput, not the CPU per message). Results go to docs/benchmarks.md (section "scale-out").
"""

from __future__ import annotations

import argparse
import os
import sys
import time
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
    ms,
    reset_database,
    running,
    setup_django,
    start,
    stop,
    wait_http,
    write_section,
    wrk,
)
from bench.inbound import NUMBER, SCRIPT, TWILIO_SID, TWILIO_TOKEN, write_requests


def backlog_requests(path: Path, public_url: str, webhook_path: str, prefix: str, count: int, *,
                     first_customer: int) -> None:
    """Signed webhooks from customers of this phase alone, six in a row each: whatever share of the file is
    accepted, one message in six opens a conversation and the others join it, in every phase alike."""
    from urllib.parse import urlencode

    from channels_app.providers.twilio import compute_signature

    url = public_url + webhook_path
    with path.open("w") as f:
        for i in range(count):
            params = {"MessageSid": f"SM{prefix}{i:030d}"[:34], "AccountSid": TWILIO_SID,
                      "From": f"+1555{first_customer + i // 6:07d}", "To": NUMBER, "Body": f"Where is my order {i}?",
                      "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01"}
            signature = compute_signature(TWILIO_TOKEN, url, {k: [v] for k, v in params.items()})
            f.write(f"{webhook_path}\t{urlencode(params)}\t{signature}\n")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def workers(env: dict[str, str], count: int, tag: str) -> list:
    """``count`` Celery workers of one process each, on every queue, as separate hosts would run them."""
    return [start(f"scale-{tag}-{i}", [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel",
                                       "WARNING", "--concurrency", "1", "--without-mingle", "--without-gossip",
                                       "--hostname", f"scale-{tag}-{i}@%h"], env) for i in range(count)]


def workers_cpu(before: dict, after: dict, procs: list) -> float:
    return sum(cpu_used(before, after, f"pgid:{p.pid}") for p in procs)


def db_cpu(before: dict, after: dict) -> float:
    return cpu_used(before, after, "postgres") + cpu_used(before, after, "redis")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--web", default="1,2,4", help="gunicorn worker counts to measure (1,2,4).")
    parser.add_argument("--workers", default="1,2", help="Celery worker process counts to measure (1,2).")
    parser.add_argument("--duration", type=int, default=15, help="Seconds of webhook load per web count (15).")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16).")
    parser.add_argument("--events", type=int, default=3000, help="Inbound events per worker count (3000).")
    parser.add_argument("--messages", type=int, default=3000, help="Outbound messages per worker count (3000).")
    args = parser.parse_args()
    web_counts = [int(n) for n in args.web.split(",") if n.strip()]
    worker_counts = [int(n) for n in args.workers.split(",") if n.strip()]

    web_port, emulator_port = free_port(), free_port()
    public, emulator_url = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{emulator_port}"
    env = base_env(PUBLIC_BASE_URL=public, TWILIO_API_URL=emulator_url, OUTBOUND_MAX_REQUESTS_PER_HOUR="1000000")
    reset_database(env)
    setup_django(env)
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from channels_app.models import InboundEvent, Message
    from channels_app.services import NumberSpec, account_create
    from outbound.models import MessageTemplate, OutboundConfiguration, TemplateLocalization

    account = account_create(name="Bench Twilio", channel="sms", provider="twilio",
                             credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
                             numbers=[NumberSpec(NUMBER, "long_code")])
    webhook_path = f"/webhooks/twilio/{account.webhook_token}/inbound/"
    template = MessageTemplate.objects.create(name="Case created", channel="sms", default_language="en")
    TemplateLocalization.objects.create(template=template, language="en",
                                        text="Hi {CustomerName}, we opened case {CaseName}.")
    configuration = OutboundConfiguration.objects.create(name="Bench", channel_type="sms",
                                                         phone_number=account.numbers.get(), template=template)
    token = Token.objects.create(user=get_user_model().objects.create_superuser("bench", password="x")).key
    connection.close()

    # 1. The web tier.
    web_rows = []
    for index, count in enumerate(web_counts):
        InboundEvent.objects.all().delete()
        warm, measured = WORK / f"scale-warm-{count}.tsv", WORK / f"scale-web-{count}.tsv"
        write_requests(warm, public, webhook_path, f"W{index}", 3000, 2000)
        write_requests(measured, public, webhook_path, f"M{index}", 4000 * args.duration, 2000)
        with running(gunicorn(f"scale-web-{count}", "config.wsgi", web_port, env, count)) as (server,):
            wrk(public + "/", script=SCRIPT, duration=2, connections=args.connections, threads=2,
                env={**env, "BENCH_REQUESTS": str(warm)})
            before = cpu_seconds()
            result = wrk(public + "/", script=SCRIPT, duration=args.duration, connections=args.connections,
                         threads=2, env={**env, "BENCH_REQUESTS": str(measured)})
            after = cpu_seconds()
        errors = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors",
                                         "timeouts"))
        row = {"processes": count, "rps": result["rps"], "p99_us": result["p99_us"], "errors": errors,
               "web_cpu_ms": cpu_used(before, after, f"pgid:{server.pid}") * 1000 / result["requests"],
               "db_cpu_ms": db_cpu(before, after) * 1000 / result["requests"], "load": load_average()}
        web_rows.append(row)
        log(f"web ×{count}: {row['rps']:.0f} webhooks/s (p99 {ms(row['p99_us'])} ms, {errors} errors), CPU/webhook "
            f"{row['web_cpu_ms']:.2f} ms web + {row['db_cpu_ms']:.2f} ms PostgreSQL/Redis; load {row['load']}")

    # 2. Workers, inbound: each count drains a backlog of its own, accepted by the web tier beforehand.
    inbound_rows = []
    for index, count in enumerate(worker_counts):
        InboundEvent.objects.all().delete()
        backlog = WORK / f"scale-inbound-{count}.tsv"
        backlog_requests(backlog, public, webhook_path, f"I{index}", args.events, first_customer=100_000 * (index + 1))
        with running(gunicorn("scale-web-inbound", "config.wsgi", web_port, env, 4)):
            wrk(public + "/", script=SCRIPT, duration=max(5, args.events // 150), connections=16, threads=2,
                env={**env, "BENCH_REQUESTS": str(backlog)})
        time.sleep(2)  # the web tier's database backends are gone before the workers' CPU is counted
        total = InboundEvent.objects.count()
        procs = workers(env, count, f"in{count}")
        first = last = None
        try:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                pending = InboundEvent.objects.exclude(state="processed").count()
                now = time.monotonic()
                if first is None and pending < total:
                    # Counted from the first event processed: the workers' start-up is not per event.
                    first, done_before, before = now, total - pending, cpu_seconds()
                if pending == 0:
                    last = now
                    break
                time.sleep(0.25)
            after = cpu_seconds()
        finally:
            for p in procs:
                stop(p)
        if last is None or first is None:
            raise RuntimeError(f"{count} worker(s) did not process the inbound backlog")
        measured = total - done_before
        row = {"processes": count, "rate": measured / max(0.001, last - first), "events": total,
               "worker_cpu_ms": workers_cpu(before, after, procs) * 1000 / measured,
               "db_cpu_ms": db_cpu(before, after) * 1000 / measured, "load": load_average()}
        inbound_rows.append(row)
        log(f"inbound workers ×{count}: {row['rate']:.0f} events/s ({total}), CPU/event {row['worker_cpu_ms']:.2f} ms "
            f"worker + {row['db_cpu_ms']:.2f} ms PostgreSQL/Redis; load {row['load']}")

    # 3. Workers, outbound: the campaign is queued first, then the workers start on it.
    outbound_rows = []
    emulator = start("scale-emulator", [sys.executable, "manage.py", "run_provider_emulator", "--no-tls", "--port",
                                        str(emulator_port), "--twilio-account", f"{TWILIO_SID}:{TWILIO_TOKEN}",
                                        "--callback-delay-ms", "3600000", "--max-messages", "1000",
                                        "--max-records", "1000", "--max-callbacks", "1000"], env)
    with running(emulator):
        wait_http(f"{emulator_url}/_emulator/health")
        offset = 0
        for count in worker_counts:
            requests.post(f"{emulator_url}/_emulator/reset", json={}, timeout=10).raise_for_status()
            with running(gunicorn("scale-web-api", "config.wsgi", web_port, env, 2)), requests.Session() as api:
                api.headers["Authorization"] = f"Token {token}"
                for _ in range(args.messages // 100):
                    rows = [{"tocontactid": f"+1556{offset + i:07d}", "channelid": "SMS", "optin": True,
                             "CustomerName": f"Customer {offset + i}", "CaseName": f"C-{offset + i}"}
                            for i in range(100)]
                    offset += 100
                    answer = api.post(f"{public}/api/v1/outbound/requests/", timeout=120,
                                      json={"configuration_id": str(configuration.configuration_id),
                                            "contacts": rows})
                    answer.raise_for_status()
            time.sleep(2)
            total = (args.messages // 100) * 100
            procs = workers(env, count, f"out{count}")
            first = last = None
            try:
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline:
                    stats = requests.get(f"{emulator_url}/_emulator/stats", timeout=5).json()["counters"]
                    sent = int(stats.get("messages.twilio.outbound-api", 0))
                    now = time.monotonic()
                    if first is None and sent > 0:
                        first, first_sent, before = now, sent, cpu_seconds()
                    if sent >= total:
                        last = now
                        break
                    time.sleep(0.25)
                after = cpu_seconds()
            finally:
                for p in procs:
                    stop(p)
            if last is None or first is None:
                raise RuntimeError(f"{count} worker(s) did not send the campaign")
            measured = total - first_sent
            row = {"processes": count, "rate": measured / max(0.001, last - first), "messages": total,
                   "worker_cpu_ms": workers_cpu(before, after, procs) * 1000 / measured,
                   "db_cpu_ms": db_cpu(before, after) * 1000 / measured,
                   "emulator_cpu_ms": cpu_used(before, after, f"pgid:{emulator.pid}") * 1000 / measured,
                   "load": load_average()}
            outbound_rows.append(row)
            log(f"outbound workers ×{count}: {row['rate']:.0f} messages/s, CPU/message {row['worker_cpu_ms']:.2f} ms "
                f"worker + {row['db_cpu_ms']:.2f} ms PostgreSQL/Redis; load {row['load']}")
    Message.objects.count()  # the database is still reachable: nothing above left it broken

    def db(cpu_ms: float) -> str:
        # PostgreSQL backends that close during a phase take their CPU with them: then it cannot be counted.
        return f"{cpu_ms:.2f}" if cpu_ms >= 0 else "—"

    def per_core(cpu_ms: float) -> str:
        return f"{1000 / cpu_ms:.0f}" if cpu_ms else "—"

    web_table = "\n".join(
        f"| {r['processes']} | **{r['rps']:.0f}** | {ms(r['p99_us'])} | {r['errors']} | {r['web_cpu_ms']:.2f} | "
        f"{db(r['db_cpu_ms'])} | {per_core(r['web_cpu_ms'])} | {r['load']} |" for r in web_rows)
    inbound_table = "\n".join(
        f"| {r['processes']} | {r['events']} | **{r['rate']:.0f}** | {r['worker_cpu_ms']:.2f} | {db(r['db_cpu_ms'])} | "
        f"{per_core(r['worker_cpu_ms'])} | {r['load']} |" for r in inbound_rows)
    outbound_table = "\n".join(
        f"| {r['processes']} | **{r['rate']:.0f}** | {r['worker_cpu_ms']:.2f} | {db(r['db_cpu_ms'])} | "
        f"{per_core(r['worker_cpu_ms'])} | {r['load']} |" for r in outbound_rows)
    write_section("scale-out", f"""
## Scale-out: what grows with what

`python -m bench.scale_out --web {args.web} --workers {args.workers} --duration {args.duration} --events
{args.events} --messages {args.messages}`, run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Every
process on this one machine ({os.cpu_count()} cores, shared with wrk, PostgreSQL, Redis, the emulator and
whatever else runs on it: the load average, 1/5/15 min, is given at the end of each phase). "Per core" is
1000 ÷ the process's own CPU milliseconds per item: what one process does with a core to itself, as on a
host of its own; PostgreSQL and Redis cost comes on top, on their host (Redis's is the whole server's, which
may serve others too; a PostgreSQL backend that closes during a phase takes its CPU with it: "—"). On a
machine whose load average is above its cores, more processes also win a larger share of the cores from
the other work, so throughput rises with processes whatever limits the hub: plan with the per-core figures.

Web tier — signed Twilio webhooks accepted (stored, processing woken), no worker running, wrk with
{args.connections} connections for {args.duration} s:

| gunicorn processes | webhooks/s | p99 ms | errors | web CPU ms/webhook \
| PostgreSQL + Redis CPU ms/webhook | webhooks/s per core | load average |
|---|---|---|---|---|---|---|---|
{web_table}

Workers, inbound — a backlog of webhooks (up to {args.events}, accepted beforehand; one in six opens a
conversation, the others join it) turned into messages in conversations (`celery -A config worker
--concurrency 1` per process; first event processed → last; one account, whose events at most
`INBOUND_DRAIN_SLOTS` = 2 processes work on at a time):

| worker processes | events | events/s | worker CPU ms/event | PostgreSQL + Redis CPU ms/event \
| events/s per core | load average |
|---|---|---|---|---|---|---|
{inbound_table}

Workers, outbound — a campaign of {args.messages} contacts (requests of 100, queued before the workers
start), sent to the emulator (first send → last send; status callbacks held back past the run):

| worker processes | messages/s | worker CPU ms/message | PostgreSQL + Redis CPU ms/message \
| messages/s per core | load average |
|---|---|---|---|---|---|
{outbound_table}

Machine:

{machine_table()}
""")


if __name__ == "__main__":
    main()
