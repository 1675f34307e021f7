"""The rows the roll-ups count, read the same way from the live tables and from the roll-up tables.

Each report asks for counts grouped by some dimensions (``day``, ``provider``, ``status`` …) under filters on
dimensions. ``message_counts`` and ``outbound_counts`` answer from the roll-up for the days rolled up after
they ended and from ``Message`` / ``OutboundRecipient`` for the others (today, and any day never rolled up), and
add the two: the page reads a few thousand roll-up rows instead of a month of messages.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from channels_app.models import Message
from outbound.models import OutboundRecipient, OutboundReply

from .models import MessageDaily, OutboundDaily, RollupDay
from .periods import day_start, days_between, time_filter

#: Each message dimension as a path from ``Message``.
MESSAGE_PATHS = {
    "phone_number_id": "phone_number_id",
    "provider": "provider",
    "channel": "channel",
    "direction": "direction",
    "kind": "kind",
    "status": "status",
    "error_code": "error_code",
    "queue_id": "conversation_link__conversation__queue_id",
    "agent_id": "conversation_link__conversation__agent_id",
    "workstream_id": "conversation_link__conversation__workstream_id",
    "configuration_id": "outbound_recipient__request__configuration_id",
}

#: Each outbound dimension as a path from ``OutboundRecipient``.
OUTBOUND_PATHS = {
    "configuration_id": "request__configuration_id",
    "batch_id": "request__batch_id",
    "phone_number_id": "request__configuration__phone_number_id",
    "channel": "request__configuration__channel_type",
    "state": "state",
    "reason_code": "reason_code",
    "message_status": "message__status",
    "error_code": "message__error_code",
}


@dataclass(frozen=True)
class Where:
    """Filters on dimensions: ``equals`` (dimension → value) and ``any_of`` (an OR of dimension → values, for a
    supervisor's reach); None values are ignored."""

    equals: dict[str, Any] = field(default_factory=dict)
    any_of: dict[str, Iterable[Any]] | None = None

    def q(self, paths: dict[str, str] | None = None) -> Q:
        path = (lambda name: paths[name]) if paths else (lambda name: name)
        q = Q(**{path(k): v for k, v in self.equals.items() if v not in (None, "")})
        if self.any_of is not None:
            reach = Q(pk__in=[])
            for name, values in self.any_of.items():
                values = list(values)
                if values:
                    reach |= Q(**{f"{path(name)}__in": values})
            q &= reach
        return q


#: A conversation's dimensions (the same names on ``Conversation`` and in the roll-ups).
CONVERSATION_DIMENSIONS = ("phone_number_id", "channel", "queue_id", "agent_id", "workstream_id")
#: The conversation times: (measure, end field, start field).
CONVERSATION_TIMES = (("first_response", "first_response_at", "created_at"),
                      ("wait", "first_assigned_at", "first_queued_at"),
                      ("handle", "ended_at", "first_assigned_at"))


def conversation_live_rows(queryset):
    """(dimensions, ended, resolved, {measure: duration or None}) for each conversation."""
    from django.db.models import DurationField, ExpressionWrapper

    annotations = {f"t_{name}": ExpressionWrapper(F(end) - F(start), output_field=DurationField())
                   for name, end, start in CONVERSATION_TIMES}
    fields = (*CONVERSATION_DIMENSIONS, "ended_at", "resolved", *annotations)
    for row in queryset.annotate(**annotations).values_list(*fields).iterator(chunk_size=5000):
        dims = row[:len(CONVERSATION_DIMENSIONS)]
        ended, resolved = row[len(dims)] is not None, bool(row[len(dims) + 1])
        measures = dict(zip((name for name, *_ in CONVERSATION_TIMES), row[len(dims) + 2:], strict=True))
        yield dims, int(ended), int(resolved), measures


def rolled_days(days: list[date]) -> set[date]:
    """The days whose roll-up was made after the day had ended (complete)."""
    if not days:
        return set()
    found = RollupDay.objects.filter(day__in=days).values_list("day", "rolled_at")
    return {day for day, rolled_at in found if rolled_at >= day_start(day + timedelta(days=1))}


def _add(into: dict[tuple, dict[str, int]], rows: Iterable[dict[str, Any]], by: tuple[str, ...],
         sums: tuple[str, ...]) -> None:
    for row in rows:
        key = tuple(row[name] if row[name] is not None else "" for name in by) if by else ()
        bucket = into[key]
        for name in sums:
            bucket[name] += row[name] or 0


def _combine(rolled, live, by: tuple[str, ...], sums: tuple[str, ...]) -> list[dict[str, Any]]:
    totals: dict[tuple, dict[str, int]] = defaultdict(lambda: dict.fromkeys(sums, 0))
    _add(totals, rolled, by, sums)
    _add(totals, live, by, sums)
    return [{**dict(zip(by, key, strict=True)), **values} for key, values in sorted(totals.items(), key=_sort_key)]


def _sort_key(item):
    return tuple(str(part) for part in item[0])


def message_live_rows(queryset, by: tuple[str, ...]):
    """Counts of ``Message`` rows grouped by dimensions (``day`` in the display time zone)."""
    names = {name: F(MESSAGE_PATHS[name]) for name in by if name != "day"}
    if "day" in by:
        names["day"] = TruncDate("created_at", tzinfo=timezone.get_default_timezone())
    return (queryset.annotate(**{f"d_{k}": v for k, v in names.items()})
            .values(*(f"d_{k}" for k in by)).annotate(count=Count("pk"), segments=Coalesce(Sum("segments"), 0))
            .order_by())


def message_counts(*, start: date, end: date, by: tuple[str, ...], where: Where) -> list[dict[str, Any]]:
    days = days_between(start, end)
    rolled = rolled_days(days)
    live_days = [d for d in days if d not in rolled]
    rolled_rows = []
    if rolled:
        rolled_rows = (MessageDaily.objects.filter(where.q(), day__in=sorted(rolled)).values(*by)
                       .annotate(count=Sum("count"), segments=Sum("segments")).order_by())
    live_rows = []
    span = time_filter("created_at", live_days)
    if span is not None:
        live = message_live_rows(Message.objects.filter(span, where.q(MESSAGE_PATHS)), by)
        live_rows = ({k: row[f"d_{k}"] for k in by} | {"count": row["count"], "segments": row["segments"]}
                     for row in live)
    return _combine(rolled_rows, live_rows, by, ("count", "segments"))


def outbound_live_rows(queryset, by: tuple[str, ...]):
    names = {name: F(OUTBOUND_PATHS[name]) for name in by if name != "day"}
    for name in ("message_status", "error_code"):
        if name in names:
            names[name] = Coalesce(F(OUTBOUND_PATHS[name]), Value(""))
    if "day" in by:
        names["day"] = TruncDate("request__created_at", tzinfo=timezone.get_default_timezone())
    replied = Exists(OutboundReply.objects.filter(recipient_id=OuterRef("pk")))
    return (queryset.annotate(has_reply=replied, **{f"d_{k}": v for k, v in names.items()})
            .values(*(f"d_{k}" for k in by))
            .annotate(count=Count("pk"), replied=Count("pk", filter=Q(has_reply=True))).order_by())


def outbound_counts(*, start: date, end: date, by: tuple[str, ...], where: Where) -> list[dict[str, Any]]:
    days = days_between(start, end)
    rolled = rolled_days(days)
    live_days = [d for d in days if d not in rolled]
    rolled_rows = []
    if rolled:
        rolled_rows = (OutboundDaily.objects.filter(where.q(), day__in=sorted(rolled)).values(*by)
                       .annotate(count=Sum("count"), replied=Sum("replied")).order_by())
    live_rows = []
    span = time_filter("request__created_at", live_days)
    if span is not None:
        live = outbound_live_rows(OutboundRecipient.objects.filter(span, where.q(OUTBOUND_PATHS)), by)
        live_rows = ({k: row[f"d_{k}"] for k in by} | {"count": row["count"], "replied": row["replied"]}
                     for row in live)
    return _combine(rolled_rows, live_rows, by, ("count", "replied"))
