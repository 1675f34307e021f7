"""Outgoing messages: the one pipeline every sender goes through, and status callbacks.

channels_app alone writes outgoing ``Message`` rows. Every step takes many messages, and the
single path is the many path with one item:

- **check** (``messages_check``): every send rule (``rules``), for every sender;
- **create** (``messages_create``): stored in bulk (COPY on PostgreSQL for a chunk), either queued —
  a worker sends each once the transaction commits (``message_queue`` is check + create for one
  conversational message) — or already claimed, for a caller that sends them itself right away (a
  proactive request's chunk, a test message);
- **claim** (``messages_claim``): queued messages that are due, locked, checked again for what may
  have changed since (consent, the account), and marked "sending" with their attempt counted;
- **apply outcomes** (``messages_outcome_apply``): what the provider said, written back in one
  statement: sent; retried with exponential backoff and jitter, never sooner than the provider's
  ``Retry-After`` (``retry_policy``); failed with the provider's code; an opt-out recorded when the
  provider's code says so (``BaseProvider.opt_out_error_codes``). Statuses never move backwards: a
  status callback that got there first is kept.

``message_send`` is a worker's send of one queued message through these steps.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app import segments
from channels_app.models import (
    STATUS_RANK,
    Attachment,
    AttachmentState,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    MessagingAccount,
    PhoneNumber,
)
from channels_app.providers import (
    BaseProvider,
    OutgoingMessage,
    ProviderError,
    StatusUpdate,
    get_provider,
    provider_class,
)
from config import metrics
from config.db.bulk import bulk_insert
from config.db.rows import rows_update
from config.exceptions import ConflictError, ServiceError
from config.logs import log_bind
from config.redaction import redact

from .consent import consent_opt_outs_record
from .contacts import ContactDetails, contact_reply_addresses, contacts_for
from .rules import (
    MAX_MESSAGE_LENGTH,
    WHATSAPP_WINDOW,
    Draft,
    drafts_check,
    rule_account,
    rule_consent,
    whatsapp_window_closes_at,
)

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_MESSAGE_LENGTH", "WHATSAPP_WINDOW", "Applied", "Attempt", "Claimed", "Draft", "Send", "SendOutcome",
    "StatusApplied", "message_check", "message_enqueue", "message_queue", "message_retry", "message_send",
    "message_send_now", "message_status_apply", "messages_check", "messages_claim", "messages_create",
    "messages_due_now", "messages_outcome_apply", "messages_requeue_stuck", "messages_stale_requeue",
    "messages_withdraw", "retry_policy", "whatsapp_window_closes_at",
]

#: Kinds that go on the bulk queue; everything else is conversational and goes first.
BULK_KINDS = frozenset({MessageKind.OUTBOUND})
#: Kinds whose sender sends them itself and answers for them: a proactive request re-runs its own
#: (``outbound_recover``), a test message is reported to whoever sent it. The reply-path sweep leaves them.
SELF_SENT_KINDS = frozenset({MessageKind.OUTBOUND, MessageKind.TEST})
#: From this many messages, a create streams them with COPY (PostgreSQL); fewer go in one INSERT.
COPY_FROM = 20


class SendOutcome(StrEnum):
    """What became of one send."""

    SENT = "sent"  # the provider accepted it
    RETRYING = "retrying"  # queued again, for after the backoff
    FAILED = "failed"  # refused by a rule or the provider, or retries exhausted
    NOT_ATTEMPTED = "not attempted"  # claimed but never handed to the provider (interrupted, throttled)
    SKIPPED = "skipped"  # not queued (already sent or failed), not due yet, or another worker has it
    MISSING = "missing"  # no such message


class StatusApplied(StrEnum):
    """What a status callback did."""

    MOVED = "moved"  # the message moved forward to the callback's status
    KEPT = "kept"  # the message was already as far or further along
    RETRYING = "retrying"  # the provider reported a passing failure (throttling): queued to be sent again
    UNKNOWN_MESSAGE = "unknown message"  # no outgoing message of the account matches


@dataclass(frozen=True)
class Send:
    """A claimed message, ready for the provider."""

    message: Message
    attempts: int  # including this one
    outgoing: OutgoingMessage


@dataclass(frozen=True)
class Claimed:
    sends: list[Send]
    #: Messages a rule failed at claim time (opted out since, account deactivated), with the reason.
    refused: list[tuple[Message, ServiceError]]

    @property
    def locked(self) -> int:
        """How many due messages the claim took, sendable or not."""
        return len(self.sends) + len(self.refused)


@dataclass(frozen=True)
class Attempt:
    """One provider call as the sender saw it: accepted (a provider id), failed (an error), or neither
    (never handed to the provider)."""

    message_id: int
    attempts: int  # including this one
    provider_message_id: str | None = None  # set (even to "") when the provider accepted it
    error: ProviderError | None = None


@dataclass(frozen=True)
class Applied:
    message_id: int
    outcome: SendOutcome  # SENT, RETRYING, FAILED or NOT_ATTEMPTED
    retry_in: float | None = None  # seconds, when RETRYING
    written: bool = True  # False: a status callback had already moved the message further along


# --- Check ---------------------------------------------------------------------------------------------

def messages_check(*, drafts: Sequence[Draft], now: datetime | None = None) -> list[ServiceError | None]:
    """Every send rule for every draft: the first rule each breaks, or None when it may be sent."""
    return drafts_check(drafts, now=now)


def message_check(*, draft: Draft) -> None:
    """Every send rule for one draft; raises the ServiceError naming the first it breaks."""
    error = messages_check(drafts=[draft])[0]
    if error is not None:
        raise error


# --- Create --------------------------------------------------------------------------------------------

def messages_create(*, drafts: Sequence[Draft], claimed: bool = False) -> list[Message]:
    """Store checked drafts as outgoing messages, in bulk, with their attachments.

    Queued (the default): each is sent by a worker once the surrounding transaction commits.
    ``claimed``: stored as "sending" with their first attempt counted, for a caller that sends them
    itself now (``send_of`` gives each one's provider request). The caller has checked them
    (``messages_check``).
    """
    if not drafts:
        return []
    now = timezone.now()
    messages = []
    addresses: dict[str, dict[int | None, str | None]] = {}
    for channel in {d.phone_number.channel for d in drafts}:
        addresses[channel] = contact_reply_addresses([d.contact for d in drafts if d.phone_number.channel == channel],
                                                     channel=channel)
    for draft in drafts:
        phone = draft.phone_number
        info = segments.count(draft.body or "")
        messages.append(Message(
            account=phone.account, phone_number=phone, contact=draft.contact, provider=phone.provider,
            address=addresses[phone.channel].get(draft.contact.pk) or draft.contact.address,
            channel=phone.channel, direction=Direction.OUTBOUND, kind=draft.kind, body=draft.body or "",
            content_sid=draft.content_sid, content_variables=dict(draft.content_variables or {}),
            status=MessageStatus.SENDING if claimed else MessageStatus.QUEUED, attempts=1 if claimed else 0,
            encoding=info.encoding, segments=info.segments, author_id=draft.author_id, status_updated_at=now,
        ))
    with transaction.atomic(savepoint=False):  # inside the caller's transaction: no savepoint round trips
        if len(messages) >= COPY_FROM:
            bulk_insert(Message, messages, ids=True)
        else:
            Message.objects.bulk_create(messages)
        attachments = [Attachment(message=m, url=url, state=AttachmentState.OUTGOING)
                       for m, d in zip(messages, drafts, strict=True) for url in d.media_urls]
        if attachments:
            Attachment.objects.bulk_create(attachments)
        if not claimed:
            for message in messages:
                message_enqueue(message)
                metrics.message_queued(message_id=message.pk, account_id=message.account_id, kind=message.kind)
    return messages


def message_queue(*, phone_number: PhoneNumber, contact: Any, body: str = "", media_urls: tuple[str, ...] = (),
                  kind: str = MessageKind.REGULAR, author: Any = None, content_sid: str = "",
                  content_variables: dict[str, str] | None = None) -> Message:
    """Check one conversational message, store it as queued, and send it from a worker after commit."""
    draft = Draft(phone_number=phone_number, contact=contact, body=body or "", media_urls=tuple(media_urls),
                  kind=kind, content_sid=content_sid, content_variables=content_variables or {},
                  author_id=getattr(author, "pk", None))
    message_check(draft=draft)
    return messages_create(drafts=[draft])[0]


def message_enqueue(message: Message, *, countdown: float | None = None) -> None:
    """Hand the send to a worker after commit, on the queue its kind belongs to."""
    from channels_app.tasks import message_send_task

    queue = "bulk" if message.kind in BULK_KINDS else "replies"
    message_id = message.pk
    transaction.on_commit(
        lambda: message_send_task.apply_async(args=[message_id], queue=queue, countdown=countdown)
    )


def status_callback_url(message: Message) -> str | None:
    urls = message.account.callback_urls()
    base = urls.get("status") or urls.get("callback")
    return f"{base}?message={message.pk}" if base else None


def send_of(message: Message, *, media_urls: Sequence[str] = ()) -> Send:
    """The provider request for a claimed message (its account and number loaded)."""
    outgoing = OutgoingMessage(
        to=message.address or message.contact.address, from_=message.phone_number.number, channel=message.channel,
        body=message.body,
        media_urls=tuple(media_urls), status_callback=status_callback_url(message),
        content_sid=message.content_sid or None, content_variables=message.content_variables or None,
        external_id=str(message.pk), first_sent_at=message.created_at,
    )
    return Send(message=message, attempts=message.attempts, outgoing=outgoing)


# --- Claim ---------------------------------------------------------------------------------------------

def messages_claim(*, where: Q, limit: int | None = None, phone_number: PhoneNumber | None = None,
                   skip_locked: bool = True, now: datetime | None = None) -> Claimed:
    """Claim the queued outgoing messages matching ``where`` that are due now, oldest first.

    Call it inside a transaction: the rows are locked (``skip_locked``: rows another worker holds
    are left to it). Consent and the account are checked again (either may have changed since the
    message was queued); a message that fails them fails now, with the rule's code. The rest are
    marked "sending" with their attempt counted. ``phone_number``: every message matched is from
    this number (a proactive request's), which spares loading it per row. A few statements for
    any number of messages: lock and read, consent, fail the refused, mark the rest, and (for
    conversational messages, which may carry them) read their attachments.
    """
    now = now or timezone.now()
    rows = (Message.objects.select_for_update(skip_locked=skip_locked, of=("self",))
            .filter(where, direction=Direction.OUTBOUND, status=MessageStatus.QUEUED)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + timedelta(seconds=1)))
            .order_by("pk"))
    if phone_number is not None:
        rows = rows.filter(phone_number=phone_number).select_related("contact")
    else:
        rows = rows.select_related("contact", "phone_number__account")
    messages = list(rows[:limit] if limit is not None else rows)
    if not messages:
        return Claimed([], [])
    for message in messages:
        if phone_number is not None:
            message.phone_number = phone_number
        message.account = message.phone_number.account
    drafts = [Draft(phone_number=m.phone_number, contact=m.contact, kind=m.kind) for m in messages]
    errors: dict[int, ServiceError] = {i: e for i, d in enumerate(drafts) if (e := rule_account(d))}
    pending = [i for i in range(len(drafts)) if i not in errors]
    for position, error in rule_consent([drafts[i] for i in pending]).items():
        errors[pending[position]] = error
    refused = [(messages[i], error) for i, error in errors.items()]
    for message, error in refused:
        metrics.send_outcome(provider=message.provider, channel=message.channel, outcome="failed",
                             error_code=error.code, message_id=message.pk, detail=error.message,
                             account_id=message.account_id)
    if refused:
        rows_update(Message, {m.pk: {**_failure(error.code, error.message), "status_updated_at": now}
                              for m, error in refused}, only_if={"status": MessageStatus.QUEUED})
    sendable = [m for i, m in enumerate(messages) if i not in errors]
    if not sendable:
        return Claimed([], refused)
    Message.objects.filter(pk__in=[m.pk for m in sendable]).update(
        status=MessageStatus.SENDING, attempts=F("attempts") + 1, status_updated_at=now)
    media: dict[int, list[str]] = {}
    if any(m.kind not in BULK_KINDS for m in sendable):  # proactive messages carry no attachments
        for message_id, url in (Attachment.objects.filter(message_id__in=[m.pk for m in sendable],
                                                          state=AttachmentState.OUTGOING)
                                .order_by("pk").values_list("message_id", "url")):
            media.setdefault(message_id, []).append(url)
    sends = []
    for message in sendable:
        message.status, message.attempts, message.status_updated_at = MessageStatus.SENDING, message.attempts + 1, now
        sends.append(send_of(message, media_urls=media.get(message.pk, ())))
    return Claimed(sends, refused)


# --- Send ----------------------------------------------------------------------------------------------

def attempt_send(provider: BaseProvider, send: Send) -> Attempt:
    """Call the provider for one claimed message; every failure becomes the attempt's error.

    A bug in a provider module is a retryable failure (it must not leave the row "sending"); a
    task's soft time limit is not caught (the send's outcome is unknown: the sweep settles it).
    """
    try:
        result = provider.send(send.outgoing)
    except ProviderError as exc:
        return Attempt(send.message.pk, send.attempts, error=exc)
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:
        logger.exception("sending message %s crashed", send.message.pk)
        return Attempt(send.message.pk, send.attempts,
                       error=ProviderError(f"unexpected error: {exc.__class__.__name__}", retryable=True))
    return Attempt(send.message.pk, send.attempts, provider_message_id=result.provider_message_id)


def message_send(*, message_id: int) -> SendOutcome:
    """A worker's send of one queued message: claim, call the provider outside any transaction, apply the outcome.

    Safe to run twice for the same message: only the run that claims a queued row sends.
    """
    log_bind(message_id=message_id)
    with transaction.atomic():
        claimed = messages_claim(where=Q(pk=message_id), skip_locked=False)
    if claimed.refused:
        return SendOutcome.FAILED
    if not claimed.sends:
        return SendOutcome.SKIPPED if Message.objects.filter(pk=message_id).exists() else SendOutcome.MISSING
    send = claimed.sends[0]
    attempt = attempt_send(get_provider(send.message.account), send)
    [applied] = messages_outcome_apply(account=send.message.account, attempts=[attempt])
    if applied.outcome == SendOutcome.RETRYING and applied.written:
        message_enqueue(send.message, countdown=applied.retry_in)
    return applied.outcome


def message_send_now(*, draft: Draft) -> tuple[Message, ProviderError | None]:
    """Check, store and send one message at once, in the caller's process, without retries (a test message).

    The contact is created if the hub has never met it. Returns the stored message, sent or failed
    (with the provider's code and reason), and the provider's error when it failed.
    """
    message_check(draft=draft)
    if draft.contact.pk is None:
        address = draft.contact.address
        draft = replace(draft, contact=contacts_for({address: ContactDetails()}, update_names=False)[address])
    [message] = messages_create(drafts=[draft], claimed=True)
    attempt = attempt_send(get_provider(message.account), send_of(message, media_urls=draft.media_urls))
    messages_outcome_apply(account=message.account, attempts=[attempt], retry=False)
    message.refresh_from_db()
    return message, attempt.error


# --- Apply outcomes ------------------------------------------------------------------------------------

def retry_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds before try ``attempt + 1``: exponential with jitter, never sooner than the provider asked."""
    base = settings.MESSAGE_RETRY_BASE_SECONDS
    delay = min(settings.MESSAGE_RETRY_MAX_SECONDS, base * 2 ** max(0, attempt - 1))
    delay = random.uniform(delay / 2, delay)  # jitter: retries from a burst spread out
    return max(delay, retry_after or 0.0)


def retry_policy(*, attempts: int, error: ProviderError) -> float | None:
    """The one retry policy: seconds to wait before sending again, or None to give up.

    A retryable failure (timeout, connection error, 5xx, 429) is tried again, up to
    MESSAGE_MAX_ATTEMPTS tries, after ``retry_delay``; a refusal is not.
    """
    if not error.retryable or attempts >= settings.MESSAGE_MAX_ATTEMPTS:
        return None
    return retry_delay(attempts, error.retry_after)


def _failure(code: str, text: str) -> dict[str, Any]:
    return {"status": MessageStatus.FAILED, "error_code": str(code)[:32], "error_message": text,
            "next_attempt_at": None}


def messages_outcome_apply(*, account: MessagingAccount, attempts: Sequence[Attempt], retry: bool = True,
                           hold_seconds: float | None = None, now: datetime | None = None) -> list[Applied]:
    """Write back what the provider said about claimed messages of ``account``, in one UPDATE.

    Accepted: sent, with the provider's id. Failed: queued again after ``retry_policy``'s delay, or
    (a refusal, retries exhausted, or ``retry`` false) failed with the provider's code, recording
    the opt-out when the provider's code means one. Never attempted: queued again with the attempt
    given back, not before ``hold_seconds``. Only rows not yet further along are written: a status
    callback that got there first keeps its status (an accepted send still notes when it went).
    Provider text is stored with the account's secrets redacted.
    """
    now = now or timezone.now()
    secrets = account.secret_values()
    opt_out_codes = provider_class(account.provider).opt_out_error_codes
    updates: dict[int, dict[str, Any]] = {}
    applied: list[Applied] = []
    opt_outs: list[int] = []
    for attempt in attempts:
        if attempt.provider_message_id is not None:
            updates[attempt.message_id] = {
                "status": MessageStatus.SENT, "provider_message_id": attempt.provider_message_id or None,
                "sent_at": now, "next_attempt_at": None, "error_code": "", "error_message": "",
            }
            applied.append(Applied(attempt.message_id, SendOutcome.SENT))
            metrics.send_outcome(provider=account.provider, channel=account.channel, outcome="sent",
                                 message_id=attempt.message_id, account_id=account.pk)
        elif attempt.error is None:
            updates[attempt.message_id] = {"status": MessageStatus.QUEUED, "attempts": attempt.attempts - 1,
                                           "next_attempt_at": now + timedelta(seconds=hold_seconds or 0)}
            applied.append(Applied(attempt.message_id, SendOutcome.NOT_ATTEMPTED))
        else:
            error = attempt.error
            text = redact(str(error.message), secrets)
            delay = retry_policy(attempts=attempt.attempts, error=error) if retry else None
            if delay is not None:
                updates[attempt.message_id] = {"status": MessageStatus.QUEUED, "error_code": error.code[:32],
                                               "error_message": text,
                                               "next_attempt_at": now + timedelta(seconds=delay)}
                applied.append(Applied(attempt.message_id, SendOutcome.RETRYING, retry_in=delay))
                log_detail = f"{text}; next in {delay:.1f} s"  # for the log, not for people
                metrics.send_outcome(provider=account.provider, channel=account.channel, outcome="retrying",
                                     error_code=error.code, message_id=attempt.message_id,
                                     detail=log_detail, account_id=account.pk)
                continue
            gave_up = error.retryable and retry
            code = error.code or ("retries_exhausted" if gave_up else "provider_error")
            updates[attempt.message_id] = _failure(
                code, f"gave up after {attempt.attempts} attempts: {text}" if gave_up else text)
            applied.append(Applied(attempt.message_id, SendOutcome.FAILED))
            metrics.send_outcome(provider=account.provider, channel=account.channel, outcome="failed",
                                 error_code=code, message_id=attempt.message_id, detail=text,
                                 account_id=account.pk)
            if error.code in opt_out_codes:
                opt_outs.append(attempt.message_id)
    if not updates:
        return applied
    for fields in updates.values():
        fields["status_updated_at"] = now
    # Below "sent": queued (the sweep put back a send it thought lost) or sending.
    written = rows_update(Message, updates, only_if={"status": (MessageStatus.QUEUED, MessageStatus.SENDING)})
    if written < len(updates):
        ahead = set(Message.objects.filter(pk__in=list(updates)).exclude(
            status__in=[MessageStatus.QUEUED, MessageStatus.SENDING]).values_list("pk", flat=True))
        sent_ids = [pk for pk in ahead if updates[pk]["status"] == MessageStatus.SENT]
        if sent_ids:
            Message.objects.filter(pk__in=sent_ids, sent_at__isnull=True).update(sent_at=now)
        applied = [replace(a, written=a.message_id not in ahead) for a in applied]
    if opt_outs:
        provider_opt_outs_record(Message.objects.filter(pk__in=opt_outs).select_related("contact", "phone_number"))
    return applied


def provider_opt_outs_record(messages: Iterable[Message]) -> int:
    """The provider said, with one of its opt-out codes (each message's ``error_code``), that these
    recipients opted out: record it, in bulk."""
    return consent_opt_outs_record(opt_outs=[
        (m.contact, m.phone_number, f"provider error {m.error_code}", m.error_message) for m in messages])


# --- A failed message sent again -----------------------------------------------------------------------

def message_retry(*, message: Message) -> Message:
    """Send a failed outbound message again, under today's rules."""
    if message.direction != Direction.OUTBOUND:
        raise ServiceError(_("Only outgoing messages can be retried."), code="not_outbound", field="message")
    if message.status not in (MessageStatus.FAILED, MessageStatus.UNDELIVERED):
        raise ConflictError(_("The message is %(status)s, not "
                              "failed.") % {"status": message.get_status_display().lower()},
                            code="not_failed", field="message")
    media = tuple(message.attachments.filter(state=AttachmentState.OUTGOING).order_by("pk")
                  .values_list("url", flat=True))
    message_check(draft=Draft(phone_number=message.phone_number, contact=message.contact, body=message.body,
                              media_urls=media, kind=message.kind, content_sid=message.content_sid))
    with transaction.atomic():
        updated = Message.objects.filter(
            pk=message.pk, status__in=[MessageStatus.FAILED, MessageStatus.UNDELIVERED]
        ).update(status=MessageStatus.QUEUED, attempts=0, next_attempt_at=None, error_code="", error_message="",
                 provider_message_id=None, status_updated_at=timezone.now())
        if not updated:
            raise ConflictError(_("The message is already being retried."), code="not_failed", field="message")
        message.refresh_from_db()
        message_enqueue(message)
    return message


# --- Status callbacks ----------------------------------------------------------------------------------

def message_status_apply(*, account_id: int, update: StatusUpdate, message_hint: str | None = None,
                         provider: str | None = None) -> StatusApplied:
    """Move a message forward on a status callback; never backwards.

    The message is found by the provider's id, or by our own id carried in the callback
    (``message_hint``: the status URL's ``message`` parameter, or an id the provider echoes back)
    when the callback outruns the send's own bookkeeping. ``provider``: the account's (looked up
    when not given), so that the provider id is found through its index.
    """
    if provider is None:
        provider = MessagingAccount.objects.values_list("provider", flat=True).filter(pk=account_id).first()
    with transaction.atomic():
        query = Q(provider=provider, provider_message_id=update.provider_message_id)
        if message_hint and str(message_hint).isdigit():
            query |= Q(pk=int(message_hint), provider_message_id__isnull=True)
        message = (Message.objects.select_for_update().select_related("contact", "phone_number")
                   .filter(query, account_id=account_id, direction=Direction.OUTBOUND).first())
        if message is None:
            return StatusApplied.UNKNOWN_MESSAGE
        if not message.provider_message_id:
            message.provider_message_id = update.provider_message_id
        now = timezone.now()
        if _status_retry(message, update, now=now):
            return StatusApplied.RETRYING
        changes, moved = status_changes(current={name: getattr(message, name) for name in STATUS_FIELDS},
                                        update=update, provider=message.provider, now=now)
        for name, value in changes.items():
            setattr(message, name, value)
        message.save()
        if not moved:
            return StatusApplied.KEPT
        if status_opts_out(update, provider=message.provider):
            provider_opt_outs_record([message])
        metrics.status_applied(provider=message.provider, status=message.status, error_code=message.error_code,
                               message_id=message.pk)
        return StatusApplied.MOVED


def status_opts_out(update: StatusUpdate, *, provider: str) -> bool:
    """Whether a status callback says the recipient opted out: a failure with one of the provider's opt-out
    codes (a "delivered" that happens to carry such a code says nothing of the kind)."""
    return (update.status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED) and bool(update.error_code)
            and update.error_code in provider_class(provider).opt_out_error_codes)


#: The message fields a status callback may change.
STATUS_FIELDS = ("status", "status_updated_at", "provider_message_id", "delivered_at", "read_at", "error_code",
                 "error_message")


def status_changes(*, current: Mapping[str, Any], update: StatusUpdate, provider: str,
                   now: datetime) -> tuple[dict[str, Any], bool]:
    """The one rule of a status callback on a message, from its ``STATUS_FIELDS`` values: the changes, and
    whether the message moved forward. A message never moves backwards (``STATUS_RANK``); "delivered" and
    "read" note when (a read message was delivered too); a failure keeps the provider's code and text."""
    changes: dict[str, Any] = {}
    if update.status in (MessageStatus.DELIVERED, MessageStatus.READ) and not current["delivered_at"]:
        changes["delivered_at"] = now
    if update.status == MessageStatus.READ and not current["read_at"]:
        changes["read_at"] = now
    if STATUS_RANK.get(update.status, 0) <= STATUS_RANK.get(current["status"], 0):
        return changes, False
    changes.update(status=update.status, status_updated_at=now)
    if update.status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED):
        changes["error_code"] = update.error_code[:32]
        changes["error_message"] = update.error_message or (
            f"{provider_class(provider).label} reported {update.status}"
            + (f" (error {update.error_code})" if update.error_code else ""))
    return changes, True


