"""Conversation use cases: an agent's reply, ending, closing. The console and the API both call these."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from channels_app.models import Message, MessageKind
from channels_app.services.delivery import message_queue, message_retry
from config.exceptions import ConflictError

from .models import LIVE_STATES, Conversation, ConversationMessage, ConversationState


def _locked(conversation: Conversation) -> Conversation:
    return (Conversation.objects.select_for_update()
            .select_related("contact", "phone_number__account").get(pk=conversation.pk))


@transaction.atomic
def conversation_reply(*, conversation: Conversation, author: Any, body: str = "",
                       media_urls: tuple[str, ...] = (), kind: str = MessageKind.REGULAR) -> Message:
    """Queue an agent's reply in the conversation; every sending rule is checked first."""
    conversation = _locked(conversation)
    if conversation.state == ConversationState.CLOSED:
        raise ConflictError(f"Conversation #{conversation.pk} is closed; nothing more can be sent in it.",
                            code="conversation_closed", field="conversation")
    message = message_queue(phone_number=conversation.phone_number, contact=conversation.contact, body=body,
                            media_urls=tuple(media_urls), kind=kind,
                            author=author if getattr(author, "pk", None) else None)
    ConversationMessage.objects.create(conversation=conversation, message=message)
    conversation.last_message_at = timezone.now()
    if conversation.state == ConversationState.OPEN and getattr(author, "pk", None):
        conversation.agent = author
        conversation.state = ConversationState.ACTIVE
    conversation.save()
    return message


@transaction.atomic
def conversation_end(*, conversation: Conversation, user: Any = None) -> Conversation:
    """The agent ends the conversation: it is resolved and goes to wrap-up."""
    conversation = _locked(conversation)
    if conversation.state not in LIVE_STATES:
        raise ConflictError(f"Conversation #{conversation.pk} has already ended.", code="conversation_ended",
                            field="conversation")
    conversation.state = ConversationState.WRAP_UP
    conversation.resolved = True
    conversation.ended_at = timezone.now()
    conversation.save()
    return conversation


@transaction.atomic
def conversation_close(*, conversation: Conversation) -> Conversation:
    """Close for good; the customer's next message opens a new conversation."""
    conversation = _locked(conversation)
    if conversation.state == ConversationState.CLOSED:
        return conversation
    conversation.state = ConversationState.CLOSED
    conversation.closed_at = timezone.now()
    conversation.ended_at = conversation.ended_at or conversation.closed_at
    conversation.save()
    return conversation


def conversation_message_retry(*, conversation: Conversation, message: Message) -> Message:
    """Retry a failed message of this conversation (it must belong to it)."""
    if not ConversationMessage.objects.filter(conversation=conversation, message=message).exists():
        raise ConflictError("That message is not part of this conversation.", code="not_in_conversation",
                            field="message")
    if conversation.state == ConversationState.CLOSED:
        raise ConflictError(f"Conversation #{conversation.pk} is closed; nothing more can be sent in it.",
                            code="conversation_closed", field="conversation")
    return message_retry(message=message)
