"""Scheduled sends through django-celery-beat: once at a time, once after a delay, or recurring (cron).

Saving a schedule writes its beat entry (a ``PeriodicTask`` running ``outbound_schedule_run_task`` on
the "bulk" queue, with a ``ClockedSchedule`` or a ``CrontabSchedule``); beat's DatabaseScheduler
picks the change up. Each run turns the schedule's contact list into a batch.

``run_at`` and ``cron`` are read in the schedule's own ``time_zone``. Each run serves one fire
time (the clocked time of a one-off, the latest cron time of a recurring schedule) and makes at
most one batch for it, so a task delivered twice (a redelivery after a lost worker, a second
beat) sends nothing twice.
"""

from __future__ import annotations

import json
import logging
import zoneinfo
from datetime import UTC, datetime, time, timedelta

from celery.schedules import crontab as celery_crontab
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask
from django_celery_beat.validators import crontab_validator

from config.exceptions import ServiceError
from outbound.models import OutboundBatch, OutboundConfiguration, OutboundSchedule, ScheduleKind, Source

from .batches import contacts_validate, outbound_batch_create
from .contacts import contacts_from_csv

TASK_NAME = "outbound.tasks.outbound_schedule_run_task"
#: A worker's clock may trail beat's by this much: a cron time this close ahead counts as come.
CLOCK_TOLERANCE = timedelta(seconds=5)
#: How far back the latest cron time is looked for (a 29 February that is a Monday recurs every 28 years).
CRON_LOOKBACK_DAYS = 366 * 28
logger = logging.getLogger(__name__)


def _crontab(cron: str) -> celery_crontab:
    """Celery's reading of five cron fields (raises ValueError when they name no time)."""
    minute, hour, day_of_month, month_of_year, day_of_week = cron.split()
    return celery_crontab(minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
                          day_of_week=day_of_week)


def schedule_wall_time(run_at: datetime | None, time_zone: str) -> datetime | None:
    """``run_at`` as an aware time: a naive wall time is read in ``time_zone`` (the schedule's own), an
    aware time is kept. A wall time skipped or repeated by a clock change takes the offset in force
    before the change."""
    if run_at is None or timezone.is_aware(run_at):
        return run_at
    return run_at.replace(tzinfo=zoneinfo.ZoneInfo(time_zone))


