import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, PeriodicTask

from config.exceptions import ServiceError
from outbound.models import OutboundBatch, OutboundSchedule, ScheduleKind
from outbound.services.schedules import schedule_delete, schedule_run, schedule_save

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
