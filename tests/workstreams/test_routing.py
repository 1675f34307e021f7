import pytest
import time_machine

from channels_app.models import ConsentState
from channels_app.services.consent import consent_record
from channels_app.services.inbound import contact_for
from workstreams.models import (
    Holiday,
    OperatingHours,
    OperatingSlot,
    Queue,
    RoutingCondition,
    RoutingRule,
    Skill,
)


def rule(workstream, name, queue, *conditions, order=0):
    r = RoutingRule.objects.create(workstream=workstream, name=name, queue=queue, order=order)
    for field, operator, value in conditions:
        RoutingCondition.objects.create(rule=r, field=field, operator=operator, value=value)
    return r


@pytest.fixture
def queues(db):
    return {name: Queue.objects.create(name=name) for name in ("Billing", "Spanish", "Mexico", "VIP", "Fallback")}


@pytest.mark.parametrize(
    ("conditions", "body", "sender", "expected"),
    [
        ([("message_text", "contains", "invoice")], "Question about my INVOICE", "+15551234567", "Billing"),
        ([("message_text", "keyword", "bill")], "my bill is wrong", "+15551234567", "Billing"),
        ([("message_text", "keyword", "bill")], "billing is wrong", "+15551234567", "Fallback"),
        ([("message_text", "regex", r"\border\s+#?\d{5}\b")], "where is order #12345", "+15551234567", "Billing"),
        ([("contact_country", "equals", "MX")], "hola", "+525512345678", "Mexico"),
        ([("contact_country", "in", "ES, MX")], "hola", "+525512345678", "Mexico"),
        ([("contact_phone", "starts_with", "+1555")], "hi", "+15551234567", "VIP"),
        ([("channel_type", "equals", "sms"), ("channel_provider", "equals", "sandbox")], "hi", "+15551234567", "VIP"),
        ([("channel_number", "equals", "+15005550006")], "hi", "+15551234567", "VIP"),
        ([("channel_type", "equals", "whatsapp")], "hi", "+15551234567", "Fallback"),
        # A WhatsApp customer known by a username: the country is the user ID's, and there is no phone number.
        ([("contact_country", "equals", "BR")], "oi", "BR.1502576394655843", "VIP"),
        ([("contact_phone", "starts_with", "US")], "hi", "US.13491208655302741918", "Fallback"),
    ],
)
def test_the_first_matching_rule_chooses_the_queue(workstream, queues, receive, conditions, body, sender, expected):
    workstream.fallback_queue = queues["Fallback"]
    workstream.save()
    target = {"Billing": queues["Billing"], "Mexico": queues["Mexico"], "VIP": queues["VIP"]}.get(expected,
                                                                                                 queues["Billing"])
    rule(workstream, "the rule", target, *conditions)
    conversation = receive(workstream.numbers.get().phone_number.account, body, sender=sender)
    assert conversation.queue.name == expected


def test_rules_are_tried_in_order_and_the_diagnosis_says_why(workstream, queues, receive):
    rule(workstream, "Spanish speakers", queues["Spanish"], ("message_text", "keyword", "hola"), order=1)
    rule(workstream, "Billing", queues["Billing"], ("message_text", "contains", "factura"), order=2)
    rule(workstream, "Catch-all billing", queues["VIP"], ("message_text", "contains", "factura"), order=3)
    conversation = receive(workstream.numbers.get().phone_number.account, "Tengo una pregunta sobre mi factura")
    assert conversation.queue == queues["Billing"]
    diagnosis = conversation.routing_diagnosis
    assert diagnosis["rule"] == "Billing"
    assert [(e["rule"], e["matched"]) for e in diagnosis["evaluated"]] == [("Spanish speakers", False),
                                                                          ("Billing", True)]
    assert "not has the word 'hola'" in diagnosis["evaluated"][0]["why"][0]


def test_all_conditions_of_a_rule_must_hold(workstream, queues, receive):
    rule(workstream, "Mexican billing", queues["Mexico"], ("contact_country", "equals", "MX"),
         ("message_text", "contains", "factura"))
    account = workstream.numbers.get().phone_number.account
    assert receive(account, "factura", sender="+15551234567").queue.is_default


def test_a_broken_rule_sends_to_the_fallback_queue_and_says_so(workstream, queues, receive):
    workstream.fallback_queue = queues["Fallback"]
    workstream.save()
    rule(workstream, "Broken", queues["Billing"], ("message_text", "regex", "(unclosed"))
    conversation = receive(workstream.numbers.get().phone_number.account, "anything")
    assert conversation.queue == queues["Fallback"]
    assert "could not be evaluated" in conversation.routing_diagnosis["reason"]
    assert "bad regular expression" in conversation.routing_diagnosis["evaluated"][0]["error"]


