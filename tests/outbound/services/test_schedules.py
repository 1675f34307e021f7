import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, PeriodicTask

from config.exceptions import ServiceError
from outbound.models import OutboundBatch, OutboundSchedule, ScheduleKind
from outbound.services.schedules import schedule_delete, schedule_fire_time, schedule_run, schedule_save

CSV = "tocontactid,channelid,optin,CustomerName\n+15550000001,SMS,true,Ana\n+15550000002,SMS,true,Bo\n"


def _schedule(configuration, **kw):
    fields = {"name": "Weekly reminder", "configuration": configuration, "contacts_csv": CSV, **kw}
    return schedule_save(schedule=OutboundSchedule(**fields))


def test_a_one_off_schedule_becomes_a_clocked_beat_entry(sandbox_config):
    when = timezone.now() + timedelta(days=1)
    schedule = _schedule(sandbox_config, kind=ScheduleKind.ONCE, run_at=when)
    task = schedule.periodic_task
    assert (task.task, task.queue, task.one_off, task.enabled) == (
        "outbound.tasks.outbound_schedule_run_task", "bulk", True, True)
    assert task.clocked.clocked_time == when
    assert json.loads(task.kwargs) == {"schedule_id": schedule.pk}


def test_a_delay_counts_from_saving(sandbox_config):
    before = timezone.now()
    schedule = _schedule(sandbox_config, kind=ScheduleKind.DELAY, delay_minutes=30)
    clocked = schedule.periodic_task.clocked.clocked_time
    assert before + timedelta(minutes=30) <= clocked <= timezone.now() + timedelta(minutes=30)


def test_a_recurring_schedule_becomes_a_crontab_in_its_time_zone(sandbox_config):
    schedule = _schedule(sandbox_config, kind=ScheduleKind.RECURRING, cron="0 9 * * 1-5", time_zone="Europe/Stockholm")
    crontab = schedule.periodic_task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week, str(crontab.timezone)) == (
        "0", "9", "1-5", "Europe/Stockholm")
    assert schedule.periodic_task.clocked is None and not schedule.periodic_task.one_off


