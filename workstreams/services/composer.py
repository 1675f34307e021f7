"""The reply box's rules that are not the send's: quick-reply placeholders that never leave holes, the
channel's own length limit (WhatsApp has no SMS segments), why the box is disabled (opted out, closed,
window), and following a resolved conversation up with an approved template.

Placeholders: ``{CustomerName}``, ``{CustomerNumber}``, ``{AgentName}``, ``{QueueName}``, ``{ConversationId}``,
each with an optional fallback after a bar: ``{CustomerName|there}``. A placeholder with neither a value nor a
fallback is left as written, so the console highlights it and the agent fills it in before sending.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.models import Channel, ConsentRecord, ConsentState, Message
from channels_app.services.delivery import MAX_MESSAGE_LENGTH
from config.exceptions import ConflictError
from workstreams.models import AgentProfile, Conversation, ConversationState, WhatsAppTemplate

PLACEHOLDER = re.compile(r"\{(\w+)(?:\|([^{}]*))?\}")
#: WhatsApp's own limit on a text message. Twilio's Messages API caps ``Body`` at 1,600 characters on every
#: channel (its error 21658), so a WhatsApp reply through Twilio may hold the smaller of the two.
WHATSAPP_TEXT_LIMIT = 4096


def placeholder_fill(text: str, values: dict[str, str]) -> str:
    """Each placeholder with its value, else its fallback; one with neither stays as written (``{Name}``)."""

    def one(match: re.Match) -> str:
        name, fallback = match.group(1), match.group(2)
        value = (values.get(name) or "").strip()
        if value:
            return value
        if fallback is not None and fallback.strip():
            return fallback.strip()
        return "{" + name + "}"

    return PLACEHOLDER.sub(one, text)


def placeholders_unresolved(text: str) -> list[str]:
    """The placeholders still in ``text`` (``{Name}``), each once, in order."""
    return list(dict.fromkeys(f"{{{m.group(1)}}}" for m in PLACEHOLDER.finditer(text or "")))


def agent_name_for_customers(user: Any) -> str:
    """The agent's display name (the profile's name customers see, else the full name); never the username.
    Empty when the agent has none."""
    profile = AgentProfile.objects.filter(user_id=getattr(user, "pk", None)).select_related("user").first()
    if profile is not None:
        return profile.name_for_customers()
    return user.get_full_name().strip() if getattr(user, "pk", None) else ""


def placeholder_values(conversation: Conversation, *, user: Any) -> dict[str, str]:
    return {
        "CustomerName": conversation.contact.display_name,
        "CustomerNumber": conversation.contact.address,
        "AgentName": agent_name_for_customers(user),
        "QueueName": conversation.queue.name if conversation.queue else "",
        "ConversationId": str(conversation.pk),
    }


def channel_text_limit(channel: str) -> int:
    """The longest text the reply box accepts on the channel: the send's limit, and WhatsApp's own."""
    if channel == Channel.WHATSAPP:
        return min(WHATSAPP_TEXT_LIMIT, MAX_MESSAGE_LENGTH)
    return MAX_MESSAGE_LENGTH


@dataclass(frozen=True)
class ComposerState:
    disabled: bool
    reason: str = ""
    code: str = ""


def opted_out_record(conversation: Conversation) -> ConsentRecord | None:
    """The record in force when the customer opted out of the conversation's number, else None."""
    latest = (ConsentRecord.objects.filter(contact_id=conversation.contact_id,
                                           phone_number_id=conversation.phone_number_id)
              .order_by("-created_at", "-id").first())
    return latest if latest is not None and latest.state == ConsentState.OPTED_OUT else None


def composer_state(conversation: Conversation, *, window_closed: bool = False) -> ComposerState:
    """Whether free text can be written, and why not: the customer opted out, the conversation is closed, or
    the WhatsApp window is closed (templates still go)."""
    record = opted_out_record(conversation)
    if record is not None:
        when = timezone.localtime(record.created_at).strftime("%Y-%m-%d %H:%M")
        return ComposerState(True, _("The customer opted out of messages from %(number)s on %(when)s (%(source)s): "
                                     "nothing can be sent until they text START.")
                             % {"number": conversation.phone_number.number, "when": when, "source": record.source},
                             "opted_out")
    if conversation.state == ConversationState.CLOSED:
        return ComposerState(True, _("This conversation is closed."), "conversation_closed")
    if window_closed:
        return ComposerState(True, _("The WhatsApp window is closed: only an approved template can be sent."),
                             "whatsapp_window_closed")
    return ComposerState(False)


def follow_up_allowed(conversation: Conversation) -> bool:
    """A closed, resolved conversation may be followed up with a template (when nothing else is live)."""
    return (conversation.state == ConversationState.CLOSED and conversation.resolved
            and conversation.channel == Channel.WHATSAPP)


@transaction.atomic
def conversation_follow_up(*, conversation: Conversation, author: Any, template: WhatsAppTemplate,
                           variables: dict[str, str] | None = None) -> tuple[Conversation, Message]:
    """Follow a resolved, closed conversation up with an approved template: a new conversation with the same
    customer on the same number, assigned to the author, opens with it. Refused when the customer already
    has a live conversation there (answer in it), opted out, or the author has no capacity left."""
    from .conversations import conversation_send_template
    from .distribution import agent_free_capacity, conversation_cost

    if not follow_up_allowed(conversation):
        raise ConflictError(_("Only a resolved, closed WhatsApp conversation can be followed up with a template "
                              "(#%(id)s is %(state)s).")
                            % {"id": conversation.pk, "state": conversation.get_state_display().lower()},
                            code="follow_up_not_allowed", field="conversation")
    live = (Conversation.objects.filter(contact_id=conversation.contact_id,
                                        phone_number_id=conversation.phone_number_id)
            .exclude(state=ConversationState.CLOSED).first())
    if live is not None:
        raise ConflictError(_("The customer already has conversation #%(id)s on this number; write there.")
                            % {"id": live.pk}, code="conversation_live", field="conversation",
                            extra={"conversation": live.pk})
    if opted_out_record(conversation) is not None:
        raise ConflictError(_("The customer opted out of messages from %(number)s; nothing can be sent until they "
                              "text START.") % {"number": conversation.phone_number.number}, code="opted_out",
                            field="contact")
    cost = conversation_cost(conversation)
    if agent_free_capacity(author) < cost:
        raise ConflictError(_("A follow-up opens a conversation of %(cost)d capacity units and you have %(free)d "
                              "free; finish some work first.")
                            % {"cost": cost, "free": max(agent_free_capacity(author), 0)}, code="no_capacity",
                            field="agent")
    now = timezone.now()
    follow = Conversation.objects.create(
        contact=conversation.contact, phone_number=conversation.phone_number, workstream=conversation.workstream,
        channel=conversation.channel, state=ConversationState.ACTIVE, queue=conversation.queue, agent=author,
        language=conversation.language, case=conversation.case, assigned_at=now,
        routing_diagnosis={"follow_up_of": conversation.pk})
    message = conversation_send_template(conversation=follow, author=author, template=template, variables=variables)
    return follow, message
