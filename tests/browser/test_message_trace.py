""""Why didn't my SMS arrive?" in a real browser: a support administrator opens one message's admin page and
reads its whole story — the customer's webhook that opened the conversation, the reply's first attempt that
could not reach Twilio, the retry that did (with what was sent and what came back), the status callbacks,
and where it stands now."""

from __future__ import annotations

import socket
import uuid

from django.utils import timezone
from playwright.sync_api import expect

from channels_app.models import Message
from channels_app.services import delivery
from tests.conftest import TWILIO_ACCOUNT_SID
from workstreams.models import AgentProfile, Conversation
from workstreams.services.conversations import conversation_reply

from .conftest import PASSWORD, WHATSAPP_NUMBER, twilio_post


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_administrator_reads_a_messages_story_on_its_page(page, hub, settings, twilio_stub, whatsapp_account,
                                                             whatsapp_workstream, django_user_model):
    token = whatsapp_account.webhook_token
    assert twilio_post(hub, f"/webhooks/twilio/{token}/inbound/", {
        "MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": TWILIO_ACCOUNT_SID, "From": "whatsapp:+15551234567",
        "To": f"whatsapp:{WHATSAPP_NUMBER}", "Body": "Where is my parcel?", "NumMedia": "0",
        "ProfileName": "Maria"}).status_code == 200
    conversation = Conversation.objects.get()
    admin = django_user_model.objects.create_superuser("lea", password=PASSWORD)
    AgentProfile.objects.create(user=admin, presence="available")  # answering takes it: a present member
    conversation.queue.members.add(admin)

    settings.TWILIO_API_URL = f"http://127.0.0.1:{closed_port()}"  # Twilio unreachable for the first attempt
    reply = conversation_reply(conversation=conversation, author=admin, body="It left the depot this morning.")
    reply.refresh_from_db()
    assert reply.status == "queued" and reply.attempts == 1
    settings.TWILIO_API_URL = twilio_stub.url
    Message.objects.filter(pk=reply.pk).update(next_attempt_at=timezone.now())
    assert delivery.message_send(message_id=reply.pk) == "sent"
    reply.refresh_from_db()
    for status in ("sent", "delivered"):
        assert twilio_post(hub, f"/webhooks/twilio/{token}/status/?message={reply.pk}", {
            "MessageSid": reply.provider_message_id, "MessageStatus": status, "AccountSid": TWILIO_ACCOUNT_SID,
            "From": f"whatsapp:{WHATSAPP_NUMBER}", "To": "whatsapp:+15551234567"}).status_code == 200

    page.goto(f"{hub.url}/admin/channels_app/message/{reply.pk}/change/")
    page.fill("#id_username", "lea")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    trace = page.locator("#message-trace")
    expect(trace.get_by_role("heading", name="Trace: the message's whole story")).to_be_visible()
    entries = trace.locator(".channels-trace-entry")
    expect(entries).to_have_count(8)
    titles = [t.strip() for t in entries.locator(".channels-trace-title").all_inner_texts()]
    assert titles[0] == "Created (regular) by lea"
    assert titles[1] == f"Sent in conversation #{conversation.pk}"
    assert titles[2] == "Send attempt 1: no answer" or titles[2].startswith("Send attempt 1: no answer in")
    assert titles[3:] == ["Retried", titles[4], "Status callback: sent", "Status callback: delivered",
                          "Now: delivered"]
    assert titles[4].startswith("Send attempt 2: HTTP 201")

    first = entries.nth(2)
    expect(first).to_have_class("channels-trace-entry channels-trace--error")
    expect(first.locator(".channels-trace-detail")).to_contain_text("could not reach 127.0.0.1")
    second = entries.nth(4)
    exchange = second.locator("details.channels-trace-exchange")
    expect(exchange.locator("pre").first).not_to_be_visible()
    exchange.locator("summary").click()  # what was sent, and what Twilio answered
    expect(exchange.locator("pre").first).to_contain_text("It+left+the+depot+this+morning.")
    expect(exchange.locator("pre").nth(1)).to_contain_text(reply.provider_message_id)
    assert TWILIO_ACCOUNT_SID not in exchange.inner_text()
    delivered = entries.nth(6)
    delivered.locator("summary").click()  # the callback as Twilio posted it
    expect(delivered.locator("pre")).to_contain_text("MessageStatus=delivered")
    expect(entries.last).to_have_class("channels-trace-entry channels-trace--ok")

    # From the story to the conversation it belongs to.
    entries.nth(1).get_by_role("link", name=f"Conversation #{conversation.pk}").click()
    expect(page).to_have_url(f"{hub.url}/admin/workstreams/conversation/{conversation.pk}/change/")
