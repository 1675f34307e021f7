"""Every path that hands a conversation to an agent asks distribution: queue membership, presence, capacity.

Replying to an open conversation, a customer reviving a waiting one, the agent resuming it, transfer to an
agent and pick: an agent distribution would not push the conversation to does not get it that way either.
"""

import pytest

from config.exceptions import ServiceError
from workstreams.models import Conversation, ConversationState, Queue, RoutingRule
from workstreams.services import (
    assignment_cycle,
    conversation_pick_next,
    conversation_reply,
    conversation_resume,
    conversation_take,
    conversation_transfer,
    conversation_wait,
)


@pytest.fixture
def routed(workstream, support_queue):
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    return support_queue  # each conversation costs 50 (the workstream's setting)


def busy_with_one(receive, account, agent, sender="+15550000099"):
    """``agent`` holds one active conversation (50 units)."""
    conversation = receive(account, "first", sender=sender)
    conversation_take(conversation=conversation, user=agent)
    return conversation


# (how the agent is, the refusal's code). Work an agent takes themselves needs them not Offline; work handed
# to them (a transfer by someone else, a revived conversation, the cycle) needs them Available or Busy.
SELF_REFUSALS = [
    ({"capacity": 0}, "no_capacity"),
    ({"queues": ()}, "not_in_queue"),
    ({"presence": "offline"}, "agent_not_present"),
]
HANDED_REFUSALS = [
    *SELF_REFUSALS,
    ({"presence": "away"}, "agent_not_present"),
    ({"presence": "dnd"}, "agent_not_present"),
]


@pytest.mark.parametrize(("agent_kwargs", "code"), SELF_REFUSALS)
def test_replying_to_an_open_conversation_takes_it_only_when_distribution_would(
        routed, receive, sandbox_account, make_agent, agent_kwargs, code):
    agent = make_agent("ana", **{"queues": [routed], **agent_kwargs})
    conversation = receive(sandbox_account, "hello")
    with pytest.raises(ServiceError) as refused:
        conversation_reply(conversation=conversation, author=agent, body="On it!")
    assert refused.value.code == code
    conversation.refresh_from_db()
    assert (conversation.state, conversation.agent, conversation.entries.count()) == (ConversationState.OPEN,
                                                                                       None, 1)


def test_replying_with_room_takes_it(routed, receive, sandbox_account, make_agent):
    agent = make_agent("ana", queues=[routed], capacity=50)
    conversation = receive(sandbox_account, "hello")
    conversation_reply(conversation=conversation, author=agent, body="On it!")
    conversation.refresh_from_db()
    assert (conversation.state, conversation.agent) == (ConversationState.ACTIVE, agent)
    second = receive(sandbox_account, "me too", sender="+15550000002")
    with pytest.raises(ServiceError) as full:  # 50 of 50 in use
        conversation_reply(conversation=second, author=agent, body="On it!")
    assert full.value.code == "no_capacity" and "0 left, 50 needed" in full.value.message


def test_a_revived_waiting_conversation_returns_to_its_agent_only_with_room(routed, receive, sandbox_account,
                                                                           make_agent):
    ana = make_agent("ana", queues=[routed], capacity=50)
    conversation = receive(sandbox_account, "hello")
    conversation_take(conversation=conversation, user=ana)
    conversation_wait(conversation=conversation)
    busy_with_one(receive, sandbox_account, ana)  # Ana's 50 units are taken by another one meanwhile
    revived = receive(sandbox_account, "anyone there?")
    assert revived.pk == conversation.pk
    assert (revived.state, revived.agent) == (ConversationState.OPEN, None)  # back to the queue, not over capacity
    assert Conversation.objects.filter(agent=ana, state=ConversationState.ACTIVE).count() == 1


def test_a_revived_waiting_conversation_returns_to_its_agent_with_room(routed, receive, sandbox_account,
                                                                      make_agent):
    ana = make_agent("ana", queues=[routed])
    conversation = receive(sandbox_account, "hello")
    conversation_take(conversation=conversation, user=ana)
    conversation_wait(conversation=conversation)
    revived = receive(sandbox_account, "still there?")
    assert (revived.state, revived.agent) == (ConversationState.ACTIVE, ana)


