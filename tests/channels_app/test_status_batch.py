"""Status callbacks applied in batches: the same outcome as one by one, per message in the order received,
never backwards, in a fixed number of statements; a callback for a message not known yet waits for the
sweep instead of being tried again in a loop."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels_app.models import ConsentRecord, Direction, InboundEvent, Message, MessageStatus
from channels_app.services import delivery
from channels_app.services.inbound import contact_for, inbound_drain, inbound_event_process, inbound_events_requeue
from channels_app.services.status_batch import status_events_process_batch
from tests.channels_app.events import form_post
from tests.conftest import TWILIO_ACCOUNT_SID

_keys = iter(range(10**6))


def outgoing(account, n: int, *, sid: str | None = None, status=MessageStatus.SENT) -> Message:
    phone = account.numbers.get()
    return Message.objects.create(account=account, phone_number=phone, contact=contact_for(f"+1555123{n:04d}"),
                                  provider=account.provider, channel=phone.channel, direction=Direction.OUTBOUND,
                                  body=f"Hello {n}", status=status, provider_message_id=sid)


def callback(account, sid: str, status: str, *, message: Message | None = None, error: str = "") -> InboundEvent:
    params = {"MessageSid": [sid], "AccountSid": [TWILIO_ACCOUNT_SID], "MessageStatus": [status]}
    if error:
        params["ErrorCode"] = [error]
    url = "https://hub/webhooks/twilio/x/status/" + (f"?message={message.pk}" if message else "")
    return InboundEvent.objects.create(account=account, kind="status", event_key=f"{sid}:{status}:{next(_keys)}",
                                       url=url, **form_post(params))


def state(message: Message) -> str:
    return Message.objects.get(pk=message.pk).status


@pytest.mark.parametrize(
    ("sequence", "final"),
    [
        (["sent", "delivered"], "delivered"),
        (["delivered", "sent"], "delivered"),  # a late "sent" never moves it back
        (["read", "delivered", "sent"], "read"),
        (["sent", "undelivered"], "undelivered"),
        (["delivered", "failed"], "delivered"),
        (["queued", "sent"], "sent"),
    ],
)
def test_one_message_s_callbacks_in_one_batch_end_as_one_by_one(twilio_sms_account, sequence, final):
    message = outgoing(twilio_sms_account, 1, sid="SM1", status=MessageStatus.SENDING)
    events = [callback(twilio_sms_account, "SM1", s, error="30003" if s == "undelivered" else "")
              for s in sequence]
    status_events_process_batch(event_id=events[0].pk)
    row = Message.objects.get(pk=message.pk)
    assert row.status == final
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {"processed"}
    if final in ("delivered", "read"):
        assert row.delivered_at is not None
    if final == "read":
        assert row.read_at is not None
    if final == "undelivered":
        assert row.error_code == "30003" and "30003" in row.error_message


def test_a_campaign_s_callbacks_take_a_fixed_number_of_statements(twilio_sms_account):
    def run(count: int, offset: int) -> int:
        messages = [outgoing(twilio_sms_account, offset + i, sid=f"SM{offset + i}") for i in range(count)]
        events = [callback(twilio_sms_account, m.provider_message_id, s) for m in messages
                  for s in ("sent", "delivered")]
        with CaptureQueriesContext(connection) as queries:
            result = status_events_process_batch(event_id=events[0].pk)
        assert (result.moved, result.kept, result.unknown, result.slow) == (count, count, 0, 0)
        assert Message.objects.filter(pk__in=[m.pk for m in messages], status="delivered").count() == count
        return len(queries)

    assert run(5, 0) == run(200, 1000)  # the same statements for 10 callbacks as for 400


def test_a_callback_ahead_of_the_send_s_bookkeeping_finds_the_message_by_our_id(twilio_sms_account):
    message = outgoing(twilio_sms_account, 1, status=MessageStatus.SENDING)  # no provider id recorded yet
    events = [callback(twilio_sms_account, "SMearly", "sent", message=message),
              callback(twilio_sms_account, "SMearly", "delivered", message=message)]
    status_events_process_batch(event_id=events[0].pk)
    row = Message.objects.get(pk=message.pk)
    assert (row.status, row.provider_message_id) == ("delivered", "SMearly")
    # The send's own write-back comes later and does not move it back.
    delivery.messages_outcome_apply(account=twilio_sms_account,
                                    attempts=[delivery.Attempt(message.pk, 1, provider_message_id="SMearly")])
    assert state(message) == "delivered"


def test_a_callback_for_an_unknown_message_waits_for_the_sweep_and_settles_later(
        twilio_sms_account, settings, django_capture_on_commit_callbacks):
    settings.INBOUND_DRAIN_SLOTS = 0
    known = outgoing(twilio_sms_account, 1, sid="SMknown")
    early = callback(twilio_sms_account, "SMlater", "delivered")
    other = callback(twilio_sms_account, "SMknown", "delivered")
    assert inbound_drain(account_id=twilio_sms_account.pk, slot=0) == 1  # one batch, no loop on the unknown one
    early.refresh_from_db()
    assert (early.state, early.attempts) == ("pending", 1)
    assert "SMlater" in early.error
    assert state(known) == "delivered" and InboundEvent.objects.get(pk=other.pk).state == "processed"
    # A later drain does not take it again; the sweep does, once its message exists.
    assert inbound_drain(account_id=twilio_sms_account.pk, slot=0) == 0
    later = outgoing(twilio_sms_account, 2, sid="SMlater")
    InboundEvent.objects.filter(pk=early.pk).update(received_at=early.received_at.replace(year=2000))
    with django_capture_on_commit_callbacks(execute=True):
        assert inbound_events_requeue() == 1  # eager in tests: processed now
    assert state(later) == "delivered"
    assert InboundEvent.objects.get(pk=early.pk).state == "processed"


def test_a_callback_for_a_message_never_known_fails_with_its_reason_after_its_attempts(twilio_sms_account,
                                                                                         settings):
    settings.INBOUND_EVENT_MAX_ATTEMPTS = 2
    event = callback(twilio_sms_account, "SMnowhere", "delivered")
    status_events_process_batch(event_id=event.pk)
    status_events_process_batch(event_id=event.pk)
    event.refresh_from_db()
    assert (event.state, event.attempts) == ("failed", 2)
    assert "SMnowhere" in event.error


def test_an_opt_out_code_in_a_batch_records_the_opt_out(twilio_sms_account):
    message = outgoing(twilio_sms_account, 1, sid="SMstop")
    events = [callback(twilio_sms_account, "SMstop", "failed", error="21610"),
              callback(twilio_sms_account, "SMx", "delivered")]
    outgoing(twilio_sms_account, 2, sid="SMx")
    status_events_process_batch(event_id=events[0].pk)
    assert state(message) == "failed"
    record = ConsentRecord.objects.get()
    assert (record.contact_id, record.state) == (message.contact_id, "opted_out")


def test_a_campaign_s_opt_outs_are_recorded_once_each_in_a_fixed_number_of_statements(twilio_sms_account):
    def run(count: int, offset: int) -> int:
        messages = [outgoing(twilio_sms_account, offset + i, sid=f"SMstop{offset + i}") for i in range(count)]
        # The first recipient had already opted out (named twice, recorded once): no second record for them.
        Message.objects.filter(pk=messages[0].pk).update(error_code="21610")
        first = Message.objects.select_related("contact", "phone_number").get(pk=messages[0].pk)
        assert delivery.provider_opt_outs_record([first, first]) == 1
        events = [callback(twilio_sms_account, m.provider_message_id, "failed", error="21610") for m in messages]
        before = ConsentRecord.objects.count()
        with CaptureQueriesContext(connection) as queries:
            status_events_process_batch(event_id=events[0].pk)
        assert ConsentRecord.objects.count() - before == count - 1
        assert set(ConsentRecord.objects.filter(contact__in=[m.contact_id for m in messages])
                   .values_list("state", flat=True)) == {"opted_out"}
        return len(queries)

    assert run(3, 0) == run(60, 100)


def test_the_batch_and_one_by_one_apply_the_same_rule(twilio_sms_account):
    """Every pair of callbacks, applied by the batch to one message and one by one to another: the same
    status, times noted and error kept."""
    statuses = ["queued", "sent", "delivered", "read", "failed", "undelivered"]
    pairs = [(a, b) for a in statuses for b in statuses]
    batched = [outgoing(twilio_sms_account, i, sid=f"SMb{i}", status=MessageStatus.SENDING)
               for i in range(len(pairs))]
    single = [outgoing(twilio_sms_account, 500 + i, sid=f"SMs{i}", status=MessageStatus.SENDING)
              for i in range(len(pairs))]
    events = [callback(twilio_sms_account, f"SMb{i}", s, error="30003" if s in ("failed", "undelivered") else "")
              for i, pair in enumerate(pairs) for s in pair]
    status_events_process_batch(event_id=events[0].pk)
    for i, pair in enumerate(pairs):
        for s in pair:
            event = callback(twilio_sms_account, f"SMs{i}", s, error="30003" if s in ("failed", "undelivered") else "")
            inbound_event_process(event_id=event.pk)
    fields = ("status", "error_code", "error_message")
    for b, o, pair in zip(batched, single, pairs, strict=True):
        b, o = Message.objects.get(pk=b.pk), Message.objects.get(pk=o.pk)
        assert [getattr(b, f) for f in fields] == [getattr(o, f) for f in fields], pair
        assert (b.delivered_at is None, b.read_at is None) == (o.delivered_at is None, o.read_at is None), pair


def test_a_malformed_callback_goes_one_by_one_and_fails_with_its_reason(twilio_sms_account):
    message = outgoing(twilio_sms_account, 1, sid="SMok")
    bad = callback(twilio_sms_account, "SMbad", "exploded")
    good = callback(twilio_sms_account, "SMok", "delivered")
    result = status_events_process_batch(event_id=bad.pk)
    assert (result.moved, result.slow) == (1, 1)
    bad.refresh_from_db()
    assert bad.state == "failed" and "exploded" in bad.error
    assert state(message) == "delivered" and InboundEvent.objects.get(pk=good.pk).state == "processed"


def test_a_failing_batch_falls_back_to_one_by_one(twilio_sms_account, monkeypatch):
    from channels_app.services import status_batch

    messages = [outgoing(twilio_sms_account, i, sid=f"SMf{i}") for i in range(3)]
    events = [callback(twilio_sms_account, m.provider_message_id, "delivered") for m in messages]

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(status_batch, "rows_update", broken)
    result = status_events_process_batch(event_id=events[0].pk)
    assert result.slow == 3
    assert {state(m) for m in messages} == {"delivered"}


def test_another_account_s_callbacks_are_not_taken(twilio_sms_account, twilio_whatsapp_account):
    mine = outgoing(twilio_sms_account, 1, sid="SMmine")
    theirs = outgoing(twilio_whatsapp_account, 2, sid="SMtheirs")
    first = callback(twilio_sms_account, "SMmine", "delivered")
    other = callback(twilio_whatsapp_account, "SMtheirs", "delivered")
    status_events_process_batch(event_id=first.pk)
    assert state(mine) == "delivered" and state(theirs) == "sent"
    assert InboundEvent.objects.get(pk=other.pk).state == "pending"


@pytest.mark.parametrize("one_by_one", [False, True])
def test_only_a_failure_with_an_opt_out_code_records_an_opt_out(twilio_sms_account, one_by_one):
    """Twilio passes ErrorCode through on every status: a "delivered" carrying 21610 opts nobody out."""
    delivered = outgoing(twilio_sms_account, 1, sid="SMd")
    failed = outgoing(twilio_sms_account, 2, sid="SMf")
    events = [callback(twilio_sms_account, "SMd", "delivered", error="21610"),
              callback(twilio_sms_account, "SMf", "undelivered", error="21610")]
    if one_by_one:
        for event in events:
            inbound_event_process(event_id=event.pk)
    else:
        status_events_process_batch(event_id=events[0].pk)

    assert (state(delivered), state(failed)) == ("delivered", "undelivered")
    record = ConsentRecord.objects.get()
    assert (record.contact_id, record.state, record.source) == (failed.contact_id, "opted_out", "provider error 21610")
