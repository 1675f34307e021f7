import pytest

from workstreams.models import Conversation, ConversationState
from workstreams.services import conversation_close, conversation_end


def test_messages_join_the_live_conversation(sandbox_account, receive):
    first = receive(sandbox_account, "one")
    second = receive(sandbox_account, "two")
    assert first.pk == second.pk
    assert Conversation.objects.get().entries.count() == 2
    assert Conversation.objects.get().state == ConversationState.OPEN


def test_another_customer_gets_their_own_conversation(sandbox_account, receive):
    assert receive(sandbox_account, sender="+15551234567").pk != receive(sandbox_account, sender="+15557654321").pk


def test_a_closed_conversation_never_reopens(sandbox_account, receive):
    first = receive(sandbox_account)
    conversation_close(conversation=first)
    second = receive(sandbox_account, "back again")
    assert second.pk != first.pk
    assert Conversation.objects.get(pk=first.pk).state == ConversationState.CLOSED
    assert second.state == ConversationState.OPEN


def test_a_message_after_the_agent_ended_opens_a_new_conversation(sandbox_account, receive):
    first = receive(sandbox_account)
    conversation_end(conversation=first)
    second = receive(sandbox_account, "one more thing")
    assert second.pk != first.pk
    first.refresh_from_db()
    assert (first.state, first.resolved) == (ConversationState.CLOSED, True)


def test_a_waiting_conversation_goes_back_to_its_agent(sandbox_account, receive, make_agent):
    conversation = receive(sandbox_account)
    agent = make_agent("agent", queues=[conversation.queue])
    Conversation.objects.filter(pk=conversation.pk).update(state=ConversationState.WAITING, agent=agent)
    assert receive(sandbox_account, "hello?").state == ConversationState.ACTIVE


def test_new_conversations_go_to_the_default_queue_with_a_diagnosis(sandbox_account, receive):
    conversation = receive(sandbox_account)
    assert conversation.queue.name == "Default queue"
    assert conversation.routing_diagnosis["reason"] == "the number is in no workstream; fallback queue"


def test_many_messages_at_once_join_the_conversations_one_at_a_time_would(sandbox_account, django_user_model):
    from channels_app.models import Direction, Message, MessageStatus
    from channels_app.policy import Received
    from channels_app.services.inbound import contact_for
    from workstreams.inbound import conversation_inbound

    def received(sender, body, n):
        phone = sandbox_account.numbers.get()
        return Received(message=Message.objects.create(
            account=sandbox_account, phone_number=phone, contact=contact_for(sender), provider="sandbox",
            channel="sms", direction=Direction.INBOUND, body=body, status=MessageStatus.RECEIVED,
            provider_message_id=f"in-{n}"))

    def shape():
        return sorted((c.contact.address, c.state, c.queue.name, [e.message.body for e in c.entries.order_by("pk")],
                       c.last_inbound_at is not None) for c in Conversation.objects.all())

    script = [("+15550000001", "hi"), ("+15550000002", "hello"), ("+15550000001", "again"),
              ("+15550000003", "STOP"), ("+15550000002", "still there?")]
    for n, (sender, body) in enumerate(script):
        conversation_inbound.one(received(sender, body, n))
    one_by_one = shape()
    Conversation.objects.all().delete()
    items = [received(sender, body, 100 + n) for n, (sender, body) in enumerate(script)]
    conversations = conversation_inbound.many(items)
    assert shape() == one_by_one
    assert [c.contact_id for c in conversations] == [r.message.contact_id for r in items]


@pytest.mark.parametrize("setup", ["rules", "bot", "overflow"])
def test_new_conversations_opened_together_are_those_one_at_a_time_would_open(
        setup, workstream, support_queue, sandbox_account, django_capture_on_commit_callbacks):
    from channels_app.models import Direction, Message, MessageStatus
    from channels_app.policy import Received
    from channels_app.services.inbound import contact_for
    from workstreams.inbound import conversation_inbound
    from workstreams.models import (
        AutomatedMessage,
        Bot,
        OverflowRule,
        RoutingCondition,
        RoutingRule,
        Skill,
    )

    number = workstream.numbers.get()
    spanish = RoutingRule.objects.create(workstream=workstream, name="Spanish", queue=support_queue, order=1)
    RoutingCondition.objects.create(rule=spanish, field="message_text", operator="keyword", value="hola")
    spanish.required_skills.add(Skill.objects.create(name="Spanish"))
    AutomatedMessage.objects.create(number=number, kind="greeting", text="Hi {CustomerName}, welcome.")
    AutomatedMessage.objects.create(number=number, kind="no_agent", text="No one is free yet; we will answer soon.")
    if setup == "bot":
        workstream.bot = Bot.objects.create(name="Helper")
        workstream.save()
    elif setup == "overflow":
        OverflowRule.objects.create(queue=support_queue, condition="work_item_limit", work_item_limit=1,
                                    action="assign_anyway")

    def received(sender, body, n):
        return Received(message=Message.objects.create(
            account=sandbox_account, phone_number=number.phone_number, contact=contact_for(sender, display_name="Bea"),
            provider="sandbox", channel="sms", direction=Direction.INBOUND, body=body, status=MessageStatus.RECEIVED,
            provider_message_id=f"in-{n}"))

    def shape():
        return sorted((c.contact.address, c.state, c.queue.name if c.queue else None, c.with_bot,
                       sorted(s.name for s in c.required_skills.all()), c.routing_diagnosis,
                       [(e.message.direction, e.message.body) for e in c.entries.order_by("message__direction",
                                                                                            "message__created_at",
                                                                                            "message_id")],
                       c.first_queued_at is not None, c.language) for c in Conversation.objects.all())

    # (Here every message of the batch is stored before any is handled, as in a batch of inbound events: an
    # automated answer comes after them in the thread, hence messages in and out compared apart.)
    script = [("+15550000001", "hi"), ("+15550000002", "hola, necesito ayuda"), ("+15550000001", "again"),
              ("+15550000003", "where is my order?"), ("+15550000002", "hola otra vez")]
    with django_capture_on_commit_callbacks() as callbacks:
        for n, (sender, body) in enumerate(script):
            conversation_inbound.one(received(sender, body, n))
    one_by_one, one_by_one_tasks = shape(), len(callbacks)
    Conversation.objects.all().delete()
    Message.objects.filter(direction=Direction.OUTBOUND).delete()
    items = [received(sender, body, 100 + n) for n, (sender, body) in enumerate(script)]
    with django_capture_on_commit_callbacks() as callbacks:
        conversations = conversation_inbound.many(items)
    assert shape() == one_by_one
    assert [c.contact_id for c in conversations] == [r.message.contact_id for r in items]
    assert Conversation.objects.count() == 3
    if setup == "bot":  # each message handed to the bot, none to the agents
        assert len(callbacks) == one_by_one_tasks
    else:  # the greetings and queue messages are sent, and one assignment cycle is asked for
        assert Message.objects.filter(direction=Direction.OUTBOUND).count() == 6
        assert len(callbacks) <= one_by_one_tasks
