"""The reports' figures over the seeded month (tests/reports/world.py), from the live tables and from the
roll-ups alike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reports.access import ReportScope
from reports.figures import (
    ReportFilters,
    conversations_report,
    messages_report,
    optouts_report,
    outbound_report,
)
from reports.models import MessageDaily, RollupDay
from reports.periods import days_between
from reports.services import reports_rollup

from .world import DAYS

EVERYTHING = ReportScope(everything=True)


def month(world, **kw) -> ReportFilters:
    return ReportFilters(start=world.first_day, end=world.last_day, **kw)


def rows(table) -> dict:
    return {row[0]: row[1:] for row in table.rows}


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
def test_conversation_volume_resolution_and_times(world, rolled):
    if rolled:  # all but the last day: the histograms and the live rows together
        reports_rollup(days=days_between(world.first_day, world.last_day - timedelta(days=1)))
    data = conversations_report(month(world), EVERYTHING)
    assert data["exact_times"] is not rolled
    assert data["totals"] == {"opened": 4 * DAYS, "ended": 4 * DAYS, "resolved": 3 * DAYS}
    assert data["resolution_rate"] == 75.0
    assert rows(data["daily"])[world.first_day.isoformat()] == [4, 4, 3, 75.0]
    measured = {key: (n, median, p90) for key, _label, n, median, p90 in data["measured"]}
    # First response: 2, 3, 4 and 12 minutes each day → median between 3 and 4, p90 in the 12-minute block.
    assert measured["first_response"] == (4 * DAYS, timedelta(minutes=3.5), timedelta(minutes=12))
    assert measured["wait"] == (4 * DAYS, timedelta(minutes=2.5), timedelta(minutes=10))
    assert measured["handle"] == (4 * DAYS, timedelta(minutes=20), timedelta(minutes=50))


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
def test_conversations_by_queue_agent_and_number(world, rolled):
    if rolled:
        reports_rollup(days=days_between(world.first_day, world.last_day))
    support = conversations_report(month(world, queue_id=world.support.pk), EVERYTHING)
    assert support["totals"] == {"opened": 3 * DAYS, "ended": 3 * DAYS, "resolved": 2 * DAYS}
    bob = conversations_report(month(world, agent_id=world.bob.pk), EVERYTHING)
    assert bob["totals"]["opened"] == DAYS
    assert {k: m for k, _l, _n, m, _p in bob["measured"]}["first_response"] == timedelta(minutes=12)
    telesign = conversations_report(month(world, phone_number_id=world.telesign.pk), EVERYTHING)
    assert telesign["totals"]["opened"] == DAYS
    one_day = conversations_report(ReportFilters(start=world.last_day, end=world.last_day), EVERYTHING)
    assert one_day["totals"]["opened"] == 4


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
def test_messages_per_day_provider_and_error_code(world, rolled):
    if rolled:
        reports_rollup(days=days_between(world.first_day, world.last_day))
        assert RollupDay.objects.count() == DAYS and MessageDaily.objects.exists()
    data = messages_report(month(world), EVERYTHING)
    # Per day: 5 received (4 customers + 1 reply); delivered 2 answers + 1 outbound; failed 1 + 1; sent 1.
    assert rows(data["daily"])[world.last_day.isoformat()] == [5, 3, 1, 2, 0]
    providers = rows(data["providers"])
    assert providers["Twilio"] == [4 * DAYS, 5 * DAYS, 2 * DAYS, DAYS, 2 * DAYS, 0, 40.0]
    assert providers["TeleSign"] == [DAYS, DAYS, DAYS, 0, 0, 0, 100.0]
    assert data["errors"].rows == [["Twilio", "30003", DAYS], ["Twilio", "21610", DAYS]] or \
        sorted(data["errors"].rows) == sorted([["Twilio", "30003", DAYS], ["Twilio", "21610", DAYS]])


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
def test_messages_by_queue_agent_and_configuration(world, rolled):
    if rolled:
        reports_rollup(days=days_between(world.first_day, world.last_day))
    billing = messages_report(month(world, queue_id=world.billing.pk), EVERYTHING)
    assert rows(billing["providers"]) == {"TeleSign": [DAYS, DAYS, DAYS, 0, 0, 0, 100.0]}
    ana = messages_report(month(world, agent_id=world.ana.pk), EVERYTHING)
    assert rows(ana["providers"])["Twilio"][:5] == [3 * DAYS, 3 * DAYS, DAYS, DAYS, DAYS]
    parcel = messages_report(month(world, configuration_id=world.configuration.pk), EVERYTHING)
    assert rows(parcel["providers"])["Twilio"][:5] == [0, 2 * DAYS, DAYS, 0, DAYS]


def test_a_day_rolled_up_before_it_ended_is_counted_live(world):
    """A roll-up made while the day was still going is incomplete: that day is read from the live tables."""
    from reports.periods import day_start

    reports_rollup(days=[world.last_day])
    RollupDay.objects.filter(day=world.last_day).update(rolled_at=day_start(world.last_day) + timedelta(hours=12))
    MessageDaily.objects.filter(day=world.last_day).delete()  # what such a roll-up would have missed
    data = messages_report(ReportFilters(start=world.last_day, end=world.last_day), EVERYTHING)
    assert rows(data["daily"])[world.last_day.isoformat()] == [5, 3, 1, 2, 0]


def test_rolling_up_twice_counts_once(world):
    days = days_between(world.first_day, world.last_day)
    reports_rollup(days=days)
    first = messages_report(month(world), EVERYTHING)["providers"].rows
    reports_rollup(days=days)
    assert messages_report(month(world), EVERYTHING)["providers"].rows == first


def test_opt_outs(world):
    data = optouts_report(month(world), EVERYTHING)
    assert data["total"] == DAYS // 5
    assert data["numbers"].rows == [[str(world.twilio), "keyword", DAYS // 5]]
    assert optouts_report(month(world, phone_number_id=world.telesign.pk), EVERYTHING)["total"] == 0


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
def test_outbound_funnel_per_configuration_and_batch(world, rolled):
    if rolled:
        reports_rollup(days=days_between(world.first_day, world.last_day))
    data = outbound_report(month(world), EVERYTHING)
    assert dict(data["stages"]) == {"Accepted": 4 * DAYS, "Sent": DAYS, "Delivered": DAYS, "Failed": 2 * DAYS,
                                    "Skipped": DAYS, "Not sent yet": 0, "Replied": DAYS}
    assert data["configurations"].rows == [["Parcel delayed", 4 * DAYS, DAYS, DAYS, 2 * DAYS, DAYS, 0, DAYS, 25.0]]
    assert data["batches"].rows == [[str(world.batch), "Parcel delayed", 4 * DAYS, DAYS, DAYS, 2 * DAYS, DAYS, 0,
                                     DAYS, 25.0]]
    assert sorted(data["reasons"].rows) == sorted([
        ["Skipped", "opted_out", DAYS], ["Not sent (failed before sending)", "invalid_number", DAYS],
        ["Failed at the provider", "21610", DAYS]])


def test_a_supervisor_counts_only_their_queues(world, supervisor):
    from reports.access import report_scope

    scope = report_scope(supervisor)
    assert scope.queue_ids == {world.support.pk} and not scope.everything
    data = conversations_report(month(world), scope)
    assert data["totals"]["opened"] == 3 * DAYS
    assert "TeleSign" not in rows(messages_report(month(world), scope)["providers"])
    # Not their workstream's number: the Billing queue's outbound and opt-outs are not theirs either.
    assert outbound_report(month(world), scope)["stages"][0][1] == 0


def test_percentiles_from_histograms_stay_close_to_the_exact_ones():
    import random

    from reports.histogram import bucket_of, histogram_percentiles

    rng = random.Random(7)
    values = sorted(rng.lognormvariate(5, 1.2) for _ in range(5000))  # seconds, from a few to hours
    n, (median, p90) = histogram_percentiles([(bucket_of(v), 1, v) for v in values])

    def exact(p):
        k = p * (len(values) - 1)
        low = int(k)
        return values[low] + (values[min(low + 1, len(values) - 1)] - values[low]) * (k - low)

    assert n == 5000
    assert abs(median.total_seconds() - exact(0.5)) <= 0.05 * exact(0.5)
    assert abs(p90.total_seconds() - exact(0.9)) <= 0.05 * exact(0.9)
    assert histogram_percentiles([]) == (0, [None, None])


def test_beat_rolls_up_again_the_days_whose_conversations_changed(world):
    from reports.models import ConversationDaily
    from reports.services import reports_rollup_recent
    from workstreams.models import Conversation

    reports_rollup(days=days_between(world.first_day, world.last_day))
    conversation = Conversation.objects.filter(created_at__date=world.first_day, resolved=False).first()
    conversation.resolved = True
    conversation.save()  # updated_at: now
    done = reports_rollup_recent()
    assert world.first_day in done
    assert sum(ConversationDaily.objects.filter(day=world.first_day).values_list("resolved", flat=True)) == 4
    assert world.first_day + timedelta(days=1) not in done  # the other old days are left alone
