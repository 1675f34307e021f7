"""manage.py reports_rollup and the beat task."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from reports.models import MessageDaily, RollupDay
from reports.periods import today
from reports.tasks import reports_rollup_task

from .world import seed_month


def test_the_command_rolls_up_days_and_refuses_bad_ones(db, django_user_model, capsys):
    world = seed_month(django_user_model, days=3)
    call_command("reports_rollup", "--from", str(world.first_day), "--to", str(world.last_day))
    assert "Rolled up 3 day(s)" in capsys.readouterr().out
    assert set(RollupDay.objects.values_list("day", flat=True)) == {world.first_day, world.first_day
                                                                   + timedelta(days=1), world.last_day}
    assert MessageDaily.objects.filter(day=world.last_day).exists()
    with pytest.raises(CommandError, match="'30/11/2026' is not a date like 2026-11-30."):
        call_command("reports_rollup", "--from", "30/11/2026")
    with pytest.raises(CommandError, match="is after --to"):
        call_command("reports_rollup", "--from", str(world.last_day), "--to", str(world.first_day))
    with pytest.raises(CommandError, match="Today is not over"):
        call_command("reports_rollup", "--to", str(today()))
    with pytest.raises(CommandError, match="--days must be at least 1."):
        call_command("reports_rollup", "--days", "0")


def test_beat_rolls_up_the_last_days(db, django_user_model, settings):
    seed_month(django_user_model, days=5)
    settings.REPORTS_ROLLUP_DAYS = 2
    assert reports_rollup_task() == 2
    assert set(RollupDay.objects.values_list("day", flat=True)) == {today() - timedelta(days=1),
                                                                   today() - timedelta(days=2)}
