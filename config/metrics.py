"""Prometheus metrics: the counters and histograms the hub's processes update, the gauges computed when
``/metrics`` is scraped, and the endpoint itself.

Counters and histograms are written by every process (gunicorn workers, Celery worker processes) into
memory-mapped files in ``METRICS_DIR`` (prometheus-client's multiprocess mode) and summed at scrape
time; ``/metrics`` on the web server shows every process of its host that writes into that folder. A
worker on another host serves its own with ``WORKER_METRICS_PORT``. Gauges that describe the state of
the work (backlogs, waiting conversations, queue depths, batch progress, heartbeats) are read from the
database and the broker at scrape time by the collectors named in ``HUB_METRICS_COLLECTORS``, so the
code that does the work never maintains them.

The functions below are the seams the work calls — one line each, cheap (a counter increment, no
query) — and they also write the log line that goes with the event.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.module_loading import import_string
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from config.logs import log_bind

logger = logging.getLogger("hub.events")

# --- Counters and histograms (updated where the work happens) ------------------------------------

WEBHOOKS_ACCEPTED = Counter("hub_webhooks_accepted_total", "Verified webhooks answered 200, by provider and kind "
                            "(inbound message or status callback); duplicate: a provider's retry of a stored one.",
                            ["provider", "kind", "duplicate"])
WEBHOOKS_REFUSED = Counter("hub_webhooks_refused_total", "Webhooks refused, by provider and reason "
                           "(not_found, missing_signature, bad_signature, invalid_payload).", ["provider", "reason"])
INBOUND_PROCESSED = Counter("hub_inbound_events_processed_total", "Stored webhooks processed by a worker.",
                            ["provider", "kind"])
INBOUND_FAILED = Counter("hub_inbound_events_failed_total", "Stored webhooks that could not become a message or "
                         "a status (kept as failed events with their reason; reprocess them in the admin), by "
                         "provider, kind and reason.", ["provider", "kind", "reason"])
INBOUND_LAG = Histogram("hub_inbound_processing_lag_seconds", "From a webhook stored to its event processed.",
                        ["kind"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900))
SENDS = Counter("hub_message_sends_total", "Send attempts by provider, channel, outcome (sent, retrying, failed) and "
                "error code (empty when sent).", ["provider", "channel", "outcome", "error_code"])
RETRIES = Counter("hub_message_send_retries_total", "Send attempts that failed in a retryable way and were "
                  "scheduled again, by provider and error code.", ["provider", "error_code"])
STATUSES = Counter("hub_message_status_updates_total", "Status callbacks that moved a message forward, by "
                   "provider, new status and error code.", ["provider", "status", "error_code"])
PROVIDER_SECONDS = Histogram("hub_provider_request_seconds", "Provider HTTP calls (send latency: kind=send), "
                             "by provider, kind and result (an HTTP status class or 'unreachable').",
                             ["provider", "kind", "result"],
                             buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20))
ASSIGNMENT_SECONDS = Histogram("hub_conversation_assignment_seconds", "From a conversation entering its queue "
                               "to an agent getting it, by queue.", ["queue"],
                               buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200))


def _code(value: Any) -> str:
    return str(value or "")[:32]


def webhook_accepted(*, provider: str, kind: str, duplicate: bool, event_id: int | None, account_id: int) -> None:
    WEBHOOKS_ACCEPTED.labels(provider, kind, "true" if duplicate else "false").inc()
    # DEBUG: this is the hub's hottest path, where a line per request would cost a tenth of its CPU. Each
    # accepted webhook is in the event store with its request id, and counted above.
    logger.debug("webhook accepted: %s %s event %s%s", provider, kind, event_id, " (a retry)" if duplicate else "",
                 extra={"event_id": event_id, "account_id": account_id})


def webhook_refused(*, provider: str, reason: str) -> None:
    WEBHOOKS_REFUSED.labels(provider, reason).inc()


def inbound_processed(*, provider: str, kind: str, received_at: Iterable[Any]) -> None:
    """Events of one kind processed now; ``received_at``: when each was stored."""
    now = time.time()
    count = 0
    for moment in received_at:
        INBOUND_LAG.labels(kind).observe(max(0.0, now - moment.timestamp()))
        count += 1
    if count:
        INBOUND_PROCESSED.labels(provider, kind).inc(count)


def inbound_failed(*, provider: str, kind: str, reason: str, error: str, event_id: int, account_id: int) -> None:
    """A stored event failed for good: counted, and one WARNING line an operator can alert on."""
    INBOUND_FAILED.labels(provider, kind, reason).inc()
    logger.warning("inbound event %s failed (%s): %s", event_id, reason, error,
                   extra={"event_id": event_id, "account_id": account_id})


def inbound_batch_processed(*, provider: str, events: list[Any], messages: list[Any], duplicates: list[Any]) -> None:
    """A batch of inbound events turned into ``messages`` (in the events' order), and provider retries."""
    inbound_processed(provider=provider, kind="inbound", received_at=[e.received_at for e in [*events, *duplicates]])
    for event, message in zip(events, messages, strict=False):
        logger.info("inbound message %s received", message.pk, extra={
            "message_id": message.pk, "event_id": event.pk, "account_id": event.account_id,
            "request_id": event.request_id or None})


def send_outcome(*, provider: str, channel: str, outcome: str, error_code: str = "", message_id: int | None = None,
                 detail: str = "", account_id: int | None = None) -> None:
    """One send attempt's outcome: "sent", "retrying" or "failed". ``message_id`` given: logged too
    (bulk sends pass None, and log per chunk)."""
    SENDS.labels(provider, channel, outcome, _code(error_code)).inc()
    if outcome == "retrying":
        RETRIES.labels(provider, _code(error_code)).inc()
    if message_id is not None:
        level = logging.INFO if outcome == "sent" else logging.WARNING
        extra = {"message_id": message_id, "account_id": account_id} if account_id else {"message_id": message_id}
        logger.log(level, "message %s %s%s", message_id, outcome,
                   f" ({error_code}: {detail})" if error_code or detail else "", extra=extra)


def status_applied(*, provider: str, status: str, error_code: str = "", message_id: int) -> None:
    STATUSES.labels(provider, status, _code(error_code)).inc()
    logger.info("message %s now %s%s", message_id, status, f" (error {error_code})" if error_code else "",
                extra={"message_id": message_id})


def provider_call(*, provider: str, kind: str, status_code: int | None, seconds: float) -> None:
    result = f"{status_code // 100}xx" if status_code else "unreachable"
    PROVIDER_SECONDS.labels(provider, kind, result).observe(seconds)


def message_queued(*, message_id: int, account_id: int, kind: str) -> None:
    logger.info("message %s queued (%s)", message_id, kind, extra={"message_id": message_id, "account_id": account_id})


def conversation_messages(*, links: list[tuple[int, int, str]]) -> None:
    """Messages joined conversations: (conversation id, message id, the request id that brought the message).
    One message alone: its conversation is bound for the rest of the request or task."""
    if len(links) == 1:
        log_bind(conversation_id=links[0][0])
    for conversation_id, message_id, request_id in links:
        extra = {"message_id": message_id, "conversation_id": conversation_id}
        if request_id:
            extra["request_id"] = request_id
        logger.info("message %s in conversation %s", message_id, conversation_id, extra=extra)


def conversation_assigned(*, conversation_id: int, agent_id: int, queue: str, waited_seconds: float | None) -> None:
    if waited_seconds is not None:
        ASSIGNMENT_SECONDS.labels(queue or "none").observe(max(0.0, waited_seconds))
    logger.info("conversation %s assigned to agent %s%s", conversation_id, agent_id,
                f" after {waited_seconds:.1f} s in queue {queue}" if waited_seconds is not None else "",
                extra={"conversation_id": conversation_id})


# --- Gauges computed at scrape time ----------------------------------------------------------------

def gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


class StateCollector:
    """Runs the functions in HUB_METRICS_COLLECTORS at each scrape; one that fails is reported, not fatal."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = list(paths)

    def collect(self):
        up = gauge("hub_metrics_collector_up", "1 when the collector could read what it reports.", ["collector"])
        for path in self.paths:
            try:
                families = list(_collector(path)())
            except Exception as exc:  # a database or broker outage must not break the scrape
                logger.warning("metrics collector %s failed: %s: %s", path, exc.__class__.__name__, exc)
                up.add_metric([path.rsplit(".", 1)[0]], 0)
                continue
            up.add_metric([path.rsplit(".", 1)[0]], 1)
            yield from families
        yield up


@cache
def _collector(path: str) -> Callable[[], Iterable[Any]]:
    return import_string(path)


def broker_collect():
    """Tasks waiting in each of the hub's queues on the broker."""
    from config.celery import app

    depth = gauge("hub_queue_depth", "Tasks waiting in a broker queue.", ["queue"])
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        channel = conn.default_channel
        for name in settings.CELERY_TASK_QUEUES_ALL:
            try:
                depth.add_metric([name], channel.queue_declare(queue=name, passive=True).message_count)
            except Exception:  # a queue nobody declared yet holds nothing
                depth.add_metric([name], 0)
                channel = conn.channel()
    yield depth


# --- The endpoint -----------------------------------------------------------------------------------

def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(settings.METRICS_DIR))
    registry.register(StateCollector(settings.HUB_METRICS_COLLECTORS))
    return registry


