"""The upward seam: handlers get a typed ``Received`` value, one at a time or many at once."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from channels_app.models import InboundEvent
from channels_app.policy import InboundHandler, NumberPolicy, Received, inbound_handlers
from channels_app.services.consent import Keyword
from channels_app.services.inbound import EventOutcome, inbound_event_process
from channels_app.services.inbound_batch import inbound_events_process_batch


class Recorder(InboundHandler[str]):
    def __init__(self):
        self.calls: list[list[Received]] = []

    def many(self, received):
        self.calls.append(list(received))
        return [f"handled {r.message.provider_message_id}" for r in received]


recorder = Recorder()
not_a_handler = object()


def no_customer_attachments(phone_number):
    return NumberPolicy(customers_may_send_attachments=False)


@pytest.fixture(autouse=True)
def only_the_recorder(settings):
    settings.HUB_INBOUND_HANDLERS = ["tests.channels_app.test_seams.recorder"]
    recorder.calls.clear()


def _event(account, message_id, body, **extra):
    payload = {"message_id": message_id, "from": "+15551234567", "to": "+15005550006", "body": body, **extra}
    return InboundEvent.objects.create(account=account, kind="inbound", event_key=message_id,
                                       url="https://hub.example/inbound/", body=json.dumps(payload).encode(),
                                       content_type="application/json")


def _received():
    return [r for call in recorder.calls for r in call]


def test_a_keyword_arrives_with_whether_it_changed_the_consent(sandbox_account):
    assert inbound_event_process(event_id=_event(sandbox_account, "m1", "STOP").pk) == EventOutcome.RECEIVED
    assert inbound_event_process(event_id=_event(sandbox_account, "m2", "stop").pk) == EventOutcome.RECEIVED
    assert inbound_event_process(event_id=_event(sandbox_account, "m3", "START").pk) == EventOutcome.RECEIVED
    first, second, third = _received()
    assert (first.keyword, first.consent_changed) == (Keyword.OPT_OUT, True)
    assert (second.keyword, second.consent_changed) == (Keyword.OPT_OUT, False)  # already opted out
    assert (third.keyword, third.consent_changed) == (Keyword.OPT_IN, True)
    assert [len(call) for call in recorder.calls] == [1, 1, 1]  # one at a time: ``one``, which is ``many`` of one


def test_refused_attachments_arrive_counted(sandbox_account, settings):
    settings.HUB_NUMBER_POLICY = "tests.channels_app.test_seams.no_customer_attachments"
    media = [{"url": "https://files.example/a.jpg", "content_type": "image/jpeg"},
             {"url": "https://files.example/b.jpg", "content_type": "image/jpeg"}]
    inbound_event_process(event_id=_event(sandbox_account, "m1", "photos", media=media).pk)
    [received] = _received()
    assert (received.refused_attachments, received.keyword) == (2, None)
    assert set(received.message.attachments.values_list("state", flat=True)) == {"refused"}


def test_plain_messages_arrive_together_through_many(sandbox_account):
    events = [_event(sandbox_account, f"m{i}", f"hello {i}") for i in range(3)]
    inbound_events_process_batch(event_id=events[0].pk)
    [call] = recorder.calls
    assert [r.message.body for r in call] == ["hello 0", "hello 1", "hello 2"]
    assert {(r.keyword, r.consent_changed, r.refused_attachments) for r in call} == {(None, False, 0)}


def test_one_is_many_with_one_item(sandbox_account):
    inbound_event_process(event_id=_event(sandbox_account, "m1", "hi").pk)
    [received] = _received()
    assert recorder.one(received) == "handled m1"


def test_outcomes_are_named(sandbox_account):
    event = _event(sandbox_account, "m1", "hi")
    assert inbound_event_process(event_id=event.pk) == EventOutcome.RECEIVED
    assert inbound_event_process(event_id=event.pk) == EventOutcome.SKIPPED
    again = InboundEvent.objects.create(account=sandbox_account, kind="inbound", event_key="m1-again",
                                        url=event.url, body=event.body, content_type=event.content_type)
    assert inbound_event_process(event_id=again.pk) == EventOutcome.DUPLICATE
    assert inbound_event_process(event_id=10**9) == EventOutcome.MISSING
    unknown = InboundEvent.objects.create(account=sandbox_account, kind="status", event_key="x:delivered:",
                                          url="https://hub.example/status/", content_type="application/json",
                                          body=json.dumps({"message_id": "x", "status": "delivered"}).encode())
    assert inbound_event_process(event_id=unknown.pk) == EventOutcome.WILL_RETRY


def test_a_handler_that_is_not_an_inbound_handler_is_refused_clearly(settings):
    settings.HUB_INBOUND_HANDLERS = ["tests.channels_app.test_seams.not_a_handler"]
    with pytest.raises(ImproperlyConfigured, match="not_a_handler is not an InboundHandler instance"):
        inbound_handlers()


def test_the_default_handlers_are_the_work_and_outbound_apps(settings):
    from outbound.inbound import reply_inbound
    from workstreams.inbound import conversation_inbound

    settings.HUB_INBOUND_HANDLERS = ["workstreams.inbound.conversation_inbound", "outbound.inbound.reply_inbound"]
    assert inbound_handlers() == (conversation_inbound, reply_inbound)