def _status_retry(message: Message, update: StatusUpdate, *, now: datetime) -> bool:
    """A failed status whose code the provider's error table marks retryable (a channel's rate
    limit) on a message not yet further along: queue it again after ``retry_policy``'s backoff, as a send
    answered with that code would be. Returns whether it did."""
    if update.status not in (MessageStatus.FAILED, MessageStatus.UNDELIVERED):
        return False
    if message.status not in (MessageStatus.SENDING, MessageStatus.SENT):
        return False
    cls = provider_class(message.provider)
    meaning = cls.error_meaning(update.error_code)
    if meaning is None or not meaning.retryable:
        return False
    error = ProviderError(update.error_message or meaning.meaning, retryable=True, code=update.error_code)
    delay = retry_policy(attempts=message.attempts, error=error)
    if delay is None:
        return False  # out of attempts: failed like any other failure
    message.status = MessageStatus.QUEUED
    message.status_updated_at = now
    message.next_attempt_at = now + timedelta(seconds=delay)
    message.provider_message_id = None  # the next try gets an id of its own
    message.error_code = update.error_code[:32]
    message.error_message = f"{cls.label} reported error {update.error_code} ({error.message}); sent again " \
        f"in {delay:.0f} s"
    message.save()
    message_enqueue(message, countdown=delay)
    metrics.send_outcome(provider=message.provider, channel=message.channel, outcome="retrying",
                         error_code=update.error_code, message_id=message.pk, detail=message.error_message,
                         account_id=message.account_id)
    return True


