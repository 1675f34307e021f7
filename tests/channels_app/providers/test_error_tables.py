"""Each provider module's error table, row by row: a retryable code (throttling, a passing outage) is sent
again with backoff — whether the API answers it or a status callback reports it — and any other code fails
the message with that code."""

from __future__ import annotations

import pytest
import requests

from channels_app.models import Contact, Direction, Message, MessageStatus
from channels_app.providers import ProviderError, StatusUpdate
from channels_app.providers.acs import ERROR_CODES as ACS_CODES
from channels_app.providers.http import error_from_response
from channels_app.providers.telesign import ERROR_CODES as TELESIGN_CODES
from channels_app.providers.twilio import ERROR_CODES as TWILIO_CODES
from channels_app.services.delivery import Attempt, StatusApplied, message_status_apply, messages_outcome_apply

ROWS = [(provider, code, row) for provider, table in (("twilio", TWILIO_CODES), ("telesign", TELESIGN_CODES),
                                                      ("acs", ACS_CODES)) for code, row in table.items()]
ACCOUNTS = {"twilio": "twilio_sms_account", "telesign": "telesign_account", "acs": "acs_account"}


def test_the_codes_the_issue_names_are_retryable():
    assert all(TWILIO_CODES[code].retryable for code in ("63018", "20429", "429"))
    assert TELESIGN_CODES["10019"].retryable and ACS_CODES["429"].retryable


@pytest.fixture
def sending(request):
    def make(provider: str) -> Message:
        account = request.getfixturevalue(ACCOUNTS[provider])
        return Message.objects.create(
            account=account, phone_number=account.numbers.get(), contact=Contact.objects.create(address="+15551234567"),
            provider=provider, channel="sms", direction=Direction.OUTBOUND, body="hello", status=MessageStatus.SENDING,
            attempts=1)
    return make


def answered(status: int) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    return response


@pytest.mark.parametrize(("provider", "code", "row"), ROWS, ids=[f"{p}-{c}" for p, c, _ in ROWS])
def test_a_send_refused_with_the_code(provider, code, row, sending, django_capture_on_commit_callbacks):
    message = sending(provider)
    # A 4xx answer: only the table can make it retryable (5xx and 429 are retryable whatever the code).
    error = error_from_response(answered(400), code=code, message="refused", table={code: row})
    assert error.retryable is row.retryable
    with django_capture_on_commit_callbacks(execute=False):
        [applied] = messages_outcome_apply(account=message.account, attempts=[Attempt(message.pk, 1, error=error)])
    message.refresh_from_db()
    assert applied.outcome == ("retrying" if row.retryable else "failed")
    assert message.status == (MessageStatus.QUEUED if row.retryable else MessageStatus.FAILED)
    assert message.error_code == code


@pytest.mark.parametrize(("provider", "code", "row"), ROWS, ids=[f"{p}-{c}" for p, c, _ in ROWS])
def test_a_failed_status_callback_with_the_code(provider, code, row, sending, django_capture_on_commit_callbacks):
    message = sending(provider)
    Message.objects.filter(pk=message.pk).update(status=MessageStatus.SENT, provider_message_id="P1")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        applied = message_status_apply(account_id=message.account_id, update=StatusUpdate(
            provider_message_id="P1", status="failed", error_code=code))
    message.refresh_from_db()
    if row.retryable:
        assert applied == StatusApplied.RETRYING and message.status == MessageStatus.QUEUED
        assert message.next_attempt_at is not None and len(callbacks) == 1  # the send, enqueued on commit
    else:
        assert applied == StatusApplied.MOVED and message.status == MessageStatus.FAILED
        assert not callbacks


def test_a_retryable_code_on_the_last_attempt_fails_the_message(twilio_sms_account, settings):
    message = Message.objects.create(
        account=twilio_sms_account, phone_number=twilio_sms_account.numbers.get(),
        contact=Contact.objects.create(address="+15551234567"), provider="twilio", channel="sms",
        direction=Direction.OUTBOUND, body="hello", status=MessageStatus.SENT, provider_message_id="SM1",
        attempts=settings.MESSAGE_MAX_ATTEMPTS)
    applied = message_status_apply(account_id=message.account_id, update=StatusUpdate(
        provider_message_id="SM1", status="failed", error_code="63018"))
    message.refresh_from_db()
    assert applied == StatusApplied.MOVED and (message.status, message.error_code) == (MessageStatus.FAILED, "63018")


def test_a_throttled_send_waits_at_least_what_the_provider_asked(twilio_sms_account):
    message = Message.objects.create(
        account=twilio_sms_account, phone_number=twilio_sms_account.numbers.get(),
        contact=Contact.objects.create(address="+15551234567"), provider="twilio", channel="sms",
        direction=Direction.OUTBOUND, body="hello", status=MessageStatus.SENDING, attempts=1)
    error = ProviderError("Too Many Requests", retryable=True, code="20429", http_status=429, retry_after=30)
    [applied] = messages_outcome_apply(account=twilio_sms_account, attempts=[Attempt(message.pk, 1, error=error)])
    assert applied.outcome == "retrying" and applied.retry_in >= 30
