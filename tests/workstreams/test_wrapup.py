"""Ending with an outcome and a note, Close now, and the capacity explained item by item (it agrees with
distribution's own count)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from config.exceptions import ServiceError
from workstreams.models import (
    Conversation,
    ConversationNote,
    ConversationOutcome,
    ConversationState,
    RoutingRule,
    WrapUpCapacity,
)
from workstreams.services import distribution
from workstreams.services.wrapup import (
    agent_capacity_explained,
    conversation_end_with_outcome,
    conversation_wrap_up_finish,
    wrap_up_list,
)


@pytest.fixture
def active(db, make_agent, support_queue, workstream, sandbox_account, receive):
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    ana = make_agent("ana", queues=[support_queue])
    conversation = receive(sandbox_account, "Where is my parcel?")
    distribution.assignment_cycle()  # pushed to the available agent
    conversation.refresh_from_db()
    assert conversation.agent == ana
    return ana, conversation


def test_ending_keeps_the_outcome_and_the_note_and_goes_to_wrap_up(active):
    ana, conversation = active
    ended = conversation_end_with_outcome(conversation=conversation, user=ana, outcome="follow_up",
                                          note="Call back on Monday")
    ended.refresh_from_db()
    assert (ended.state, ended.outcome, ended.resolved) == (ConversationState.WRAP_UP, "follow_up", False)
    note = ConversationNote.objects.get(conversation=ended)
    assert (note.body, note.is_wrap_up, note.author) == ("Call back on Monday", True, ana)


def test_ending_without_an_outcome_is_resolved(active):
    ana, conversation = active
    ended = conversation_end_with_outcome(conversation=conversation, user=ana)
    assert (ended.outcome, ended.resolved) == (ConversationOutcome.RESOLVED, True)
    assert not ConversationNote.objects.exists()


@pytest.mark.parametrize(("outcome", "note", "code"), [("done-ish", "", "invalid_outcome"),
                                                       ("resolved", "x" * 4001, "note_too_long")])
def test_a_bad_outcome_or_note_ends_nothing(active, outcome, note, code):
    ana, conversation = active
    with pytest.raises(ServiceError) as refused:
        conversation_end_with_outcome(conversation=conversation, user=ana, outcome=outcome, note=note)
    assert refused.value.code == code
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ACTIVE


def test_close_now_frees_the_capacity_wrap_up_was_holding(active):
    ana, conversation = active
    cost = conversation.workstream.capacity_per_conversation
    conversation_end_with_outcome(conversation=conversation, user=ana)
    assert distribution.agent_free_capacity(ana) == 100 - cost  # wrap-up holds it for five minutes
    [listed] = wrap_up_list(user=ana)
    assert listed.holds and listed.releases_at == listed.ended_at + timedelta(minutes=5)
    conversation_wrap_up_finish(conversation=Conversation.objects.get(pk=conversation.pk), user=ana)
    assert Conversation.objects.get(pk=conversation.pk).state == ConversationState.CLOSED
    assert distribution.agent_free_capacity(ana) == 100
    assert wrap_up_list(user=ana) == []
    with pytest.raises(ServiceError) as again:
        conversation_wrap_up_finish(conversation=Conversation.objects.get(pk=conversation.pk), user=ana)
    assert again.value.code == "not_in_wrap_up"


@pytest.mark.parametrize(("policy", "ended_ago", "holds"), [
    (WrapUpCapacity.FOR_TIME, timedelta(minutes=1), True), (WrapUpCapacity.FOR_TIME, timedelta(minutes=6), False),
    (WrapUpCapacity.ALWAYS, timedelta(days=1), True), (WrapUpCapacity.NONE, timedelta(0), False),
])
def test_the_capacity_explained_agrees_with_distribution(active, policy, ended_ago, holds):
    ana, conversation = active
    conversation.workstream.wrap_up_capacity = policy
    conversation.workstream.save()
    conversation_end_with_outcome(conversation=conversation, user=ana)
    Conversation.objects.filter(pk=conversation.pk).update(ended_at=timezone.now() - ended_ago)
    explained = agent_capacity_explained(ana)
    [item] = explained.items
    assert item.holds is holds
    assert explained.free == distribution.agent_free_capacity(ana)
    assert explained.used == (item.cost if holds else 0)


def test_waiting_conversations_are_listed_as_holding_none(active):
    ana, conversation = active
    Conversation.objects.filter(pk=conversation.pk).update(state=ConversationState.WAITING)
    explained = agent_capacity_explained(ana)
    assert [(i.holds, i.why) for i in explained.items] == [(False, "stepped away: holds no capacity")]
    assert explained.free == distribution.agent_free_capacity(ana) == 100
