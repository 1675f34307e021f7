"""Inbound benchmark: signed Twilio webhooks into gunicorn, against the floor of our own stack.

    python -m bench.inbound [--duration 30] [--rounds 3] [--connections 32] [--web-workers 4] [--celery-workers 2]

1. Floor: a minimal Django view on gunicorn sync workers that checks the Twilio signature, inserts
   one row under a unique provider id and answers <Response/>.
2. Hub: the real webhook endpoint (account lookup, signature, payload checks, the event stored
   once, processing woken through Redis), with no worker running, on the same number of gunicorn
   processes with production's threads (config/gunicorn.py: gthread workers, whose concurrent
   webhooks share one INSERT and commit). Floor and hub alternate over
   --rounds rounds, so that both see the machine at about the same speed.
3. Processing: Celery workers turn the accepted backlog into messages in conversations; the
   backlog is sampled every half second.
4. Sustained: hub and workers together under load — does the backlog grow?

wrk replays requests signed beforehand, one unique MessageSid each. Results go to
docs/benchmarks.md (section "inbound").
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from urllib.parse import urlencode

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
    production_threads,
    reset_database,
    running,
    setup_django,
    start,
    stop,
    write_section,
    wrk,
)

SCRIPT = __import__("pathlib").Path(__file__).parent / "wrk" / "replay.lua"
TWILIO_SID, TWILIO_TOKEN = "AC" + "b" * 32, "bench-twilio-auth-token"
NUMBER = "+14155550100"
#: The MessageSid prefix of each phase's requests file, in the order of ``phases`` (warm-up first).
PREFIXES = "WMFHGIJKLNOPQRSTUVXYZ"


def write_requests(path, public_url: str, webhook_path: str, prefix: str, count: int, customers: int) -> None:
    from channels_app.providers.twilio import compute_signature

    url = public_url + webhook_path
    with path.open("w") as f:
        for i in range(count):
            params = {"MessageSid": f"SM{prefix}{i:030d}"[:34], "AccountSid": TWILIO_SID,
                      "From": f"+1555{(i % customers):07d}", "To": NUMBER, "Body": f"Where is my order {i}?",
                      "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01"}
            signature = compute_signature(TWILIO_TOKEN, url, {k: [v] for k, v in params.items()})
            f.write(f"{webhook_path}\t{urlencode(params)}\t{signature}\n")


def celery_workers(env, count: int, concurrency: int):
    return [start(f"celery-{i}", [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING",
                                  "--concurrency", str(concurrency), "-Q", "default,replies,bulk",
                                  "--without-mingle", "--without-gossip", "--hostname", f"bench{i}@%h"], env)
            for i in range(count)]


def drain(total: int, started: float, timeout: float = 600,
          progress: dict | None = None) -> tuple[float, list[tuple[float, int]]]:
    """Wait until ``total`` events are processed; return seconds and (t, backlog) samples. ``progress``, when
    given, gets the CPU counters (``cpu``) and the backlog (``pending``) at the first sample that shows
    processing under way, so that the workers' start-up is not counted in the CPU per event."""
    from channels_app.models import InboundEvent

    samples = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = InboundEvent.objects.exclude(state="processed").count()
        samples.append((round(time.monotonic() - started, 1), pending))
        if progress is not None and "cpu" not in progress and pending < total:
            progress.update(cpu=cpu_seconds(), pending=pending)
        if pending == 0 and InboundEvent.objects.count() >= total:
            break
        time.sleep(0.5)
    return time.monotonic() - started, samples


def worker_cpu(before: dict, after: dict, workers, events: int) -> float:
    """CPU ms per event in the Celery workers' process groups between two ``cpu_seconds()`` readings. (The
    database's share is not told apart: a worker's task closes its PostgreSQL connection when it ends, and
    a backend that has exited leaves no trace in /proc to count.)"""
    return sum(cpu_used(before, after, f"pgid:{w.pid}") for w in workers) * 1000 / max(1, events)


