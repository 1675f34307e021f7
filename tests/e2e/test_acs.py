"""End to end on Azure Communication Services: Event Grid inbound → conversation → agent reply → the emulator
receives a correctly signed send → delivery report → delivered, with real web, worker and beat processes."""

import pytest

from channels_app.models import ChannelLog, Message
from channels_app.services import NumberSpec, account_create
from tests.e2e.conftest import answering_admin_token, wait_until
from workstreams.models import Conversation

ACS_KEY = "ZTJlLWFjcy1hY2Nlc3Mta2V5LTAxMjM0NTY3ODk="
ACS_NUMBER = "+18005550142"


@pytest.fixture
def acs(stack):
    account = account_create(name="Azure SMS", channel="sms", provider="acs",
                             credentials={"endpoint": stack.emulator.tls_url, "access_key": ACS_KEY},
                             numbers=[NumberSpec(ACS_NUMBER, "toll_free")])
    stack.emulator.add_acs_resource("support", ACS_KEY, {ACS_NUMBER: "tollFree"})
    return account, answering_admin_token()


@pytest.mark.parametrize("schema", ["eventgrid", "cloudevents"])
def test_event_grid_inbound_reply_signed_send_and_delivery_report(stack, acs, schema):
    account, token = acs
    emulator = stack.emulator
    subscription = emulator.subscribe_acs("support", account.callback_urls()["events"], schema=schema)
    assert subscription["validated"], subscription  # the hub answered the handshake through gunicorn
    answer = emulator.inject_inbound(provider="acs", from_="+15551230042", to=ACS_NUMBER, body="Is my order late?")
    assert answer["delivery"]["http_status"] == 200, answer
    conversation = wait_until(lambda: Conversation.objects.filter(contact__address="+15551230042").first(),
                              what="a conversation for the customer", stack=stack)

    reply = stack.api(token).post(f"{stack.web_url}/api/v1/conversations/{conversation.pk}/messages/",
                                  json={"body": "It ships tomorrow."}, timeout=10)
    assert reply.status_code == 201, reply.text
    message_id = reply.json()["id"]
    wait_until(lambda: Message.objects.filter(pk=message_id, status="delivered").exists(), timeout=60,
               what="the reply to be delivered", stack=stack)

    # The emulator checked the HMAC signature: a send it accepted was signed with the account's key.
    sends = emulator.requests(provider="acs", kind="send")
    assert [r["status"] for r in sends] == [202]
    [sent] = emulator.messages(provider="acs", direction="outbound-api")
    message = Message.objects.get(pk=message_id)
    assert (sent["body"], sent["to"], sent["tag"], sent["id"]) == (
        "It ships tomorrow.", "+15551230042", str(message_id), message.provider_message_id)
    assert emulator.wait_idle(10)
    report = emulator.callbacks(provider="acs", kind="delivery_report")
    assert [c["http_status"] for c in report] == [200]
    assert ChannelLog.objects.filter(account=account, kind="send", status_code=202).count() == 1


def test_a_send_whose_answer_was_lost_is_sent_again_and_delivered_once(stack, acs):
    """ACS accepts the message but the answer never reaches the hub (the worker times out): the hub sends it
    again with the same repeatability id, and ACS delivers it once."""
    account, token = acs
    emulator = stack.emulator
    emulator.subscribe_acs("support", account.callback_urls()["events"])
    emulator.inject_inbound(provider="acs", from_="+15551230043", to=ACS_NUMBER, body="Any news?")
    conversation = wait_until(lambda: Conversation.objects.filter(contact__address="+15551230043").first(),
                              what="a conversation for the customer", stack=stack)
    # Its delivery report comes late, after the hub has given up waiting and sent the message again.
    emulator.configure(fail_timeout=1.0, timeout_mode="accept_then_hold", timeout_hold_ms=3000,
                       callback_delay_ms=6000)
    reply = stack.api(token).post(f"{stack.web_url}/api/v1/conversations/{conversation.pk}/messages/",
                                  json={"body": "Yes: it left the warehouse."}, timeout=10)
    assert reply.status_code == 201, reply.text
    wait_until(lambda: emulator.requests(provider="acs", kind="send"), what="the first send", stack=stack)
    emulator.configure(fail_timeout=0.0, callback_delay_ms=20)
    message_id = reply.json()["id"]
    wait_until(lambda: Message.objects.filter(pk=message_id, status="delivered").exists(), timeout=90,
               what="the reply to be delivered", stack=stack)
    assert emulator.wait_idle(10)
    assert len(emulator.messages(provider="acs", direction="outbound-api")) == 1  # delivered once
    assert emulator.stats()["counters"].get("acs.repeated", 0) >= 1  # the resend was recognised
    assert len(emulator.callbacks(provider="acs", kind="delivery_report")) == 1
