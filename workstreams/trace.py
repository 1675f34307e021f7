"""The workstreams' part of a message's trace (``HUB_MESSAGE_TRACE_SOURCES``): the conversation it is in."""

from __future__ import annotations

from channels_app.models import Direction, Message
from channels_app.trace import Tone, TraceEntry
from workstreams.models import ConversationMessage


def message_trace_entries(message: Message) -> list[TraceEntry]:
    link = (ConversationMessage.objects.select_related("conversation__queue", "conversation__agent")
            .filter(message=message).first())
    if link is None:
        return []
    conversation = link.conversation
    where = f"queue {conversation.queue.name}" if conversation.queue_id else "no queue"
    agent = f", agent {conversation.agent.get_username()}" if conversation.agent_id else ""
    verb = "Joined" if message.direction == Direction.INBOUND else "Sent in"
    return [TraceEntry(message.created_at, "conversation", f"{verb} conversation #{conversation.pk}",
                       f"{conversation.get_state_display()}, {where}{agent}.", Tone.INFO,
                       link=("Conversation", "admin:workstreams_conversation_change", conversation.pk))]
