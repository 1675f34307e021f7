"""Is a queue open now? Weekly slots and holidays in the hours' own time zone."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django.utils import timezone

from workstreams.models import OperatingHours, Queue


def hours_open_at(hours: OperatingHours | None, when: datetime | None = None) -> bool:
    if hours is None:
        return True
    local = (when or timezone.now()).astimezone(zoneinfo.ZoneInfo(hours.time_zone))
    if hours.holidays.filter(date=local.date()).exists():
        return False
    now = local.time().replace(tzinfo=None)
    return hours.slots.filter(weekday=local.weekday(), opens__lte=now, closes__gt=now).exists()


def queue_is_open(queue: Queue, when: datetime | None = None) -> bool:
    return hours_open_at(queue.operating_hours, when)