def test_no_match_goes_to_the_fallback_queue(workstream, queues, receive):
    workstream.fallback_queue = queues["Fallback"]
    workstream.save()
    rule(workstream, "Billing", queues["Billing"], ("message_text", "contains", "invoice"))
    conversation = receive(workstream.numbers.get().phone_number.account, "hello")
    assert conversation.queue == queues["Fallback"]
    assert conversation.routing_diagnosis["reason"] == "no routing rule matched; fallback queue"


def test_consent_locale_and_name_conditions(workstream, queues, receive, sandbox_account):
    contact = contact_for("+15551234567", display_name="Ana Lopez")
    contact.locale = "es-MX"
    contact.save()
    consent_record(contact=contact, phone_number=sandbox_account.numbers.get(), state=ConsentState.OPTED_OUT,
                   source="keyword")
    rule(workstream, "Opted out", queues["VIP"], ("contact_consent", "equals", "opted_out"),
         ("contact_locale", "starts_with", "es"), ("contact_name", "contains", "lopez"))
    assert receive(sandbox_account, "hola").queue == queues["VIP"]


def test_operating_hours_conditions(workstream, queues, receive, sandbox_account):
    hours = OperatingHours.objects.create(name="Office", time_zone="America/New_York")
    for day in range(5):
        OperatingSlot.objects.create(hours=hours, weekday=day, opens="09:00", closes="17:00")
    Holiday.objects.create(hours=hours, date="2026-12-25", name="Christmas")
    queues["Billing"].operating_hours = hours
    queues["Billing"].save()
    rule(workstream, "Office open", queues["Billing"], ("queue_open", "is", "Billing"), order=1)
    rule(workstream, "After hours", queues["VIP"], ("queue_closed", "is", "Billing"), order=2)
    with time_machine.travel("2026-12-22 15:00 +00:00"):  # Tuesday 10:00 in New York
        assert receive(sandbox_account, "a", sender="+15550000001").queue == queues["Billing"]
    with time_machine.travel("2026-12-22 23:00 +00:00"):  # Tuesday 18:00 in New York
        assert receive(sandbox_account, "b", sender="+15550000002").queue == queues["VIP"]
    with time_machine.travel("2026-12-25 15:00 +00:00"):  # a holiday
        assert receive(sandbox_account, "c", sender="+15550000003").queue == queues["VIP"]


def test_a_rule_can_require_skills(workstream, queues, receive, sandbox_account):
    spanish = Skill.objects.create(name="Spanish")
    r = rule(workstream, "Spanish", queues["Spanish"], ("message_text", "keyword", "hola"))
    r.required_skills.add(spanish)
    conversation = receive(sandbox_account, "hola")
    assert list(conversation.required_skills.all()) == [spanish]
    assert conversation.routing_diagnosis["skills"] == ["Spanish"]


def test_routing_decides_without_changing_the_conversation(workstream, queues, sandbox_account):
    from channels_app.models import Direction, Message, MessageStatus
    from workstreams.models import Conversation
    from workstreams.services.routing import RoutingDecision, conversation_route

    spanish = Skill.objects.create(name="Spanish")
    r = rule(workstream, "Spanish", queues["Spanish"], ("message_text", "keyword", "hola"))
    r.required_skills.add(spanish)
    phone = sandbox_account.numbers.get()
    contact = contact_for("+15551234567")
    message = Message.objects.create(account=sandbox_account, phone_number=phone, contact=contact, provider="sandbox",
                                     channel="sms", direction=Direction.INBOUND, body="hola",
                                     status=MessageStatus.RECEIVED, provider_message_id="in-1")
    conversation = Conversation(contact=contact, phone_number=phone, workstream=workstream, channel="sms")

    decision = conversation_route(conversation=conversation, message=message)

    assert isinstance(decision, RoutingDecision)
    assert (decision.queue, decision.rule, decision.skills) == (queues["Spanish"], "Spanish", (spanish,))
    assert [(v.rule, v.matched) for v in decision.evaluated] == [("Spanish", True)]
    assert decision.diagnosis()["skills"] == ["Spanish"] and decision.diagnosis()["queue"] == "Spanish"
    assert conversation.queue_id is None and conversation.routing_diagnosis == {}