def test_changing_the_kind_replaces_the_beat_schedule(sandbox_config):
    schedule = _schedule(sandbox_config, kind=ScheduleKind.DELAY, delay_minutes=5)
    schedule.kind, schedule.cron = ScheduleKind.RECURRING, "*/15 * * * *"
    schedule_save(schedule=schedule)
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.crontab.minute == "*/15" and task.clocked is None
    assert not ClockedSchedule.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": ScheduleKind.ONCE}, "run_at"),
        ({"kind": ScheduleKind.ONCE, "run_at": timezone.now() - timedelta(minutes=1)}, "run_at"),
        ({"kind": ScheduleKind.DELAY, "delay_minutes": 0}, "delay_minutes"),
        ({"kind": ScheduleKind.RECURRING, "cron": "0 9 * *"}, "cron"),
        ({"kind": ScheduleKind.RECURRING, "cron": "0 25 * * *"}, "cron"),
        ({"kind": ScheduleKind.RECURRING, "cron": "0 0 31 2 *"}, "cron"),  # never comes
        ({"kind": ScheduleKind.RECURRING, "cron": "0 9 * * *", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"kind": ScheduleKind.DELAY, "delay_minutes": 5, "contacts_csv": "phone\n1\n"}, "contacts_csv"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_field(sandbox_config, fields, field):
    with pytest.raises(ServiceError) as err:
        _schedule(sandbox_config, **fields)
    assert err.value.field == field
    assert not OutboundSchedule.objects.exists() and not PeriodicTask.objects.filter(
        task="outbound.tasks.outbound_schedule_run_task").exists()


def test_deleting_a_schedule_removes_its_beat_entry(sandbox_config):
    schedule = _schedule(sandbox_config, kind=ScheduleKind.DELAY, delay_minutes=5)
    task_id = schedule.periodic_task_id
    schedule_delete(schedule=schedule)
    assert not PeriodicTask.objects.filter(pk=task_id).exists()


def test_a_run_turns_the_contact_list_into_a_batch(sandbox_config):
    schedule = _schedule(sandbox_config, kind=ScheduleKind.DELAY, delay_minutes=5)
    assert schedule_run(schedule_id=schedule.pk).startswith("batch")
    batch = OutboundBatch.objects.get()
    assert (batch.contact_count, batch.source, batch.schedule) == (2, "schedule", schedule)
    schedule.refresh_from_db()
    assert schedule.last_run_at is not None


def test_an_inactive_schedule_does_not_run(sandbox_config):
    schedule = _schedule(sandbox_config, kind=ScheduleKind.DELAY, delay_minutes=5, is_active=False)
    assert schedule.periodic_task.enabled is False
    assert schedule_run(schedule_id=schedule.pk) == "skipped: inactive"
    assert not OutboundBatch.objects.exists()


# --- Time zones ---------------------------------------------------------------------------------

NEXT_YEAR = timezone.now().year + 1


def test_run_at_is_a_wall_time_in_the_schedules_time_zone(sandbox_config, settings):
    settings.TIME_ZONE = "America/New_York"  # the server's zone plays no part
    schedule = _schedule(sandbox_config, kind=ScheduleKind.ONCE, run_at=datetime(NEXT_YEAR, 1, 15, 9, 0),
                         time_zone="Europe/Stockholm")
    winter = datetime(NEXT_YEAR, 1, 15, 8, 0, tzinfo=UTC)
    assert schedule.periodic_task.clocked.clocked_time == winter
    assert OutboundSchedule.objects.get(pk=schedule.pk).run_at == winter
    summer = _schedule(sandbox_config, name="Summer", kind=ScheduleKind.ONCE, run_at=datetime(NEXT_YEAR, 7, 15, 9, 0),
                       time_zone="Europe/Stockholm")
    assert summer.periodic_task.clocked.clocked_time == datetime(NEXT_YEAR, 7, 15, 7, 0, tzinfo=UTC)


def test_an_aware_run_at_is_kept_as_it_is(sandbox_config):
    when = datetime(NEXT_YEAR, 1, 15, 9, 0, tzinfo=UTC)
    schedule = _schedule(sandbox_config, kind=ScheduleKind.ONCE, run_at=when, time_zone="Europe/Stockholm")
    assert schedule.periodic_task.clocked.clocked_time == when


def test_a_past_wall_time_is_refused_in_the_schedules_time_zone(sandbox_config):
    # Ten minutes ahead in UTC, but already past in Tokyo (UTC+9).
    soon = (timezone.now() + timedelta(minutes=10)).astimezone(UTC).replace(tzinfo=None)
    with pytest.raises(ServiceError) as err:
        _schedule(sandbox_config, kind=ScheduleKind.ONCE, run_at=soon, time_zone="Asia/Tokyo")
    assert err.value.code == "run_at_past"


# --- One batch per fire time ------------------------------------------------------------------------


def test_a_run_delivered_twice_sends_once(sandbox_config):
    schedule = _schedule(sandbox_config, kind=ScheduleKind.DELAY, delay_minutes=5)
    fire_time = schedule.periodic_task.clocked.clocked_time
    assert schedule_run(schedule_id=schedule.pk).startswith("batch")
    assert schedule_run(schedule_id=schedule.pk) == f"skipped: already ran for {fire_time.isoformat()}"
    assert OutboundBatch.objects.get().scheduled_for == fire_time
    # Saving again restarts the delay: a new fire time, a new batch.
    schedule_save(schedule=schedule)
    assert schedule_run(schedule_id=schedule.pk).startswith("batch")
    assert OutboundBatch.objects.count() == 2


def test_a_recurring_schedule_runs_once_per_cron_time(sandbox_config):
    schedule = _schedule(sandbox_config, kind=ScheduleKind.RECURRING, cron="0 9 * * *", time_zone="Europe/Stockholm")
    nine = datetime(NEXT_YEAR, 1, 15, 8, 0, tzinfo=UTC)  # 09:00 in Stockholm in winter
    assert schedule_run(schedule_id=schedule.pk, now=nine + timedelta(seconds=1)).startswith("batch")
    # A second beat, a redelivered task: the same fire time.
    assert schedule_run(schedule_id=schedule.pk, now=nine + timedelta(seconds=2)).startswith("skipped: already ran")
    assert schedule_run(schedule_id=schedule.pk, now=nine + timedelta(hours=3)).startswith("skipped: already ran")
    assert OutboundBatch.objects.get().scheduled_for == nine
    # The next day's 09:00, even from a worker whose clock trails beat's by a second or two.
    assert schedule_run(schedule_id=schedule.pk, now=nine + timedelta(days=1, seconds=-2)).startswith("batch")
    assert sorted(OutboundBatch.objects.values_list("scheduled_for", flat=True)) == [nine, nine + timedelta(days=1)]


@pytest.mark.parametrize(
    ("cron", "now", "fire_time"),
    [
        ("0 9 * * 1-5", datetime(2031, 1, 5, 12, 0, tzinfo=UTC), datetime(2031, 1, 3, 8, 0, tzinfo=UTC)),  # Sunday
        ("*/15 * * * *", datetime(2031, 6, 1, 10, 44, tzinfo=UTC), datetime(2031, 6, 1, 10, 30, tzinfo=UTC)),
        ("30 2 29 2 *", datetime(2031, 1, 1, tzinfo=UTC), datetime(2028, 2, 29, 1, 30, tzinfo=UTC)),
        ("0 12 29 2 1", datetime(2043, 1, 1, tzinfo=UTC), datetime(2016, 2, 29, 11, 0, tzinfo=UTC)),  # a Monday
    ],
)
def test_the_fire_time_of_a_recurring_schedule(sandbox_config, cron, now, fire_time):
    schedule = _schedule(sandbox_config, kind=ScheduleKind.RECURRING, cron=cron, time_zone="Europe/Stockholm")
    assert schedule_fire_time(schedule, now=now) == fire_time


def test_the_database_holds_one_batch_per_schedule_and_fire_time(sandbox_config):
    schedule = _schedule(sandbox_config, kind=ScheduleKind.DELAY, delay_minutes=5)
    schedule_run(schedule_id=schedule.pk)
    batch = OutboundBatch.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        OutboundBatch.objects.create(configuration=sandbox_config, source="schedule", schedule=schedule,
                                     scheduled_for=batch.scheduled_for)
