"""One worker process on every queue stays fair: a long backlog of status callbacks is applied in bounded
slices, and an agent's reply queued behind it is sent before the backlog is through; every callback is
applied once, each message ends at its furthest status."""

import pytest
from django.core.cache import cache
from django.db import transaction
from django.db.models import Max

from channels_app.models import Direction, InboundEvent, Message, MessageStatus
from channels_app.services import delivery
from channels_app.services.inbound import _drain_key, contact_for
from channels_app.tasks import inbound_drain_task
from tests.channels_app.events import form_post
from tests.conftest import TWILIO_ACCOUNT_SID
from tests.integration.conftest import wait_for

CAMPAIGN = 300


@pytest.fixture
def worker_env(provider_stub):
    # One batch of 10 callbacks per slice: the backlog takes 60 slices.
    return {"TWILIO_API_URL": provider_stub.url, "INBOUND_DRAIN_MAX_SECONDS": "0", "INBOUND_STATUS_BATCH": "10"}


@pytest.fixture(autouse=True)
def _provider_url(settings, provider_stub):
    settings.TWILIO_API_URL = provider_stub.url


def _campaign_with_callbacks(account) -> list[Message]:
    phone = account.numbers.get()
    messages = Message.objects.bulk_create([
        Message(account=account, phone_number=phone, contact=contact_for(f"+1555200{i:04d}"), provider="twilio",
                channel="sms", direction=Direction.OUTBOUND, kind="outbound", body=f"Campaign {i}",
                status=MessageStatus.SENT, provider_message_id=f"SMcampaign{i:04d}")
        for i in range(CAMPAIGN)])
    # Both callbacks of each message; for every third one "delivered" arrives before "sent".
    events = []
    for i, message in enumerate(messages):
        order = ("delivered", "sent") if i % 3 == 0 else ("sent", "delivered")
        for status in order:
            events.append(InboundEvent(
                account=account, kind="status", event_key=f"{message.provider_message_id}:{status}",
                url="https://hub/status/", **form_post({"MessageSid": [message.provider_message_id],
                                                         "AccountSid": [TWILIO_ACCOUNT_SID],
                                                         "MessageStatus": [status]})))
    InboundEvent.objects.bulk_create(events)
    return messages


def test_a_reply_is_sent_while_a_backlog_of_callbacks_is_applied_in_slices(
        celery_worker_process, provider_stub, twilio_sms_account):
    messages = _campaign_with_callbacks(twilio_sms_account)
    # The backlog's drain is queued first (as a webhook's wake-up does), the agent's reply right after.
    assert cache.add(_drain_key(twilio_sms_account.pk, 0), 1, timeout=60)
    inbound_drain_task.apply_async(args=[twilio_sms_account.pk, 0], queue="default")
    with transaction.atomic():
        reply = delivery.message_queue(phone_number=twilio_sms_account.numbers.get(),
                                       contact=contact_for("+15551239876"), body="An agent's answer")

    wait_for(lambda: Message.objects.filter(pk=reply.pk, status="sent").exists(), timeout=60,
             what="the reply to be sent")
    wait_for(lambda: not InboundEvent.objects.filter(state="pending").exists(), timeout=120,
             what="every callback to be applied")
    sent_at = Message.objects.get(pk=reply.pk).sent_at
    last_applied = InboundEvent.objects.aggregate(last=Max("processed_at"))["last"]
    assert sent_at < last_applied, "the reply waited for the whole backlog of callbacks"
    assert set(InboundEvent.objects.values_list("state", "attempts").distinct()) == {("processed", 1)}
    statuses = set(Message.objects.filter(pk__in=[m.pk for m in messages]).values_list("status", flat=True))
    assert statuses == {"delivered"}  # a late "sent" never moved one back
    assert not Message.objects.filter(pk__in=[m.pk for m in messages], delivered_at=None).exists()
    assert len([r for r in provider_stub.requests if r["form"].get("Body") == ["An agent's answer"]]) == 1
