"""Days in the display time zone (``TIME_ZONE``): the unit of every report and roll-up."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    return day_start(day), day_start(day + timedelta(days=1))


def days_between(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def today() -> date:
    return timezone.localdate(timezone.now(), timezone.get_default_timezone())


def runs(days: Iterable[date]) -> Iterator[tuple[date, date]]:
    """Consecutive days as (first, last) pairs."""
    first = last = None
    for day in sorted(days):
        if last is not None and day == last + timedelta(days=1):
            last = day
            continue
        if first is not None:
            yield first, last
        first = last = day
    if first is not None:
        yield first, last


def time_filter(field: str, days: Iterable[date]) -> Q | None:
    """``field`` within any of ``days`` (one range per run of consecutive days); None for no days."""
    found = None
    for first, last in runs(days):
        q = Q(**{f"{field}__gte": day_start(first), f"{field}__lt": day_start(last + timedelta(days=1))})
        found = q if found is None else found | q
    return found
