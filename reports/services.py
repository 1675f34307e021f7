"""Roll-ups: a day's messages and outbound recipients counted into ``MessageDaily`` and ``OutboundDaily``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from channels_app.models import Message
from outbound.models import OutboundRecipient

from .facts import MESSAGE_PATHS, OUTBOUND_PATHS, message_live_rows, outbound_live_rows
from .models import MessageDaily, OutboundDaily, RollupDay
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
        counted = sum(r.count for r in rows)
        RollupDay.objects.filter(day=day).update(rolled_at=rolled_at, messages=counted)
    return counted


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
    """Beat: the last ``REPORTS_ROLLUP_DAYS`` complete days, again (late delivery reports change them). Older
    days are rolled up with ``manage.py reports_rollup``; until then the reports count them from the live
    tables (the same figures, read more slowly)."""
    current = today()
    return reports_rollup(days=[current - timedelta(days=n) for n in range(1, settings.REPORTS_ROLLUP_DAYS + 1)])
