"""The queues a worker consumes: a plain ``celery -A config worker`` (no ``-Q``) sends agents' replies
(queue "replies") and campaigns (queue "bulk"); the documented split over two workers does too."""

import pytest

from channels_app.models import Message
from channels_app.services import NumberSpec, account_create
from tests.e2e.conftest import answering_admin_token, wait_until
from tests.outbound.conftest import contact, make_configuration
from workstreams.models import Conversation

TWILIO_SID, TWILIO_TOKEN = "AC" + "7" * 32, "e2e-queues-token"


@pytest.fixture
def hub(stack):
    account = account_create(name="Twilio SMS", channel="sms", provider="twilio",
                             credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
                             numbers=[NumberSpec("+14155550100", "long_code")])
    stack.emulator.add_twilio_account(TWILIO_SID, TWILIO_TOKEN)
    stack.emulator.set_twilio_inbound_url("+14155550100", account.callback_urls()["inbound"])
    return {"configuration": str(make_configuration(account).configuration_id), "token": answering_admin_token()}


def _reply_and_campaign_delivered(stack, hub) -> None:
    api = stack.api(hub["token"])
    answer = stack.emulator.inject_inbound(provider="twilio", account=TWILIO_SID, from_="+15551239999",
                                           to="+14155550100", body="Where is my order?")
    assert answer["delivery"]["http_status"] == 200, answer
    conversation = wait_until(lambda: Conversation.objects.filter(contact__address="+15551239999").first(),
                              what="the customer's conversation")
    reply = api.post(f"{stack.web_url}/api/v1/conversations/{conversation.pk}/messages/",
                     json={"body": "On its way."}, timeout=10)
    assert reply.status_code == 201, reply.text
    campaign = api.post(f"{stack.web_url}/api/v1/outbound/requests/", timeout=30,
                        json={"configuration_id": hub["configuration"], "contacts": [contact(i) for i in range(10)]})
    assert campaign.status_code == 202, campaign.text
    wait_until(lambda: Message.objects.filter(pk=reply.json()["id"], status="delivered").exists(),
               what="the agent's reply (queue replies) to be delivered")
    wait_until(lambda: Message.objects.filter(kind="outbound", status="delivered").count() == 10,
               what="the campaign (queue bulk) to be delivered")
    bodies = [m["body"] for m in stack.emulator.messages() if m["direction"] == "outbound-api"]
    assert bodies.count("On its way.") == 1 and len(bodies) == 11


def test_a_plain_worker_consumes_replies_and_bulk(stack, hub):
    assert "-Q" not in stack.processes["worker"].cmd  # the stack's worker: `celery -A config worker`
    _reply_and_campaign_delivered(stack, hub)


def test_a_worker_for_bulk_beside_one_for_default_and_replies(stack, hub):
    stack.processes.pop("worker").stop()
    stack.start_worker("worker-bulk", concurrency=1, queues="bulk")
    stack.start_worker("worker-replies", concurrency=1, queues="default,replies")
    _reply_and_campaign_delivered(stack, hub)
