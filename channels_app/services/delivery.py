"""Outgoing messages: the rules every send obeys, the send itself with retries, and status callbacks.

``message_queue`` checks (length, consent, the WhatsApp 24-hour window, attachment
permission), stores the message as queued and enqueues the send when the transaction
commits. ``message_send`` runs in a worker: it claims the row, calls the provider outside
any transaction, and records the outcome. Retryable failures are retried with exponential
backoff and jitter a bounded number of times; permanent ones fail with the provider's code.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from channels_app import segments
from channels_app.models import (
    STATUS_RANK,
    Attachment,
    AttachmentState,
    Channel,
    ConsentState,
    Contact,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    PhoneNumber,
)
from channels_app.policy import number_policy
from channels_app.providers import OutgoingMessage, ProviderError, StatusUpdate, get_provider, provider_label
from config.exceptions import ConflictError, ServiceError
from config.redaction import redact

from .consent import consent_record, consent_require

logger = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 1600
WHATSAPP_WINDOW = timedelta(hours=24)
#: Kinds that go on the bulk queue; everything else is conversational and goes first.
BULK_KINDS = {MessageKind.OUTBOUND}


def whatsapp_window_closes_at(*, contact: Contact, phone_number: PhoneNumber) -> datetime | None:
    """When the 24-hour session window closes (None: the customer never wrote)."""
    last = (Message.objects.filter(contact=contact, phone_number=phone_number, direction=Direction.INBOUND)
            .order_by("-created_at").values_list("created_at", flat=True).first())
    return last + WHATSAPP_WINDOW if last else None


def _check_window(contact: Contact, phone_number: PhoneNumber) -> None:
    closes_at = whatsapp_window_closes_at(contact=contact, phone_number=phone_number)
    if closes_at is None or closes_at <= timezone.now():
        when = (f"closed at {closes_at.isoformat(timespec='minutes')}" if closes_at
                else "is not open (the customer has not written)")
        raise ConflictError(
            f"The WhatsApp 24-hour window {when}; only an approved template can be sent until the customer "
            "writes again.",
            code="whatsapp_window_closed", field="body",
            extra={"window_closes_at": closes_at.isoformat() if closes_at else None},
        )


def message_check(*, phone_number: PhoneNumber, contact: Contact, body: str = "", media_urls: tuple[str, ...] = (),
                  content_sid: str = "", enforce_attachment_policy: bool = True,
                  kind: str = MessageKind.REGULAR) -> segments.SegmentInfo:
    """Every rule a send must pass; raise ServiceError naming the rule. Returns the segment count."""
    body = body or ""
    if not content_sid:
        if not body.strip() and not media_urls:
            raise ServiceError("The message is empty.", code="body_required", field="body")
        if len(body) > MAX_MESSAGE_LENGTH:
            raise ServiceError(f"The message is {len(body)} characters; the limit is {MAX_MESSAGE_LENGTH}.",
                               code="body_too_long", field="body", extra={"limit": MAX_MESSAGE_LENGTH})
    account = phone_number.account
    if not account.is_active:
        raise ConflictError(f"Account '{account.name}' is inactive.", code="account_inactive", field="account")
    if kind != MessageKind.OPT_OUT_CONFIRMATION:
        consent_require(contact=contact, phone_number=phone_number)
    if phone_number.channel == Channel.WHATSAPP and not content_sid:
        _check_window(contact, phone_number)
    if media_urls and enforce_attachment_policy and not number_policy(phone_number).agents_may_send_attachments:
        raise ServiceError(f"Agents may not send attachments on {phone_number.number}.",
                           code="attachments_not_allowed", field="attachments")
    return segments.count(body)


def message_queue(*, phone_number: PhoneNumber, contact: Contact, body: str = "", media_urls: tuple[str, ...] = (),
                  kind: str = MessageKind.REGULAR, author: Any = None, content_sid: str = "",
                  content_variables: dict[str, str] | None = None,
                  enforce_attachment_policy: bool = True) -> Message:
    """Check, store as queued, and send from a worker once the surrounding transaction commits."""
    info = message_check(phone_number=phone_number, contact=contact, body=body, media_urls=media_urls,
                         content_sid=content_sid, enforce_attachment_policy=enforce_attachment_policy, kind=kind)
    with transaction.atomic():
        message = Message.objects.create(
            account=phone_number.account, phone_number=phone_number, contact=contact,
            provider=phone_number.provider, channel=phone_number.channel, direction=Direction.OUTBOUND, kind=kind,
            body=body or "", content_sid=content_sid, content_variables=content_variables or {},
            status=MessageStatus.QUEUED, encoding=info.encoding, segments=info.segments, author=author,
        )
        for url in media_urls:
            Attachment.objects.create(message=message, url=url, state=AttachmentState.OUTGOING)
        message_enqueue(message)
    return message


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


def retry_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds before try ``attempt + 1``: exponential with jitter, never sooner than the provider asked."""
    base = settings.MESSAGE_RETRY_BASE_SECONDS
    delay = min(settings.MESSAGE_RETRY_MAX_SECONDS, base * 2 ** max(0, attempt - 1))
    delay = random.uniform(delay / 2, delay)  # jitter: retries from a burst spread out
    return max(delay, retry_after or 0.0)


