"""What observability costs on the hot paths, per call, in this process: the request id a web request gets,
a counter increment, a log line in each format, redaction. ``python -m bench.observability``

The webhook path pays the first two (a few µs against about 900 µs per request, docs/benchmarks.md); an
accepted webhook writes no INFO line. Worker paths pay a log line per message.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time

N = 20_000


def bench(label: str, fn) -> None:
    for _ in range(500):
        fn()
    best = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(N):
            fn()
        best.append((time.process_time() - started) / N * 1e6)
    print(f"| {label} | {min(best):.1f} µs |")


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("HUB_VAR_DIR", tempfile.mkdtemp())
    sys.path.insert(0, os.getcwd())
    import django

    django.setup()
    from config import logs, metrics

    def request_context():
        logs.context_end(logs.context_start(request_id=logs.request_id_from(None)))

    print("| per call | CPU (best of 5) |\n|---|---|")
    bench("request id and log context of a web request", request_context)
    bench("counter increment (multiprocess file)", lambda: metrics.WEBHOOKS_ACCEPTED.labels("twilio", "inbound",
                                                                                          "false").inc())
    line = ("2026-12-01 12:00:00,000 INFO hub.events inbound message 5 received [request_id=abc account_id=1 "
            "event_id=5]")
    bench("redaction of one line", lambda: logs.redact_log_text(line))
    root = logging.getLogger()
    events = logging.getLogger("hub.events")
    for name, formatter in (("plain", logs.PlainFormatter()), ("json", logs.JsonLinesFormatter())):
        root.handlers.clear()
        handler = logging.StreamHandler(open(os.devnull, "w"))
        handler.addFilter(logs.ContextFilter())
        handler.setFormatter(formatter)
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        token = logs.context_start(request_id="abc", account_id=1)
        bench(f"one INFO line, {name}", lambda: events.info("inbound message %s received", 5,
                                                           extra={"message_id": 5, "event_id": 5}))
        bench(f"a DEBUG line not written ({name} configured)", lambda: events.debug("webhook accepted %s", 5))
        logs.context_end(token)


if __name__ == "__main__":
    main()
