from datetime import timedelta

import pytest
import requests
import time_machine
from django.utils import timezone

from channels_app.models import ConsentState, Direction, Message, MessageStatus
from channels_app.providers import StatusUpdate, sandbox
from channels_app.services import consent, delivery
from channels_app.services.inbound import contact_for
from config.exceptions import ServiceError
from tests.conftest import TWILIO_ACCOUNT_SID

MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"


@pytest.fixture
def customer(db):
    return contact_for("+15551234567")


def _queue(account, contact, body="Hello", capture=None, **kw):
    if capture is None:
        return delivery.message_queue(phone_number=account.numbers.get(), contact=contact, body=body, **kw)
    with capture(execute=True):
        return delivery.message_queue(phone_number=account.numbers.get(), contact=contact, body=body, **kw)


def _inbound(account, contact, when=None):
    phone = account.numbers.get()
    message = Message.objects.create(account=account, phone_number=phone, contact=contact, provider=account.provider,
                                     channel=phone.channel, direction=Direction.INBOUND, body="hi",
                                     status=MessageStatus.RECEIVED)
    if when:
        Message.objects.filter(pk=message.pk).update(created_at=when)
    return message


def test_a_reply_is_queued_then_sent_by_the_worker(twilio_sms_account, customer, mocked_http,
                                                   django_capture_on_commit_callbacks):
    mocked_http.post(MESSAGES_URL, status=201, json={"sid": "SM" + "1" * 32, "status": "queued"})
    message = _queue(twilio_sms_account, customer, "Hello there", django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert (message.status, message.provider_message_id, message.attempts) == ("sent", "SM" + "1" * 32, 1)
    assert (message.encoding, message.segments) == ("GSM-7", 1)
    # The status callback URL carries our id, so an early callback still finds the message.
    assert f"status%2F%3Fmessage%3D{message.pk}" in mocked_http.calls[0].request.body


def test_nothing_is_sent_before_the_transaction_commits(twilio_sms_account, customer, mocked_http):
    message = _queue(twilio_sms_account, customer)
    assert Message.objects.get(pk=message.pk).status == "queued"
    assert len(mocked_http.calls) == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [("", "body_required"), ("   ", "body_required"), ("x" * 1601, "body_too_long")],
)
def test_body_rules(twilio_sms_account, customer, body, code):
    with pytest.raises(ServiceError) as err:
        _queue(twilio_sms_account, customer, body)
    assert err.value.code == code
    assert not Message.objects.exists()


def test_exactly_1600_characters_is_allowed(twilio_sms_account, customer):
    message = _queue(twilio_sms_account, customer, "x" * 1600)
    assert message.segments == 11


def test_an_opted_out_contact_is_refused_before_the_provider_is_called(twilio_sms_account, customer, mocked_http):
    consent.consent_record(contact=customer, phone_number=twilio_sms_account.numbers.get(),
                           state=ConsentState.OPTED_OUT, source="keyword")
    with pytest.raises(ServiceError) as err:
        _queue(twilio_sms_account, customer)
    assert err.value.code == "opted_out" and err.value.http_status == 409
    assert "opted out" in err.value.message
    assert len(mocked_http.calls) == 0


def test_opt_out_between_queue_and_send_stops_the_send(twilio_sms_account, customer, mocked_http):
    message = _queue(twilio_sms_account, customer)
    consent.consent_record(contact=customer, phone_number=twilio_sms_account.numbers.get(),
                           state=ConsentState.OPTED_OUT, source="keyword")
    assert delivery.message_send(message_id=message.pk) == delivery.SendOutcome.FAILED
    assert len(mocked_http.calls) == 0
    assert (Message.objects.get(pk=message.pk).status, Message.objects.get(pk=message.pk).error_code) == (
        "failed", "opted_out")


def test_whatsapp_free_text_needs_the_24_hour_window(twilio_whatsapp_account, customer):
    with pytest.raises(ServiceError) as err:
        _queue(twilio_whatsapp_account, customer)
    assert err.value.code == "whatsapp_window_closed" and "only an approved template" in err.value.message

    _inbound(twilio_whatsapp_account, customer, when=timezone.now() - timedelta(hours=25))
    with pytest.raises(ServiceError) as err:
        _queue(twilio_whatsapp_account, customer)
    assert "closed at" in err.value.message
    assert err.value.extra["window_closes_at"]

    _inbound(twilio_whatsapp_account, customer, when=timezone.now() - timedelta(hours=23))
    assert _queue(twilio_whatsapp_account, customer).status == "queued"


