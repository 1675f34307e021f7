"""With Redis, stored events wake a drain per account instead of one task each."""

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache

from channels_app.models import InboundEvent, Message
from channels_app.services import inbound
from tests.channels_app.events import form_post

pytestmark = pytest.mark.skipif(not django_settings.REDIS_URL, reason="drains coordinate through Redis")


@pytest.fixture(autouse=True)
def _free_slots(twilio_sms_account):
    yield
    for slot in range(4):
        cache.delete(inbound._drain_key(twilio_sms_account.pk, slot))


def stored(account, n):
    return [InboundEvent.objects.create(account=account, kind="inbound", event_key=f"SM{i}", url="https://hub/x",
                                        **form_post({"MessageSid": [f"SM{i}"], "From": [f"+1555123{i:04d}"],
                                                "To": ["+14155550100"], "Body": ["hi"]})) for i in range(n)]


def test_events_wake_at_most_the_slots_and_a_drain_processes_them_all(
        twilio_sms_account, django_capture_on_commit_callbacks, monkeypatch, settings):
    from channels_app import tasks

    settings.INBOUND_DRAIN_SLOTS = 2
    published = []
    monkeypatch.setattr(tasks.inbound_drain_task, "apply_async", lambda args, **kw: published.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        for event in stored(twilio_sms_account, 5):
            inbound.event_enqueue(event)
    assert sorted(published) == [[twilio_sms_account.pk, 0], [twilio_sms_account.pk, 1]]  # two drains, five events
    assert inbound.inbound_drain(account_id=twilio_sms_account.pk, slot=0) == 1  # one batch did it all
    assert inbound.inbound_drain(account_id=twilio_sms_account.pk, slot=1) == 0
    assert Message.objects.count() == 5
    for slot in (0, 1):  # both slots were released
        assert cache.add(inbound._drain_key(twilio_sms_account.pk, slot), 1, timeout=1)


def test_a_failed_event_is_left_to_the_sweep(twilio_sms_account):
    [event] = stored(twilio_sms_account, 1)
    InboundEvent.objects.filter(pk=event.pk).update(attempts=1)
    assert inbound.inbound_drain(account_id=twilio_sms_account.pk, slot=0) == 0
    assert InboundEvent.objects.get(pk=event.pk).state == "pending"
