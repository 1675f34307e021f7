"""Conversation milestones for the reports: first queued, first given to an agent, first answered — each set
once, by the services every caller uses."""

from __future__ import annotations

from importlib import import_module

from django.apps import apps as global_apps

from channels_app.models import Direction, Message, MessageStatus
from workstreams.models import Conversation, ConversationState, Queue, RoutingRule
from workstreams.services import conversations, distribution


def test_milestones_are_set_once(sandbox_account, workstream, make_agent, receive):
    queue = Queue.objects.create(name="Support", priority=1)
    RoutingRule.objects.create(workstream=workstream, name="All", queue=queue)
    receive(sandbox_account, "Hello?")
    conversation = Conversation.objects.get()
    assert conversation.first_queued_at is not None and conversation.first_assigned_at is None
    ana = make_agent("ana", queues=[queue])
    distribution.conversation_take(conversation=conversation, user=ana)
    conversation.refresh_from_db()
    assigned = conversation.first_assigned_at
    assert assigned is not None and conversation.first_response_at is None
    # An automated message is not a response.
    assert conversation.state == ConversationState.ACTIVE
    conversations.conversation_reply(conversation=conversation, author=ana, body="Hi, I am Ana.")
    conversation.refresh_from_db()
    first = conversation.first_response_at
    assert first is not None and first >= assigned
    conversations.conversation_reply(conversation=conversation, author=ana, body="Anything else?")
    bob = make_agent("bob", queues=[queue])
    distribution.conversation_transfer(conversation=conversation, agent=bob)
    conversation.refresh_from_db()
    assert conversation.first_response_at == first and conversation.first_assigned_at == assigned
    assert conversation.assigned_at > assigned


def test_the_migration_backfills_from_what_the_rows_hold(sandbox_account, workstream, make_agent, receive):
    receive(sandbox_account, "Hello?")
    conversation = Conversation.objects.get()
    ana = make_agent("ana")
    reply = Message.objects.create(
        account=sandbox_account, phone_number=conversation.phone_number, contact=conversation.contact,
        provider="sandbox", channel="sms", direction=Direction.OUTBOUND, status=MessageStatus.SENT, body="Hi",
        author=ana)
    conversation.entries.create(message=reply)
    Conversation.objects.filter(pk=conversation.pk).update(
        first_queued_at=None, first_assigned_at=None, first_response_at=None, assigned_at=reply.created_at)
    import_module("workstreams.migrations.0012_conversation_milestones").backfill(global_apps, None)
    conversation.refresh_from_db()
    assert conversation.first_queued_at == conversation.queued_at
    assert conversation.first_assigned_at == reply.created_at
    assert conversation.first_response_at == reply.created_at
