"""Inbound → conversation → reply → delivered on every channel, and failures that lose nothing."""

import pytest

from channels_app.models import Direction, Message
from channels_app.services import NumberSpec, account_create
from tests.e2e.conftest import answering_admin_token, wait_until
from workstreams.models import Conversation

TWILIO_SID, TWILIO_TOKEN = "AC" + "1" * 32, "e2e-twilio-token"
TELESIGN_CID, TELESIGN_KEY = "22222222-3333-4444-5555-666666666666", "ZTJlLXRlbGVzaWduLWtleS0wMTIzNDU2Nzg5"


@pytest.fixture
def accounts(stack):
    telesign = account_create(name="TeleSign SMS", channel="sms", provider="telesign",
                              credentials={"customer_id": TELESIGN_CID, "api_key": TELESIGN_KEY},
                              numbers=[NumberSpec("14252306549", "geographic")])
    sms = account_create(name="Twilio SMS", channel="sms", provider="twilio",
                         credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
                         numbers=[NumberSpec("+14155550100", "long_code")])
    whatsapp = account_create(name="Twilio WhatsApp", channel="whatsapp", provider="twilio",
                              credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
                              numbers=[NumberSpec("+14155238886", name="Support")])
    em = stack.emulator
    em.add_twilio_account(TWILIO_SID, TWILIO_TOKEN)
    em.add_telesign_account(TELESIGN_CID, TELESIGN_KEY)
    em.set_telesign_callback_url(TELESIGN_CID, telesign.callback_urls()["callback"])
    em.set_twilio_inbound_url("+14155550100", sms.callback_urls()["inbound"])
    em.set_twilio_inbound_url("whatsapp:+14155238886", whatsapp.callback_urls()["inbound"])
    return {"token": answering_admin_token()}


CHANNELS = [
    ("telesign", TELESIGN_CID, "15551230001", "14252306549", "+15551230001"),
    ("twilio", TWILIO_SID, "+15551230002", "+14155550100", "+15551230002"),
    ("twilio", TWILIO_SID, "whatsapp:+15551230003", "whatsapp:+14155238886", "+15551230003"),
]


def test_inbound_reply_delivered_on_every_channel(stack, accounts):
    api = stack.api(accounts["token"])
    for provider, account, sender, to, address in CHANNELS:
        answer = stack.emulator.inject_inbound(provider=provider, account=account, from_=sender, to=to,
                                               body=f"Hello from {sender}")
        assert answer["delivery"]["http_status"] == 200, answer
        conversation = wait_until(lambda a=address: Conversation.objects.filter(contact__address=a).first(),
                                  what=f"a conversation for {address}")
        reply = api.post(f"{stack.web_url}/api/v1/conversations/{conversation.pk}/messages/",
                         json={"body": f"Hi {address}, we are on it."}, timeout=10)
        assert reply.status_code == 201, reply.text
        message_id = reply.json()["id"]
        wait_until(lambda m=message_id: Message.objects.filter(pk=m, status="delivered").exists(),
                   what=f"the reply to {address} to be delivered")
    sent = [m for m in stack.emulator.messages() if not m["body"].startswith("Hello from")]
    assert sorted(m["body"] for m in sent) == sorted(f"Hi {c[4]}, we are on it." for c in CHANNELS)


def test_thirty_percent_failures_lose_nothing(stack, accounts):
    api = stack.api(accounts["token"])
    conversations = []
    for i in range(10):
        address = f"+1555124{i:04d}"
        stack.emulator.inject_inbound(provider="twilio", account=TWILIO_SID, from_=address, to="+14155550100",
                                      body="hi")
        conversations.append(wait_until(lambda a=address: Conversation.objects.filter(contact__address=a).first(),
                                        what=f"a conversation for {address}"))
    stack.emulator.configure(fail_5xx=0.1, fail_timeout=0.1, fail_429=0.1, timeout_mode="hold",
                             timeout_hold_ms=3000, retry_after_s=1)
    ids = []
    for conversation in conversations:
        for n in range(3):
            response = api.post(f"{stack.web_url}/api/v1/conversations/{conversation.pk}/messages/",
                                json={"body": f"update {n}"}, timeout=10)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])

    def settled():
        states = list(Message.objects.filter(pk__in=ids).values_list("status", "error_code", "error_message"))
        return all(s in ("delivered", "failed") for s, _, _ in states) and states

    states = wait_until(settled, timeout=120, what="every reply to be delivered or failed")
    failures = [(code, text) for status, code, text in states if status == "failed"]
    assert all(text for _, text in failures), failures  # every failure says why
    delivered = sum(1 for s, _, _ in states if s == "delivered")
    assert delivered + len(failures) == 30
    # Nothing was sent twice: the emulator accepted each delivered message exactly once.
    accepted = [m for m in stack.emulator.messages() if m["direction"] == "outbound-api" and m["body"].startswith(
        "update")]
    assert len(accepted) == delivered
    counters = stack.emulator.stats()["counters"]
    # Failures of every kind were really injected, and retried through.
    assert all(counters.get(f"faults.{kind}", 0) > 0 for kind in ("5xx", "timeout", "429")), counters
    assert Message.objects.filter(direction=Direction.OUTBOUND, status__in=["queued", "sending"]).count() == 0
