"""Scheduled sends through django-celery-beat: once at a time, once after a delay, or recurring (cron).

Saving a schedule writes its beat entry (a ``PeriodicTask`` running ``outbound_schedule_run_task`` on
the "bulk" queue, with a ``ClockedSchedule`` or a ``CrontabSchedule``); beat's DatabaseScheduler
picks the change up. Each run turns the schedule's contact list into a batch.
"""

from __future__ import annotations

import json
import logging
import zoneinfo
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask
from django_celery_beat.validators import crontab_validator

from config.exceptions import ServiceError
from outbound.models import OutboundConfiguration, OutboundSchedule, ScheduleKind, Source

from .batches import contacts_validate, outbound_batch_create
from .contacts import contacts_from_csv

TASK_NAME = "outbound.tasks.outbound_schedule_run_task"
logger = logging.getLogger(__name__)


def schedule_check(*, kind: str, configuration: OutboundConfiguration, contacts_csv: str, run_at=None,
                   delay_minutes: int | None = None, cron: str = "", time_zone: str = "UTC",
                   is_active: bool = True) -> None:
    """Everything a schedule needs before it is saved; raise ServiceError naming the field."""
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ServiceError(f"'{time_zone}' is not a time zone name such as Europe/Stockholm.",
                           code="time_zone_invalid", field="time_zone") from None
    if kind == ScheduleKind.ONCE:
        if run_at is None:
            raise ServiceError("Enter when to send.", code="run_at_required", field="run_at")
        if is_active and run_at <= timezone.now():
            raise ServiceError("That time has passed; choose a time in the future.", code="run_at_past",
                               field="run_at")
    elif kind == ScheduleKind.DELAY:
        if not delay_minutes or delay_minutes < 1:
            raise ServiceError("Enter the delay in minutes (at least 1).", code="delay_required",
                               field="delay_minutes")
    elif kind == ScheduleKind.RECURRING:
        parts = (cron or "").split()
        if len(parts) != 5:
            raise ServiceError("Enter five cron fields: minute hour day-of-month month day-of-week, e.g. "
                               "'0 9 * * 1-5'.", code="cron_invalid", field="cron")
        try:
            crontab_validator(" ".join(parts))
        except ValidationError as exc:
            raise ServiceError(f"'{cron}' is not a valid cron schedule: {'; '.join(exc.messages)}.",
                               code="cron_invalid", field="cron") from None
    else:
        raise ServiceError(f"Unknown schedule kind {kind!r}.", code="kind_invalid", field="kind")
    if is_active and not configuration.is_active:
        raise ServiceError(f"The outbound configuration '{configuration.name}' is inactive.",
                           code="configuration_inactive", field="configuration")
    try:
        parsed = contacts_from_csv(contacts_csv or "")
        contacts_validate(configuration=configuration, rows=parsed.rows, lines=parsed.lines)
    except ServiceError as exc:
        exc.field = "contacts_csv"
        raise


def _clocked_time(schedule: OutboundSchedule):
    if schedule.kind == ScheduleKind.ONCE:
        return schedule.run_at
    return timezone.now() + timedelta(minutes=schedule.delay_minutes or 0)


@transaction.atomic
def schedule_save(*, schedule: OutboundSchedule) -> OutboundSchedule:
    """Check and save the schedule, and write its beat entry."""
    schedule_check(kind=schedule.kind, configuration=schedule.configuration, contacts_csv=schedule.contacts_csv,
                   run_at=schedule.run_at, delay_minutes=schedule.delay_minutes, cron=schedule.cron,
                   time_zone=schedule.time_zone, is_active=schedule.is_active)
    schedule.save()
    task = schedule.periodic_task or PeriodicTask(name=f"Outbound schedule #{schedule.pk}", task=TASK_NAME)
    task.name = f"Outbound schedule #{schedule.pk}: {schedule.name}"[:200]
    task.task = TASK_NAME
    task.kwargs = json.dumps({"schedule_id": schedule.pk})
    task.queue = "bulk"
    task.enabled = schedule.is_active
    task.description = f"Sends outbound configuration '{schedule.configuration.name}' to the schedule's contacts."
    task.interval = task.solar = None
    previous_clock = task.clocked
    if schedule.kind == ScheduleKind.RECURRING:
        minute, hour, day_of_month, month_of_year, day_of_week = schedule.cron.split()
        task.crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
            day_of_week=day_of_week, timezone=zoneinfo.ZoneInfo(schedule.time_zone),
        )
        task.clocked, task.one_off = None, False
    else:
        task.clocked = ClockedSchedule.objects.create(clocked_time=_clocked_time(schedule))
        task.crontab, task.one_off = None, True
        task.last_run_at = None
    task.save()
    if previous_clock is not None and previous_clock != task.clocked and \
            not PeriodicTask.objects.filter(clocked=previous_clock).exists():
        previous_clock.delete()
    if schedule.periodic_task_id != task.pk:
        schedule.periodic_task = task
        schedule.save(update_fields=["periodic_task"])
    return schedule


@transaction.atomic
def schedule_delete(*, schedule: OutboundSchedule) -> None:
    """Delete the schedule and its beat entry."""
    task = schedule.periodic_task
    schedule.delete()
    if task is not None:
        task.delete()


def schedule_run(*, schedule_id: int) -> str:
    """Beat fired the schedule: its contact list becomes a batch that a worker submits."""
    schedule = OutboundSchedule.objects.select_related("configuration").filter(pk=schedule_id).first()
    if schedule is None:
        return "missing"
    if not schedule.is_active:
        return "skipped: inactive"
    try:
        parsed = contacts_from_csv(schedule.contacts_csv)
        with transaction.atomic():
            batch = outbound_batch_create(configuration=schedule.configuration, contacts=parsed.rows,
                                          lines=parsed.lines, source=Source.SCHEDULE,
                                          name=f"Schedule: {schedule.name}", schedule=schedule)
            OutboundSchedule.objects.filter(pk=schedule.pk).update(last_run_at=timezone.now())
    except ServiceError as exc:
        logger.warning("outbound schedule %s not sent: %s", schedule.pk, exc.message)
        return f"refused: {exc.message}"
    return f"batch {batch.pk} with {batch.contact_count} contacts"
