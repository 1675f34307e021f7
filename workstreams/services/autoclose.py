"""Close conversations nobody came back to: open and active after 30 days without activity, wrap-up after
one day, waiting after the workstream's own setting (all configurable)."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from workstreams.models import Conversation, ConversationState

from .conversations import conversation_close


def conversations_auto_close() -> int:
    now = timezone.now()
    activity = Coalesce("last_message_at", "created_at")
    due = Q(state=ConversationState.OPEN, activity_at__lt=now - settings.AUTO_CLOSE_OPEN_AFTER) | \
        Q(state=ConversationState.ACTIVE, activity_at__lt=now - settings.AUTO_CLOSE_ACTIVE_AFTER) | \
        Q(state=ConversationState.WRAP_UP, ended_at__lt=now - settings.AUTO_CLOSE_WRAP_UP_AFTER)
    closed = 0
    candidates = Conversation.objects.annotate(activity_at=activity).filter(due).only("pk")
    for conversation in candidates.iterator():
        conversation_close(conversation=conversation, reason="closed automatically after inactivity")
        closed += 1
    waiting = (Conversation.objects.annotate(activity_at=activity)
               .filter(state=ConversationState.WAITING).select_related("workstream"))
    for conversation in waiting.iterator():
        limit = conversation.workstream.waiting_auto_close if conversation.workstream \
            else settings.AUTO_CLOSE_WAITING_AFTER
        if conversation.activity_at < now - limit:
            conversation_close(conversation=conversation, reason="closed automatically: left waiting")
            closed += 1
    return closed
