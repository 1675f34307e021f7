from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from config.exceptions import ServiceError
from workstreams.models import (
    AgentProfile,
    AgentSkill,
    Conversation,
    ConversationState,
    Queue,
    RoutingRule,
    Skill,
)
from workstreams.services import (
    agent_presence_set,
    assignment_cycle,
    conversation_end,
    conversation_pick_next,
    conversation_take,
    conversation_transfer,
    conversation_wait,
)
from workstreams.services.distribution import capacity_used


@pytest.fixture
def routed(workstream, support_queue):
    """Every conversation of the workstream goes to the support queue."""
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    return support_queue


def customers(receive, account, n, start=0):
    return [receive(account, f"hi {i}", sender=f"+1555000{start + i:04d}") for i in range(n)]


def test_push_assigns_to_an_available_agent_in_the_queue(routed, receive, sandbox_account, make_agent):
    agent = make_agent("ana", queues=[routed])
    [conversation] = customers(receive, sandbox_account, 1)
    assert assignment_cycle() == 1
    conversation.refresh_from_db()
    assert (conversation.state, conversation.agent) == (ConversationState.ACTIVE, agent)


def test_capacity_is_never_exceeded(routed, receive, sandbox_account, make_agent):
    agent = make_agent("ana", queues=[routed], capacity=100)  # the workstream uses 50 per conversation
    conversations = customers(receive, sandbox_account, 3)
    assert assignment_cycle() == 2
    assert Conversation.objects.filter(agent=agent).count() == 2
    assert Conversation.objects.get(pk=conversations[2].pk).state == ConversationState.OPEN
    assert capacity_used([agent.pk])[agent.pk] == 100


@pytest.mark.parametrize("presence", ["dnd", "away", "offline"])
def test_only_available_and_busy_agents_get_pushed_work(routed, receive, sandbox_account, make_agent, presence):
    make_agent("ana", queues=[routed], presence=presence)
    customers(receive, sandbox_account, 1)
    assert assignment_cycle() == 0


def test_busy_agents_still_get_pushed_work(routed, receive, sandbox_account, make_agent):
    make_agent("ana", queues=[routed], presence="busy")
    customers(receive, sandbox_account, 1)
    assert assignment_cycle() == 1


def test_agents_outside_the_queue_get_nothing(routed, receive, sandbox_account, make_agent):
    make_agent("bob", queues=[])
    customers(receive, sandbox_account, 1)
    assert assignment_cycle() == 0


def test_highest_capacity_first(routed, receive, sandbox_account, make_agent):
    small = make_agent("small", queues=[routed], capacity=100)
    big = make_agent("big", queues=[routed], capacity=300)
    customers(receive, sandbox_account, 3)
    assignment_cycle()
    # big (300 free) takes the first two; then both have 200 vs 100 → big again; small only when tied or ahead.
    assert Conversation.objects.filter(agent=big).count() == 3
    assert Conversation.objects.filter(agent=small).count() == 0


def test_highest_capacity_ties_go_round_robin(routed, receive, sandbox_account, make_agent):
    a = make_agent("a", queues=[routed], capacity=100)
    b = make_agent("b", queues=[routed], capacity=100)
    customers(receive, sandbox_account, 2)
    assignment_cycle()
    # Equal free capacity: the second conversation goes to the agent who has not had one yet.
    assert Conversation.objects.filter(agent=a).count() == 1
    assert Conversation.objects.filter(agent=b).count() == 1


def test_round_robin_gives_the_earliest_last_assigned_agent(routed, receive, sandbox_account, make_agent):
    routed.assignment_method = "round_robin"
    routed.save()
    a = make_agent("a", queues=[routed], capacity=1000)
    b = make_agent("b", queues=[routed], capacity=100)
    AgentProfile.objects.filter(user=a).update(last_assigned_at=timezone.now() - timedelta(minutes=1))
    AgentProfile.objects.filter(user=b).update(last_assigned_at=timezone.now() - timedelta(minutes=5))
    first, second = customers(receive, sandbox_account, 2)
    assignment_cycle()
    assert Conversation.objects.get(pk=first.pk).agent == b  # waited longest, despite less capacity
    assert Conversation.objects.get(pk=second.pk).agent == a


def test_higher_priority_queues_and_older_conversations_first(workstream, receive, sandbox_account, make_agent):
    low = Queue.objects.create(name="Low", priority=0)
    high = Queue.objects.create(name="High", priority=10)
    agent = make_agent("ana", queues=[low, high], capacity=50)
    older = receive(sandbox_account, "old", sender="+15550000001")
    Conversation.objects.filter(pk=older.pk).update(queue=low)
    urgent = receive(sandbox_account, "urgent", sender="+15550000002")
    Conversation.objects.filter(pk=urgent.pk).update(queue=high)
    oldest_high = receive(sandbox_account, "urgent too", sender="+15550000003")
    Conversation.objects.filter(pk=oldest_high.pk).update(queue=high, queued_at=timezone.now() + timedelta(seconds=1))
    assignment_cycle()
    # One slot: the high-priority queue wins over the older low-priority conversation, and within it the oldest.
    assert Conversation.objects.get(agent=agent).pk == urgent.pk


