"""Two assignment cycles at once, in separate database connections on PostgreSQL, never assign a conversation
twice and never fill an agent beyond capacity."""

import threading

import pytest
from django.db import connection, connections, transaction

from channels_app.models import Direction, Message, MessageStatus
from channels_app.policy import Received
from channels_app.services.inbound import contact_for
from workstreams.inbound import conversation_inbound
from workstreams.models import (
    AgentProfile,
    Conversation,
    ConversationState,
    Queue,
    RoutingRule,
    Workstream,
    WorkstreamNumber,
)
from workstreams.services.distribution import assignment_cycle, capacity_used

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")


@pytest.fixture
def setup(transactional_db, sandbox_account, django_user_model):
    queue = Queue.objects.create(name="Support")
    ws = Workstream.objects.create(name="SMS", channel="sms", capacity_per_conversation=10)
    WorkstreamNumber.objects.create(workstream=ws, phone_number=sandbox_account.numbers.get())
    RoutingRule.objects.create(workstream=ws, name="All", queue=queue)
    agents = []
    for i, capacity in enumerate([30, 40, 50]):  # room for 3 + 4 + 5 = 12 conversations
        user = django_user_model.objects.create_user(f"agent{i}")
        # Offline while the conversations arrive, so that nothing is assigned before the race.
        AgentProfile.objects.create(user=user, capacity=capacity, presence="offline")
        queue.members.add(user)
        agents.append(user)
    phone = sandbox_account.numbers.get()
    for i in range(40):
        message = Message.objects.create(account=sandbox_account, phone_number=phone,
                                         contact=contact_for(f"+1555000{i:04d}"), provider="sandbox", channel="sms",
                                         direction=Direction.INBOUND, body="hi", status=MessageStatus.RECEIVED,
                                         provider_message_id=f"c-{i}")
        with transaction.atomic():  # as in event processing
            conversation_inbound.one(Received(message=message))
    AgentProfile.objects.update(presence="available")  # directly: no cycle is triggered
    assert not Conversation.objects.filter(state=ConversationState.ACTIVE).exists()
    return agents


@pytest.mark.parametrize("round_", range(3))
def test_two_cycles_at_once_never_double_assign_or_overfill(setup, round_):
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(assignment_cycle())
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assigned = Conversation.objects.filter(state=ConversationState.ACTIVE)
    # Every assignment the cycles report is a distinct conversation, and the agents are exactly full.
    assert sum(results) == assigned.count() == 12
    used = capacity_used([a.pk for a in setup])
    for agent in setup:
        assert used[agent.pk] == agent.agent_profile.capacity
    assert Conversation.objects.filter(state=ConversationState.OPEN).count() == 28
