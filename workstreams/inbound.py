"""What workstreams does with a message channels_app received (the ``HUB_INBOUND_HANDLERS`` seam),
and its answer to the ``HUB_NUMBER_POLICY`` question."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from channels_app.models import Message, PhoneNumber
from channels_app.policy import NumberPolicy

from .models import Conversation, ConversationMessage, ConversationState, WorkstreamNumber
from .routing import conversation_route


def number_policy(phone_number: PhoneNumber) -> NumberPolicy:
    config = WorkstreamNumber.objects.filter(phone_number=phone_number).first()
    if config is None:
        return NumberPolicy()
    return NumberPolicy(customers_may_send_attachments=config.customers_may_send_attachments,
                        agents_may_send_attachments=config.agents_may_send_attachments)


def _live_conversation(message: Message) -> Conversation | None:
    return (Conversation.objects.select_for_update()
            .filter(contact=message.contact, phone_number=message.phone_number)
            .exclude(state=ConversationState.CLOSED).first())


def _close(conversation: Conversation) -> None:
    conversation.state = ConversationState.CLOSED
    conversation.closed_at = timezone.now()
    conversation.save(update_fields=["state", "closed_at", "updated_at"])


def inbound_message_handle(*, message: Message, keyword: str | None = None) -> Conversation:
    """Attach the message to the customer's live conversation on that number, or open one.

    A conversation in wrap-up was resolved by its agent: it is closed and the message opens
    a new one. A closed conversation never reopens.
    """
    now = timezone.now()
    conversation = _live_conversation(message)
    if conversation is not None and conversation.state == ConversationState.WRAP_UP:
        _close(conversation)
        conversation = None
    if conversation is None:
        conversation = Conversation(contact=message.contact, phone_number=message.phone_number,
                                    channel=message.channel, state=ConversationState.OPEN)
        conversation_route(conversation=conversation, message=message)
        try:
            with transaction.atomic():
                conversation.save()
        except IntegrityError:  # another worker opened it a moment ago
            conversation = _live_conversation(message)
    elif conversation.state == ConversationState.WAITING:
        # The customer wrote again: back to the agent who had it, or to the queue.
        conversation.state = ConversationState.ACTIVE if conversation.agent_id else ConversationState.OPEN
    ConversationMessage.objects.create(conversation=conversation, message=message)
    conversation.last_message_at = now
    conversation.last_inbound_at = now
    conversation.save()
    return conversation
