"""Conversation use cases: an agent's reply, stepping away, ending, closing. The console and the API call these."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.models import Direction, Message, MessageKind
from channels_app.services.delivery import Draft, message_check, message_queue, message_retry
from config.exceptions import ConflictError, ServiceError
from config.logs import log_bind
from workstreams.models import (
    LIVE_STATES,
    AutomatedMessage,
    AutomatedMessageKind,
    Conversation,
    ConversationMessage,
    ConversationState,
    DistributionMode,
    WhatsAppTemplate,
    WorkstreamNumber,
)

from .automated import automated_send, render
from .thread import conversation_messages_append

logger = logging.getLogger(__name__)


def _locked(conversation: Conversation) -> Conversation:
    return (Conversation.objects.select_for_update(of=("self",))
            .select_related("contact", "phone_number__account", "workstream", "queue", "agent")
            .get(pk=conversation.pk))


def _require_not_closed(conversation: Conversation) -> None:
    if conversation.state == ConversationState.CLOSED:
        raise ConflictError(_("Conversation #%(id)s is closed; nothing more can be sent in it.")
                            % {"id": conversation.pk}, code="conversation_closed", field="conversation")


def _take_by_answering(conversation: Conversation, author: Any) -> None:
    """An agent answering an open conversation from its queue takes it — if distribution would give it to them
    (queue membership, presence, capacity); otherwise the answer is refused with the reason."""
    from .distribution import conversation_take_by_reply

    if conversation.state == ConversationState.OPEN and not conversation.agent_id and getattr(author, "pk", None):
        conversation_take_by_reply(conversation=conversation, user=author)


def _link(conversation: Conversation, message: Message, *, author: Any = None) -> None:
    conversation_messages_append(links=[(conversation, message)])


def conversation_reply(*, conversation: Conversation, author: Any, body: str = "",
                       media_urls: tuple[str, ...] = (), kind: str = MessageKind.REGULAR) -> Message:
    """Queue an agent's reply in the conversation; every sending rule is checked first.

    A WhatsApp reply refused because the 24-hour window is closed sends the number's
    "outside the 24-hour window" template (when one is configured) so the customer can
    reopen the window by answering, and the refusal says so.
    """
    log_bind(conversation_id=conversation.pk)
    try:
        with transaction.atomic():
            locked = _locked(conversation)
            _require_not_closed(locked)
            _take_by_answering(locked, author)
            message = message_queue(phone_number=locked.phone_number, contact=locked.contact, body=body,
                                    media_urls=tuple(media_urls), kind=kind,
                                    author=author if getattr(author, "pk", None) else None)
            _link(locked, message, author=author)
            return message
    except ServiceError as exc:
        if exc.code == "whatsapp_window_closed" and not _invited_since_last_inbound(conversation):
            sent = automated_send(conversation=conversation, kind=AutomatedMessageKind.OUTSIDE_WINDOW)
            if sent is not None:
                exc.message += " " + _("The customer was sent the approved invitation template; the window reopens "
                                       "when they answer.")
                exc.extra["invitation_message_id"] = sent.pk
        raise


def _invited_since_last_inbound(conversation: Conversation) -> bool:
    """One invitation per closed window: not again until the customer has written."""
    invitations = Message.objects.filter(conversation_link__conversation=conversation, kind=MessageKind.AUTOMATED,
                                         direction=Direction.OUTBOUND).exclude(content_sid="")
    if conversation.last_inbound_at:
        invitations = invitations.filter(created_at__gt=conversation.last_inbound_at)
    return invitations.exists()


TEMPLATE_VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def template_variables(text: str) -> list[str]:
    """The variables a template's text uses (``{{1}}``, ``{{ 2 }}`` …), each once: numbers in order, then names."""
    names = list(dict.fromkeys(TEMPLATE_VARIABLE.findall(text or "")))
    return sorted(names, key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0, n))


@transaction.atomic
def conversation_send_template(*, conversation: Conversation, author: Any, template: WhatsAppTemplate,
                               variables: dict[str, str] | None = None) -> Message:
    """Send an approved WhatsApp template: allowed inside and outside the 24-hour window."""
    locked = _locked(conversation)
    _require_not_closed(locked)
    if template.number.phone_number_id != locked.phone_number_id:
        raise ServiceError(_("That template is not approved for this conversation's number."),
                           code="template_not_for_number", field="template")
    _take_by_answering(locked, author)
    variables = {str(k): str(v) for k, v in (variables or {}).items()}
    body = TEMPLATE_VARIABLE.sub(lambda m: variables.get(m.group(1), m.group(0)), template.text)
    message = message_queue(phone_number=locked.phone_number, contact=locked.contact, body=body,
                            content_sid=template.content_sid, content_variables=variables,
                            kind=MessageKind.TEMPLATE, author=author if getattr(author, "pk", None) else None)
    _link(locked, message, author=author)
    return message


def conversation_reply_check(*, conversation: Conversation, body: str) -> None:
    """Validate a reply without sending it (for pages that want to warn early)."""
    _require_not_closed(conversation)
    message_check(draft=Draft(phone_number=conversation.phone_number, contact=conversation.contact, body=body))


def _release(conversation: Conversation) -> None:
    from .distribution import assignment_cycle_enqueue

    assignment_cycle_enqueue()


@transaction.atomic
def conversation_wait(*, conversation: Conversation, user: Any = None) -> Conversation:
    """The agent steps away: the conversation waits (its capacity is released) until someone resumes it."""
    locked = _locked(conversation)
    if locked.state != ConversationState.ACTIVE:
        raise ConflictError(_("Only an active conversation can be set to waiting (it is %(state)s).")
                            % {"state": locked.get_state_display()},
                            code="not_active", field="conversation")
    locked.state = ConversationState.WAITING
    locked.save()
    _release(locked)
    return locked


