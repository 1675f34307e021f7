"""The console's own words in the agent's language: durations with their plural forms, routing lines with
dates in the language's order, and the dashboard's confirmations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import translation

from workstreams.console.selectors import ago_label, duration_label
from workstreams.models import AgentProfile
from workstreams.services.routing import routing_lines

DAY = 86400


@pytest.mark.parametrize(("language", "labels"), [
    ("en", ["under a minute", "1 min", "1 h 2 min", "1 day", "2 days"]),
    ("ja", ["1 分未満", "1 分", "1 時間 2 分", "1 日", "2 日"]),
    ("zh-hans", ["不到一分钟", "1 分钟", "1 小时 2 分钟", "1 天", "2 天"]),
    ("pt-br", ["menos de um minuto", "1 min", "1 h 2 min", "1 dia", "2 dias"]),
    ("sv", ["under en minut", "1 min", "1 tim 2 min", "1 dag", "2 dagar"]),
])
def test_durations_in_each_language_with_its_plural_forms(language, labels):
    with translation.override(language):
        assert [duration_label(s) for s in (5, 60, 3720, DAY, 2 * DAY)] == labels


def test_portuguese_counts_zero_as_singular_and_swedish_as_plural():
    with translation.override("pt-br"):
        assert duration_label(0 * DAY + 0) == "menos de um minuto"
        assert translation.ngettext("%(days)d day", "%(days)d days", 0) % {"days": 0} == "0 dia"
    with translation.override("sv"):
        assert translation.ngettext("%(days)d day", "%(days)d days", 0) % {"days": 0} == "0 dagar"


def test_moments_ago():
    now = datetime(2024, 5, 5, 12, 0, tzinfo=UTC)
    with translation.override("sv"):
        assert ago_label(now - timedelta(seconds=20), now) == "just nu"
        assert ago_label(now - timedelta(minutes=12), now) == "för 12 min sedan"
    with translation.override("ja"):
        assert ago_label(now - timedelta(days=3), now) == "3 日前"


def test_routing_lines_in_japanese_with_the_transfer_time_in_japanese_order(settings):
    settings.TIME_ZONE = "UTC"
    diagnosis = {"bot": "FAQ", "queue": "Support", "reason": "rule “All”",
                 "evaluated": [{"rule": "VIP", "matched": False, "why": ["tier != gold"]},
                               {"rule": "All", "matched": True}, {"rule": "Broken", "error": "bad regex"}],
                 "skills": ["Spanish", "Billing"], "escalated": "asked for a person",
                 "transfers": [{"to_queue": "Billing", "by": "ana", "at": "2024-05-05T09:30:00+00:00"},
                               {"to_agent": "bo", "by": None, "at": "2024-05-06T10:00:00+00:00"}],
                 "closed": "inactive for 30 days"}
    with translation.override("ja"):
        lines = routing_lines(diagnosis)
    assert lines == [
        "ボット「FAQ」が最初に応答しました。",
        "Support：rule “All”",
        "規則「VIP」は一致しませんでした — tier != gold",
        "規則「All」が一致しました",
        "規則「Broken」でエラーが発生しました：bad regex",
        "要求されたスキル：Spanish, Billing",
        "ボットによるエスカレーション：asked for a person",
        "2024年5月5日9:30 に ana が Billing に転送しました",
        "2024年5月6日10:00 にシステムが bo に転送しました",
        "終了：inactive for 30 days",
    ]


def test_routing_lines_in_english_as_before():
    assert routing_lines({"queue": "Support"}) == ["Support"]
    assert routing_lines({"reason": "no rule matched"}) == ["No queue: no rule matched"]
    assert routing_lines({"evaluated": [{"rule": "VIP", "error": "boom"}]}) == ["Rule “VIP” failed: boom"]


@pytest.fixture
def swedish_agent(client, make_agent, support_queue):
    user = make_agent("ana", queues=[support_queue])
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation", "change_conversation"]))
    AgentProfile.objects.filter(user=user).update(language="sv")
    client.force_login(user)
    return user


def test_the_dashboards_confirmations_and_refusals_speak_the_agents_language(client, swedish_agent):
    changed = client.post("/console/presence/", {"presence": "dnd"}, HTTP_ACCEPT="application/json")
    assert changed.json()["detail"] == "Din närvaro är nu stör ej."

    refused = client.post("/console/pick/", follow=True)
    assert "Ingen konversation väntar i dina köer." in refused.content.decode()