def combined(results: list[dict], *, stored: int) -> dict:
    """Rounds of one phase as one: requests over the summed time, CPU per request weighted by requests,
    and the worst of the latency figures."""
    requests = sum(r["requests"] for r in results)
    out = {key: max(r[key] for r in results) for key in ("p50_us", "p95_us", "p99_us", "max_us")}
    out.update({key: sum(r[key] for r in results) for key in ("requests", "duration_us", "connect_errors",
                                                             "read_errors", "write_errors", "status_errors",
                                                             "timeouts")})
    out["rps"] = requests / (out["duration_us"] / 1e6)
    for key in ("web_cpu_ms", "db_cpu_ms"):
        out[key] = sum(r[key] * r["requests"] for r in results) / requests
    out["stored"] = stored
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=30, help="Seconds of load per phase (30).")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32).")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2).")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn processes (4).")
    parser.add_argument("--hub-threads", type=int, default=production_threads(),
                        help="Threads per hub process (production's: config/gunicorn.py, GUNICORN_THREADS).")
    parser.add_argument("--celery-workers", type=int, default=1, help="Celery worker processes (1).")
    parser.add_argument("--concurrency", type=int, default=3, help="Prefork children per Celery worker (3).")
    parser.add_argument("--customers", type=int, default=2000, help="Distinct customers sending (2000).")
    parser.add_argument("--requests", type=int, default=80_000, help="Signed requests prepared per phase.")
    parser.add_argument("--rounds", type=int, default=3,
                        help="Floor and hub phases alternate this many times, --duration split among them (3).")
    parser.add_argument("--accept-only", action="store_true",
                        help="Measure the floor and the hub's webhook only, print the ratio, write nothing.")
    args = parser.parse_args()

    port = free_port()
    public = f"http://127.0.0.1:{port}"
    load_at_start = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    env = base_env(PUBLIC_BASE_URL=public, BENCH_TWILIO_TOKEN=TWILIO_TOKEN)
    reset_database(env)
    setup_django(env)
    from django.db import connection

    from channels_app.models import InboundEvent, Message
    from channels_app.services import NumberSpec, account_create

    account = account_create(name="Bench Twilio", channel="sms", provider="twilio",
                             credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
                             numbers=[NumberSpec(NUMBER, "long_code")])
    webhook_path = f"/webhooks/twilio/{account.webhook_token}/inbound/"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_floor_event (id bigserial PRIMARY KEY, sid text UNIQUE NOT NULL, "
                       "body text NOT NULL, received_at timestamptz NOT NULL DEFAULT now())")
    # One file per phase and round, each with its own MessageSids: a round never replays another's.
    phases = ["warm", "mixed"] + [f"{kind}{r}" for r in range(1, args.rounds + 1) for kind in ("floor", "hub")]
    files = {}
    for index, phase in enumerate(phases):
        files[phase] = WORK / f"inbound-{phase}.tsv"
        write_requests(files[phase], public, webhook_path, PREFIXES[index], args.requests, args.customers)
    log(f"{args.requests} signed requests per phase prepared")

    def load(phase: str, seconds: int, server=None) -> dict:
        before = cpu_seconds()
        result = wrk(public + "/", script=SCRIPT, duration=seconds, connections=args.connections,
                     threads=args.threads, env={**env, "BENCH_REQUESTS": str(files[phase])})
        after = cpu_seconds()
        if server is not None:
            # CPU per accepted request: the web processes, and PostgreSQL + Redis.
            result["web_cpu_ms"] = cpu_used(before, after, f"pgid:{server.pid}") * 1000 / result["requests"]
            result["db_cpu_ms"] = (cpu_used(before, after, "postgres") + cpu_used(before, after, "redis")) \
                * 1000 / result["requests"]
        return result

    # 1 and 2. Floor and hub (accepting only, no worker running), alternating: round after round, each
    # compared with the other close in time, since this machine's speed drifts.
    round_seconds = max(5, args.duration // args.rounds)
    rounds: list[tuple[dict, dict]] = []
    InboundEvent.objects.all().delete()
    for r in range(1, args.rounds + 1):
        with running(gunicorn("floor", "bench.floor.wsgi", port, env, args.web_workers)) as (server,):
            load("warm", 3)
            floor_round = load(f"floor{r}", round_seconds, server)
        with running(gunicorn("hub", "config.wsgi", port, env, args.web_workers, args.hub_threads)) as (server,):
            load("warm", 3)
            hub_round = load(f"hub{r}", round_seconds, server)
        rounds.append((floor_round, hub_round))
        log(f"round {r}: floor {floor_round['rps']:.0f} req/s (p99 {ms(floor_round['p99_us'])} ms), hub "
            f"{hub_round['rps']:.0f} req/s (p99 {ms(hub_round['p99_us'])} ms): "
            f"{hub_round['rps'] / floor_round['rps']:.2f}x; CPU per request, web + database/Redis: floor "
            f"{floor_round['web_cpu_ms']:.2f} + {floor_round['db_cpu_ms']:.2f} ms, hub {hub_round['web_cpu_ms']:.2f} + "
            f"{hub_round['db_cpu_ms']:.2f} ms")
    # Warm-up requests were stored too: count only the measured rounds' rows.
    warm = "SM" + PREFIXES[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_floor_event WHERE sid NOT LIKE %s", [warm + "%"])
        floor_stored = cursor.fetchone()[0]
    InboundEvent.objects.filter(event_key__startswith=warm).delete()
    floor = combined([f for f, _ in rounds], stored=floor_stored)
    hub = combined([h for _, h in rounds], stored=InboundEvent.objects.count())
    ratio = hub["rps"] / floor["rps"]
    log(f"ratio to the floor: {ratio:.2f}x")
    if args.accept_only:
        return

    with running(gunicorn("hub", "config.wsgi", port, env, args.web_workers, args.hub_threads)):
        # 3. Processing the backlog.
        started = time.monotonic()
        workers = celery_workers(env, args.celery_workers, args.concurrency)
        progress: dict = {}
        try:
            seconds, samples = drain(hub["stored"], started, progress=progress)
            processing_cpu = worker_cpu(progress.get("cpu", {}), cpu_seconds(), workers,
                                        progress.get("pending", hub["stored"]))
        finally:
            for w in workers:
                stop(w)
        # The workers' start-up is in the measured time: count from the first processed event instead.
        first = next((t for t, pending in samples if pending < hub["stored"]), 0.0)
        processing_rate = hub["stored"] / max(0.001, seconds - first)
        messages = Message.objects.filter(direction="inbound").count()
        log(f"processing: {processing_rate:.0f} events/s ({messages} messages); worker CPU per event "
            f"{processing_cpu:.2f} ms")

        # 4. Sustained: web and workers together.
        InboundEvent.objects.all().delete()
        workers = celery_workers(env, args.celery_workers, args.concurrency)
        time.sleep(3)
        started = time.monotonic()
        mixed_before = cpu_seconds()
        mixed = load("mixed", args.duration)
        mixed_end_backlog = InboundEvent.objects.exclude(state="processed").count()
        mixed_drain, mixed_samples = drain(InboundEvent.objects.count(), started)
        mixed_cpu = worker_cpu(mixed_before, cpu_seconds(), workers, InboundEvent.objects.count())
        for w in workers:
            stop(w)
    log(f"sustained: {mixed['rps']:.0f} req/s accepted, backlog {mixed_end_backlog} at the end of the load; "
        f"worker CPU per event {mixed_cpu:.2f} ms")

    round_line = "; ".join(f"{f['rps']:.0f} → {h['rps']:.0f} req/s ({h['rps'] / f['rps']:.2f}×)" for f, h in rounds)
    backlog_curve = ", ".join(f"{t:g}s:{n}" for t, n in samples[:: max(1, len(samples) // 12)])
    mixed_curve = ", ".join(f"{t:g}s:{n}" for t, n in mixed_samples[:: max(1, len(mixed_samples) // 12)])
    mixed_processing = InboundEvent.objects.count() / max(0.001, mixed_drain)

    def row(label, r):
        errors = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["status_errors"] + r["timeouts"]
        return (f"| {label} | {r['rps']:.0f} | {ms(r['p50_us'])} | {ms(r['p95_us'])} | {ms(r['p99_us'])} | "
                f"{ms(r['max_us'])} | {errors} | {r['requests']} | {r['stored']} |")

    write_section("inbound", f"""
## Inbound webhooks

`make bench-inbound` (`python -m bench.inbound --duration {args.duration} --connections {args.connections}
--threads {args.threads} --web-workers {args.web_workers} --hub-threads {args.hub_threads}
--celery-workers {args.celery_workers} --concurrency {args.concurrency}`), run
{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Signed Twilio SMS webhooks (one unique `MessageSid`
each, {args.customers} customers) replayed by wrk against gunicorn ({args.web_workers} processes: sync
workers for the floor, {args.hub_threads} threads each for the hub, as `config/gunicorn.py` runs it in
production), PostgreSQL and Redis on this machine; wrk, the server, the database and the workers share its
cores. Load average (1, 5, 15 min) when the run started: {load_at_start}.

| phase | accepted/s | p50 ms | p95 ms | p99 ms | max ms | errors | requests | rows stored |
|---|---|---|---|---|---|---|---|---|
{row("floor: minimal view (signature + one insert)", floor)}
{row("hub webhook (no worker running)", hub)}
{row("hub webhook with workers processing", {**mixed, "stored": InboundEvent.objects.count()})}

- **Ratio to the floor: {ratio:.2f}×**, p99 {hub['p99_us'] / floor['p99_us']:.2f}× the floor's (target ≥ 1.0×,
  with p99 within 1.5× the floor's): all requests of the hub's rounds over all of the floor's. Rounds, floor
  then hub, {round_seconds} s each: {round_line}.
- CPU per accepted request (steadier than throughput on a shared machine): floor
  {floor['web_cpu_ms']:.2f} ms in gunicorn + {floor['db_cpu_ms']:.2f} ms in PostgreSQL and Redis; hub
  {hub['web_cpu_ms']:.2f} ms + {hub['db_cpu_ms']:.2f} ms.
- **Processing**: {hub['stored']} accepted events became messages in conversations at
  **{processing_rate:.0f} events/s** ({args.celery_workers} worker × {args.concurrency} processes; target ≥ 500/s),
  CPU per event in the workers {processing_cpu:.2f} ms (from the first event processed on).
  Backlog over time (seconds since the workers started: events waiting): {backlog_curve}.
- **Sustained** (web and workers together for {args.duration} s): {mixed['rps']:.0f} accepted/s, backlog
  {mixed_end_backlog} when the load stopped, all processed {mixed_drain:.1f} s after the load began
  ({mixed_processing:.0f} events/s end to end; CPU per event in the workers {mixed_cpu:.2f} ms).
  Backlog: {mixed_curve}.

Machine:

{machine_table()}
""")


if __name__ == "__main__":
    main()
