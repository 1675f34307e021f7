from __future__ import annotations

from django.db.models import QuerySet

from channels_app.models import Message

from .models import Conversation


def conversation_messages(*, conversation: Conversation) -> QuerySet[Message]:
    return (Message.objects.filter(conversation_link__conversation=conversation)
            .select_related("author").prefetch_related("attachments").order_by("created_at", "id"))