#: Headers a reverse proxy adds: a request carrying one is not judged by its peer address.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in settings.METRICS_ALLOWED_NETWORKS]


def metrics_refusal(request) -> HttpResponse | None:
    """Why this request may not read the metrics (a response), or None when it may.

    A request with the right ``Authorization: Bearer <METRICS_TOKEN>`` may, from anywhere; without a
    token, one from an address in METRICS_ALLOWED_NETWORKS may.
    """
    header = request.headers.get("Authorization", "")
    token = settings.METRICS_TOKEN
    if header:
        scheme, _, given = header.partition(" ")
        if token and scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), token.encode()):
            return None
        return JsonResponse({"error": "unauthorized", "detail": "Wrong metrics token: send 'Authorization: "
                             "Bearer <METRICS_TOKEN>'."}, status=401)
    if any(request.META.get(h) for h in PROXY_HEADERS):
        # Through a proxy the peer address is the proxy's (often 127.0.0.1): only the token counts.
        return JsonResponse({"error": "forbidden", "detail": "This request came through a proxy: send 'Authorization: "
                             "Bearer <METRICS_TOKEN>' (set METRICS_TOKEN), or scrape the server directly."},
                            status=403)
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        address = None
    if address is not None and any(address in network for network in _networks()):
        return None
    hint = ("send 'Authorization: Bearer <METRICS_TOKEN>'" if token
            else "set METRICS_TOKEN and send it as a bearer token")
    return JsonResponse({"error": "forbidden", "detail": f"{address or 'This address'} is not in "
                         f"METRICS_ALLOWED_NETWORKS; {hint}, or scrape from an allowed network."}, status=403)


def metrics_view(request):
    refusal = metrics_refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


def serve_worker_metrics(port: int) -> None:
    """A worker's own /metrics (its processes' counters; the state gauges are the web server's)."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(settings.METRICS_DIR))
    start_http_server(port, registry=registry)
    logging.getLogger(__name__).info("worker metrics on port %s", port)
