"""The reply box's rules: placeholders never leave holes, the agent's display name (never the username), the
channel's own limit, why the box is disabled (opted out first), and a template follow-up of a resolved
conversation."""

from __future__ import annotations

import pytest

from channels_app.models import ConsentState, Direction, Message, MessageKind
from channels_app.services.consent import consent_record
from config.exceptions import ServiceError
from workstreams.console.selectors import quick_replies
from workstreams.models import Conversation, ConversationState, QuickReply, WhatsAppTemplate, WorkstreamNumber
from workstreams.services.composer import (
    agent_name_for_customers,
    channel_text_limit,
    composer_state,
    conversation_follow_up,
    placeholder_fill,
    placeholders_unresolved,
)

TEMPLATE_SID = "HX" + "a" * 32


@pytest.mark.parametrize(("text", "values", "filled"), [
    ("Hi {CustomerName}, this is {AgentName}.", {"CustomerName": "Maria", "AgentName": "Ana"},
     "Hi Maria, this is Ana."),
    ("Hi {CustomerName|there}, this is {AgentName}.", {"CustomerName": "", "AgentName": "Ana"},
     "Hi there, this is Ana."),
    ("Hi {CustomerName}, this is {AgentName|the team}.", {"CustomerName": "  ", "AgentName": ""},
     "Hi {CustomerName}, this is the team."),  # no value and no fallback: kept, to be highlighted
    ("Queue {QueueName|}, ticket {ConversationId}", {"QueueName": "", "ConversationId": "7"},
     "Queue {QueueName}, ticket 7"),  # an empty fallback is no fallback
    ("Braces {like this} stay", {}, "Braces {like this} stay"),
])
def test_placeholders_are_filled_fall_back_or_stay_visible(text, values, filled):
    assert placeholder_fill(text, values) == filled


def test_unresolved_placeholders_are_listed_once_in_order():
    assert placeholders_unresolved("{AgentName} and {CustomerName} and {AgentName}") == ["{AgentName}",
                                                                                        "{CustomerName}"]
    assert placeholders_unresolved("All filled.") == []


def test_the_agent_name_is_the_display_name_never_the_username(make_agent):
    ana = make_agent("ana.k")
    assert agent_name_for_customers(ana) == ""  # only a username: nothing a customer should see
    ana.first_name, ana.last_name = "Ana", "Karlsson"
    ana.save()
    assert agent_name_for_customers(ana) == "Ana Karlsson"
    ana.agent_profile.public_name = "Ana from Support"
    ana.agent_profile.save()
    assert agent_name_for_customers(ana) == "Ana from Support"


def test_a_quick_reply_for_an_agent_with_no_name_shows_the_hole_instead_of_leaving_one(make_agent, workstream,
                                                                                      sandbox_account, receive):
    admin = make_agent("admin")
    QuickReply.objects.create(title="Hello", text="Hi {CustomerName|there}, this is {AgentName}.")
    conversation = receive(sandbox_account, "hello")
    [reply] = quick_replies(Conversation.objects.get(pk=conversation.pk), user=admin)
    assert reply["text"] == "Hi there, this is {AgentName}."  # not "Hi , this is admin."
    assert reply["unresolved"] == ["{AgentName}"]


def test_whatsapp_has_its_own_limit_capped_by_the_send():
    assert channel_text_limit("sms") == 1600
    assert channel_text_limit("whatsapp") == 1600  # WhatsApp allows 4,096; Twilio's Body takes 1,600


def test_an_opted_out_customer_disables_the_composer_with_the_reason(workstream, sandbox_account, receive):
    conversation = receive(sandbox_account, "hello")
    assert not composer_state(conversation).disabled
    consent_record(contact=conversation.contact, phone_number=conversation.phone_number,
                   state=ConsentState.OPTED_OUT, source="keyword STOP")
    state = composer_state(conversation)
    assert state.disabled and state.code == "opted_out"
    assert "opted out of messages from +15005550006" in state.reason and "keyword STOP" in state.reason
    assert "text START" in state.reason


@pytest.fixture
def resolved_whatsapp(db, make_agent, twilio_whatsapp_account, receive):
    from workstreams.models import Workstream

    ws = Workstream.objects.create(name="WA", channel="whatsapp")
    number = WorkstreamNumber.objects.create(workstream=ws, phone_number=twilio_whatsapp_account.numbers.get())
    template = WhatsAppTemplate.objects.create(number=number, name="check_in", text="Hi {{1}}, all good?",
                                               content_sid=TEMPLATE_SID)
    ana = make_agent("ana", first_name="Ana")
    conversation = receive(twilio_whatsapp_account, "thanks")
    Conversation.objects.filter(pk=conversation.pk).update(state=ConversationState.CLOSED, resolved=True, agent=ana)
    return ana, Conversation.objects.get(pk=conversation.pk), template


def test_a_resolved_closed_conversation_is_followed_up_in_a_new_one(resolved_whatsapp, mocked_http):
    ana, closed, template = resolved_whatsapp
    follow, message = conversation_follow_up(conversation=closed, author=ana, template=template,
                                             variables={"1": "Maria"})
    assert follow.pk != closed.pk
    assert (follow.state, follow.agent, follow.contact, follow.phone_number) == (
        ConversationState.ACTIVE, ana, closed.contact, closed.phone_number)
    assert follow.routing_diagnosis == {"follow_up_of": closed.pk}
    assert (message.kind, message.content_sid, message.body) == (MessageKind.TEMPLATE, TEMPLATE_SID,
                                                                 "Hi Maria, all good?")
    assert message.conversation_link.conversation == follow

    # A second follow-up: the customer has a live conversation now; write there.
    with pytest.raises(ServiceError) as refused:
        conversation_follow_up(conversation=closed, author=ana, template=template)
    assert refused.value.code == "conversation_live" and refused.value.extra == {"conversation": follow.pk}


def test_follow_up_is_refused_for_an_unresolved_conversation_an_opt_out_or_no_capacity(resolved_whatsapp):
    ana, closed, template = resolved_whatsapp
    Conversation.objects.filter(pk=closed.pk).update(resolved=False)
    closed.refresh_from_db()
    with pytest.raises(ServiceError) as unresolved:
        conversation_follow_up(conversation=closed, author=ana, template=template)
    assert unresolved.value.code == "follow_up_not_allowed"

    Conversation.objects.filter(pk=closed.pk).update(resolved=True)
    closed.refresh_from_db()
    ana.agent_profile.capacity = 0
    ana.agent_profile.save()
    with pytest.raises(ServiceError) as full:
        conversation_follow_up(conversation=closed, author=ana, template=template)
    assert full.value.code == "no_capacity"

    consent_record(contact=closed.contact, phone_number=closed.phone_number, state=ConsentState.OPTED_OUT,
                   source="keyword STOP")
    with pytest.raises(ServiceError) as opted_out:
        conversation_follow_up(conversation=closed, author=ana, template=template)
    assert opted_out.value.code == "opted_out"
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()
    assert Conversation.objects.filter(contact=closed.contact).count() == 1