def test_waiting_releases_capacity_and_wrap_up_blocks_it_for_the_set_time(routed, receive, sandbox_account,
                                                                         make_agent, workstream):
    agent = make_agent("ana", queues=[routed], capacity=50)
    first, second = customers(receive, sandbox_account, 2)
    assignment_cycle()
    first.refresh_from_db()
    conversation_wait(conversation=first)
    assignment_cycle()
    assert Conversation.objects.get(pk=second.pk).agent == agent  # waiting released the capacity

    conversation_end(conversation=Conversation.objects.get(pk=second.pk))
    third = customers(receive, sandbox_account, 1, start=10)[0]
    assignment_cycle()
    assert Conversation.objects.get(pk=third.pk).state == ConversationState.OPEN  # wrap-up still blocks
    with time_machine.travel(timezone.now() + workstream.wrap_up_time + timedelta(seconds=1)):
        assignment_cycle()
    assert Conversation.objects.get(pk=third.pk).agent == agent


@pytest.mark.parametrize(("policy", "blocked"), [("always", True), ("none", False)])
def test_wrap_up_capacity_policies(routed, receive, sandbox_account, make_agent, workstream, policy, blocked):
    workstream.wrap_up_capacity = policy
    workstream.save()
    agent = make_agent("ana", queues=[routed], capacity=50)
    [first] = customers(receive, sandbox_account, 1)
    assignment_cycle()
    conversation_end(conversation=Conversation.objects.get(pk=first.pk))
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        [second] = customers(receive, sandbox_account, 1, start=5)
        assignment_cycle()
    assert (Conversation.objects.get(pk=second.pk).agent == agent) is not blocked


def test_affinity_gives_a_returning_customer_the_previous_agent(routed, receive, sandbox_account, make_agent):
    ana = make_agent("ana", queues=[routed], capacity=100)
    bob = make_agent("bob", queues=[routed], capacity=500)  # highest capacity would pick bob
    AgentProfile.objects.filter(user=bob).update(presence="offline")
    [first] = customers(receive, sandbox_account, 1)
    assignment_cycle()
    assert Conversation.objects.get(pk=first.pk).agent == ana
    conversation_end(conversation=Conversation.objects.get(pk=first.pk))
    AgentProfile.objects.filter(user=bob).update(presence="available")
    returning = receive(sandbox_account, "me again", sender="+15550000000")
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assignment_cycle()
    assert Conversation.objects.get(pk=returning.pk).agent == ana


def test_without_affinity_the_method_decides(routed, receive, sandbox_account, make_agent, workstream):
    workstream.keep_same_agent = False
    workstream.save()
    ana = make_agent("ana", queues=[routed], capacity=100)
    bob = make_agent("bob", queues=[routed], capacity=500)
    AgentProfile.objects.filter(user=bob).update(presence="offline")
    [first] = customers(receive, sandbox_account, 1)
    assignment_cycle()
    conversation_end(conversation=Conversation.objects.get(pk=first.pk))
    AgentProfile.objects.filter(user=bob).update(presence="available")
    returning = receive(sandbox_account, "me again", sender="+15550000000")
    assignment_cycle()
    assert Conversation.objects.get(pk=first.pk).agent == ana
    assert Conversation.objects.get(pk=returning.pk).agent == bob


@pytest.mark.parametrize(("matching", "expected"), [("exact", "maria"), ("closest", "maria")])
def test_skills_pick_the_matching_agent(workstream, receive, sandbox_account, make_agent, matching, expected):
    queue = Queue.objects.create(name="Spanish", skill_matching=matching)
    spanish, billing = Skill.objects.create(name="Spanish"), Skill.objects.create(name="Billing")
    rule = RoutingRule.objects.create(workstream=workstream, name="es", queue=queue)
    rule.required_skills.add(spanish, billing)
    john = make_agent("john", queues=[queue], capacity=500)
    maria = make_agent("maria", queues=[queue], capacity=100)
    AgentSkill.objects.create(agent=maria.agent_profile, skill=spanish, proficiency=8)
    AgentSkill.objects.create(agent=maria.agent_profile, skill=billing, proficiency=3)
    AgentSkill.objects.create(agent=john.agent_profile, skill=billing, proficiency=9)
    [conversation] = customers(receive, sandbox_account, 1)
    assignment_cycle()
    assert Conversation.objects.get(pk=conversation.pk).agent.username == expected


def test_exact_matching_waits_for_a_skilled_agent_closest_does_not(workstream, receive, sandbox_account,
                                                                   make_agent):
    exact = Queue.objects.create(name="Exact", skill_matching="exact")
    spanish = Skill.objects.create(name="Spanish")
    rule = RoutingRule.objects.create(workstream=workstream, name="es", queue=exact)
    rule.required_skills.add(spanish)
    make_agent("john", queues=[exact])
    customers(receive, sandbox_account, 1)
    assert assignment_cycle() == 0
    exact.skill_matching = "closest"
    exact.save()
    assert assignment_cycle() == 1