@transaction.atomic
def conversation_resume(*, conversation: Conversation, user: Any) -> Conversation:
    """The agent picks a waiting conversation back up (capacity permitting)."""
    from .distribution import _take

    locked = _locked(conversation)
    if locked.state != ConversationState.WAITING:
        raise ConflictError(_("Only a waiting conversation can be resumed."), code="not_waiting", field="conversation")
    locked.state = ConversationState.OPEN
    locked.agent = None
    locked.save()
    return _take(locked, user, now=timezone.now())


@transaction.atomic
def conversation_end(*, conversation: Conversation, user: Any = None) -> Conversation:
    """The agent ends the conversation: it is resolved and goes to wrap-up; the survey goes out if enabled."""
    locked = _locked(conversation)
    if locked.state not in LIVE_STATES:
        raise ConflictError(_("Conversation #%(id)s has already ended.") % {"id": locked.pk}, code="conversation_ended",
                            field="conversation")
    locked.state = ConversationState.WRAP_UP
    locked.resolved = True
    locked.ended_at = timezone.now()
    locked.with_bot = False
    locked.save()
    automated_send(conversation=locked, kind=AutomatedMessageKind.AGENT_ENDED)
    survey_send(conversation=locked)
    _release(locked)
    return locked


def survey_send(*, conversation: Conversation) -> Message | None:
    config = WorkstreamNumber.objects.filter(phone_number_id=conversation.phone_number_id).first()
    if config is None or not config.survey_enabled or not config.survey_url:
        return None
    link = render(config.survey_url, {"ConversationId": str(conversation.pk)})
    try:
        with transaction.atomic():
            message = message_queue(phone_number=conversation.phone_number, contact=conversation.contact,
                                    body=f"How did we do? {link}", kind=MessageKind.AUTOMATED)
            conversation_messages_append(links=[(conversation, message)])
    except ServiceError as exc:
        logger.info("survey for conversation %s not sent: %s", conversation.pk, exc.message)
        return None
    return message


@transaction.atomic
def conversation_close(*, conversation: Conversation, reason: str = "") -> Conversation:
    """Close for good; the customer's next message opens a new conversation."""
    from .distribution import offers_withdraw

    locked = _locked(conversation)
    if locked.state == ConversationState.CLOSED:
        return locked
    offers_withdraw(conversation=locked)
    locked.state = ConversationState.CLOSED
    locked.closed_at = timezone.now()
    locked.ended_at = locked.ended_at or locked.closed_at
    locked.with_bot = False
    if reason:
        locked.routing_diagnosis = {**(locked.routing_diagnosis or {}), "closed": reason}
    locked.save()
    automated_send(conversation=locked, kind=AutomatedMessageKind.CLOSED)
    _release(locked)
    return locked


FORCE_CLOSE_REASON_MAX = 300


@transaction.atomic
def conversation_force_close(*, conversation: Conversation, by: Any, reason: str = "") -> Conversation:
    """A supervisor closes a conversation for good, whatever its state (the customer gets the closed message)."""
    reason = (reason or "").strip()
    if "\x00" in reason:
        raise ServiceError(_("The reason contains a NUL character; remove it."), code="null_characters", field="reason")
    if len(reason) > FORCE_CLOSE_REASON_MAX:
        raise ServiceError(_("The reason is %(length)s characters; at most %(max)s are kept.")
                           % {"length": len(reason), "max": FORCE_CLOSE_REASON_MAX},
                           code="reason_too_long", field="reason")
    locked = _locked(conversation)
    if locked.state == ConversationState.CLOSED:
        raise ConflictError(_("Conversation #%(id)s is already closed.") % {"id": locked.pk},
                            code="conversation_closed", field="conversation")
    who = by.get_username() if getattr(by, "pk", None) else "an administrator"
    return conversation_close(conversation=locked, reason=f"force-closed by {who}" + (f": {reason}" if reason
                                                                                       else ""))


QUEUE_MESSAGES = (AutomatedMessageKind.OUT_OF_HOURS, AutomatedMessageKind.NO_AGENT, AutomatedMessageKind.IN_QUEUE)


def after_queued(conversation: Conversation) -> None:
    """Tell the customer where they stand once the conversation is in a queue (inside the caller's transaction)."""
    from .distribution import agents_reachable
    from .hours import queue_is_open

    if conversation.queue is None:
        return
    if not AutomatedMessage.objects.filter(number__phone_number_id=conversation.phone_number_id, enabled=True,
                                           kind__in=QUEUE_MESSAGES).exists():
        return  # nothing to tell the customer: spare the look at hours and agents
    if not queue_is_open(conversation.queue):
        automated_send(conversation=conversation, kind=AutomatedMessageKind.OUT_OF_HOURS)
        return
    pick = conversation.workstream is not None and \
        conversation.workstream.distribution_mode == DistributionMode.PICK
    present, has_room = agents_reachable(conversation)
    if not pick and not present:
        automated_send(conversation=conversation, kind=AutomatedMessageKind.NO_AGENT)
    elif pick or not has_room:
        automated_send(conversation=conversation, kind=AutomatedMessageKind.IN_QUEUE)


def conversation_message_retry(*, conversation: Conversation, message: Message) -> Message:
    """Retry a failed message of this conversation (it must belong to it)."""
    if not ConversationMessage.objects.filter(conversation=conversation, message=message).exists():
        raise ConflictError(_("That message is not part of this conversation."), code="not_in_conversation",
                            field="message")
    _require_not_closed(conversation)
    return message_retry(message=message)
