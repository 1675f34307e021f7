"""State gauges of the work, read at scrape time (config/metrics.py): conversations waiting in each queue
and the longest wait."""

from __future__ import annotations

from django.db.models import Count, Min
from django.utils import timezone

from config.metrics import gauge
from workstreams.models import Conversation, ConversationState, Queue


def collect():
    now = timezone.now()
    waiting = gauge("hub_conversations_waiting", "Conversations open in a queue, waiting for an agent.", ["queue"])
    oldest = gauge("hub_conversations_oldest_wait_seconds", "How long the longest-waiting conversation of a queue "
                   "has waited.", ["queue"])
    rows = {r["queue"]: r for r in Conversation.objects.filter(state=ConversationState.OPEN, with_bot=False)
            .values("queue").annotate(n=Count("pk"), first=Min("queued_at")).order_by()}
    names = dict(Queue.objects.values_list("pk", "name"))
    for queue_id, name in sorted(names.items(), key=lambda item: item[1]):
        row = rows.get(queue_id)
        waiting.add_metric([name], row["n"] if row else 0)
        oldest.add_metric([name], (now - row["first"]).total_seconds() if row and row["first"] else 0)
    if None in rows:  # in no queue (no workstream and no default queue)
        waiting.add_metric(["none"], rows[None]["n"])
        first = rows[None]["first"]
        oldest.add_metric(["none"], (now - first).total_seconds() if first else 0)
    active = gauge("hub_conversations", "Conversations that are not closed, by state.", ["state"])
    counts = dict(Conversation.objects.exclude(state=ConversationState.CLOSED).values_list("state")
                  .annotate(n=Count("pk")).order_by())
    for state in ConversationState.values:
        if state != ConversationState.CLOSED:
            active.add_metric([state], counts.get(state, 0))
    yield from (waiting, oldest, active)