def test_templates_may_be_sent_outside_the_window(twilio_whatsapp_account, customer):
    message = _queue(twilio_whatsapp_account, customer, "", content_sid="HX" + "b" * 32,
                     content_variables={"1": "Ana"}, kind="template")
    assert message.content_sid == "HX" + "b" * 32


def test_retryable_errors_back_off_then_fail_with_the_reason(twilio_sms_account, customer, mocked_http, settings):
    settings.MESSAGE_MAX_ATTEMPTS = 3
    mocked_http.post(MESSAGES_URL, status=503, json={"code": 20500, "message": "Service unavailable"})
    message = _queue(twilio_sms_account, customer)
    delays = []
    for _ in range(3):
        outcome = delivery.message_send(message_id=message.pk)
        row = Message.objects.get(pk=message.pk)
        if row.next_attempt_at:
            delays.append((row.next_attempt_at - timezone.now()).total_seconds())
            Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    row = Message.objects.get(pk=message.pk)
    assert outcome == delivery.SendOutcome.FAILED
    assert (row.status, row.attempts, row.error_code) == ("failed", 3, "20500")
    assert row.error_message == "gave up after 3 attempts: Service unavailable"
    assert len(delays) == 2 and 4 < delays[0] <= 10.5 and 9 < delays[1] <= 20.5  # 10 s, 20 s, with jitter


def test_a_timeout_is_retried_and_then_succeeds(twilio_sms_account, customer, mocked_http):
    mocked_http.post(MESSAGES_URL, body=requests.ReadTimeout("slow"))
    mocked_http.post(MESSAGES_URL, status=201, json={"sid": "SM" + "2" * 32, "status": "queued"})
    message = _queue(twilio_sms_account, customer)
    assert delivery.message_send(message_id=message.pk) == delivery.SendOutcome.RETRYING
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert delivery.message_send(message_id=message.pk) == delivery.SendOutcome.SENT
    assert Message.objects.get(pk=message.pk).attempts == 2


def test_a_429_waits_at_least_retry_after(twilio_sms_account, customer, mocked_http):
    mocked_http.post(MESSAGES_URL, status=429, json={"code": 20429, "message": "Too many requests"},
                     headers={"Retry-After": "120"})
    message = _queue(twilio_sms_account, customer)
    delivery.message_send(message_id=message.pk)
    row = Message.objects.get(pk=message.pk)
    assert row.status == "queued"
    assert (row.next_attempt_at - timezone.now()).total_seconds() > 115


def test_a_permanent_refusal_fails_at_once_with_the_providers_code(twilio_sms_account, customer, mocked_http):
    mocked_http.post(MESSAGES_URL, status=400, json={"code": 21211, "message": "Invalid 'To' Phone Number"})
    message = _queue(twilio_sms_account, customer)
    delivery.message_send(message_id=message.pk)
    row = Message.objects.get(pk=message.pk)
    assert (row.status, row.attempts, row.error_code, row.error_message) == (
        "failed", 1, "21211", "Invalid 'To' Phone Number")


def test_error_21610_records_the_opt_out(twilio_sms_account, customer, mocked_http):
    mocked_http.post(MESSAGES_URL, status=400, json={"code": 21610, "message": "Attempt to send to unsubscribed"})
    message = _queue(twilio_sms_account, customer)
    delivery.message_send(message_id=message.pk)
    phone = twilio_sms_account.numbers.get()
    assert consent.consent_state(contact=customer, phone_number=phone) == "opted_out"
    assert customer.consent_records.get().source == "provider error 21610"


def test_a_second_run_of_the_same_task_sends_nothing(twilio_sms_account, customer, mocked_http):
    mocked_http.post(MESSAGES_URL, status=201, json={"sid": "SM" + "3" * 32, "status": "queued"})
    message = _queue(twilio_sms_account, customer)
    assert delivery.message_send(message_id=message.pk) == delivery.SendOutcome.SENT
    assert delivery.message_send(message_id=message.pk) == delivery.SendOutcome.SKIPPED
    assert delivery.message_send(message_id=10**9) == delivery.SendOutcome.MISSING
    assert len(mocked_http.calls) == 1