def schedule_check(*, kind: str, configuration: OutboundConfiguration, contacts_csv: str, run_at=None,
                   delay_minutes: int | None = None, cron: str = "", time_zone: str = "UTC",
                   is_active: bool = True) -> None:
    """Everything a schedule needs before it is saved; raise ServiceError naming the field."""
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ServiceError(_("'%(time_zone)s' is not a time zone name such as Europe/Stockholm.")
                           % {"time_zone": time_zone},
                           code="time_zone_invalid", field="time_zone") from None
    if kind == ScheduleKind.ONCE:
        if run_at is None:
            raise ServiceError(_("Enter when to send."), code="run_at_required", field="run_at")
        run_at = schedule_wall_time(run_at, time_zone)
        if is_active and run_at <= timezone.now():
            raise ServiceError(_("That time has passed; choose a time in the future."), code="run_at_past",
                               field="run_at")
    elif kind == ScheduleKind.DELAY:
        if not delay_minutes or delay_minutes < 1:
            raise ServiceError(_("Enter the delay in minutes (at least 1)."), code="delay_required",
                               field="delay_minutes")
    elif kind == ScheduleKind.RECURRING:
        parts = (cron or "").split()
        if len(parts) != 5:
            raise ServiceError(_("Enter five cron fields: minute hour day-of-month month day-of-week, e.g. "
                               "'0 9 * * 1-5'."), code="cron_invalid", field="cron")
        try:
            crontab_validator(" ".join(parts))
        except ValidationError as exc:
            raise ServiceError(_("'%(cron)s' is not a valid cron schedule: %(problems)s.")
                               % {"cron": cron, "problems": "; ".join(exc.messages)},
                               code="cron_invalid", field="cron") from None
        try:
            _crontab(" ".join(parts))
        except ValueError as exc:  # e.g. a day that never comes: 31 February
            raise ServiceError(_("'%(cron)s' is not a valid cron schedule: %(problem)s")
                               % {"cron": cron, "problem": exc},
                               code="cron_invalid", field="cron") from None
    else:
        raise ServiceError(_("Unknown schedule kind %(kind)s.") % {"kind": repr(kind)}, code="kind_invalid",
                           field="kind")
    if is_active and not configuration.is_active:
        raise ServiceError(_("The outbound configuration '%(configuration)s' is inactive.")
                           % {"configuration": configuration.name},
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
    schedule.run_at = schedule_wall_time(schedule.run_at, schedule.time_zone)
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


def _cron_latest(cron: str, time_zone: str, until: datetime) -> datetime | None:
    """The latest time at or before ``until`` that ``cron`` names in ``time_zone`` (celery's reading: the day
    of the month and the day of the week must both match), in UTC; None when there is none."""
    spec = _crontab(cron)
    zone = zoneinfo.ZoneInfo(time_zone)
    local = until.astimezone(zone)
    times = sorted((time(h, m) for h in spec.hour for m in spec.minute), reverse=True)
    day = local.date()
    for _day in range(CRON_LOOKBACK_DAYS):
        if (day.month in spec.month_of_year and day.day in spec.day_of_month
                and day.isoweekday() % 7 in spec.day_of_week):
            for at in times:
                candidate = datetime.combine(day, at, tzinfo=zone)
                if candidate <= local:
                    return candidate.astimezone(UTC)
        day -= timedelta(days=1)
    return None


def schedule_fire_time(schedule: OutboundSchedule, *, now: datetime | None = None) -> datetime | None:
    """The fire time a run of ``schedule`` at ``now`` serves: a one-off's clocked time, or a recurring
    schedule's latest cron time (allowing CLOCK_TOLERANCE); None when there is none."""
    if schedule.kind == ScheduleKind.RECURRING:
        return _cron_latest(schedule.cron, schedule.time_zone, (now or timezone.now()) + CLOCK_TOLERANCE)
    task = schedule.periodic_task
    if task is not None and task.clocked is not None:
        return task.clocked.clocked_time
    return schedule.run_at if schedule.kind == ScheduleKind.ONCE else None


def schedule_run(*, schedule_id: int, now: datetime | None = None) -> str:
    """Beat fired the schedule: its contact list becomes a batch that a worker submits.

    Once per fire time: under a lock on the schedule's row, a run whose fire time already has its
    batch does nothing (the batch's unique (schedule, scheduled_for) backs this up without row locks).
    """
    now = now or timezone.now()
    fire_time = None
    try:
        with transaction.atomic():
            schedule = (OutboundSchedule.objects.select_for_update(of=("self",))
                        .select_related("configuration", "periodic_task__clocked").filter(pk=schedule_id).first())
            if schedule is None:
                return "missing"
            if not schedule.is_active:
                return "skipped: inactive"
            fire_time = schedule_fire_time(schedule, now=now)
            if fire_time is None:
                return "skipped: no fire time has come"
            if OutboundBatch.objects.filter(schedule=schedule, scheduled_for=fire_time).exists():
                return f"skipped: already ran for {fire_time.isoformat()}"
            parsed = contacts_from_csv(schedule.contacts_csv)
            batch = outbound_batch_create(configuration=schedule.configuration, contacts=parsed.rows,
                                          lines=parsed.lines, source=Source.SCHEDULE,
                                          name=f"Schedule: {schedule.name}", schedule=schedule,
                                          scheduled_for=fire_time)
            OutboundSchedule.objects.filter(pk=schedule.pk).update(last_run_at=now)
    except ServiceError as exc:
        logger.warning("outbound schedule %s not sent: %s", schedule_id, exc.message)
        return f"refused: {exc.message}"
    except IntegrityError:
        if fire_time is None or not OutboundBatch.objects.filter(schedule_id=schedule_id,
                                                                 scheduled_for=fire_time).exists():
            raise
        return f"skipped: already ran for {fire_time.isoformat()}"  # a concurrent run committed it first
    return f"batch {batch.pk} with {batch.contact_count} contacts for {fire_time.isoformat()}"
