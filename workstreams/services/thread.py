"""A conversation's thread: the one way a message, in or out, joins a conversation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone

from channels_app.models import Direction, Message
from config import metrics
from workstreams.models import Conversation, ConversationMessage


def conversation_messages_append(*, links: Sequence[tuple[Conversation, Message]],
                                 now: datetime | None = None) -> None:
    """Add each message to its conversation and note when the conversation last heard something (and,
    for a customer's message, last heard from the customer): one INSERT for the links, one UPDATE per
    direction, however many there are. The conversation objects given are brought up to date too."""
    if not links:
        return
    now = now or timezone.now()
    ConversationMessage.objects.bulk_create([ConversationMessage(conversation_id=c.pk, message=m) for c, m in links])
    metrics.conversation_messages(links=[(c.pk, m.pk, m.request_id) for c, m in links])
    inbound = {c.pk for c, m in links if m.direction == Direction.INBOUND}
    outbound = {c.pk for c, _ in links} - inbound
    if inbound:
        Conversation.objects.filter(pk__in=inbound).update(last_message_at=now, last_inbound_at=now, updated_at=now)
    if outbound:
        Conversation.objects.filter(pk__in=outbound).update(last_message_at=now, updated_at=now)
    # An agent's message (one with an author) is the conversation's first response, if it has none yet.
    answered = {c.pk for c, m in links if m.direction == Direction.OUTBOUND and m.author_id}
    if answered:
        Conversation.objects.filter(pk__in=answered, first_response_at__isnull=True).update(first_response_at=now)
    for conversation, _ in links:
        conversation.last_message_at = conversation.updated_at = now
        if conversation.pk in inbound:
            conversation.last_inbound_at = now
        if conversation.pk in answered and conversation.first_response_at is None:
            conversation.first_response_at = now
