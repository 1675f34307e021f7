"""Agent-only tools on a conversation: internal notes (never sent: no message row, no provider call),
consulting another agent (who reads and adds notes without taking the conversation or capacity), and the
link to a support case.

Who may call these is ``workstreams.services.access`` (actions ``note``, ``consult`` and ``case``); the
rules here are the work's own.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.exceptions import ConflictError, ServiceError
from workstreams.models import (
    AgentProfile,
    Case,
    Conversation,
    ConversationConsult,
    ConversationNote,
    ConversationState,
)

NOTE_MAX_LENGTH = 4000


def note_clean(body: str) -> str:
    """A note's text as kept, or the ServiceError saying what is wrong with it."""
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise ServiceError(_("Write the note first."), code="note_required", field="note")
    if "\x00" in body:
        raise ServiceError(_("The note contains a NUL character; remove it."), code="null_characters", field="note")
    if len(body) > NOTE_MAX_LENGTH:
        raise ServiceError(_("The note is %(length)d characters; at most %(limit)d are kept.")
                           % {"length": len(body), "limit": NOTE_MAX_LENGTH}, code="note_too_long", field="note")
    return body


def conversation_note_add(*, conversation: Conversation, author: Any, body: str,
                          is_wrap_up: bool = False) -> ConversationNote:
    """Keep an internal note on the conversation, in any state. It is never sent to anyone."""
    body = note_clean(body)
    note = ConversationNote.objects.create(conversation=conversation, author=author if getattr(author, "pk", None)
                                           else None, body=body, is_wrap_up=is_wrap_up)
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
    return note


def conversation_notes(conversation: Conversation) -> list[ConversationNote]:
    return list(ConversationNote.objects.filter(conversation=conversation).select_related("author"))


def consult_candidates(conversation: Conversation, *, user: Any) -> list[AgentProfile]:
    """Agents who could be invited: active staff agents other than the conversation's agent, the inviter and
    those already consulting."""
    busy = set(ConversationConsult.objects.filter(conversation=conversation, ended_at__isnull=True)
               .values_list("agent_id", flat=True))
    busy |= {pk for pk in (conversation.agent_id, getattr(user, "pk", None)) if pk}
    return list(AgentProfile.objects.filter(user__is_active=True, user__is_staff=True).exclude(user_id__in=busy)
                .select_related("user").order_by("user__first_name", "user__last_name", "user__username"))


def conversation_consult_invite(*, conversation: Conversation, by: Any, agent: Any) -> ConversationConsult:
    """Invite ``agent`` to read the conversation and add notes; it stays with its agent and uses no capacity."""
    if agent is None or not getattr(agent, "pk", None):
        raise ServiceError(_("Choose the agent to consult."), code="agent_required", field="agent")
    if conversation.state == ConversationState.CLOSED:
        raise ConflictError(_("Conversation #%(id)s is closed; nobody can be invited to it any more.")
                            % {"id": conversation.pk}, code="conversation_closed", field="conversation")
    user = get_user_model().objects.filter(pk=agent.pk, is_active=True, is_staff=True).first()
    if user is None or not AgentProfile.objects.filter(user_id=agent.pk).exists():
        raise ServiceError(_("%(name)s is not an active agent; only agents can be consulted.")
                           % {"name": agent.get_username()}, code="not_an_agent", field="agent")
    if agent.pk in (conversation.agent_id, getattr(by, "pk", None)):
        raise ServiceError(_("%(name)s already works on this conversation; consult someone else.")
                           % {"name": agent.get_full_name() or agent.get_username()}, code="already_working",
                           field="agent")
    try:
        with transaction.atomic():
            return ConversationConsult.objects.create(conversation=conversation, agent=user,
                                                      invited_by=by if getattr(by, "pk", None) else None)
    except IntegrityError:
        raise ConflictError(_("%(name)s is already consulting on this conversation.")
                            % {"name": agent.get_full_name() or agent.get_username()}, code="already_consulting",
                            field="agent") from None


def conversation_consult_end(*, conversation: Conversation, agent: Any) -> int:
    """End ``agent``'s consultation (they stop seeing the conversation unless it is theirs otherwise)."""
    return (ConversationConsult.objects.filter(conversation=conversation, agent_id=agent.pk, ended_at__isnull=True)
            .update(ended_at=timezone.now()))


def conversation_consults(conversation: Conversation) -> list[ConversationConsult]:
    return list(ConversationConsult.objects.filter(conversation=conversation, ended_at__isnull=True)
                .select_related("agent", "invited_by"))


CASE_TITLE_MAX = 200


@transaction.atomic
def conversation_case_link(*, conversation: Conversation, by: Any, case: Case | None = None,
                           title: str = "") -> Case:
    """Link the conversation to one of its customer's cases, or to a new case titled ``title``."""
    from workstreams.cases import case_create

    if case is None:
        title = (title or "").strip()
        if not title:
            raise ServiceError(_("Choose one of the customer's cases or enter a title for a new one."),
                               code="case_required", field="case")
        if len(title) > CASE_TITLE_MAX:
            raise ServiceError(_("The title is %(length)d characters; at most %(limit)d.")
                               % {"length": len(title), "limit": CASE_TITLE_MAX}, code="title_too_long",
                               field="title")
        contact = conversation.contact
        case = case_create(title=title, contact_address=contact.address, customer_name=contact.display_name)
    elif case.contact_id != conversation.contact_id:
        raise ServiceError(_("Case “%(title)s” is about another customer; link a case of this customer.")
                           % {"title": f"#{case.pk}"}, code="case_other_customer", field="case")
    Conversation.objects.filter(pk=conversation.pk).update(case=case, updated_at=timezone.now())
    conversation.case = case
    return case


def conversation_case_unlink(*, conversation: Conversation, by: Any) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(case=None, updated_at=timezone.now())
    conversation.case = None
