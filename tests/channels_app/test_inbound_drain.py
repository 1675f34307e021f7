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


def stored(account, n, start=0):
    return [InboundEvent.objects.create(account=account, kind="inbound", event_key=f"SM{i}", url="https://hub/x",
                                        **form_post({"MessageSid": [f"SM{i}"], "From": [f"+1555123{i:04d}"],
                                                     "To": ["+14155550100"], "Body": ["hi"]}))
            for i in range(start, start + n)]


def test_events_wake_at_most_the_slots_and_a_drain_processes_them_all(
        twilio_sms_account, django_capture_on_commit_callbacks, monkeypatch, settings):
    from channels_app import tasks

    settings.INBOUND_DRAIN_SLOTS = 2
    published = []
    monkeypatch.setattr(tasks.inbound_drain_task, "apply_async", lambda args, **kw: published.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        for event in stored(twilio_sms_account, 5):
            inbound.event_enqueue(event_id=event.pk, account_id=event.account_id)
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


def test_a_burst_wakes_one_drain_while_the_memo_holds(twilio_sms_account, django_capture_on_commit_callbacks,
                                                      monkeypatch, settings):
    from channels_app import tasks

    settings.INBOUND_DRAIN_SLOTS = 2
    settings.INBOUND_WAKE_MEMO_SECONDS = 60
    published = []
    monkeypatch.setattr(tasks.inbound_drain_task, "apply_async", lambda args, **kw: published.append((args, kw)))
    events = stored(twilio_sms_account, 5)
    with django_capture_on_commit_callbacks(execute=True):
        for event in events:
            inbound.event_enqueue(event_id=event.pk, account_id=event.account_id)
    # One drain, woken by the first event; no Redis call for the other four.
    assert published == [([twilio_sms_account.pk, events[0].pk % 2], {"queue": "default"})]


def test_a_drain_looks_again_later_and_finds_an_event_whose_wake_up_was_skipped(
        twilio_sms_account, django_capture_on_commit_callbacks, monkeypatch, settings):
    from channels_app import tasks

    settings.INBOUND_WAKE_MEMO_SECONDS = 0.5
    published = []
    monkeypatch.setattr(tasks.inbound_drain_task, "apply_async", lambda args, **kw: published.append((args, kw)))
    [first] = stored(twilio_sms_account, 1)
    with django_capture_on_commit_callbacks(execute=True):
        inbound.event_enqueue(event_id=first.pk, account_id=first.account_id)  # takes slot first.pk % 2 and wakes a drain
    slot = published[0][0][1]
    assert inbound.inbound_drain(account_id=twilio_sms_account.pk, slot=slot) == 1
    # The drain let go of its slot and scheduled a final check, 2 × the memo later.
    assert published[1] == ([twilio_sms_account.pk, slot], {"kwargs": {"final": True}, "countdown": 1.0,
                                                            "queue": "default"})
    # Meanwhile a webhook in a process that had seen the slot taken skips the wake-up.
    [late] = stored(twilio_sms_account, 1, start=1)
    with django_capture_on_commit_callbacks(execute=True):
        inbound.event_enqueue(event_id=late.pk, account_id=late.account_id)
    assert len(published) == 2
    # The final check processes it.
    assert inbound.inbound_drain(account_id=twilio_sms_account.pk, slot=slot, final=True) == 1
    assert InboundEvent.objects.get(pk=late.pk).state == "processed"
    # With nothing left, a final check neither takes the slot nor schedules another one.
    assert inbound.inbound_drain(account_id=twilio_sms_account.pk, slot=slot, final=True) == 0
    assert len(published) == 3  # only the processing drain's own final check
    assert cache.add(inbound._drain_key(twilio_sms_account.pk, slot), 1, timeout=1)


def test_a_drain_works_a_bounded_slice_then_hands_the_worker_back(twilio_sms_account, monkeypatch, settings):
    from channels_app import tasks

    settings.INBOUND_DRAIN_MAX_SECONDS = 0  # one batch per slice
    settings.INBOUND_PROCESS_BATCH = 2
    published = []
    monkeypatch.setattr(tasks.inbound_drain_task, "apply_async", lambda args, **kw: published.append((args, kw)))
    stored(twilio_sms_account, 5)
    cache.add(inbound._drain_key(twilio_sms_account.pk, 0), 1, timeout=60)  # the slot its wake-up took
    assert inbound.inbound_drain(account_id=twilio_sms_account.pk, slot=0) == 1
    assert Message.objects.count() == 2  # one batch; the rest is for the continuation, queued behind others
    assert published == [([twilio_sms_account.pk, 0], {"queue": "default"})]
    assert not cache.add(inbound._drain_key(twilio_sms_account.pk, 0), 1, timeout=1)  # still held for it
    while published:
        args, _ = published.pop()
        inbound.inbound_drain(account_id=args[0], slot=args[1])
    assert Message.objects.count() == 5 and not InboundEvent.objects.filter(state="pending").exists()
