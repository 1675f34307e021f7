"""The workstreams' part of a message's trace (``HUB_MESSAGE_TRACE_SOURCES``): the conversation it is in."""

from __future__ import annotations

from django.utils.translation import gettext as _

from channels_app.models import Direction, Message
from channels_app.trace import Tone, TraceEntry
from workstreams.models import ConversationMessage


def message_trace_entries(message: Message) -> list[TraceEntry]:
    link = (ConversationMessage.objects.select_related("conversation__queue", "conversation__agent")
            .filter(message=message).first())
    if link is None:
        return []
    conversation = link.conversation
    if message.direction == Direction.INBOUND:
        title = _("Joined conversation #%(id)s") % {"id": conversation.pk}
    else:
        title = _("Sent in conversation #%(id)s") % {"id": conversation.pk}
    parts = {"state": conversation.get_state_display(), "queue": conversation.queue.name if conversation.queue_id
             else "", "agent": conversation.agent.get_username() if conversation.agent_id else ""}
    if conversation.queue_id and conversation.agent_id:
        detail = _("%(state)s, queue %(queue)s, agent %(agent)s.") % parts
    elif conversation.queue_id:
        detail = _("%(state)s, queue %(queue)s.") % parts
    elif conversation.agent_id:
        detail = _("%(state)s, no queue, agent %(agent)s.") % parts
    else:
        detail = _("%(state)s, no queue.") % parts
    return [TraceEntry(message.created_at, "conversation", title, detail, Tone.INFO,
                       link=(_("Conversation"), "admin:workstreams_conversation_change", conversation.pk))]
