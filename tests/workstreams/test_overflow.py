"""Queue overflow rules (work-item limit, waiting time, out of hours → transfer, end, assign anyway), at routing
time and in the periodic cycle; and a routing rule's percentage split over queues."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.models import Direction
from workstreams.models import (
    Conversation,
    ConversationState,
    OperatingHours,
    OverflowRule,
    Queue,
    RoutingRule,
    RoutingSplit,
)
from workstreams.services import assignment_cycle
from workstreams.services.overflow import overflow_cycle
from workstreams.services.routing import routing_lines
from workstreams.tasks import assignment_cycle_task


@pytest.fixture
def queues(workstream):
    support = Queue.objects.create(name="Support", priority=1)
    backup = Queue.objects.create(name="Backup")
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support)
    return support, backup


def waited(conversation, minutes):
    Conversation.objects.filter(pk=conversation.pk).update(queued_at=timezone.now() - timedelta(minutes=minutes))


def test_waiting_longer_than_the_threshold_moves_to_another_queue_in_the_cycle(queues, receive, sandbox_account):
    support, backup = queues
    OverflowRule.objects.create(queue=support, condition="wait_time", wait_threshold=timedelta(minutes=5),
                                action="transfer", target_queue=backup)
    old = receive(sandbox_account, "hello", sender="+15550000001")
    fresh = receive(sandbox_account, "hello", sender="+15550000002")
    assert old.queue == support  # nobody waited yet at routing time
    waited(old, 6)
    waited(fresh, 2)
    assert overflow_cycle() == 1
    old.refresh_from_db()
    assert (old.queue, old.state) == (backup, ConversationState.OPEN)
    assert old.queued_at > timezone.now() - timedelta(minutes=1)  # waits in Backup from the move on
    assert Conversation.objects.get(pk=fresh.pk).queue == support
    assert any("Overflow from Support (waited longer than 5 min): transferred to Backup" in line
               for line in routing_lines(old.routing_diagnosis))


def test_the_beat_cycle_applies_overflow_before_assigning(queues, receive, sandbox_account, make_agent):
    support, backup = queues
    OverflowRule.objects.create(queue=support, condition="wait_time", wait_threshold=timedelta(minutes=1),
                                action="transfer", target_queue=backup)
    bob = make_agent("bob", queues=[backup])
    conversation = receive(sandbox_account, "hello")
    waited(conversation, 2)
    assignment_cycle_task()
    conversation.refresh_from_db()
    assert (conversation.queue, conversation.agent, conversation.state) == (backup, bob, ConversationState.ACTIVE)


def test_work_item_limit_at_routing_time(queues, receive, sandbox_account):
    support, backup = queues
    OverflowRule.objects.create(queue=support, condition="work_item_limit", work_item_limit=2, action="transfer",
                                target_queue=backup)
    placed = [receive(sandbox_account, "hi", sender=f"+1555000000{i}").queue for i in range(4)]
    assert placed == [support, support, backup, backup]


def test_out_of_hours_ends_with_the_automated_message(queues, receive, sandbox_account):
    support, _backup = queues
    support.operating_hours = OperatingHours.objects.create(name="Never")  # no slots: always closed
    support.save()
    OverflowRule.objects.create(queue=support, condition="out_of_hours", action="end",
                                message="Sorry {CustomerName}, {QueueName} is closed. We open at 9.")
    conversation = receive(sandbox_account, "hello", name="Rita")
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.CLOSED
    sent = conversation.entries.filter(message__direction=Direction.OUTBOUND).values_list("message__body",
                                                                                          flat=True)
    assert "Sorry Rita, Support is closed. We open at 9." in list(sent)
    assert "ended by the overflow rule of Support (outside operating hours)" in conversation.routing_diagnosis[
        "closed"]


def test_out_of_hours_assign_anyway_lets_agents_have_it(queues, receive, sandbox_account, make_agent):
    support, _backup = queues
    support.operating_hours = OperatingHours.objects.create(name="Never")
    support.save()
    ana = make_agent("ana", queues=[support])
    closed_rule = OverflowRule.objects.create(queue=support, condition="out_of_hours", action="assign_anyway")
    conversation = receive(sandbox_account, "hello")
    assert assignment_cycle() == 1
    conversation.refresh_from_db()
    assert (conversation.agent, conversation.queue) == (ana, support)
    assert any("assigned anyway" in line for line in routing_lines(conversation.routing_diagnosis))
    closed_rule.is_active = False
    closed_rule.save()
    receive(sandbox_account, "hello", sender="+15550000003")
    assert assignment_cycle() == 0  # without the rule a closed queue is not served


def test_two_queues_overflowing_into_each_other_do_not_loop(queues, receive, sandbox_account):
    support, backup = queues
    for source, target in ((support, backup), (backup, support)):
        OverflowRule.objects.create(queue=source, condition="work_item_limit", work_item_limit=1,
                                    action="transfer", target_queue=target)
    receive(sandbox_account, "hi", sender="+15550000001")
    receive(sandbox_account, "hi", sender="+15550000002")
    third = receive(sandbox_account, "hi", sender="+15550000003")  # both full: moved at most five times, no loop
    assert third.state == ConversationState.OPEN
    assert len(third.routing_diagnosis["overflow"]) == 5


def test_the_first_rule_that_holds_acts(queues, receive, sandbox_account):
    support, backup = queues
    other = Queue.objects.create(name="Other")
    OverflowRule.objects.create(queue=support, order=1, condition="wait_time", wait_threshold=timedelta(minutes=1),
                                action="transfer", target_queue=backup)
    OverflowRule.objects.create(queue=support, order=2, condition="wait_time", wait_threshold=timedelta(minutes=1),
                                action="transfer", target_queue=other)
    conversation = receive(sandbox_account, "hello")
    waited(conversation, 3)
    overflow_cycle()
    assert Conversation.objects.get(pk=conversation.pk).queue == backup


# --- Percentage split -------------------------------------------------------------------------------------


@pytest.fixture
def split_rule(workstream):
    a, b, c = (Queue.objects.create(name=n) for n in ("A", "B", "C"))
    rule = RoutingRule.objects.create(workstream=workstream, name="Split", queue=a)
    for queue, share in ((a, 20), (b, 30), (c, 50)):
        RoutingSplit.objects.create(rule=rule, queue=queue, percentage=share)
    return rule


def test_a_split_is_deterministic_per_conversation(split_rule, sandbox_account, receive):
    from workstreams.services.routing import conversation_route

    conversation = receive(sandbox_account, "hello")
    message = conversation.entries.first().message
    choices = {conversation_route(conversation=conversation, message=message).queue.name for _ in range(10)}
    assert choices == {conversation.queue.name}  # routed again, the same queue
    assert "split A 20%, B 30%, C 50%" in conversation.routing_diagnosis["split"]


def test_a_split_is_roughly_proportional_over_many_conversations(split_rule, sandbox_account, receive):
    from workstreams.services.routing import split_choose

    rule = RoutingRule.objects.prefetch_related("splits__queue").get(pk=split_rule.pk)
    for i in range(10):  # the inbound path routes by the same choice
        conversation = receive(sandbox_account, "hello", sender=f"+1555{i:07d}")
        assert conversation.queue == split_choose(rule=rule, conversation=conversation)[0]
    phone = sandbox_account.numbers.get()
    many = Counter(split_choose(rule=rule, conversation=Conversation(contact_id=i, phone_number=phone))[0].name
                   for i in range(1, 3001))
    for name, share in (("A", 20), ("B", 30), ("C", 50)):
        assert abs(many[name] / 3000 * 100 - share) < 3, many  # each within 3 points of its share
