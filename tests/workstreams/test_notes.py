"""Internal notes (never sent), consulting another agent (reads and notes, no capacity), and the case link."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from channels_app.models import Message
from config.exceptions import ServiceError
from workstreams.models import Case, Conversation, ConversationState, RoutingRule
from workstreams.services import access, distribution
from workstreams.services.access import Action
from workstreams.services.notes import (
    conversation_case_link,
    conversation_consult_end,
    conversation_consult_invite,
    conversation_note_add,
)


@pytest.fixture
def setup(db, make_agent, support_queue, workstream, sandbox_account, receive):
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    perms = list(Permission.objects.filter(codename__in=["view_conversation", "change_conversation"]))
    users = {}
    for name in ("ana", "bob"):
        users[name] = make_agent(name, queues=[support_queue] if name == "ana" else [], first_name=name.title())
        users[name].is_staff = True
        users[name].save()
        users[name].user_permissions.add(*perms)
    conversation = receive(sandbox_account, "My order is late")
    distribution.assignment_cycle()  # pushed to the available agent
    conversation.refresh_from_db()
    return users, conversation


def test_a_note_is_kept_and_never_becomes_a_message(setup):
    users, conversation = setup
    before = Message.objects.count()
    note = conversation_note_add(conversation=conversation, author=users["ana"], body="  Customer is upset\r\n  ")
    assert note.body == "Customer is upset"
    assert Message.objects.count() == before  # nothing to send, nothing for a provider


@pytest.mark.parametrize(("body", "code"), [("", "note_required"), ("   ", "note_required"),
                                            ("a\x00b", "null_characters"), ("x" * 4001, "note_too_long")])
def test_a_bad_note_is_refused(setup, body, code):
    users, conversation = setup
    with pytest.raises(ServiceError) as refused:
        conversation_note_add(conversation=conversation, author=users["ana"], body=body)
    assert refused.value.code == code and refused.value.field == "note"


def test_a_consulted_agent_reads_and_notes_without_taking_capacity(setup):
    users, conversation = setup
    bob = users["bob"]
    assert not access.conversation_access(bob, conversation).visible  # not his queue, not his customer
    free = distribution.agent_free_capacity(bob)
    conversation_consult_invite(conversation=conversation, by=users["ana"], agent=bob)
    decision = access.conversation_access(bob, conversation)
    assert decision.allows(Action.READ) and decision.allows(Action.NOTE)
    assert not decision.allows(Action.REPLY) and not decision.allows(Action.END)
    assert "invited to consult" in decision.refusal(Action.REPLY).message
    assert distribution.agent_free_capacity(bob) == free
    conversation.refresh_from_db()
    assert conversation.agent == users["ana"] and conversation.state == ConversationState.ACTIVE
    assert conversation.pk in set(access.conversations_visible_to(bob).values_list("pk", flat=True))

    with pytest.raises(ServiceError) as again:
        conversation_consult_invite(conversation=conversation, by=users["ana"], agent=bob)
    assert again.value.code == "already_consulting"
    conversation_consult_end(conversation=conversation, agent=bob)
    assert not access.conversation_access(bob, conversation).visible


def test_consulting_the_conversations_own_agent_or_a_non_agent_is_refused(setup, django_user_model):
    users, conversation = setup
    with pytest.raises(ServiceError) as own:
        conversation_consult_invite(conversation=conversation, by=users["bob"], agent=users["ana"])
    assert own.value.code == "already_working"
    outsider = django_user_model.objects.create_user("eve", is_staff=True)
    with pytest.raises(ServiceError) as not_agent:
        conversation_consult_invite(conversation=conversation, by=users["ana"], agent=outsider)
    assert not_agent.value.code == "not_an_agent"
    Conversation.objects.filter(pk=conversation.pk).update(state=ConversationState.CLOSED)
    conversation.refresh_from_db()
    with pytest.raises(ServiceError) as closed:
        conversation_consult_invite(conversation=conversation, by=users["ana"], agent=users["bob"])
    assert closed.value.code == "conversation_closed"


def test_a_case_of_the_customer_or_a_new_one_is_linked(setup, receive, sandbox_account):
    users, conversation = setup
    case = conversation_case_link(conversation=conversation, by=users["ana"], title="Late order")
    conversation.refresh_from_db()
    assert conversation.case == case and case.contact == conversation.contact and case.title == "Late order"
    other = receive(sandbox_account, "hi", sender="+15559999999")
    elsewhere = Case.objects.create(title="Not theirs", contact=other.contact)
    with pytest.raises(ServiceError) as refused:
        conversation_case_link(conversation=conversation, by=users["ana"], case=elsewhere)
    assert refused.value.code == "case_other_customer"
    with pytest.raises(ServiceError) as empty:
        conversation_case_link(conversation=conversation, by=users["ana"], title="  ")
    assert empty.value.code == "case_required"
    conversation.refresh_from_db()
    assert conversation.case == case  # a refusal changes nothing


def test_a_consult_ends_with_the_conversation(setup):
    users, conversation = setup
    bob = users["bob"]
    conversation_consult_invite(conversation=conversation, by=users["ana"], agent=bob)
    assert access.conversation_access(bob, conversation).visible
    Conversation.objects.filter(pk=conversation.pk).update(state=ConversationState.CLOSED)
    conversation.refresh_from_db()
    assert not access.conversation_access(bob, conversation).visible
    assert conversation.pk not in set(access.conversations_visible_to(bob).values_list("pk", flat=True))