def message_send(*, message_id: int) -> str:
    """Send a queued message; returns what happened (for logs and tests).

    Safe to run twice for the same message: only the run that claims a queued row sends.
    """
    now = timezone.now()
    with transaction.atomic():
        message = (Message.objects.select_for_update().select_related("account", "phone_number", "contact")
                   .filter(pk=message_id).first())
        if message is None:
            return "missing"
        if message.status != MessageStatus.QUEUED:
            return f"skipped: already {message.status}"
        if message.next_attempt_at and message.next_attempt_at > now + timedelta(seconds=1):
            return "skipped: not due"
        try:
            if message.kind != MessageKind.OPT_OUT_CONFIRMATION:
                consent_require(contact=message.contact, phone_number=message.phone_number)
        except ServiceError as exc:
            _fail(message, exc.code, exc.message)
            return "failed: opted out"
        if not message.account.is_active:
            _fail(message, "account_inactive", f"Account '{message.account.name}' is inactive.")
            return "failed: account inactive"
        message.status = MessageStatus.SENDING
        message.attempts += 1
        message.status_updated_at = now
        message.save(update_fields=["status", "attempts", "status_updated_at"])

    outgoing = OutgoingMessage(
        to=message.contact.address, from_=message.phone_number.number, channel=message.channel,
        body=message.body, media_urls=tuple(a.url for a in message.attachments.all()),
        status_callback=status_callback_url(message), content_sid=message.content_sid or None,
        content_variables=message.content_variables or None, external_id=str(message.pk),
        first_sent_at=message.created_at,
    )
    try:
        result = get_provider(message.account).send(outgoing)
    except ProviderError as exc:
        return _send_failed(message, exc)
    except Exception as exc:  # a bug must not leave the row in "sending" forever
        logger.exception("sending message %s crashed", message.pk)
        return _send_failed(message, ProviderError(f"unexpected error: {exc.__class__.__name__}", retryable=True))

    with transaction.atomic():
        fresh = Message.objects.select_for_update().get(pk=message.pk)
        fresh.provider_message_id = result.provider_message_id
        fresh.sent_at = timezone.now()
        fresh.next_attempt_at = None
        fresh.error_code, fresh.error_message = "", ""
        if STATUS_RANK.get(fresh.status, 0) < STATUS_RANK[MessageStatus.SENT]:
            fresh.status = MessageStatus.SENT
            fresh.status_updated_at = fresh.sent_at
        fresh.save()
    return "sent"


def _fail(message: Message, code: str, text: str) -> None:
    message.status = MessageStatus.FAILED
    message.error_code, message.error_message = str(code)[:32], text
    message.next_attempt_at = None
    message.status_updated_at = timezone.now()
    message.save(update_fields=["status", "error_code", "error_message", "next_attempt_at", "status_updated_at"])


def _send_failed(message: Message, exc: ProviderError) -> str:
    with transaction.atomic():
        fresh = (Message.objects.select_for_update().select_related("contact", "phone_number", "account")
                 .get(pk=message.pk))
        if fresh.status != MessageStatus.SENDING:
            return f"skipped: already {fresh.status}"
        # Providers may quote a credential back (a URL holding the Account SID): never store it.
        text = redact(str(exc.message), fresh.account.secret_values())
        if exc.retryable and fresh.attempts < settings.MESSAGE_MAX_ATTEMPTS:
            delay = retry_delay(fresh.attempts, exc.retry_after)
            fresh.status = MessageStatus.QUEUED
            fresh.error_code, fresh.error_message = exc.code[:32], text
            fresh.next_attempt_at = timezone.now() + timedelta(seconds=delay)
            fresh.status_updated_at = timezone.now()
            fresh.save()
            message_enqueue(fresh, countdown=delay)
            return f"retrying in {delay:.1f}s"
        reason = text if not exc.retryable else f"gave up after {fresh.attempts} attempts: {text}"
        _fail(fresh, exc.code or ("retries_exhausted" if exc.retryable else "provider_error"), reason)
        if exc.opt_out:
            consent_record(contact=fresh.contact, phone_number=fresh.phone_number, state=ConsentState.OPTED_OUT,
                           source=f"provider error {exc.code}", detail=text)
        return f"failed: {exc}"