# --- Sweeps and bulk changes of state ------------------------------------------------------------------

def messages_stale_requeue(*, where: Q, now: datetime | None = None) -> list[int]:
    """Put back in the queue the sends matching ``where`` whose outcome is unknown: "sending" for longer than
    MESSAGE_SENDING_STALE_SECONDS (their worker died during the provider call). Returns their ids."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.MESSAGE_SENDING_STALE_SECONDS)
    with transaction.atomic():
        ids = list(Message.objects.select_for_update(skip_locked=True)
                   .filter(where, direction=Direction.OUTBOUND, status=MessageStatus.SENDING,
                           status_updated_at__lt=stale).order_by("pk").values_list("pk", flat=True))
        if ids:
            Message.objects.filter(pk__in=ids, status=MessageStatus.SENDING).update(
                status=MessageStatus.QUEUED, next_attempt_at=now, status_updated_at=now)
    return ids


def messages_withdraw(*, where: Q, code: str, reason: str) -> int:
    """Fail the queued outgoing messages matching ``where``: they will not be sent after all. Returns how many."""
    return Message.objects.filter(where, direction=Direction.OUTBOUND, status=MessageStatus.QUEUED).update(
        **_failure(code, reason), status_updated_at=timezone.now())


def messages_due_now(*, where: Q) -> int:
    """Make the queued outgoing messages matching ``where`` due now (a retry waiting for its backoff goes at
    once). Returns how many."""
    return Message.objects.filter(where, direction=Direction.OUTBOUND, status=MessageStatus.QUEUED).update(
        next_attempt_at=timezone.now())


def messages_requeue_stuck() -> int:
    """Re-enqueue conversational sends whose task was lost (a killed worker, a dropped broker message)."""
    now = timezone.now()
    grace = timedelta(seconds=settings.MESSAGE_REQUEUE_AFTER_SECONDS)
    conversational = ~Q(kind__in=SELF_SENT_KINDS)
    due = Message.objects.filter(conversational, direction=Direction.OUTBOUND, status=MessageStatus.QUEUED).filter(
        Q(next_attempt_at__isnull=True, created_at__lt=now - grace) | Q(next_attempt_at__lt=now - grace)
    )
    # At most MESSAGE_REQUEUE_LIMIT per run, and each marked as queued again now: a backlog (workers
    # down for a while) is re-enqueued once per grace period, a slice per run, instead of all of it
    # on every run.
    requeued = list(due.order_by("pk").only("pk", "kind")[:settings.MESSAGE_REQUEUE_LIMIT])
    if requeued:
        Message.objects.filter(pk__in=[m.pk for m in requeued], status=MessageStatus.QUEUED).update(next_attempt_at=now)
    for message in requeued:
        message_enqueue(message)
    # A send that died mid-call: its outcome is unknown. Callbacks already received settle some of
    # them; put the rest back in the queue.
    from .inbound import status_events_settle

    status_events_settle()
    stuck = messages_stale_requeue(where=conversational, now=now)
    for message in Message.objects.filter(pk__in=stuck).only("pk", "kind"):
        message_enqueue(message)
    # A test message is answered to whoever sent it, at once: one whose sender died mid-call is not
    # sent again behind their back.
    stale = now - timedelta(seconds=settings.MESSAGE_SENDING_STALE_SECONDS)
    Message.objects.filter(kind=MessageKind.TEST, direction=Direction.OUTBOUND, status=MessageStatus.SENDING,
                           status_updated_at__lt=stale).update(
        **_failure("interrupted", "The send was interrupted during the provider call; its outcome is unknown."),
        status_updated_at=now)
    return len(requeued) + len(stuck)
