"""End to end on PostgreSQL and Redis with real processes: an SMS account whose number is a Twilio Messaging
Service. A customer texts one of the service's pool numbers, the message reaches the account, the agent's
reply goes out with MessagingServiceSid and no From, Twilio (the emulator) sends it from the pool, and its
status callbacks — carrying MessagingServiceSid — mark it delivered."""

import pytest

from channels_app.models import Message
from channels_app.services import NumberSpec, account_create
from tests.e2e.conftest import answering_admin_token, wait_until
from workstreams.models import Conversation

SID, TOKEN = "AC" + "6" * 32, "e2e-twilio-token"
SERVICE = "MG" + "6" * 32
POOL = ["+14155550161", "+14155550162"]


@pytest.fixture
def service_account(stack):
    account = account_create(name="Twilio A2P", channel="sms", provider="twilio",
                             credentials={"account_sid": SID, "auth_token": TOKEN},
                             numbers=[NumberSpec(SERVICE, "service", description="US campaign")])
    emulator = stack.emulator
    emulator.add_twilio_account(SID, TOKEN)
    emulator.add_twilio_service(SID, SERVICE, POOL)
    for number in POOL:  # the service's inbound setting: every sender posts to the account's URL
        emulator.set_twilio_inbound_url(number, account.callback_urls()["inbound"])
    return {"account": account, "token": answering_admin_token()}


def test_a_customer_of_a_messaging_service_is_answered_through_the_service(stack, service_account):
    answer = stack.emulator.inject_inbound(provider="twilio", account=SID, from_="+15551230061", to=POOL[1],
                                           body="Where is order 1001?")
    assert answer["delivery"]["http_status"] == 200 and answer["params"]["MessagingServiceSid"] == SERVICE
    conversation = wait_until(lambda: Conversation.objects.filter(contact__address="+15551230061").first(),
                              what="a conversation on the Messaging Service")
    assert conversation.phone_number.number == SERVICE

    reply = stack.api(service_account["token"]).post(
        f"{stack.web_url}/api/v1/conversations/{conversation.pk}/messages/", json={"body": "It ships today."},
        timeout=10)
    assert reply.status_code == 201, reply.text
    wait_until(lambda: Message.objects.filter(pk=reply.json()["id"], status="delivered").exists(),
               what="the reply to be delivered")
    [request] = [r for r in stack.emulator.requests(provider="twilio", kind="send")]
    assert request["params"]["MessagingServiceSid"] == [SERVICE] and "From" not in request["params"]
    [sent] = [m for m in stack.emulator.messages(provider="twilio") if m["direction"] != "inbound"]
    assert sent["from"] == POOL[0] and sent["to"] == "+15551230061"