def message_retry(*, message: Message) -> Message:
    """Send a failed outbound message again, under today's rules."""
    if message.direction != Direction.OUTBOUND:
        raise ServiceError("Only outgoing messages can be retried.", code="not_outbound", field="message")
    if message.status not in (MessageStatus.FAILED, MessageStatus.UNDELIVERED):
        raise ConflictError(f"The message is {message.get_status_display().lower()}, not failed.",
                            code="not_failed", field="message")
    message_check(phone_number=message.phone_number, contact=message.contact, body=message.body,
                  content_sid=message.content_sid, enforce_attachment_policy=False)
    with transaction.atomic():
        updated = Message.objects.filter(
            pk=message.pk, status__in=[MessageStatus.FAILED, MessageStatus.UNDELIVERED]
        ).update(status=MessageStatus.QUEUED, attempts=0, next_attempt_at=None, error_code="", error_message="",
                 provider_message_id=None, status_updated_at=timezone.now())
        if not updated:
            raise ConflictError("The message is already being retried.", code="not_failed", field="message")
        message.refresh_from_db()
        message_enqueue(message)
    return message


def message_status_apply(*, account_id: int, update: StatusUpdate, message_hint: str | None = None) -> str:
    """Move a message forward on a status callback; never backwards. Returns what happened.

    The message is found by the provider's id, or by our own id carried in the callback
    (``message_hint``: what the provider's module found in the callback, e.g. the status URL's
    ``message`` parameter)
    when the callback outruns the send's own bookkeeping.
    """
    with transaction.atomic():
        query = Q(provider_message_id=update.provider_message_id)
        if message_hint and str(message_hint).isdigit():
            query |= Q(pk=int(message_hint), provider_message_id__isnull=True)
        message = (Message.objects.select_for_update().select_related("contact", "phone_number")
                   .filter(query, account_id=account_id, direction=Direction.OUTBOUND).first())
        if message is None:
            return "unknown message"
        if not message.provider_message_id:
            message.provider_message_id = update.provider_message_id
        now = timezone.now()
        if update.status == MessageStatus.DELIVERED and not message.delivered_at:
            message.delivered_at = now
        if update.status == MessageStatus.READ:
            message.read_at = message.read_at or now
            message.delivered_at = message.delivered_at or now
        if STATUS_RANK.get(update.status, 0) <= STATUS_RANK.get(message.status, 0):
            message.save()
            return f"kept {message.status} (callback said {update.status})"
        message.status = update.status
        message.status_updated_at = now
        if update.status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED):
            message.error_code = update.error_code[:32]
            message.error_message = update.error_message or f"{provider_label(message.provider)} reported " \
                f"{update.status}" + (f" (error {update.error_code})" if update.error_code else "")
            if update.opt_out:
                consent_record(contact=message.contact, phone_number=message.phone_number,
                               state=ConsentState.OPTED_OUT, source=f"provider error {update.error_code}")
        message.save()
        return f"now {message.status}"


def messages_requeue_stuck() -> int:
    """Re-enqueue sends whose task was lost (a killed worker, a dropped broker message)."""
    now = timezone.now()
    grace = timedelta(seconds=settings.MESSAGE_REQUEUE_AFTER_SECONDS)
    stale_sending = now - timedelta(seconds=settings.MESSAGE_SENDING_STALE_SECONDS)
    count = 0
    # Proactive (outbound) messages are recovered by their own request, which keeps the per-number rate.
    conversational = Message.objects.filter(direction=Direction.OUTBOUND).exclude(kind__in=BULK_KINDS)
    due = conversational.filter(status=MessageStatus.QUEUED).filter(
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
        count += 1
    # A send that died mid-call: its outcome is unknown. Callbacks already received settle some of
    # them; put the rest back in the queue.
    from .inbound import status_events_settle

    status_events_settle()
    stuck = conversational.filter(status=MessageStatus.SENDING, status_updated_at__lt=stale_sending)
    for message in stuck.only("pk", "kind").iterator():
        if Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
                status=MessageStatus.QUEUED, next_attempt_at=None, status_updated_at=now):
            message_enqueue(message)
            count += 1
    return count