def test_a_revived_conversation_whose_agent_is_away_waits_in_the_queue_for_another(
        routed, receive, sandbox_account, make_agent):
    from workstreams.services import agent_presence_set

    ana = make_agent("ana", queues=[routed])
    bob = make_agent("bob", queues=[routed])
    conversation = receive(sandbox_account, "hello")
    conversation_take(conversation=conversation, user=ana)
    conversation_wait(conversation=conversation)
    agent_presence_set(user=ana, presence="away")
    revived = receive(sandbox_account, "hello again")
    assert (revived.state, revived.agent) == (ConversationState.OPEN, None)
    assignment_cycle()
    assert Conversation.objects.get(pk=conversation.pk).agent == bob


def test_resuming_a_waiting_conversation_checks_capacity(routed, receive, sandbox_account, make_agent):
    ana = make_agent("ana", queues=[routed], capacity=50)
    conversation = receive(sandbox_account, "hello")
    conversation_take(conversation=conversation, user=ana)
    conversation_wait(conversation=conversation)
    busy_with_one(receive, sandbox_account, ana)
    with pytest.raises(ServiceError) as full:
        conversation_resume(conversation=conversation, user=ana)
    assert full.value.code == "no_capacity"
    assert Conversation.objects.get(pk=conversation.pk).state == ConversationState.WAITING  # nothing changed


@pytest.mark.parametrize(("agent_kwargs", "code"), HANDED_REFUSALS)
def test_transfer_to_an_agent_checks_membership_presence_and_capacity(routed, receive, sandbox_account,
                                                                      make_agent, agent_kwargs, code):
    ana = make_agent("ana", queues=[routed])
    bob = make_agent("bob", **{"queues": [routed], **agent_kwargs})
    conversation = receive(sandbox_account, "hello")
    conversation_take(conversation=conversation, user=ana)
    with pytest.raises(ServiceError) as refused:
        conversation_transfer(conversation=conversation, by=ana, agent=bob)
    assert refused.value.code == code
    conversation.refresh_from_db()
    assert (conversation.state, conversation.agent) == (ConversationState.ACTIVE, ana)  # still Ana's


def test_transfer_to_an_agent_over_capacity_is_refused(routed, receive, sandbox_account, make_agent):
    ana = make_agent("ana", queues=[routed])
    bob = make_agent("bob", queues=[routed], capacity=50)
    busy_with_one(receive, sandbox_account, bob)
    conversation = receive(sandbox_account, "hello")
    conversation_take(conversation=conversation, user=ana)
    with pytest.raises(ServiceError) as full:
        conversation_transfer(conversation=conversation, by=ana, agent=bob)
    assert full.value.code == "no_capacity" and "0 left, 50 needed" in full.value.message


def test_transfer_to_a_queue_without_members_is_refused(routed, receive, sandbox_account, make_agent):
    ana = make_agent("ana", queues=[routed])
    empty = Queue.objects.create(name="Nobody")
    conversation = receive(sandbox_account, "hello")
    conversation_take(conversation=conversation, user=ana)
    with pytest.raises(ServiceError) as refused:
        conversation_transfer(conversation=conversation, by=ana, queue=empty)
    assert refused.value.code == "queue_unstaffed" and "Nobody has no members" in refused.value.message


@pytest.mark.parametrize(("agent_kwargs", "code"), [
    ({"capacity": 0}, "no_capacity"),
    ({"presence": "offline"}, "agent_not_present"),
])
def test_pick_checks_presence_and_capacity(routed, receive, sandbox_account, make_agent, workstream,
                                           agent_kwargs, code):
    workstream.distribution_mode = "pick"
    workstream.save()
    agent = make_agent("ana", **{"queues": [routed], **agent_kwargs})
    conversation = receive(sandbox_account, "hello")
    with pytest.raises(ServiceError) as refused:
        conversation_pick_next(user=agent)
    assert refused.value.code == code
    assert Conversation.objects.get(pk=conversation.pk).state == ConversationState.OPEN


def test_do_not_disturb_still_picks_work_itself(routed, receive, sandbox_account, make_agent, workstream):
    workstream.distribution_mode = "pick"
    workstream.save()
    agent = make_agent("ana", queues=[routed], presence="dnd")  # nothing pushed, but she may take work
    conversation = receive(sandbox_account, "hello")
    assert conversation_pick_next(user=agent).pk == conversation.pk


def test_pick_takes_only_from_the_agents_queues(routed, receive, sandbox_account, make_agent, workstream):
    workstream.distribution_mode = "pick"
    workstream.save()
    outsider = make_agent("eve", queues=[Queue.objects.create(name="Elsewhere")])
    receive(sandbox_account, "hello")
    with pytest.raises(ServiceError) as empty:
        conversation_pick_next(user=outsider)
    assert empty.value.code == "queue_empty"
