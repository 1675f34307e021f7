"""End to end on PostgreSQL and Redis with real processes: a WhatsApp customer known only by a username writes
(the webhook signed with a signing key, HMAC-SHA256), an agent replies, Twilio (the emulator) receives the reply
addressed to the customer's WhatsApp user ID, and its delivery report marks it delivered."""

import pytest

from channels_app.models import Contact, Direction, Message
from channels_app.services import NumberSpec, account_create
from tests.e2e.conftest import answering_admin_token, wait_until
from workstreams.models import Conversation

SID, TOKEN = "AC" + "4" * 32, "e2e-twilio-token"
KEY_ID, KEY_SECRET = "webhooks_sharedkey_e2e", "e2e-signing-key-secret-0123456789"
BSUID = "US.13491208655302741918"


@pytest.fixture
def whatsapp(stack):
    account = account_create(
        name="Twilio WhatsApp", channel="whatsapp", provider="twilio",
        credentials={"account_sid": SID, "auth_token": TOKEN, "signing_key_sid": KEY_ID,
                     "signing_key_secret": KEY_SECRET},
        numbers=[NumberSpec("+14155238886", name="Support")])
    stack.emulator.add_twilio_account(SID, TOKEN, signing_key=(KEY_ID, KEY_SECRET, "HMAC_SHA256"))
    stack.emulator.set_twilio_inbound_url("whatsapp:+14155238886", account.callback_urls()["inbound"])
    return {"account": account, "token": answering_admin_token()}


def test_a_username_only_customer_writes_and_gets_the_agents_reply_delivered(stack, whatsapp):
    answer = stack.emulator.inject_inbound(provider="twilio", account=SID, from_=f"whatsapp:{BSUID}",
                                           to="whatsapp:+14155238886", body="Hi, I hide my number",
                                           profile_name="ana.travels")
    assert answer["delivery"]["http_status"] == 200, answer
    assert answer["params"]["ExternalUserId"] == f"whatsapp:{BSUID}" and "WaId" not in answer["params"]
    conversation = wait_until(lambda: Conversation.objects.filter(contact__address=BSUID).first(),
                              what="a conversation with the username-only customer")
    contact = Contact.objects.get(pk=conversation.contact_id)
    assert (contact.display_name, contact.has_phone) == ("ana.travels", False)

    api = stack.api(whatsapp["token"])
    reply = api.post(f"{stack.web_url}/api/v1/conversations/{conversation.pk}/messages/",
                     json={"body": "Hello Ana, your order ships today."}, timeout=10)
    assert reply.status_code == 201, reply.text
    wait_until(lambda: Message.objects.filter(pk=reply.json()["id"], status="delivered").exists(),
               what="the reply to be delivered")
    [sent] = [m for m in stack.emulator.messages(provider="twilio") if m["direction"] != "inbound"]
    assert sent["to"] == f"whatsapp:{BSUID}" and sent["body"] == "Hello Ana, your order ships today."
    message = Message.objects.get(pk=reply.json()["id"])
    assert (message.direction, message.address) == (Direction.OUTBOUND, BSUID)
    # Every callback the emulator sent was signed with the key, and the hub took every one.
    callbacks = stack.emulator.callbacks(provider="twilio")
    assert callbacks and all(c["ok"] for c in callbacks), callbacks
