"""State gauges of the wire, read at scrape time (config/metrics.py): webhooks waiting to be processed
and how long the oldest has waited, failed events, and outgoing messages not sent yet."""

from __future__ import annotations

from django.db.models import Count, Min
from django.utils import timezone

from channels_app.models import Direction, EventKind, EventState, InboundEvent, Message, MessageStatus
from config.metrics import gauge


def collect():
    now = timezone.now()
    backlog = gauge("hub_inbound_backlog", "Stored webhooks not processed yet, by kind.", ["kind"])
    oldest = gauge("hub_inbound_oldest_pending_seconds", "How long the oldest unprocessed webhook has waited "
                   "(inbound processing lag), by kind.", ["kind"])
    rows = {r["kind"]: r for r in InboundEvent.objects.filter(state=EventState.PENDING).values("kind")
            .annotate(n=Count("pk"), first=Min("received_at"))}
    for kind in EventKind.values:
        row = rows.get(kind)
        backlog.add_metric([kind], row["n"] if row else 0)
        oldest.add_metric([kind], (now - row["first"]).total_seconds() if row else 0)
    failed = gauge("hub_inbound_failed_events", "Stored webhooks that failed every processing attempt "
                   "(reprocess them in the admin).")
    failed.add_metric([], InboundEvent.objects.filter(state=EventState.FAILED).count())
    outgoing = gauge("hub_outgoing_messages_open", "Outgoing messages waiting to be sent or in a send, by status "
                     "and provider.", ["status", "provider"])
    for row in (Message.objects.filter(direction=Direction.OUTBOUND,
                                       status__in=[MessageStatus.QUEUED, MessageStatus.SENDING])
                .values("status", "provider").annotate(n=Count("pk")).order_by()):
        outgoing.add_metric([row["status"], row["provider"]], row["n"])
    yield from (backlog, oldest, failed, outgoing)
