"""The role × action table both places (the API and the console) are tested against.

Each cell is the outcome for that role: ``OK`` (allowed, and done), ``HIDDEN`` (the conversation does not
exist for them: 404), ``(FORBIDDEN, code)`` (403 naming the rule), or ``(SERVICE, code, status)`` — access
allows it, and then a rule of the work itself refuses (an administrator without an agent profile cannot take
work for themselves). Every refusal leaves the conversation, its messages and its read markers as they were.
"""

from __future__ import annotations

from django.core.files.base import ContentFile

from channels_app.models import Attachment, AttachmentState, Direction, Message, MessageStatus
from channels_app.services.delivery import message_queue
from workstreams.models import (
    Conversation,
    ConversationConsult,
    ConversationMessage,
    ConversationNote,
    ConversationRead,
)

OK = "ok"
HIDDEN = "hidden"
FORBIDDEN = "forbidden"
SERVICE = "service"

ROLES = ["agent-owner", "agent-same-queue", "agent-other-queue", "supervisor-of-queue", "supervisor-elsewhere",
         "admin", "staff-without-profile", "non-staff"]

NOT_AGENT = (FORBIDDEN, "not_an_agent")
NOT_STAFF = (FORBIDDEN, "not_staff")
NOT_YOURS = (FORBIDDEN, "not_your_conversation")
SUPERVISORS = (FORBIDDEN, "supervisors_only")

#: action → (state the conversation starts in, outcome per role in ROLES order)
TABLE: dict[str, tuple[str, list]] = {
    "read": ("active", [OK, HIDDEN, HIDDEN, OK, HIDDEN, OK, NOT_AGENT, NOT_STAFF]),
    "reply": ("active", [OK, HIDDEN, HIDDEN, NOT_YOURS, HIDDEN, OK, NOT_AGENT, NOT_STAFF]),
    "template": ("active", [OK, HIDDEN, HIDDEN, NOT_YOURS, HIDDEN, OK, NOT_AGENT, NOT_STAFF]),
    "take": ("open", [OK, OK, HIDDEN, NOT_YOURS, HIDDEN, (SERVICE, "not_in_queue", 403), NOT_AGENT, NOT_STAFF]),
    "transfer": ("active", [OK, HIDDEN, HIDDEN, OK, HIDDEN, OK, NOT_AGENT, NOT_STAFF]),
    "reassign": ("active", [SUPERVISORS, HIDDEN, HIDDEN, OK, HIDDEN, OK, NOT_AGENT, NOT_STAFF]),
    "wait": ("active", [OK, HIDDEN, HIDDEN, NOT_YOURS, HIDDEN, OK, NOT_AGENT, NOT_STAFF]),
    "resume": ("waiting", [OK, HIDDEN, HIDDEN, NOT_YOURS, HIDDEN, (SERVICE, "not_an_agent", 403), NOT_AGENT,
                           NOT_STAFF]),
    "end": ("active", [OK, HIDDEN, HIDDEN, NOT_YOURS, HIDDEN, OK, NOT_AGENT, NOT_STAFF]),
    "force-close": ("active", [SUPERVISORS, HIDDEN, HIDDEN, OK, HIDDEN, OK, NOT_AGENT, NOT_STAFF]),
    "retry": ("active", [OK, HIDDEN, HIDDEN, NOT_YOURS, HIDDEN, OK, NOT_AGENT, NOT_STAFF]),
    "attachment": ("active", [OK, HIDDEN, HIDDEN, OK, HIDDEN, OK, NOT_AGENT, NOT_STAFF]),
    "routing": ("active", [OK, HIDDEN, HIDDEN, OK, HIDDEN, OK, NOT_AGENT, NOT_STAFF]),
    "note": ("active", [OK, HIDDEN, HIDDEN, OK, HIDDEN, OK, NOT_AGENT, NOT_STAFF]),
    "consult": ("active", [OK, HIDDEN, HIDDEN, OK, HIDDEN, OK, NOT_AGENT, NOT_STAFF]),
    "case": ("active", [OK, HIDDEN, HIDDEN, OK, HIDDEN, OK, NOT_AGENT, NOT_STAFF]),
    "close-now": ("wrap_up", [OK, HIDDEN, HIDDEN, NOT_YOURS, HIDDEN, OK, NOT_AGENT, NOT_STAFF]),
}

#: Actions that change something when they succeed (the others only read).
WRITES = {"reply", "template", "take", "transfer", "reassign", "wait", "resume", "end", "force-close", "retry",
          "note", "consult", "case", "close-now"}

#: Queues each role sees in the queues list (the API) and as the dashboard's queue cards (the console).
QUEUES = {
    "agent-owner": {"Support"}, "agent-same-queue": {"Support"}, "agent-other-queue": {"Billing"},
    "supervisor-of-queue": {"Support"}, "supervisor-elsewhere": {"Billing"},
    "admin": {"Support", "Billing", "Default queue"}, "staff-without-profile": NOT_AGENT, "non-staff": NOT_STAFF,
}


def cases(actions=None):
    """(role, action, state, outcome) for every cell; ids read like "reply-by-agent-owner"."""
    import pytest

    return [pytest.param(role, action, state, outcomes[i], id=f"{action}-by-{role}")
            for action, (state, outcomes) in TABLE.items() if actions is None or action in actions
            for i, role in enumerate(ROLES)]


def failed_message(conversation: Conversation) -> Message:
    message = message_queue(phone_number=conversation.phone_number, contact=conversation.contact, body="Sorry")
    ConversationMessage.objects.create(conversation=conversation, message=message)
    Message.objects.filter(pk=message.pk).update(status=MessageStatus.FAILED, error_code="63016")
    return message


def stored_attachment(conversation: Conversation) -> Attachment:
    message = Message.objects.get(conversation_link__conversation=conversation, direction=Direction.INBOUND)
    attachment = Attachment(message=message, url="https://api.twilio.com/media/ME1", content_type="image/png",
                            state=AttachmentState.STORED)
    attachment.file.save("parcel.png", ContentFile(b"\x89PNG parcel"))
    return attachment


def snapshot(conversation: Conversation) -> tuple:
    """Everything an action could change."""
    c = Conversation.objects.get(pk=conversation.pk)
    messages = list(Message.objects.filter(conversation_link__conversation=c).order_by("pk")
                    .values_list("pk", "status", "body"))
    return (c.state, c.agent_id, c.queue_id, c.resolved, c.with_bot, c.ended_at, c.closed_at, c.routing_diagnosis,
            messages, ConversationRead.objects.filter(conversation=c).count(), c.outcome, c.case_id,
            ConversationNote.objects.filter(conversation=c).count(),
            ConversationConsult.objects.filter(conversation=c).count())
