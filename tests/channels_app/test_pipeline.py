"""The outgoing-message pipeline's public API: create, claim, apply outcomes — one message or many alike."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels_app.models import STATUS_RANK, ConsentState, Message, MessageKind, MessageStatus
from channels_app.providers import ProviderError, StatusUpdate, provider_class
from channels_app.services import delivery
from channels_app.services.consent import consent_record, consent_state
from channels_app.services.delivery import (
    COPY_FROM,
    Attempt,
    Draft,
    SendOutcome,
    StatusApplied,
    message_status_apply,
    messages_claim,
    messages_create,
    messages_outcome_apply,
    retry_policy,
)
from channels_app.services.inbound import contact_for

#: The columns a create fills from the draft (ids and times aside).
COLUMNS = ("account_id", "phone_number_id", "provider", "channel", "direction", "kind", "body", "content_sid",
           "content_variables", "status", "attempts", "encoding", "segments", "author_id", "next_attempt_at")


def _drafts(account, n, *, prefix="Hello", **kw):
    phone = account.numbers.get()
    return [Draft(phone_number=phone, contact=contact_for(f"+1555200{i:04d}"), body=f"{prefix} {i} ✓", **kw)
            for i in range(n)]


def _rows(messages):
    return [(*(getattr(m, c) for c in COLUMNS), m.contact.address)
            for m in Message.objects.filter(pk__in=[m.pk for m in messages]).select_related("contact").order_by("pk")]


@pytest.mark.parametrize("claimed", [False, True], ids=["queued", "claimed"])
def test_one_by_one_and_many_at_once_store_the_same_messages(sandbox_account, claimed,
                                                             django_capture_on_commit_callbacks):
    drafts = _drafts(sandbox_account, COPY_FROM + 5)  # enough for PostgreSQL's COPY path
    with django_capture_on_commit_callbacks() as enqueued:
        many = messages_create(drafts=drafts, claimed=claimed)
        one_by_one = [messages_create(drafts=[d], claimed=claimed)[0] for d in drafts]
    assert _rows(many) == _rows(one_by_one)
    assert all(m.pk for m in many) and len({m.pk for m in many + one_by_one}) == 2 * len(drafts)
    # Queued messages are handed to a worker each; claimed ones are the caller's to send.
    assert len(enqueued) == (0 if claimed else 2 * len(drafts))
    status, attempts = (MessageStatus.SENDING, 1) if claimed else (MessageStatus.QUEUED, 0)
    assert {(m.status, m.attempts) for m in Message.objects.all()} == {(status, attempts)}


def test_attachments_are_stored_with_their_message(sandbox_account):
    [message] = messages_create(drafts=[Draft(phone_number=sandbox_account.numbers.get(),
                                              contact=contact_for("+15552000001"), body="",
                                              media_urls=("https://files.example/a.jpg",))])
    assert list(message.attachments.values_list("url", "state")) == [("https://files.example/a.jpg", "outgoing")]


def test_a_claim_takes_due_queued_messages_and_fails_those_a_rule_now_refuses(sandbox_account):
    phone = sandbox_account.numbers.get()
    due, later, stopped, sent = messages_create(drafts=_drafts(sandbox_account, 4))
    Message.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    Message.objects.filter(pk=sent.pk).update(status=MessageStatus.SENT)
    consent_record(contact=stopped.contact, phone_number=phone, state=ConsentState.OPTED_OUT, source="keyword")

    with CaptureQueriesContext(connection) as queries:
        claimed = messages_claim(where=Q(account=sandbox_account), phone_number=phone)
    assert [s.message.pk for s in claimed.sends] == [due.pk]
    assert [(m.pk, e.code) for m, e in claimed.refused] == [(stopped.pk, "opted_out")]
    [send] = claimed.sends
    assert (send.attempts, send.outgoing.to, send.outgoing.body) == (1, due.contact.address, due.body)
    assert f"message={due.pk}" in send.outgoing.status_callback
    rows = {m.pk: (m.status, m.attempts, m.error_code) for m in Message.objects.all()}
    assert rows == {due.pk: ("sending", 1, ""), later.pk: ("queued", 0, ""), stopped.pk: ("failed", 0, "opted_out"),
                    sent.pk: ("sent", 0, "")}
    # Lock and read, consent, fail the refused, mark the rest, read their attachments: a statement each, for any
    # number of messages.
    assert len(queries) == 5
    assert messages_claim(where=Q(account=sandbox_account), phone_number=phone).locked == 0  # nothing twice


def test_a_claim_on_an_inactive_account_fails_its_messages(sandbox_account):
    [message] = messages_create(drafts=_drafts(sandbox_account, 1))
    sandbox_account.is_active = False
    sandbox_account.save()
    claimed = messages_claim(where=Q(pk=message.pk))
    assert claimed.sends == [] and [e.code for _, e in claimed.refused] == ["account_inactive"]
    assert Message.objects.get(pk=message.pk).status == "failed"


def _claimed(account, n=1):
    messages = messages_create(drafts=_drafts(account, n), claimed=True)
    return messages


def _row(message):
    return Message.objects.get(pk=message.pk)


def test_an_accepted_send_is_sent_with_the_providers_id(sandbox_account):
    [message] = _claimed(sandbox_account)
    [applied] = messages_outcome_apply(account=sandbox_account,
                                       attempts=[Attempt(message.pk, 1, provider_message_id="SB-1")])
    row = _row(message)
    assert (applied.outcome, row.status, row.provider_message_id, row.next_attempt_at) == (
        SendOutcome.SENT, "sent", "SB-1", None)
    assert row.sent_at is not None


def test_a_retryable_failure_backs_off_exponentially_with_jitter(sandbox_account, settings):
    settings.MESSAGE_RETRY_BASE_SECONDS, settings.MESSAGE_MAX_ATTEMPTS = 10, 5
    [message] = _claimed(sandbox_account)
    delays = []
    for attempt in (1, 2, 3):
        [applied] = messages_outcome_apply(account=sandbox_account, attempts=[
            Attempt(message.pk, attempt, error=ProviderError("Service unavailable", retryable=True, code="20500"))])
        row = _row(message)
        assert (applied.outcome, row.status, row.error_code, row.error_message) == (
            SendOutcome.RETRYING, "queued", "20500", "Service unavailable")
        delays.append((row.next_attempt_at - timezone.now()).total_seconds())
        assert abs(delays[-1] - applied.retry_in) < 2
        Message.objects.filter(pk=message.pk).update(status=MessageStatus.SENDING)
    # 10 s, 20 s, 40 s, each between half and all of it.
    assert 4 < delays[0] <= 10.5 and 9 < delays[1] <= 20.5 and 19 < delays[2] <= 40.5


def test_retry_after_is_never_undercut(sandbox_account, settings):
    settings.MESSAGE_RETRY_BASE_SECONDS = 10
    [message] = _claimed(sandbox_account)
    error = ProviderError("Too many requests", retryable=True, code="20429", http_status=429, retry_after=120)
    [applied] = messages_outcome_apply(account=sandbox_account, attempts=[Attempt(message.pk, 1, error=error)])
    assert applied.retry_in == 120
    assert (_row(message).next_attempt_at - timezone.now()).total_seconds() > 115


def test_retries_give_up_after_the_last_attempt(sandbox_account, settings):
    settings.MESSAGE_MAX_ATTEMPTS = 3
    [message] = _claimed(sandbox_account)
    [applied] = messages_outcome_apply(account=sandbox_account, attempts=[
        Attempt(message.pk, 3, error=ProviderError("Service unavailable", retryable=True))])
    row = _row(message)
    assert (applied.outcome, row.status, row.error_code, row.error_message) == (
        SendOutcome.FAILED, "failed", "retries_exhausted", "gave up after 3 attempts: Service unavailable")


def test_a_refusal_fails_at_once_with_the_providers_code(sandbox_account):
    [message] = _claimed(sandbox_account)
    [applied] = messages_outcome_apply(account=sandbox_account, attempts=[
        Attempt(message.pk, 1, error=ProviderError("Invalid 'To' Phone Number", retryable=False, code="21211"))])
    row = _row(message)
    assert (applied.outcome, row.status, row.error_code, row.error_message) == (
        SendOutcome.FAILED, "failed", "21211", "Invalid 'To' Phone Number")


def test_retry_policy(settings):
    settings.MESSAGE_MAX_ATTEMPTS, settings.MESSAGE_RETRY_BASE_SECONDS, settings.MESSAGE_RETRY_MAX_SECONDS = 4, 10, 30
    refused, down = ProviderError("no", retryable=False), ProviderError("down", retryable=True)
    assert retry_policy(attempts=1, error=refused) is None
    assert retry_policy(attempts=4, error=down) is None
    assert 15 <= retry_policy(attempts=3, error=down) <= 30  # capped at MESSAGE_RETRY_MAX_SECONDS
    assert retry_policy(attempts=1, error=ProviderError("slow", retryable=True, retry_after=600)) == 600


def test_the_providers_opt_out_codes_record_the_opt_out(sandbox_account, monkeypatch):
    provider = provider_class("sandbox")
    monkeypatch.setattr(provider, "opt_out_error_codes", frozenset({"STOPPED"}))
    opted, other = _claimed(sandbox_account, 2)
    messages_outcome_apply(account=sandbox_account, attempts=[
        Attempt(opted.pk, 1, error=ProviderError("unsubscribed", retryable=False, code="STOPPED")),
        Attempt(other.pk, 1, error=ProviderError("bad number", retryable=False, code="21211"))])
    phone = sandbox_account.numbers.get()
    assert consent_state(contact=opted.contact, phone_number=phone) == ConsentState.OPTED_OUT
    assert consent_state(contact=other.contact, phone_number=phone) == ConsentState.OPTED_IN
    assert opted.contact.consent_records.get().source == "provider error STOPPED"
    # A status callback carrying the code records it too.
    [sent] = _claimed(sandbox_account)
    messages_outcome_apply(account=sandbox_account, attempts=[Attempt(sent.pk, 1, provider_message_id="SB-x")])
    message_status_apply(account_id=sandbox_account.pk, update=StatusUpdate("SB-x", "failed", "STOPPED"))
    assert consent_state(contact=sent.contact, phone_number=phone) == ConsentState.OPTED_OUT


def test_twilio_declares_its_opt_out_code():
    assert "21610" in provider_class("twilio").opt_out_error_codes
    assert provider_class("sandbox").opt_out_error_codes == frozenset()


def test_a_status_callback_that_got_there_first_is_kept(sandbox_account):
    [message] = _claimed(sandbox_account)
    Message.objects.filter(pk=message.pk).update(status=MessageStatus.DELIVERED, provider_message_id="SB-early")
    [applied] = messages_outcome_apply(account=sandbox_account,
                                       attempts=[Attempt(message.pk, 1, provider_message_id="SB-early")])
    row = _row(message)
    assert (applied.outcome, applied.written, row.status) == (SendOutcome.SENT, False, "delivered")
    assert row.sent_at is not None  # the send is still noted
    # A late failure does not undo a delivery either.
    messages_outcome_apply(account=sandbox_account, attempts=[
        Attempt(message.pk, 1, error=ProviderError("timeout", retryable=True))])
    assert _row(message).status == "delivered"


def test_a_send_never_attempted_goes_back_with_its_attempt(sandbox_account):
    [message] = _claimed(sandbox_account)
    [applied] = messages_outcome_apply(account=sandbox_account, attempts=[Attempt(message.pk, 1)], hold_seconds=30)
    row = _row(message)
    assert (applied.outcome, row.status, row.attempts) == (SendOutcome.NOT_ATTEMPTED, "queued", 0)
    assert (row.next_attempt_at - timezone.now()).total_seconds() > 25


def test_one_by_one_and_many_at_once_record_the_same_outcomes(sandbox_account, monkeypatch):
    monkeypatch.setattr(delivery.random, "uniform", lambda low, high: high)  # no jitter, to compare
    outcomes = [
        lambda pk: Attempt(pk, 1, provider_message_id=f"SB-{pk}"),
        lambda pk: Attempt(pk, 1, error=ProviderError("down", retryable=True, code="503")),
        lambda pk: Attempt(pk, 1, error=ProviderError("refused", retryable=False, code="21211")),
        lambda pk: Attempt(pk, 1),
    ] * 10
    many, alone = _claimed(sandbox_account, len(outcomes)), _claimed(sandbox_account, len(outcomes))
    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        together = messages_outcome_apply(account=sandbox_account, attempts=[f(m.pk) for f, m in zip(outcomes, many)],
                                          now=now)
    assert len(queries) == 1  # one UPDATE for the forty
    single = [messages_outcome_apply(account=sandbox_account, attempts=[f(m.pk)], now=now)[0]
              for f, m in zip(outcomes, alone)]
    assert [(a.outcome, a.retry_in) for a in together] == [(a.outcome, a.retry_in) for a in single]
    fields = ("status", "attempts", "error_code", "error_message", "next_attempt_at", "sent_at")
    shape = [tuple(getattr(_row(m), f) for f in fields) for m in many]
    assert shape == [tuple(getattr(_row(m), f) for f in fields) for m in alone]


STATUSES = [MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.UNDELIVERED,
            MessageStatus.FAILED]


@pytest.mark.parametrize("first", STATUSES)
@pytest.mark.parametrize("second", STATUSES)
def test_statuses_never_move_backwards(sandbox_account, first, second):
    [message] = _claimed(sandbox_account)
    messages_outcome_apply(account=sandbox_account, attempts=[Attempt(message.pk, 1, provider_message_id="SB-1")])
    for status in (first, second):
        applied = message_status_apply(account_id=sandbox_account.pk, update=StatusUpdate("SB-1", status, "30003"))
        assert applied in (StatusApplied.MOVED, StatusApplied.KEPT)
    final = _row(message).status
    # The further along wins; between two final statuses (delivered, undelivered, failed) the first stays.
    assert final == (first if STATUS_RANK[first] >= STATUS_RANK[second] else second)
    # And a late send bookkeeping never pulls it back to "sent".
    messages_outcome_apply(account=sandbox_account, attempts=[Attempt(message.pk, 1, provider_message_id="SB-1")])
    assert _row(message).status == final


def test_a_callback_for_no_message_says_so(sandbox_account):
    assert message_status_apply(account_id=sandbox_account.pk,
                                update=StatusUpdate("SB-unknown", "delivered")) == StatusApplied.UNKNOWN_MESSAGE


def test_a_test_message_is_not_swept_into_a_resend(sandbox_account, django_capture_on_commit_callbacks):
    phone = sandbox_account.numbers.get()
    [message] = messages_create(drafts=[Draft(phone_number=phone, contact=contact_for("+15552000009"), body="ping",
                                              kind=MessageKind.TEST)], claimed=True)
    Message.objects.filter(pk=message.pk).update(status_updated_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery.messages_requeue_stuck() == 0
    row = _row(message)
    assert (row.status, row.error_code) == ("failed", "interrupted")
