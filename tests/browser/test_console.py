"""The agent console in a real browser: an agent signs in, a customer's signed webhook shows up without a
reload, the agent replies, Twilio (the stub) gets the reply, a signed status callback marks it delivered,
and the agent ends the conversation. Also: the service's refusal of 1,601 characters, the WhatsApp window
(only templates), Take in pick mode, and the reply box's counter against channels_app.segments."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from playwright.sync_api import expect

from channels_app import segments
from channels_app.models import Direction, Message
from tests.conftest import TWILIO_ACCOUNT_SID
from workstreams.models import (
    Conversation,
    ConversationState,
    DistributionMode,
    QuickReply,
    WhatsAppTemplate,
    WorkstreamNumber,
)

from .conftest import WHATSAPP_NUMBER, customer_writes, twilio_post


def test_agent_answers_a_customer_from_webhook_to_delivered_to_ended(login, hub, twilio_stub, whatsapp_account,
                                                                     whatsapp_workstream, agent):
    page = login()
    expect(page.get_by_role("heading", name="My conversations")).to_be_visible()
    expect(page.get_by_text("No active conversations.")).to_be_visible()
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads

    token = whatsapp_account.webhook_token
    response = twilio_post(hub, f"/webhooks/twilio/{token}/inbound/", {
        "MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": TWILIO_ACCOUNT_SID,
        "From": "whatsapp:+15551234567", "To": f"whatsapp:{WHATSAPP_NUMBER}", "Body": "Is my order on its way?",
        "NumMedia": "0", "ProfileName": "Maria"})
    assert response.status_code == 200, response.text

    # Routed to Support and pushed to the available agent: it appears, unread, without a reload.
    mine = page.locator("section", has=page.get_by_role("heading", name="My conversations"))
    row = mine.locator(".conv-row", has_text="Maria")
    expect(row).to_contain_text("Is my order on its way?")
    expect(row.locator(".unread")).to_have_text("1")
    assert page.evaluate("window.loadedOnce") is True

    row.get_by_role("link").click()
    expect(page.locator("#conv-state")).to_have_text("Active (with an agent)")
    expect(page.get_by_text("WhatsApp window open until")).to_be_visible()
    box = page.get_by_label("Reply to Maria")
    expect(box).to_be_focused()
    box.fill("Yes, it arrives today.")
    expect(page.locator("#reply-count")).to_have_text("22 / 1,600 characters")  # WhatsApp: no SMS segments
    box.press("Enter")

    reply = page.locator(".msg-outbound", has_text="Yes, it arrives today.")
    expect(reply.locator(".status")).to_have_text("Sent")
    expect(box).to_have_value("")
    message = Message.objects.get(direction=Direction.OUTBOUND, body="Yes, it arrives today.")
    assert len(twilio_stub.requests) == 1
    sent = twilio_stub.requests[0]
    assert sent["path"] == f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"
    assert sent["form"]["To"] == ["whatsapp:+15551234567"]
    assert sent["form"]["Body"] == ["Yes, it arrives today."]

    callback = twilio_post(hub, f"/webhooks/twilio/{token}/status/?message={message.pk}", {
        "MessageSid": message.provider_message_id, "MessageStatus": "delivered", "AccountSid": TWILIO_ACCOUNT_SID,
        "ChannelPrefix": "whatsapp"})
    assert callback.status_code == 200, callback.text
    expect(reply.locator(".status")).to_have_text("Delivered")

    page.locator("summary", has_text="End conversation").click()
    page.get_by_role("button", name="Confirm: end conversation").click()
    expect(page.locator("#conv-state")).to_have_text("Wrap-up (ended)")
    expect(page.get_by_role("status").filter(has_text="ended (resolved); it is in wrap-up")).to_be_visible()
    conversation = Conversation.objects.get(contact__address="+15551234567")
    assert (conversation.state, conversation.resolved) == (ConversationState.WRAP_UP, True)


def test_a_reply_over_1600_characters_is_refused_with_the_services_message(login, whatsapp_account,
                                                                          whatsapp_workstream, agent):
    QuickReply.objects.create(title="Greeting", text="Hello {CustomerName}, this is {AgentName}.", language="en")
    conversation = customer_writes(whatsapp_account, "Hi there", name="Maria")
    page = login(f"/console/conversations/{conversation.pk}/")
    box = page.get_by_label("Reply to Maria")

    # Quick replies: "/" and a few letters, then Enter inserts the filled-in text (and does not send).
    box.press_sequentially("/gree")
    expect(page.get_by_role("option", name="Greeting")).to_be_visible()
    box.press("Enter")
    expect(box).to_have_value("Hello Maria, this is Ana Agent.")

    box.fill("a" * 1601)
    expect(page.locator("#reply-count")).to_have_text(
        "1,601 / 1,600 characters · 1 over the limit")
    box.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("The message is 1601 characters; the limit is 1600.")
    expect(box).to_have_value("a" * 1601)  # the draft is kept
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()

    # The counter is channels_app.segments, ported: the same answers for edge cases and random texts.
    rng = random.Random(1600)
    alphabet = sorted(segments.GSM7_BASIC) + sorted(segments.GSM7_EXTENSION) + list("аЖçÀ中文🙂😀👍🏽\u200b")
    samples = ["", "a" * 160, "a" * 161, "a" * 306, "a" * 307, "a" * 152 + "€", "a" * 153 + "€", "€" * 80,
               "€" * 81, "Ж" * 70, "Ж" * 71, "😀" * 35, "😀" * 36, "a" * 66 + "😀", "\r\n{}[]~|^\\\f",
               *(c for c in alphabet),
               *("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 400))) for _ in range(200)),
               *("".join(rng.choice(sorted(segments.GSM7_BASIC | segments.GSM7_EXTENSION))
                         for _ in range(rng.randint(150, 480))) for _ in range(100))]
    counted = page.evaluate("(texts) => texts.map((t) => window.HubSegments.count(t))", samples)
    assert counted == [segments.count(text).as_dict() for text in samples]


def test_outside_the_whatsapp_window_only_the_template_picker_sends(login, twilio_stub, whatsapp_account,
                                                                   whatsapp_workstream, agent):
    number = WorkstreamNumber.objects.get(workstream=whatsapp_workstream)
    template = WhatsAppTemplate.objects.create(number=number, name="order_update", language="en",
                                               text="Hi {{ 1 }}, your order {{2}} has shipped.",
                                               content_sid="HX" + "c" * 32)
    conversation = customer_writes(whatsapp_account, "Where is it?", name="Maria", ago=timedelta(hours=25))
    page = login(f"/console/conversations/{conversation.pk}/")

    expect(page.get_by_text("The 24-hour WhatsApp window closed")).to_be_visible()
    expect(page.get_by_label("Reply to Maria")).to_be_disabled()
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_disabled()

    page.get_by_label("Template").select_option(str(template.pk))
    page.get_by_label("Variable {{1}}").fill("Maria")
    page.get_by_label("Variable {{2}}").fill("A-17")
    expect(page.locator("#template-preview")).to_have_text("Hi Maria, your order A-17 has shipped.")
    page.get_by_role("button", name="Send template").click()
    sent = page.locator(".msg-outbound.msg-kind-template", has_text="Hi Maria, your order A-17 has shipped.")
    expect(sent.locator(".status")).to_have_text("Sent")
    assert twilio_stub.requests[-1]["form"]["ContentSid"] == [template.content_sid]
    assert twilio_stub.requests[-1]["form"]["ContentVariables"] == ['{"1":"Maria","2":"A-17"}']

    # The disabled box is only the page's display: forcing a free-text reply, the server refuses it.
    page.evaluate("document.getElementById('reply-body').disabled = false;"
                  "document.getElementById('reply-send').disabled = false;")
    page.get_by_label("Reply to Maria").fill("Any news?")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#reply-error")).to_contain_text("The WhatsApp 24-hour window closed at")
    expect(page.locator("#reply-error")).to_contain_text("only an approved template can be sent")
    assert not Message.objects.filter(body="Any news?").exists()


def test_take_in_pick_mode_assigns_the_conversation_to_the_agent(login, whatsapp_account, whatsapp_workstream,
                                                                 agent):
    whatsapp_workstream.distribution_mode = DistributionMode.PICK
    whatsapp_workstream.save()
    conversation = customer_writes(whatsapp_account, "Can I change my address?", name="Jon")
    page = login()

    # The presence switch saves at once; picking work does not depend on it.
    page.get_by_label("Presence").select_option("dnd")
    expect(page.locator(".presence-dot")).to_have_class("presence-dot presence-dnd")
    agent.agent_profile.refresh_from_db()
    assert agent.agent_profile.presence == "dnd"

    waiting = page.locator("section", has=page.get_by_role("heading", name="Waiting in my queues"))
    expect(waiting.locator(".conv-row", has_text="Jon")).to_contain_text("Can I change my address?")
    expect(page.locator(".queue-card", has_text="Support")).to_contain_text("1 waiting")
    waiting.get_by_role("button", name="Take conversation with Jon").click()

    page.wait_for_url(f"**/console/conversations/{conversation.pk}/")
    expect(page.locator("#conv-state")).to_have_text("Active (with an agent)")
    expect(page.locator(".conv-meta")).to_contain_text("Agent: you")
    conversation.refresh_from_db()
    assert (conversation.state, conversation.agent) == (ConversationState.ACTIVE, agent)