DIAGNOSIS = {
    "bot": "Helper", "queue": "Billing", "rule": "Invoices", "reason": "rule 'Invoices' matched: text has 'invoice'",
    "evaluated": [{"rule": "Spanish", "matched": False, "why": ["text 'x' not has the word 'hola'"]},
                  {"rule": "Broken", "matched": False, "error": "bad regular expression", "why": []},
                  {"rule": "Invoices", "matched": True, "why": ["text has 'invoice'"]}],
    "skills": ["Billing"], "escalated": "customer asked for an agent",
    "transfers": [{"to_queue": "Escalations", "by": "ana", "at": "2026-12-01T10:00:00+00:00"}],
    "closed": "spam",
}
LINES = [
    "Bot “Helper” answered first.",
    "Billing: rule 'Invoices' matched: text has 'invoice'",
    "Rule “Spanish” did not match — text 'x' not has the word 'hola'",
    "Rule “Broken” failed: bad regular expression",
    "Rule “Invoices” matched — text has 'invoice'",
    "Skills asked for: Billing",
    "Escalated by the bot: customer asked for an agent",
    "Transferred to Escalations by ana at Dec. 1, 2026, 10 a.m.",
    "Closed: spam",
]


def test_the_admin_and_the_console_show_the_same_routing_diagnosis(admin_client, client, workstream, receive,
                                                                   sandbox_account, django_user_model):
    import html
    import re

    from django.contrib.auth.models import Permission
    from django.urls import reverse

    from workstreams.models import AgentProfile, Conversation
    from workstreams.services.routing import routing_lines

    assert routing_lines(DIAGNOSIS) == LINES
    conversation = receive(sandbox_account, "my invoice")
    Conversation.objects.filter(pk=conversation.pk).update(routing_diagnosis=DIAGNOSIS)
    agent = django_user_model.objects.create_user("agent", password="pw", is_staff=True)
    agent.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    AgentProfile.objects.create(user=agent)
    conversation.queue.members.add(agent)  # an open conversation in the agent's queue: theirs to read
    client.force_login(agent)

    def shown(page: str, start: str, end: str) -> list[str]:
        part = page[page.index(start) + len(start):]
        part = part[:part.index(end)]
        return [html.unescape(line).strip() for line in re.findall(r"<(?:li|div)>(.*?)</(?:li|div)>", part)]

    admin_page = admin_client.get(reverse("admin:workstreams_conversation_change", args=[conversation.pk]))
    console_page = client.get(reverse("console:conversation", args=[conversation.pk]))
    assert console_page.status_code == 200
    assert shown(admin_page.content.decode(), "field-routing_explained", 'class="form-row') == LINES
    assert shown(console_page.content.decode(), 'id="routing-heading"', "</section>") == LINES


def test_a_rule_can_match_the_payload_of_the_whatsapp_button_tapped(workstream, queues, sandbox_account):
    from channels_app.models import Direction, Message, MessageStatus
    from channels_app.policy import Received
    from workstreams.inbound import conversation_inbound

    workstream.fallback_queue = queues["Fallback"]
    workstream.save()
    rule(workstream, "Order tracking", queues["VIP"], ("message_button", "starts_with", "track_order"))
    phone = sandbox_account.numbers.get()
    message = Message.objects.create(
        account=sandbox_account, phone_number=phone, contact=contact_for("+15551234567"), provider="sandbox",
        channel=phone.channel, direction=Direction.INBOUND, body="Track my order", button_payload="track_order:1001",
        status=MessageStatus.RECEIVED, provider_message_id="in-button")
    assert conversation_inbound.one(Received(message=message)).queue.name == "VIP"


def test_the_diagnosis_is_written_in_the_readers_language_from_what_routing_stored(workstream, queues, receive):
    """Routing runs in a worker, in English; its reasons are kept as data, so that a Japanese supervisor reads
    them in Japanese, while the English sentence stays for the API."""
    from django.utils import translation

    from workstreams.services.routing import routing_lines

    rule(workstream, "Hola", queues["Spanish"], ("message_text", "keyword", "hola"))
    conversation = receive(workstream.numbers.get().phone_number.account, "Hola, ¿tienen envíos?")

    assert conversation.routing_diagnosis["reason"].startswith("rule 'Hola' matched: ")
    with translation.override("en"):
        assert routing_lines(conversation.routing_diagnosis)[0] == (
            "Spanish: rule “Hola” matched: First message: text “Hola, ¿tienen envíos?” — has the word “hola”: yes")
    with translation.override("ja"):
        japanese = " ".join(routing_lines(conversation.routing_diagnosis))
    assert "Hola" in japanese
    assert [w for w in ("rule", "matched", "First message", "has the word") if w in japanese] == []
