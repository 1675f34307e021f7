"""Ending a conversation with its outcome and a note, finishing wrap-up (*Close now*), and what an agent's
capacity is made of: each conversation that holds some, and when wrap-up releases it.

The capacity rules themselves are ``workstreams.services.distribution``'s (``capacity_used``); this module
explains them item by item and never decides an assignment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.exceptions import ConflictError, ServiceError
from workstreams.models import (
    AgentProfile,
    Conversation,
    ConversationOutcome,
    ConversationState,
    WrapUpCapacity,
)

from .conversations import conversation_close, conversation_end
from .notes import conversation_note_add, note_clean


@transaction.atomic
def conversation_end_with_outcome(*, conversation: Conversation, user: Any, outcome: str = "",
                                  note: str = "") -> Conversation:
    """End the conversation (wrap-up; the survey goes out when enabled), keeping the outcome the agent chose
    (default: resolved) and, when written, a wrap-up note. Nothing is saved if either is invalid."""
    outcome = outcome or ConversationOutcome.RESOLVED
    if outcome not in ConversationOutcome.values:
        raise ServiceError(_("“%(outcome)s” is not an outcome; choose one of: %(choices)s.")
                           % {"outcome": outcome, "choices": ", ".join(ConversationOutcome.values)},
                           code="invalid_outcome", field="outcome")
    if note:
        note = note_clean(note)
    ended = conversation_end(conversation=conversation, user=user)
    ended.outcome = outcome
    ended.resolved = outcome == ConversationOutcome.RESOLVED
    Conversation.objects.filter(pk=ended.pk).update(outcome=ended.outcome, resolved=ended.resolved)
    if note:
        conversation_note_add(conversation=ended, author=user, body=note, is_wrap_up=True)
    return ended


def conversation_wrap_up_finish(*, conversation: Conversation, user: Any) -> Conversation:
    """*Close now*: the agent has finished wrap-up; the conversation closes and its capacity is free at once."""
    if conversation.state != ConversationState.WRAP_UP:
        raise ConflictError(_("Only a conversation in wrap-up can be closed now (#%(id)s is %(state)s).")
                            % {"id": conversation.pk, "state": conversation.get_state_display().lower()},
                            code="not_in_wrap_up", field="conversation")
    return conversation_close(conversation=conversation, reason="wrap-up finished by the agent")


def wrap_up_releases_at(conversation: Conversation) -> datetime | None:
    """When a conversation in wrap-up stops holding capacity: a moment, or None when it holds it until closed
    (or never held any)."""
    workstream = conversation.workstream
    policy = workstream.wrap_up_capacity if workstream else WrapUpCapacity.FOR_TIME
    if policy != WrapUpCapacity.FOR_TIME or conversation.ended_at is None:
        return None
    wrap_time = workstream.wrap_up_time if workstream else settings.DEFAULT_WRAP_UP_TIME
    return conversation.ended_at + wrap_time


@dataclass(frozen=True)
class CapacityItem:
    conversation: Conversation
    cost: int
    holds: bool  # counts against the agent's capacity now
    why: str  # in the page's language
    releases_at: datetime | None = None


@dataclass(frozen=True)
class CapacityExplained:
    total: int
    used: int
    items: tuple[CapacityItem, ...]

    @property
    def free(self) -> int:
        return self.total - self.used


def agent_capacity_explained(user: Any, *, now: datetime | None = None) -> CapacityExplained | None:
    """The agent's capacity, item by item: active conversations, wrap-up as each workstream says, and the
    waiting ones (which hold none). None for a user without an agent profile."""
    profile = AgentProfile.objects.filter(user=user).first()
    if profile is None:
        return None
    now = now or timezone.now()
    rows = (Conversation.objects.filter(agent=user, state__in=[ConversationState.ACTIVE, ConversationState.WRAP_UP,
                                                               ConversationState.WAITING])
            .select_related("contact", "workstream").order_by("state", "-ended_at", "-id"))
    items = []
    for conversation in rows:
        workstream = conversation.workstream
        cost = workstream.capacity_per_conversation if workstream else settings.DEFAULT_CONVERSATION_CAPACITY
        if conversation.state == ConversationState.ACTIVE:
            items.append(CapacityItem(conversation, cost, True, _("active")))
            continue
        if conversation.state == ConversationState.WAITING:
            items.append(CapacityItem(conversation, cost, False, _("stepped away: holds no capacity")))
            continue
        policy = workstream.wrap_up_capacity if workstream else WrapUpCapacity.FOR_TIME
        if policy == WrapUpCapacity.ALWAYS:
            items.append(CapacityItem(conversation, cost, True, _("in wrap-up: held until closed")))
        elif policy == WrapUpCapacity.NONE:
            items.append(CapacityItem(conversation, cost, False, _("in wrap-up: released at once")))
        else:
            releases = wrap_up_releases_at(conversation)
            holds = releases is not None and releases > now
            items.append(CapacityItem(conversation, cost, holds,
                                      _("in wrap-up: held until the time shown") if holds
                                      else _("in wrap-up: capacity already released"), releases))
    used = sum(item.cost for item in items if item.holds)
    return CapacityExplained(total=profile.capacity, used=used, items=tuple(items))


def wrap_up_list(*, user: Any, now: datetime | None = None) -> list[Conversation]:
    """The agent's conversations in wrap-up, each with ``releases_at`` (None: until closed) and ``holds``."""
    now = now or timezone.now()
    items = list(Conversation.objects.filter(agent=user, state=ConversationState.WRAP_UP)
                 .select_related("contact", "workstream", "queue").order_by("-ended_at", "-id")[:100])
    for conversation in items:
        conversation.releases_at = wrap_up_releases_at(conversation)
        policy = conversation.workstream.wrap_up_capacity if conversation.workstream else WrapUpCapacity.FOR_TIME
        conversation.holds_until_closed = policy == WrapUpCapacity.ALWAYS
        conversation.holds = conversation.holds_until_closed or bool(conversation.releases_at and
                                                                      conversation.releases_at > now)
    return items