def test_pick_mode_is_not_pushed_and_agents_take_the_next(routed, receive, sandbox_account, make_agent, workstream):
    workstream.distribution_mode = "pick"
    workstream.save()
    agent = make_agent("ana", queues=[routed])
    first, second = customers(receive, sandbox_account, 2)
    assert assignment_cycle() == 0
    picked = conversation_pick_next(user=agent)
    assert (picked.pk, picked.agent, picked.state) == (first.pk, agent, ConversationState.ACTIVE)
    assert conversation_pick_next(user=agent).pk == second.pk
    with pytest.raises(ServiceError, match="No conversation is waiting"):
        conversation_pick_next(user=agent)


def test_pick_respects_capacity(routed, receive, sandbox_account, make_agent, workstream):
    workstream.distribution_mode = "pick"
    workstream.save()
    agent = make_agent("ana", queues=[routed], capacity=50)
    customers(receive, sandbox_account, 2)
    conversation_pick_next(user=agent)
    with pytest.raises(ServiceError) as err:
        conversation_pick_next(user=agent)
    assert err.value.code == "no_capacity" and "0 left, 50 needed" in err.value.message


def test_take_a_particular_conversation(routed, receive, sandbox_account, make_agent, workstream):
    workstream.distribution_mode = "pick"
    workstream.save()
    ana, bob = make_agent("ana", queues=[routed]), make_agent("bob", queues=[routed])
    outsider = make_agent("eve", queues=[])
    first, second = customers(receive, sandbox_account, 2)
    assert conversation_take(conversation=second, user=ana).agent == ana
    with pytest.raises(ServiceError, match="already taken"):
        conversation_take(conversation=second, user=bob)
    with pytest.raises(ServiceError, match="not a member"):
        conversation_take(conversation=first, user=outsider)


def test_transfer_to_a_queue_and_to_an_agent(routed, receive, sandbox_account, make_agent):
    ana = make_agent("ana", queues=[routed])
    bob = make_agent("bob", queues=[], presence="offline")
    other = Queue.objects.create(name="Escalations")
    [conversation] = customers(receive, sandbox_account, 1)
    assignment_cycle()
    with pytest.raises(ServiceError) as unstaffed:
        conversation_transfer(conversation=conversation, by=ana, queue=other)
    assert unstaffed.value.code == "queue_unstaffed" and "has no members" in unstaffed.value.message
    other.members.add(bob)
    moved = conversation_transfer(conversation=conversation, by=ana, queue=other)
    assert (moved.state, moved.agent, moved.queue) == (ConversationState.OPEN, None, other)
    assert moved.routing_diagnosis["transfers"][0]["to_queue"] == "Escalations"
    with pytest.raises(ServiceError) as away:  # Bob is offline: distribution gives him nothing
        conversation_transfer(conversation=moved, by=ana, agent=bob)
    assert away.value.code == "agent_not_present"
    agent_presence_set(user=bob, presence="available")
    direct = conversation_transfer(conversation=moved, by=ana, agent=bob)
    assert (direct.state, direct.agent) == (ConversationState.ACTIVE, bob)
    with pytest.raises(ServiceError, match="one of them"):
        conversation_transfer(conversation=moved, by=ana)


def test_presence_change_and_joining_a_queue_start_a_cycle(routed, receive, sandbox_account, make_agent,
                                                           django_capture_on_commit_callbacks):
    agent = make_agent("ana", queues=[], presence="offline")
    [conversation] = customers(receive, sandbox_account, 1)
    with django_capture_on_commit_callbacks(execute=True):
        routed.members.add(agent)
    assert Conversation.objects.get(pk=conversation.pk).state == ConversationState.OPEN  # still offline
    with django_capture_on_commit_callbacks(execute=True):
        agent_presence_set(user=agent, presence="available")
    assert Conversation.objects.get(pk=conversation.pk).agent == agent


def test_a_new_conversation_starts_a_cycle(routed, make_agent, sandbox_account, receive,
                                           django_capture_on_commit_callbacks):
    agent = make_agent("ana", queues=[routed])
    with django_capture_on_commit_callbacks(execute=True):
        conversation = receive(sandbox_account, "hi")
    assert Conversation.objects.get(pk=conversation.pk).agent == agent


def test_ending_releases_capacity_for_the_next_in_line(routed, receive, sandbox_account, make_agent, workstream,
                                                       django_capture_on_commit_callbacks):
    workstream.wrap_up_capacity = "none"
    workstream.save()
    agent = make_agent("ana", queues=[routed], capacity=50)
    first, second = customers(receive, sandbox_account, 2)
    assignment_cycle()
    with django_capture_on_commit_callbacks(execute=True):
        conversation_end(conversation=Conversation.objects.get(pk=first.pk))
    assert Conversation.objects.get(pk=second.pk).agent == agent


def test_presence_must_be_known(make_agent):
    agent = make_agent("ana")
    with pytest.raises(ServiceError, match="Presence must be one of"):
        agent_presence_set(user=agent, presence="sleeping")
