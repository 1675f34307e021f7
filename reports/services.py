"""Roll-ups: a day's messages and outbound recipients counted into ``MessageDaily`` and ``OutboundDaily``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.functions import TruncDate
from django.utils import timezone

from channels_app.models import Message
from outbound.models import OutboundRecipient
from workstreams.models import Conversation

from .facts import (
    CONVERSATION_DIMENSIONS,
    MESSAGE_PATHS,
    OUTBOUND_PATHS,
    conversation_live_rows,
    message_live_rows,
    outbound_live_rows,
)
from .histogram import bucket_of
from .models import ConversationDaily, ConversationTimeDaily, MessageDaily, OutboundDaily, RollupDay
from .periods import day_bounds, today

logger = logging.getLogger(__name__)

MESSAGE_DIMENSIONS = ("day", *MESSAGE_PATHS)
OUTBOUND_DIMENSIONS = ("day", *OUTBOUND_PATHS)


def reports_rollup_day(*, day: date) -> int:
    """Count ``day`` again into the roll-up tables, in one transaction (two runs of one day wait for each
    other); return the number of messages counted."""
    start, end = day_bounds(day)
    with transaction.atomic():
        # The row lock serialises runs of the same day; the time is taken before anything is read, so a day is
        # complete in the roll-up only when this run started after the day had ended.
        RollupDay.objects.get_or_create(day=day, defaults={"rolled_at": timezone.now() - timedelta(days=365 * 100)})
        RollupDay.objects.select_for_update().filter(day=day).first()
        rolled_at = timezone.now()
        MessageDaily.objects.filter(day=day).delete()
        OutboundDaily.objects.filter(day=day).delete()
        messages = message_live_rows(Message.objects.filter(created_at__gte=start, created_at__lt=end),
                                     MESSAGE_DIMENSIONS)
        rows = [MessageDaily(**{k: r[f"d_{k}"] for k in MESSAGE_DIMENSIONS}, count=r["count"],
                             segments=r["segments"]) for r in messages]
        for row in rows:
            row.day = day
            row.error_code = row.error_code or ""
        MessageDaily.objects.bulk_create(rows, batch_size=2000)
        recipients = outbound_live_rows(
            OutboundRecipient.objects.filter(request__created_at__gte=start, request__created_at__lt=end),
            OUTBOUND_DIMENSIONS)
        OutboundDaily.objects.bulk_create(
            [OutboundDaily(**{k: r[f"d_{k}"] for k in OUTBOUND_DIMENSIONS if k != "day"}, day=day, count=r["count"],
                           replied=r["replied"]) for r in recipients], batch_size=2000)
        _rollup_conversations(day, Conversation.objects.filter(created_at__gte=start, created_at__lt=end))
        counted = sum(r.count for r in rows)
        RollupDay.objects.filter(day=day).update(rolled_at=rolled_at, messages=counted)
    return counted


def _rollup_conversations(day: date, queryset) -> None:
    ConversationDaily.objects.filter(day=day).delete()
    ConversationTimeDaily.objects.filter(day=day).delete()
    counts: dict[tuple, list[int]] = {}
    times: dict[tuple, list] = {}
    for dims, ended, resolved, measures in conversation_live_rows(queryset):
        c = counts.setdefault(dims, [0, 0, 0])
        c[0] += 1
        c[1] += ended
        c[2] += resolved
        for measure, value in measures.items():
            if value is not None:
                seconds = value.total_seconds()
                entry = times.setdefault((dims, measure, bucket_of(seconds)), [0, 0.0])
                entry[0] += 1
                entry[1] += seconds
    ConversationDaily.objects.bulk_create([
        ConversationDaily(day=day, **dict(zip(CONVERSATION_DIMENSIONS, dims, strict=True)), opened=o, ended=e,
                          resolved=r) for dims, (o, e, r) in counts.items()], batch_size=2000)
    ConversationTimeDaily.objects.bulk_create([
        ConversationTimeDaily(day=day, **dict(zip(CONVERSATION_DIMENSIONS, dims, strict=True)), measure=measure,
                              bucket=bucket, count=n, seconds=total)
        for (dims, measure, bucket), (n, total) in times.items()], batch_size=2000)


def reports_rollup(*, days: Iterable[date]) -> dict[date, int]:
    """Roll up each of ``days``; today is left to the live tables (it is not over)."""
    done = {}
    current = today()
    for day in sorted(set(days)):
        if day >= current:
            continue
        done[day] = reports_rollup_day(day=day)
        logger.info("Rolled up %s: %s messages", day, done[day])
    return done


def reports_rollup_recent() -> dict[date, int]:
    """Beat: the last ``REPORTS_ROLLUP_DAYS`` complete days, again (late delivery reports change them), and the
    rolled-up days whose conversations changed since. Older days are rolled up with ``manage.py
    reports_rollup``; until then the reports count them from the live tables (the same figures, read more
    slowly)."""
    current = today()
    days = {current - timedelta(days=n) for n in range(1, settings.REPORTS_ROLLUP_DAYS + 1)}
    # Older days whose conversations changed since the last run (ended, resolved, reassigned) are counted again.
    last = RollupDay.objects.order_by("-rolled_at").values_list("rolled_at", flat=True).first()
    if last is not None:
        changed = (Conversation.objects.filter(updated_at__gte=last)
                   .annotate(day=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))
                   .values_list("day", flat=True).distinct().order_by())
        days |= {d for d in changed if RollupDay.objects.filter(day=d).exists()}
    return reports_rollup(days=days)
