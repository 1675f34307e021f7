"""Admin: a routing rule's percentage split (at most five queues, adding up to 100), queue overflow rules, and the
workstream's offer settings, each refused with a clear message when wrong."""

from datetime import timedelta

import pytest
from django.urls import reverse

from workstreams.models import OverflowRule, Queue, RoutingRule, RoutingSplit

EMPTY_CONDITIONS = {"conditions-TOTAL_FORMS": "0", "conditions-INITIAL_FORMS": "0"}


@pytest.fixture
def rule(workstream, support_queue):
    return RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)


def rule_post(rule, shares):
    data = {"workstream": rule.workstream_id, "order": "0", "name": rule.name, "queue": rule.queue_id,
            "is_active": "on", **EMPTY_CONDITIONS, "splits-TOTAL_FORMS": str(len(shares)),
            "splits-INITIAL_FORMS": "0"}
    for i, (queue, percentage) in enumerate(shares):
        data[f"splits-{i}-queue"] = queue.pk
        data[f"splits-{i}-percentage"] = str(percentage)
    return data


def post_rule(admin_client, rule, shares):
    return admin_client.post(reverse("admin:workstreams_routingrule_change", args=[rule.pk]), rule_post(rule, shares))


def test_a_split_adding_up_to_100_is_saved(admin_client, rule):
    a, b = Queue.objects.create(name="A"), Queue.objects.create(name="B")
    response = post_rule(admin_client, rule, [(a, 70), (b, 30)])
    assert response.status_code == 302
    assert sorted(RoutingSplit.objects.values_list("queue__name", "percentage")) == [("A", 70), ("B", 30)]


@pytest.mark.parametrize(("shares", "message"), [
    ([70, 20], "The percentages add up to 90; they must add up to 100 (10 points missing)."),
    ([70, 40], "The percentages add up to 110; they must add up to 100 (10 too many)."),
    ([20] * 6, "A rule splits over at most 5 queues; 6 are given. Remove 1."),
])
def test_a_wrong_split_is_refused_with_the_reason(admin_client, rule, shares, message):
    queues = [Queue.objects.create(name=f"Q{i}") for i in range(len(shares))]
    response = post_rule(admin_client, rule, list(zip(queues, shares, strict=True)))
    html = response.content.decode()
    assert response.status_code == 200
    assert message in html or (len(shares) > 5 and "Please submit at most 5 forms." in html)
    assert not RoutingSplit.objects.exists()


def test_a_queue_twice_in_a_split_is_refused(admin_client, rule):
    a = Queue.objects.create(name="A")
    response = post_rule(admin_client, rule, [(a, 50), (a, 50)])
    assert response.status_code == 200 and not RoutingSplit.objects.exists()
    html = response.content.decode()
    assert "Please correct the duplicate data for queue." in html


def queue_post(queue, rows):
    data = {"name": queue.name, "priority": "0", "assignment_method": "highest_capacity", "skill_matching": "exact",
            "overflow_rules-TOTAL_FORMS": str(len(rows)), "overflow_rules-INITIAL_FORMS": "0"}
    for i, row in enumerate(rows):
        for key, value in {"order": "0", "is_active": "on", **row}.items():
            data[f"overflow_rules-{i}-{key}"] = value
    return data


@pytest.mark.parametrize(("row", "message"), [
    ({"condition": "wait_time", "action": "assign_anyway"},
     "Enter how long a conversation may wait before this rule acts."),
    ({"condition": "work_item_limit", "action": "assign_anyway"},
     "Enter how many conversations may wait before this rule acts."),
    ({"condition": "out_of_hours", "action": "transfer"}, "Choose the queue the conversation is transferred to."),
    ({"condition": "out_of_hours", "action": "end"},
     "Enter the message the customer is sent when the conversation is ended."),
])
def test_an_incomplete_overflow_rule_is_refused_with_the_reason(admin_client, support_queue, row, message):
    url = reverse("admin:workstreams_queue_change", args=[support_queue.pk])
    response = admin_client.post(url, queue_post(support_queue, [row]))
    assert response.status_code == 200 and message in response.content.decode()
    assert not OverflowRule.objects.exists()


def test_a_queue_cannot_overflow_into_itself(admin_client, support_queue):
    url = reverse("admin:workstreams_queue_change", args=[support_queue.pk])
    response = admin_client.post(url, queue_post(support_queue, [
        {"condition": "out_of_hours", "action": "transfer", "target_queue": str(support_queue.pk)}]))
    assert "A queue cannot overflow into itself" in response.content.decode()


def test_an_overflow_rule_is_saved(admin_client, support_queue):
    backup = Queue.objects.create(name="Backup")
    url = reverse("admin:workstreams_queue_change", args=[support_queue.pk])
    response = admin_client.post(url, queue_post(support_queue, [
        {"condition": "wait_time", "wait_threshold": "00:05:00", "action": "transfer", "target_queue": str(backup.pk)}]))
    assert response.status_code == 302
    saved = OverflowRule.objects.get()
    assert (saved.wait_threshold, saved.target_queue) == (timedelta(minutes=5), backup)


def test_the_offer_settings_are_on_the_workstream_page_with_help(admin_client, workstream):
    html = admin_client.get(reverse("admin:workstreams_workstream_change", args=[workstream.pk])).content.decode()
    assert "Offer work to agents" in html and "Off: conversations are assigned at once (auto-accept)." in html
    assert "How long an agent has to accept an offer" in html


def test_the_offers_list_renders(admin_client, db):
    assert admin_client.get(reverse("admin:workstreams_offer_changelist")).status_code == 200
