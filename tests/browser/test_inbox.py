"""The console as an inbox, in Chromium: a fresh demo (setup_demo, as `make run` runs it) where the admin
answers a customer within the console at once; the inbox's tabs, filters and search; ending with a
confirmation, an outcome and a note, then Close now from the dashboard's wrap-up list; an internal note that
never reaches the provider (the Twilio stub, and the provider emulator); the composer's placeholders, stale
errors and opt-out; consulting another agent and linking a case."""

from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from channels_app.models import ConsentState, Direction, Message
from channels_app.services.consent import consent_record
from tests.conftest import TWILIO_ACCOUNT_SID
from workstreams.models import (
    Conversation,
    ConversationNote,
    ConversationState,
    QuickReply,
)

from .conftest import WHATSAPP_NUMBER, customer_writes, twilio_post

DEMO_PASSWORD = "demo admin password"


def test_a_fresh_demo_admin_answers_in_the_console_at_once(page, hub, settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", DEMO_PASSWORD)
    banner = StringIO()
    call_command("setup_demo", stdout=banner)
    assert "/console/" in banner.getvalue()

    page.goto(hub.url + "/console/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(hub.url + "/console/")
    expect(page.locator("#presence-select option:checked")).to_have_text("Available")  # no screens to pass first

    # A customer writes to the demo SMS number through its signed sandbox webhook (sandbox_message).
    call_command("sandbox_message", to="+15005550006", sender="+15551234567", text="Hi! Is anyone there?",
                 name="Maria", stdout=StringIO())
    mine = page.locator("section", has=page.get_by_role("heading", name="My conversations"))
    row = mine.locator(".conv-row", has_text="Hi! Is anyone there?")
    row.get_by_role("link").click()
    box = page.locator("#reply-body")
    expect(box).to_be_focused()
    box.fill("Yes, Demo here. How can I help?")
    box.press("Enter")
    reply = page.locator(".msg-outbound", has_text="Yes, Demo here. How can I help?")
    expect(reply.locator(".status")).to_have_text("Sent")  # the sandbox provider took it
    conversation = Conversation.objects.get(contact__address="+15551234567")
    assert (conversation.state, conversation.agent.username) == (ConversationState.ACTIVE, "admin")


def test_inbox_tabs_filters_and_search(login, agent, whatsapp_account, whatsapp_workstream):
    mine = customer_writes(whatsapp_account, "My parcel never arrived", sender="+15550000001", name="Lucía")
    waiting = customer_writes(whatsapp_account, "Waiting for the invoice", sender="+15550000002", name="Mateo")
    closed = customer_writes(whatsapp_account, "The refund arrived, thanks", sender="+15550000003", name="Sofía")
    now = timezone.now()
    Conversation.objects.filter(pk=mine.pk).update(agent=agent, state=ConversationState.ACTIVE)
    Conversation.objects.filter(pk=waiting.pk).update(agent=agent, state=ConversationState.WAITING)
    Conversation.objects.filter(pk=closed.pk).update(agent=agent, state=ConversationState.CLOSED, closed_at=now)

    page = login("/console/inbox/")
    results = page.locator(".inbox-results .conv-row")
    expect(results).to_have_count(2)  # Mine: the active and the waiting one
    expect(page.locator(".tab.active")).to_contain_text("Mine")

    page.locator(".tab", has_text="Recently closed").click()
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("Sofía")
    page.locator(".tab", has_text="Waiting").click()
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("Mateo")

    # Search over message text, in every conversation the agent may see.
    page.locator(".tab", has_text="All I can see").click()
    expect(results).to_have_count(3)
    page.get_by_label("Search messages and customers").fill("refund")
    page.get_by_role("button", name="Search").click()
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("Sofía")
    page.get_by_label("Search messages and customers").fill("Lucía")  # the customer's name
    page.get_by_role("button", name="Search").click()
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("My parcel never arrived")

    # Filters: the state select submits itself; SMS has nothing here.
    page.get_by_label("Search messages and customers").fill("")
    page.get_by_label("State").select_option("waiting")
    page.wait_for_url("**state=waiting**")
    page.wait_for_load_state("load")  # the filters submit themselves once the page's script has run
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("Mateo")
    page.get_by_label("Channel").select_option("sms")
    page.wait_for_url("**channel=sms**")
    expect(page.get_by_text("No conversation in this tab.")).to_be_visible()

    # Live: a conversation that reaches the agent shows up in the open tab without a reload.
    page.goto(page.url.split("?")[0] + "?tab=mine")
    expect(results).to_have_count(2)
    page.evaluate("window.loadedOnce = true")
    again = customer_writes(whatsapp_account, "Another question", sender="+15550000004", name="Camila")
    Conversation.objects.filter(pk=again.pk).update(agent=agent, state=ConversationState.ACTIVE,
                                                    last_message_at=timezone.now() + timedelta(seconds=1))
    expect(results).to_have_count(3)
    expect(results.first).to_contain_text("Camila")
    assert page.evaluate("window.loadedOnce") is True

    # The contact page: every conversation of the customer, and a closed one can be read.
    page.goto(f"{page.url.split('/console/')[0]}/console/conversations/{closed.pk}/")
    expect(page.locator(".msg-inbound", has_text="The refund arrived, thanks")).to_be_visible()
    page.get_by_role("link", name="All of this customer's conversations").click()
    expect(page.get_by_role("heading", name="Sofía")).to_be_visible()
    expect(page.locator(".conv-row")).to_have_count(1)


def test_end_with_confirmation_outcome_and_note_then_close_wrap_up(login, agent, whatsapp_account,
                                                                    whatsapp_workstream, twilio_stub):
    conversation = customer_writes(whatsapp_account, "Please cancel my order", name="Maria")
    Conversation.objects.filter(pk=conversation.pk).update(agent=agent, state=ConversationState.ACTIVE)
    page = login(f"/console/conversations/{conversation.pk}/")

    page.locator("summary", has_text="End conversation").click()
    expect(page.get_by_text(f"End conversation #{conversation.pk}? It goes to wrap-up")).to_be_visible()
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ACTIVE  # opening the panel ends nothing
    page.get_by_label("Outcome").select_option("follow_up")
    page.get_by_label("Wrap-up note (optional, never sent)").fill("Refund to be checked by billing")
    page.get_by_role("button", name="Confirm: end conversation").click()
    expect(page.locator("#conv-state")).to_have_text("Wrap-up (ended)")
    expect(page.locator("#conv-outcome")).to_have_text("Needs a follow-up")
    note = page.locator(".msg-note", has_text="Refund to be checked by billing")
    expect(note.locator(".badge")).to_have_text("Wrap-up note · not sent")

    # The dashboard lists it in wrap-up with the time it releases capacity, and the capacity explains itself.
    page.get_by_role("link", name="Dashboard").first.click()
    wrap = page.locator("section.wrap-up .conv-row", has_text="Maria")
    expect(wrap.locator(".release")).to_contain_text("Releases capacity at")
    page.locator("#capacity summary").click()
    expect(page.locator(".capacity-items")).to_contain_text("in wrap-up: held until the time shown")
    wrap.get_by_role("button", name="Close now").click()
    expect(page.get_by_role("status").filter(has_text="is closed; its capacity is free")).to_be_visible()
    expect(page.get_by_text("No conversation in wrap-up.")).to_be_visible()
    conversation.refresh_from_db()
    assert (conversation.state, conversation.outcome, conversation.resolved) == (ConversationState.CLOSED,
                                                                                  "follow_up", False)
    # Nothing of the note went to Twilio; the customer got no message from ending it (none configured).
    assert all("billing" not in str(r["form"]) for r in twilio_stub.requests)


def test_a_note_never_reaches_the_provider(login, hub, agent, whatsapp_account, whatsapp_workstream, twilio_stub):
    token = whatsapp_account.webhook_token
    response = twilio_post(hub, f"/webhooks/twilio/{token}/inbound/", {
        "MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": TWILIO_ACCOUNT_SID,
        "From": "whatsapp:+15551234567", "To": f"whatsapp:{WHATSAPP_NUMBER}", "Body": "My order is late",
        "NumMedia": "0", "ProfileName": "Maria"})
    assert response.status_code == 200, response.text
    conversation = Conversation.objects.get(contact__address="+15551234567")
    page = login(f"/console/conversations/{conversation.pk}/")

    page.get_by_label("Internal note (agents and supervisors only, never sent)").fill("VIP customer, be quick")
    page.get_by_role("button", name="Add note").click()
    note = page.locator(".msg-note", has_text="VIP customer, be quick")
    expect(note.locator(".badge")).to_have_text("Internal note · not sent")
    expect(page.get_by_label("Internal note (agents and supervisors only, never sent)")).to_have_value("")
    page.reload()
    expect(note).to_be_visible()  # kept, in the thread, in order

    page.locator("#reply-body").fill("We are on it.")
    page.locator("#reply-body").press("Enter")
    expect(page.locator(".msg-outbound", has_text="We are on it.").locator(".status")).to_have_text("Sent")
    assert [r["form"]["Body"] for r in twilio_stub.requests] == [["We are on it."]]  # the reply, never the note
    assert ConversationNote.objects.get().body == "VIP customer, be quick"
    assert not Message.objects.filter(direction=Direction.OUTBOUND, body__contains="VIP").exists()


def test_a_note_never_reaches_the_emulated_provider(login, hub, settings, agent, whatsapp_account,
                                                    whatsapp_workstream):
    from devtools.emulator.server import ProviderEmulator
    from tests.conftest import TWILIO_AUTH_TOKEN

    emulator = ProviderEmulator(twilio_accounts=[(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)], callback_delay_ms=0,
                                seed=16)
    settings.TWILIO_API_URL = emulator.start_in_thread()
    try:
        emulator.set_twilio_inbound_url(f"whatsapp:{WHATSAPP_NUMBER}", whatsapp_account.callback_urls()["inbound"])
        answer = emulator.inject_inbound(provider="twilio", account=TWILIO_ACCOUNT_SID, from_="whatsapp:+15557654321",
                                         to=f"whatsapp:{WHATSAPP_NUMBER}", body="Is my order shipped?")
        assert answer["delivery"]["http_status"] == 200, answer
        conversation = Conversation.objects.get(contact__address="+15557654321")
        page = login(f"/console/conversations/{conversation.pk}/")
        page.get_by_label("Internal note (agents and supervisors only, never sent)").fill("Secret: priority")
        page.get_by_role("button", name="Add note").click()
        expect(page.locator(".msg-note", has_text="Secret: priority")).to_be_visible()
        page.locator("#reply-body").fill("Shipped this morning.")
        page.locator("#reply-body").press("Enter")
        expect(page.locator(".msg-outbound", has_text="Shipped this morning.").locator(".status")).to_have_text(
            "Delivered")  # the emulator's signed status callback
        emulator.wait_idle()
        bodies = [m["body"] for m in emulator.messages()]
        assert "Shipped this morning." in bodies
        assert not any("Secret" in str(r) for r in emulator.requests())  # no request ever carried the note
        assert not any("Secret" in b for b in bodies)
    finally:
        emulator.stop()


def test_the_composer_highlights_holes_clears_stale_errors_and_respects_an_opt_out(login, agent, whatsapp_account,
                                                                                 whatsapp_workstream):
    QuickReply.objects.create(title="Greeting", text="Hi {CustomerName|there}, this is {AgentName}. {QueueName}")
    conversation = customer_writes(whatsapp_account, "Hello")
    Conversation.objects.filter(pk=conversation.pk).update(agent=agent, state=ConversationState.ACTIVE,
                                                           queue=None)
    page = login(f"/console/conversations/{conversation.pk}/")
    box = page.locator("#reply-body")
    box.press_sequentially("/gree")
    box.press("Enter")
    # No customer name: the fallback; Ana's display name; no queue: highlighted, and Enter does not send it.
    expect(box).to_have_value("Hi there, this is Ana Agent. {QueueName}")
    warning = page.locator("#reply-placeholders")
    expect(warning).to_have_text("Replace {QueueName} with the right text before sending.")
    box.press("End")
    box.press("Enter")
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()

    # A refusal disappears once the text changes.
    box.fill("a" * 1601)
    expect(warning).to_be_hidden()
    box.press("Enter")
    error = page.locator("#reply-error")
    expect(error).to_have_text("The message is 1601 characters; the limit is 1600.")
    box.press("Backspace")
    expect(error).to_have_text("")

    # The customer opts out: the composer is disabled and says why, without a reload.
    consent_record(contact=conversation.contact, phone_number=whatsapp_account.numbers.get(),
                   state=ConsentState.OPTED_OUT, source="keyword STOP")
    expect(box).to_be_disabled()
    expect(page.locator("#composer-reason")).to_contain_text("The customer opted out of messages from")
    expect(page.locator("#reply-send")).to_be_disabled()




def test_consult_another_agent_and_link_a_case(browser, login, hub, agent, django_user_model,
                                              whatsapp_account, whatsapp_workstream):
    from django.contrib.auth.models import Permission

    from workstreams.models import AgentProfile

    from .conftest import PASSWORD

    tom = django_user_model.objects.create_user("tom", password=PASSWORD, first_name="Tom", last_name="Expert",
                                                is_staff=True)
    tom.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation", "change_conversation"]))
    AgentProfile.objects.create(user=tom, presence="available", capacity=0)  # no capacity: consulting needs none
    conversation = customer_writes(whatsapp_account, "My invoice is wrong", name="Maria")
    Conversation.objects.filter(pk=conversation.pk).update(agent=agent, state=ConversationState.ACTIVE)

    page = login(f"/console/conversations/{conversation.pk}/")
    page.get_by_label("New case title").fill("Wrong invoice")
    page.get_by_role("button", name="Link case").click()
    expect(page.locator("#case-linked")).to_have_text("Linked to “Wrong invoice” (Active)")
    page.get_by_label("Invite an agent to read and add notes (takes no capacity)").select_option(label="Tom Expert")
    page.get_by_role("button", name="Consult").click()
    expect(page.locator(".consults")).to_contain_text("Tom Expert")

    context = browser.new_context()
    other = context.new_page()
    try:
        other.goto(f"{hub.url}/console/conversations/{conversation.pk}/")
        other.fill("#id_username", "tom")
        other.fill("#id_password", PASSWORD)
        other.click("input[type=submit]")
        expect(other.locator(".msg-inbound", has_text="My invoice is wrong")).to_be_visible()
        expect(other.locator("#reply-form")).to_have_count(0)  # reads and notes; does not answer
        other.get_by_label("Internal note (agents and supervisors only, never sent)").fill("Tax code 7 applies")
        other.get_by_role("button", name="Add note").click()
        expect(other.locator(".msg-note", has_text="Tax code 7 applies")).to_be_visible()
    finally:
        context.close()
    # Ana sees Tom's note arrive without a reload; the conversation stays hers.
    expect(page.locator(".msg-note", has_text="Tax code 7 applies")).to_be_visible()
    conversation.refresh_from_db()
    assert conversation.agent == agent and conversation.case.title == "Wrong invoice"


def test_a_resolved_closed_conversation_is_read_and_followed_up_with_a_template(login, agent, twilio_stub,
                                                                              whatsapp_account,
                                                                              whatsapp_workstream):
    from workstreams.models import WhatsAppTemplate, WorkstreamNumber

    number = WorkstreamNumber.objects.get(workstream=whatsapp_workstream)
    template = WhatsAppTemplate.objects.create(number=number, name="check_in", language="en",
                                               text="Hi {{1}}, is everything fine with your order?",
                                               content_sid="HX" + "d" * 32)
    closed = customer_writes(whatsapp_account, "It works now, thanks!", name="Maria")
    Conversation.objects.filter(pk=closed.pk).update(agent=agent, state=ConversationState.CLOSED, resolved=True,
                                                     outcome="resolved", closed_at=timezone.now())
    page = login(f"/console/conversations/{closed.pk}/")
    expect(page.locator(".msg-inbound", has_text="It works now, thanks!")).to_be_visible()  # readable
    expect(page.locator("#reply-body")).to_be_disabled()
    page.locator("summary", has_text="Send an approved template").click()
    expect(page.get_by_text("a template sent from here opens a new conversation")).to_be_visible()
    page.get_by_label("Variable {{1}}").fill("Maria")
    page.get_by_role("button", name="Send follow-up template").click()

    page.wait_for_url(lambda url: f"/conversations/{closed.pk}/" not in url)
    follow = Conversation.objects.exclude(pk=closed.pk).get(contact=closed.contact)
    assert page.url.endswith(f"/console/conversations/{follow.pk}/")
    expect(page.locator("#conv-state")).to_have_text("Active (with an agent)")
    sent = page.locator(".msg-outbound.msg-kind-template", has_text="Hi Maria, is everything fine with your order?")
    expect(sent.locator(".status")).to_have_text("Sent")
    assert twilio_stub.requests[-1]["form"]["ContentSid"] == [template.content_sid]
    assert follow.agent == agent and follow.routing_diagnosis == {"follow_up_of": closed.pk}