@pytest.mark.parametrize(
    ("sequence", "final"),
    [
        (["sent", "delivered"], "delivered"),
        (["delivered", "sent"], "delivered"),  # late callback never moves backwards
        (["read", "delivered", "sent"], "read"),
        (["sent", "undelivered"], "undelivered"),
        (["delivered", "failed"], "delivered"),
    ],
)
def test_status_callbacks_only_move_forward(sandbox_account, customer, sequence, final):
    message = _queue(sandbox_account, customer)
    delivery.message_send(message_id=message.pk)
    message.refresh_from_db()
    for status in sequence:
        delivery.message_status_apply(account_id=sandbox_account.pk,
                                      update=StatusUpdate(message.provider_message_id, status, "30003", ""))
    message.refresh_from_db()
    assert message.status == final
    if final == "undelivered":
        assert message.error_code == "30003" and "30003" in message.error_message


def test_a_failed_message_can_be_retried_and_really_sends(twilio_sms_account, customer, mocked_http,
                                                          django_capture_on_commit_callbacks):
    mocked_http.post(MESSAGES_URL, status=400, json={"code": 21614, "message": "Not SMS-capable"})
    mocked_http.post(MESSAGES_URL, status=201, json={"sid": "SM" + "4" * 32, "status": "queued"})
    message = _queue(twilio_sms_account, customer, capture=django_capture_on_commit_callbacks)
    assert Message.objects.get(pk=message.pk).status == "failed"
    with django_capture_on_commit_callbacks(execute=True):
        delivery.message_retry(message=Message.objects.get(pk=message.pk))
    row = Message.objects.get(pk=message.pk)
    assert (row.status, row.provider_message_id, row.error_code) == ("sent", "SM" + "4" * 32, "")
    assert len(mocked_http.calls) == 2


def test_only_failed_messages_can_be_retried(sandbox_account, customer):
    message = _queue(sandbox_account, customer)
    with pytest.raises(ServiceError, match="not failed"):
        delivery.message_retry(message=message)


def test_the_sweep_requeues_lost_sends(sandbox_account, customer, django_capture_on_commit_callbacks):
    message = _queue(sandbox_account, customer)  # its task was never delivered
    assert delivery.messages_requeue_stuck() == 0  # too recent: the task may still be on its way
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        with django_capture_on_commit_callbacks(execute=True):
            assert delivery.messages_requeue_stuck() == 1
    assert Message.objects.get(pk=message.pk).status == "sent"
    assert len(sandbox.outbox) == 1


def test_the_sweep_recovers_a_send_that_died_mid_call(sandbox_account, customer,
                                                      django_capture_on_commit_callbacks):
    message = _queue(sandbox_account, customer)
    Message.objects.filter(pk=message.pk).update(status="sending", status_updated_at=timezone.now())
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        with django_capture_on_commit_callbacks(execute=True):
            assert delivery.messages_requeue_stuck() == 1
    assert Message.objects.get(pk=message.pk).status == "sent"


def test_a_stored_callback_settles_an_unknown_send_instead_of_a_resend(sandbox_account, customer,
                                                                       django_capture_on_commit_callbacks):
    import json

    from channels_app.models import InboundEvent

    message = _queue(sandbox_account, customer)
    # The worker died after the provider accepted the message: the row says "sending", the provider's
    # callback is stored but not processed yet.
    Message.objects.filter(pk=message.pk).update(status="sending", status_updated_at=timezone.now())
    body = json.dumps({"message_id": "SB-accepted", "status": "delivered"}).encode()
    InboundEvent.objects.create(account=sandbox_account, kind="status", event_key="SB-accepted:delivered:",
                                url=f"https://hub.example/status/?message={message.pk}", body=body,
                                content_type="application/json")
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        with django_capture_on_commit_callbacks(execute=True):
            assert delivery.messages_requeue_stuck() == 0
    row = Message.objects.get(pk=message.pk)
    assert (row.status, row.provider_message_id) == ("delivered", "SB-accepted")
    assert sandbox.outbox == []  # not sent again


def test_the_sweep_works_through_a_backlog_a_slice_per_run(sandbox_account, customer, settings, monkeypatch):
    settings.MESSAGE_REQUEUE_LIMIT = 2
    messages = [_queue(sandbox_account, customer, body=f"Reply {i}") for i in range(3)]  # tasks never delivered
    enqueued = []
    monkeypatch.setattr(delivery, "message_enqueue", lambda message, **kw: enqueued.append(message.pk))
    start = timezone.now()
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        assert delivery.messages_requeue_stuck() == 2
        assert delivery.messages_requeue_stuck() == 1  # the rest, not the first two again
        assert delivery.messages_requeue_stuck() == 0
    assert enqueued == [m.pk for m in messages]
    # Still not sent a grace period later: queued again, oldest first.
    with time_machine.travel(start + timedelta(minutes=4), tick=False):
        assert delivery.messages_requeue_stuck() == 2
