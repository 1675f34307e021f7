"""Writes of the console's own: how far each agent has read each conversation."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from workstreams.models import Conversation, ConversationRead


def conversation_mark_read(*, user: Any, conversation: Conversation, last_message_id: int) -> None:
    """Remember that ``user`` has seen the conversation up to ``last_message_id``; never moves backwards."""
    if last_message_id <= 0:
        return

    def forward() -> int:
        return (ConversationRead.objects
                .filter(user=user, conversation=conversation, last_message_id__lt=last_message_id)
                .update(last_message_id=last_message_id, updated_at=timezone.now()))

    if forward() or ConversationRead.objects.filter(user=user, conversation=conversation).exists():
        return
    try:
        with transaction.atomic():
            ConversationRead.objects.create(user=user, conversation=conversation, last_message_id=last_message_id)
    except IntegrityError:  # the same agent's other tab got there first
        forward()
