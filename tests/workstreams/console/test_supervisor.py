"""The supervisor view: who may open it, the live figures it shows for the queues and agents in the
supervisor's reach, its JSON poll, and its actions through the conversation services."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from workstreams.console.supervisor_selectors import supervisor_board
from workstreams.models import Conversation, ConversationState

JSON = {"HTTP_ACCEPT": "application/json"}
BOARD = reverse("console:supervisor")
UPDATES = reverse("console:supervisor-updates")


@pytest.fixture
def world(access_world):
    return access_world


def signed_in(client, world, role):
    client.force_login(world.users[role])
    return client


def test_a_supervisor_sees_their_queues_agents_and_live_conversations(client, world):
    conversation = world.conversation("active")
    signed_in(client, world, "supervisor-of-queue")

    response = client.get(BOARD)

    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-queue="{world.support.pk}"' in html
    assert f'data-queue="{world.billing.pk}"' not in html  # supervised by someone else
    for agent in (world.users["agent-owner"], world.users["agent-same-queue"], world.tom):  # Support's agents
        assert f'data-agent="{agent.pk}"' in html
    assert f'data-agent="{world.users["agent-other-queue"].pk}"' not in html  # Billing's agent
    assert f'data-conversation="{conversation.pk}"' in html
    assert reverse("console:supervisor-force-close", args=[conversation.pk]) in html


def test_an_agent_is_told_the_view_is_for_supervisors(client, world):
    signed_in(client, world, "agent-owner")

    page = client.get(BOARD)
    poll = client.get(UPDATES, **JSON)

    assert page.status_code == 403
    assert "The supervisor view is for supervisors and administrators" in page.content.decode()
    assert poll.status_code == 403 and poll.json()["error"] == "supervisors_only"


def test_the_console_offers_the_view_only_to_supervisors(client, world):
    signed_in(client, world, "supervisor-of-queue")
    assert BOARD in client.get(reverse("console:dashboard")).content.decode()
    signed_in(client, world, "agent-owner")
    assert BOARD not in client.get(reverse("console:dashboard")).content.decode()


def test_an_administrator_sees_every_queue(client, world):
    signed_in(client, world, "admin")
    html = client.get(BOARD).content.decode()
    assert f'data-queue="{world.support.pk}"' in html and f'data-queue="{world.billing.pk}"' in html


def _queued(world, *, entered_ago, taken_after=None):
    item = world.conversation("open")
    now = timezone.now()
    queued_at = now - entered_ago
    fields = {"queued_at": queued_at}
    if taken_after is not None:
        fields.update(state=ConversationState.CLOSED, agent=world.tom, assigned_at=queued_at + taken_after,
                      closed_at=now)
    Conversation.objects.filter(pk=item.pk).update(**fields)
    return item


def test_service_level_counts_conversations_taken_within_the_target(world, settings):
    settings.SERVICE_LEVEL_SECONDS = 60
    _queued(world, entered_ago=timedelta(minutes=30), taken_after=timedelta(seconds=20))  # in time
    _queued(world, entered_ago=timedelta(minutes=20), taken_after=timedelta(minutes=5))  # late
    # Each customer may have one live conversation per number: close the earlier ones before the next.
    waiting_long = _queued(world, entered_ago=timedelta(minutes=10))  # still waiting past the target: late

    figures = {q.queue.pk: q for q in supervisor_board(user=world.users["supervisor-of-queue"]).queues}

    support = figures[world.support.pk]
    assert (support.answered_in_time, support.counted, support.service_level) == (1, 3, 33)
    assert support.waiting == 1 and support.oldest == Conversation.objects.get(pk=waiting_long.pk).queued_at


def test_a_conversation_still_within_the_target_is_not_counted_yet(world, settings):
    settings.SERVICE_LEVEL_SECONDS = 60
    _queued(world, entered_ago=timedelta(seconds=10))

    support = supervisor_board(user=world.users["supervisor-of-queue"]).queues[0]

    assert (support.counted, support.service_level, support.waiting) == (0, None, 1)


def test_an_agents_load_is_what_their_conversations_use_of_their_capacity(client, world):
    world.workstream.capacity_per_conversation = 40
    world.workstream.save()
    conversation = world.conversation("active")  # Ana's

    board = supervisor_board(user=world.users["supervisor-of-queue"])

    ana = next(a for a in board.agents if a.profile.user_id == world.users["agent-owner"].pk)
    assert (ana.used, ana.capacity, ana.load_percent) == (40, 100, 40)
    assert [c.pk for c in ana.current] == [conversation.pk]
    signed_in(client, world, "supervisor-of-queue")
    assert "40 of 100 (40 %)" in client.get(BOARD).content.decode()


def test_the_poll_sends_the_board_only_when_it_changed(client, world):
    signed_in(client, world, "supervisor-of-queue")
    first = client.get(UPDATES, **JSON).json()
    assert first["html"] and first["waiting_total"] == 0

    same = client.get(UPDATES, {"signature": first["signature"]}, **JSON).json()
    assert same["html"] is None

    conversation = world.conversation("open")
    changed = client.get(UPDATES, {"signature": first["signature"]}, **JSON).json()
    assert changed["waiting_total"] == 1 and f'data-conversation="{conversation.pk}"' in changed["html"]


def test_a_supervisor_reassigns_from_the_view_and_comes_back_to_it(client, world):
    conversation = world.conversation("active")
    signed_in(client, world, "supervisor-of-queue")

    response = client.post(reverse("console:supervisor-reassign", args=[conversation.pk]),
                           {"agent": world.tom.pk}, follow=True)

    assert response.redirect_chain[-1][0] == BOARD
    assert f"Conversation #{conversation.pk} reassigned to Tom." in response.content.decode()
    conversation.refresh_from_db()
    assert (conversation.agent_id, conversation.state) == (world.tom.pk, ConversationState.ACTIVE)
    assert conversation.routing_diagnosis["transfers"][-1]["reassigned"] is True


def test_a_supervisor_transfers_to_another_queue(client, world):
    conversation = world.conversation("active")
    signed_in(client, world, "supervisor-of-queue")

    response = client.post(reverse("console:supervisor-transfer", args=[conversation.pk]),
                           {"target": f"queue:{world.billing.pk}"}, follow=True)

    assert f"Conversation #{conversation.pk} transferred to Billing." in response.content.decode()
    conversation.refresh_from_db()
    assert (conversation.queue_id, conversation.state, conversation.agent_id) == (
        world.billing.pk, ConversationState.OPEN, None)


def test_a_transfer_without_a_queue_is_refused_with_a_reason(client, world):
    conversation = world.conversation("active")
    signed_in(client, world, "supervisor-of-queue")

    response = client.post(reverse("console:supervisor-transfer", args=[conversation.pk]), {"target": ""},
                           **JSON)

    assert response.status_code == 400
    assert response.json()["detail"] == "Choose the queue to transfer the conversation to."
    conversation.refresh_from_db()
    assert conversation.queue_id == world.support.pk


def test_a_supervisor_force_closes_with_a_reason(client, world):
    conversation = world.conversation("active")
    signed_in(client, world, "supervisor-of-queue")

    response = client.post(reverse("console:supervisor-force-close", args=[conversation.pk]),
                           {"reason": "spam"}, follow=True)

    assert f"Conversation #{conversation.pk} is closed." in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.CLOSED


@pytest.mark.parametrize("role, status", [("supervisor-elsewhere", 404), ("agent-owner", 403)])
def test_actions_outside_ones_reach_are_refused(client, world, role, status):
    conversation = world.conversation("active")
    signed_in(client, world, role)

    for name, data in (("reassign", {"agent": world.tom.pk}), ("force-close", {"reason": ""})):
        response = client.post(reverse(f"console:supervisor-{name}", args=[conversation.pk]), data, **JSON)
        assert response.status_code == status, name
    conversation.refresh_from_db()
    assert (conversation.state, conversation.agent_id) == (ConversationState.ACTIVE,
                                                           world.users["agent-owner"].pk)
