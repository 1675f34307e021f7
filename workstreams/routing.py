"""Where a new conversation goes. Routing rules plug in here; until a rule matches, the default queue."""

from __future__ import annotations

from channels_app.models import Message

from .models import Conversation, Queue


def conversation_route(*, conversation: Conversation, message: Message) -> None:
    """Choose the conversation's queue and record why."""
    queue = Queue.objects.filter(is_default=True).first()
    if queue is None:
        queue = Queue.objects.create(name="Default queue", is_default=True)
    conversation.queue = queue
    conversation.routing_diagnosis = {"queue": queue.name, "reason": "default queue (no routing rule matched)"}
