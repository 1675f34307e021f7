"""Sending a request: one worker task claims it, then sends its contacts in chunks.

Per chunk, in one short transaction: the contacts not sent yet (and messages due for a retry) are
locked with ``select_for_update(skip_locked=True)``, consent is read for all of them in one query,
each contact's text is rendered in its locale, and their ``Message`` rows are inserted in bulk
(``bulk_insert``: COPY on PostgreSQL) already claimed (status "sending"), with their timeline activities. Then, outside
any transaction, a small thread pool calls the provider for each message through the account's
keep-alive session, within the per-number rate, backing off on 429. Outcomes are written back in
one UPDATE per WRITE_BACK_EVERY messages that only touches rows still "sending" (a fast status
callback is never overwritten).

Nothing is sent twice: a contact gets its message row in the same transaction that moves it out of
"pending", a message is claimed before its HTTP call, and two runs of the same request cannot
claim the same rows. A run that is interrupted gives back the claims it had not used; a worker
that dies leaves the messages it had not written back "sending": status callbacks settle those the
provider accepted, and ``outbound_recover`` queues the rest again after MESSAGE_SENDING_STALE_SECONDS
(their outcome is unknown, as for agents' replies).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from channels_app import segments
from channels_app.models import (
    Channel,
    ConsentState,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    PhoneNumber,
)
from channels_app.providers import BaseProvider, OutgoingMessage, ProviderError, get_provider
from channels_app.providers.http import channel_log_buffered, session_for
from channels_app.services.consent import consent_opted_out_many, consent_record
from channels_app.services.delivery import (
    MAX_MESSAGE_LENGTH,
    retry_delay,
    status_callback_url,
)
from config.db.bulk import bulk_insert
from config.redaction import redact
from outbound.models import (
    OutboundBatch,
    OutboundConfiguration,
    OutboundRecipient,
    OutboundRequest,
    RecipientState,
    RequestState,
    TemplateLocalization,
    TimelineActivity,
)

from . import ratelimit
from .requests import outbound_request_enqueue
from .rows import rows_update
from .templates import MissingValues, content_variables_render, localization_choose, template_render

logger = logging.getLogger(__name__)

SENT, FAILED, NOT_ATTEMPTED = "sent", "failed", "not_attempted"
#: Outcomes are written back at least this often within a chunk.
WRITE_BACK_EVERY = 25


@dataclass(frozen=True)
class _Job:
    message_id: int
    attempts: int  # including this one
    outgoing: OutgoingMessage


@dataclass(frozen=True)
class _Outcome:
    message_id: int
    kind: str
    provider_message_id: str = ""
    error: ProviderError | None = None


class _Throttle:
    """Set when the provider answers 429: the rest of the chunk waits instead of being sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: float | None = None

    def hit(self, seconds: float) -> None:
        with self._lock:
            self.seconds = max(self.seconds or 0.0, seconds)

    @property
    def active(self) -> bool:
        return self.seconds is not None


# --- Thread pool ---------------------------------------------------------------------------------

_pool_lock = threading.Lock()
_pool_state: tuple[int, int, ThreadPoolExecutor] | None = None


def _pool(size: int) -> ThreadPoolExecutor:
    """One pool per process (a forked worker child makes its own), reused by every task."""
    global _pool_state
    with _pool_lock:
        if _pool_state is None or _pool_state[0] != os.getpid() or _pool_state[1] != size:
            _pool_state = (os.getpid(), size, ThreadPoolExecutor(max_workers=size,
                                                                 thread_name_prefix="outbound-send"))
        return _pool_state[2]


def _session_ready(account: Any, size: int) -> None:
    """Let the account's keep-alive session hold one connection per sending thread (requests keeps 10)."""
    if size <= 10:
        return
    from requests.adapters import HTTPAdapter

    session = session_for(account)
    if getattr(session, "outbound_pool_size", 0) < size:
        for prefix in ("https://", "http://"):
            session.mount(prefix, HTTPAdapter(pool_connections=10, pool_maxsize=size))
        session.outbound_pool_size = size


# --- Claiming a request ------------------------------------------------------------------------------

CLAIM_LOCKED = "skipped: the request is locked"
CLAIM_RETRY_SECONDS = 2.0


def _claim_request(request_id: int) -> tuple[OutboundRequest, int] | str:
    now = timezone.now()
    rate = settings.OUTBOUND_SEND_RATE_PER_NUMBER
    lease = settings.OUTBOUND_REQUEST_LEASE_SECONDS + (settings.OUTBOUND_SEND_CHUNK / rate if rate > 0 else 0)
    with transaction.atomic():
        request = (OutboundRequest.objects.select_for_update(skip_locked=True)
                   .filter(pk=request_id).first())
        if request is None:
            exists = OutboundRequest.objects.filter(pk=request_id).exists()
            return CLAIM_LOCKED if exists else "missing"
        if request.state == RequestState.DONE:
            return "skipped: already done"
        if request.state == RequestState.SENDING and request.lease_until and request.lease_until > now:
            return "skipped: another worker is sending it"
        if request.state == RequestState.WAITING and request.next_run_at and \
                request.next_run_at > now + timedelta(seconds=1):
            return "skipped: not due"
        request.state = RequestState.SENDING
        request.runs += 1
        request.lease_until = now + timedelta(seconds=lease)
        request.started_at = request.started_at or now
        request.next_run_at = None
        request.save(update_fields=["state", "runs", "lease_until", "started_at", "next_run_at"])
    return request, request.runs


def _extend_lease(request_id: int, run: int) -> None:
    OutboundRequest.objects.filter(pk=request_id, runs=run).update(
        lease_until=timezone.now() + timedelta(seconds=settings.OUTBOUND_REQUEST_LEASE_SECONDS))


# --- Claiming a chunk ----------------------------------------------------------------------------------

def _values(recipient: OutboundRecipient) -> dict[str, str]:
    values = dict(recipient.context_items or {})
    if recipient.customer_name:
        values["CustomerName"] = recipient.customer_name
    if recipient.case_name:
        values["CaseName"] = recipient.case_name
    return values


def _reject(recipient: OutboundRecipient, state: str, code: str, reason: str) -> None:
    recipient.state, recipient.reason_code, recipient.reason = state, code, reason[:500]


def _outgoing(message: Message, phone: PhoneNumber) -> OutgoingMessage:
    return OutgoingMessage(
        to=message.contact.address, from_=phone.number, channel=message.channel, body=message.body,
        status_callback=status_callback_url(message), content_sid=message.content_sid or None,
        content_variables=message.content_variables or None, external_id=str(message.pk),
        first_sent_at=message.created_at,
    )


class _NotSendable(Exception):
    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def _render(recipient: OutboundRecipient, configuration: OutboundConfiguration,
            localizations: list[TemplateLocalization]) -> tuple[TemplateLocalization, str, dict[str, str]]:
    """The localization, text and WhatsApp variables for one contact; _NotSendable says why there are none."""
    template = configuration.template
    localization = localization_choose(localizations=localizations, locale=recipient.locale,
                                       default_language=template.default_language)
    if localization is None:
        raise _NotSendable("no_localization", f"Template '{template.name}' has no version for "
                           f"'{recipient.locale or '-'}' nor for its default language '{template.default_language}'.")
    values = _values(recipient)
    try:
        body = template_render(text=localization.text, values=values)
        variables = (content_variables_render(mapping=localization.content_variables or {}, values=values)
                     if configuration.channel_type == Channel.WHATSAPP else {})
    except MissingValues as exc:
        names = ", ".join("{" + n + "}" for n in exc.names)
        raise _NotSendable("missing_values", f"No value for {names} in the '{localization.language}' version of "
                           f"template '{template.name}': give it in contextitems (CustomerName and CaseName also "
                           "as fields).") from None
    if len(body) > MAX_MESSAGE_LENGTH:
        raise _NotSendable("body_too_long", f"The filled-in message is {len(body)} characters; the limit is "
                           f"{MAX_MESSAGE_LENGTH}.")
    if not body.strip() and configuration.channel_type != Channel.WHATSAPP:
        raise _NotSendable("body_required", "The filled-in message is empty.")
    return localization, body, variables


def _claim_chunk(request: OutboundRequest, configuration: OutboundConfiguration,
                 localizations: list[TemplateLocalization], *, limit: int) -> tuple[list[_Job], bool]:
    """Claim up to ``limit`` messages to send now: retries that are due, then contacts not sent yet.

    Also says whether that was everything there is to send now (no need to look again).
    """
    now = timezone.now()
    phone = configuration.phone_number
    account = phone.account
    with transaction.atomic():
        retries = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",)).select_related("contact")
            .filter(outbound_recipient__request_id=request.pk, status=MessageStatus.QUEUED)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .order_by("pk")[:limit]
        )
        room = limit - len(retries)
        # One more than there is room for tells whether another chunk follows.
        recipients = list(
            OutboundRecipient.objects.select_for_update(skip_locked=True, of=("self",)).select_related("contact")
            .filter(request_id=request.pk, state=RecipientState.PENDING).order_by("index")[:room + 1]
        )
        exhausted = len(retries) < limit and len(recipients) <= room
        recipients = recipients[:max(room, 0)]
        if not retries and not recipients:
            return [], True
        opted_out = consent_opted_out_many(
            contact_ids={m.contact_id for m in retries} | {r.contact_id for r in recipients}, phone_number=phone)

        jobs: list[_Job] = []
        refused: dict[int, dict[str, Any]] = {}
        for message in retries:
            if message.contact_id in opted_out:
                refused[message.pk] = _failure_fields("opted_out", _opted_out_text(message.contact.address, phone))
            elif not account.is_active:
                refused[message.pk] = _failure_fields("account_inactive", f"Account '{account.name}' is inactive.")
        if refused:
            rows_update(Message, {pk: {**fields, "status_updated_at": now} for pk, fields in refused.items()},
                        only_if={"status": MessageStatus.QUEUED})
        retries = [m for m in retries if m.pk not in refused]
        if retries:
            Message.objects.filter(pk__in=[m.pk for m in retries]).update(
                status=MessageStatus.SENDING, attempts=F("attempts") + 1, status_updated_at=now)
        for message in retries:
            message.account = account
            jobs.append(_Job(message.pk, message.attempts + 1, _outgoing(message, phone)))

        created: list[tuple[OutboundRecipient, Message]] = []
        for recipient in recipients:
            if not account.is_active:
                _reject(recipient, RecipientState.REJECTED, "account_inactive",
                        f"Account '{account.name}' is inactive.")
                continue
            if recipient.contact_id in opted_out:
                _reject(recipient, RecipientState.SKIPPED, "opted_out",
                        _opted_out_text(recipient.contact.address, phone))
                continue
            try:
                localization, body, variables = _render(recipient, configuration, localizations)
            except _NotSendable as exc:
                _reject(recipient, RecipientState.REJECTED, exc.code, exc.reason)
                continue
            info = segments.count(body)
            message = Message(
                account=account, phone_number=phone, contact=recipient.contact, provider=phone.provider,
                channel=phone.channel, direction=Direction.OUTBOUND, kind=MessageKind.OUTBOUND, body=body,
                content_sid=localization.content_sid if configuration.channel_type == Channel.WHATSAPP else "",
                content_variables=variables, status=MessageStatus.SENDING, encoding=info.encoding,
                segments=info.segments, attempts=1, status_updated_at=now, author_id=request.created_by_id,
            )
            recipient.state, recipient.language = RecipientState.MESSAGE, localization.language
            created.append((recipient, message))
        if created:
            bulk_insert(Message, [message for _, message in created], ids=True)
            for recipient, message in created:
                recipient.message = message
                jobs.append(_Job(message.pk, 1, _outgoing(message, phone)))
        if recipients:
            rows_update(OutboundRecipient, {r.pk: {"state": r.state, "reason_code": r.reason_code, "reason": r.reason,
                                                   "language": r.language, "message": r.message_id}
                                            for r in recipients})
        if created and configuration.show_in_timeline:
            bulk_insert(TimelineActivity, [
                TimelineActivity(
                    contact_id=recipient.contact_id, case_id=recipient.case_id,
                    regarding=recipient.entity_relationship_name, configuration=configuration,
                    configuration_ref=configuration.configuration_id, message=message, recipient=recipient,
                    text=message.body, channel=message.channel, language=recipient.language,
                )
                for recipient, message in created
            ])
    return jobs, exhausted


def _opted_out_text(address: str, phone: PhoneNumber) -> str:
    return f"{address} has opted out of messages from {phone.number}."


def _failure_fields(code: str, text: str) -> dict[str, Any]:
    return {"status": MessageStatus.FAILED, "error_code": code[:32], "error_message": text, "next_attempt_at": None}


# --- Sending -------------------------------------------------------------------------------------

def _send_one(provider: BaseProvider, job: _Job, throttle: _Throttle) -> _Outcome:
    try:
        result = provider.send(job.outgoing)
    except ProviderError as exc:
        if exc.http_status == 429:
            throttle.hit(exc.retry_after or settings.OUTBOUND_THROTTLE_BACKOFF_SECONDS)
        return _Outcome(job.message_id, FAILED, error=exc)
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # a bug must not stop the other contacts, nor leave the row "sending"
        logger.exception("sending outbound message %s crashed", job.message_id)
        return _Outcome(job.message_id, FAILED,
                        error=ProviderError(f"unexpected error: {exc.__class__.__name__}", retryable=True))
    return _Outcome(job.message_id, SENT, provider_message_id=result.provider_message_id)


def _blocks(jobs: list[_Job], phone: PhoneNumber, throttle: _Throttle) -> Iterator[list[_Job]]:
    """The jobs in blocks the per-number rate allows now (waiting for the next second when it is used up)."""
    rate = settings.OUTBOUND_SEND_RATE_PER_NUMBER
    if rate <= 0:
        yield jobs
        return
    index = 0
    while index < len(jobs) and not throttle.active:
        granted, wait_for = ratelimit.number_take(phone_number_id=phone.pk, n=len(jobs) - index, per_second=rate)
        if not granted:
            time.sleep(wait_for)
            continue
        yield jobs[index:index + granted]
        index += granted


def _in_thread(run: Any, job: _Job) -> _Outcome:
    close_old_connections()  # the provider module writes the channel log from this thread
    return run(job)


def _dispatch(jobs: list[_Job], *, provider: BaseProvider, phone: PhoneNumber,
              record: Callable[[list[_Outcome], _Throttle], None]) -> _Throttle:
    """Send the jobs, concurrently when OUTBOUND_SEND_CONCURRENCY > 1, handing the outcomes to ``record``
    every WRITE_BACK_EVERY and at the end (so a worker that dies leaves few sends unrecorded).

    On an interruption the jobs that never started are reported NOT_ATTEMPTED; one whose HTTP call
    was under way and did not finish gets no outcome (its row stays "sending").
    """
    throttle = _Throttle()
    started: set[int] = set()
    finished: set[int] = set()
    pending: list[_Outcome] = []

    def run(job: _Job) -> _Outcome:
        if throttle.active:
            return _Outcome(job.message_id, NOT_ATTEMPTED)
        started.add(job.message_id)
        return _send_one(provider, job, throttle)

    def flush() -> None:
        batch = pending[:]
        pending.clear()
        if batch:
            record(batch, throttle)

    def collect(outcome: _Outcome) -> None:
        pending.append(outcome)
        finished.add(outcome.message_id)
        if len(pending) >= WRITE_BACK_EVERY:
            flush()

    size = settings.OUTBOUND_SEND_CONCURRENCY
    try:
        if size <= 1:
            for block in _blocks(jobs, phone, throttle):
                for job in block:
                    collect(run(job))
            return throttle
        _session_ready(phone.account, size)
        pool = _pool(size)
        futures = []
        try:
            for block in _blocks(jobs, phone, throttle):
                futures += [pool.submit(_in_thread, run, job) for job in block]
            for future in as_completed(futures):
                collect(future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            wait([f for f in futures if not f.cancelled()],
                 timeout=settings.PROVIDER_CONNECT_TIMEOUT + settings.PROVIDER_READ_TIMEOUT)
            for future in futures:
                if future.done() and not future.cancelled() and future.exception() is None:
                    outcome = future.result()
                    if outcome.message_id not in finished:
                        pending.append(outcome)
                        finished.add(outcome.message_id)
            raise
        return throttle
    finally:
        pending.extend(_Outcome(job.message_id, NOT_ATTEMPTED) for job in jobs
                       if job.message_id not in finished and job.message_id not in started)
        flush()


def _record(attempts: dict[int, int], outcomes: list[_Outcome], *, phone: PhoneNumber,
            throttle: _Throttle) -> dict[str, int]:
    """Write the outcomes back in one UPDATE (only rows still "sending"). ``attempts``: message id → tries."""
    now = timezone.now()
    secrets = phone.account.secret_values()
    updates: dict[int, dict[str, Any]] = {}
    tally = {"sent": 0, "failed": 0, "retrying": 0, "not_attempted": 0}
    opt_outs: list[tuple[int, str]] = []
    for outcome in outcomes:
        if outcome.kind == SENT:
            tally["sent"] += 1
            updates[outcome.message_id] = {
                "status": MessageStatus.SENT, "provider_message_id": outcome.provider_message_id, "sent_at": now,
                "next_attempt_at": None, "error_code": "", "error_message": "",
            }
        elif outcome.kind == NOT_ATTEMPTED:
            tally["not_attempted"] += 1
            updates[outcome.message_id] = {
                "status": MessageStatus.QUEUED, "attempts": attempts[outcome.message_id] - 1,
                "next_attempt_at": now + timedelta(seconds=throttle.seconds or 0),
            }
        else:
            exc = outcome.error or ProviderError("unknown error", retryable=True)
            text = redact(str(exc.message), secrets)
            tried = attempts[outcome.message_id]
            if exc.retryable and tried < settings.MESSAGE_MAX_ATTEMPTS:
                tally["retrying"] += 1
                updates[outcome.message_id] = {
                    "status": MessageStatus.QUEUED, "error_code": exc.code[:32], "error_message": text,
                    "next_attempt_at": now + timedelta(seconds=retry_delay(tried, exc.retry_after)),
                }
            else:
                tally["failed"] += 1
                code = exc.code or ("retries_exhausted" if exc.retryable else "provider_error")
                updates[outcome.message_id] = _failure_fields(
                    code, text if not exc.retryable else f"gave up after {tried} attempts: {text}")
                if exc.opt_out:
                    opt_outs.append((outcome.message_id, text))
    if not updates:
        return tally
    for fields in updates.values():
        fields["status_updated_at"] = now
    written = rows_update(Message, updates, only_if={"status": MessageStatus.SENDING})
    if written < len(updates):
        # A status callback got there first (it also set the provider id); keep its status, note the send.
        sent_ids = [pk for pk, fields in updates.items() if fields["status"] == MessageStatus.SENT]
        Message.objects.filter(pk__in=sent_ids, sent_at__isnull=True).update(sent_at=now)
    for message in Message.objects.filter(pk__in=[pk for pk, _ in opt_outs]).select_related("contact", "phone_number"):
        consent_record(contact=message.contact, phone_number=message.phone_number, state=ConsentState.OPTED_OUT,
                       source=f"provider error {message.error_code}", detail=message.error_message)
    return tally


# --- The task's service --------------------------------------------------------------------------

def outbound_request_send(*, request_id: int) -> str:
    """Send what of the request is not sent yet; safe to run any number of times. Returns what happened."""
    claimed = _claim_request(request_id)
    if claimed == CLAIM_LOCKED:
        # Someone holds the row for a moment: look again shortly rather than leave the request to
        # the sweep. If a worker is really sending it, the next look finds its lease and steps aside.
        from .requests import outbound_request_enqueue

        outbound_request_enqueue(request_id=request_id, countdown=CLAIM_RETRY_SECONDS)
        return f"{claimed}; trying again in {CLAIM_RETRY_SECONDS:g} s"
    if isinstance(claimed, str):
        return claimed
    request, run = claimed
    total = {"sent": 0, "failed": 0, "retrying": 0, "not_attempted": 0}
    throttle = _Throttle()
    interrupted = True
    try:
        configuration = (OutboundConfiguration.objects.select_related("template", "phone_number__account")
                         .get(pk=request.configuration_id))
        if not configuration.is_active:
            _skip_inactive(request, configuration)
        else:
            localizations = list(configuration.template.localizations.all())
            phone = configuration.phone_number
            provider = get_provider(phone.account)
            exhausted = False
            while not exhausted:
                jobs, exhausted = _claim_chunk(request, configuration, localizations,
                                               limit=settings.OUTBOUND_SEND_CHUNK)
                if not jobs:
                    continue
                attempts = {job.message_id: job.attempts for job in jobs}

                def record(outcomes: list[_Outcome], chunk_throttle: _Throttle, attempts=attempts) -> None:
                    for key, value in _record(attempts, outcomes, phone=phone, throttle=chunk_throttle).items():
                        total[key] += value

                with channel_log_buffered():  # the chunk's channel-log rows go in with one INSERT
                    throttle = _dispatch(jobs, provider=provider, phone=phone, record=record)
                _extend_lease(request.pk, run)
                if throttle.active:
                    break
        interrupted = False
    finally:
        state = _finish(request.pk, run, throttle=throttle, interrupted=interrupted)
    return f"{state}: " + ", ".join(f"{value} {key.replace('_', ' ')}" for key, value in total.items() if value)


def _skip_inactive(request: OutboundRequest, configuration: OutboundConfiguration) -> None:
    reason = f"The outbound configuration '{configuration.name}' was deactivated before this contact was sent."
    OutboundRecipient.objects.filter(request=request, state=RecipientState.PENDING).update(
        state=RecipientState.SKIPPED, reason_code="configuration_inactive", reason=reason)
    Message.objects.filter(outbound_recipient__request=request, status=MessageStatus.QUEUED).update(
        status=MessageStatus.FAILED, error_code="configuration_inactive", error_message=reason,
        next_attempt_at=None, status_updated_at=timezone.now())


def _finish(request_id: int, run: int, *, throttle: _Throttle, interrupted: bool) -> str:
    """Settle the request's state after a run: done, or waiting (with the next run scheduled)."""
    now = timezone.now()
    pending = OutboundRecipient.objects.filter(request_id=request_id, state=RecipientState.PENDING).exists()
    open_messages = Message.objects.filter(
        outbound_recipient__request_id=request_id, status__in=[MessageStatus.QUEUED, MessageStatus.SENDING]
    ).aggregate(
        queued=Count("pk", filter=Q(status=MessageStatus.QUEUED)),
        due=Min("next_attempt_at", filter=Q(status=MessageStatus.QUEUED)),
        sending=Count("pk", filter=Q(status=MessageStatus.SENDING)),
        oldest=Min("status_updated_at", filter=Q(status=MessageStatus.SENDING)),
    )
    fields: dict[str, Any] = {"lease_until": None}
    next_run: Any = None
    if pending or open_messages["queued"]:
        candidates = []
        if pending:
            candidates.append(now + timedelta(seconds=throttle.seconds or 0))
        if open_messages["queued"]:
            candidates.append(open_messages["due"] or now)
        next_run = max(now, min(candidates))
        fields.update(state=RequestState.WAITING, next_run_at=next_run)
    elif open_messages["sending"]:
        # Claimed by a run that died mid-call: the sweep queues them again once they are stale.
        fields.update(state=RequestState.WAITING, next_run_at=(open_messages["oldest"] or now)
                      + timedelta(seconds=settings.MESSAGE_SENDING_STALE_SECONDS))
    else:
        fields.update(state=RequestState.DONE, finished_at=now, next_run_at=None)
    if next_run is not None and not interrupted:
        fields["enqueued_at"] = now
    with transaction.atomic():
        if not OutboundRequest.objects.filter(pk=request_id, runs=run).update(**fields):
            return "superseded"  # another run took the request over after this run's lease expired
        if next_run is not None and not interrupted:
            outbound_request_enqueue(request_id=request_id, countdown=max(0.0, (next_run - now).total_seconds()))
    return fields["state"]


# --- Recovery (beat) -----------------------------------------------------------------------------

def outbound_recover() -> dict[str, int]:
    """Find work whose task was lost and queue it again; returns what it did.

    - Outbound messages stuck in "sending" longer than MESSAGE_SENDING_STALE_SECONDS (their worker
      died mid-call): queued again, and their request re-run.
    - Requests pending, waiting past their time, or held by an expired lease, for longer than
      OUTBOUND_REQUEUE_AFTER_SECONDS: re-run.
    - Batches still submitting whose task was lost: resumed.
    """
    from channels_app.services.inbound import status_events_settle

    # Callbacks already received say which of the unknown sends went out: apply them first.
    settled = status_events_settle()
    now = timezone.now()
    stale = now - timedelta(seconds=settings.MESSAGE_SENDING_STALE_SECONDS)
    grace = now - timedelta(seconds=settings.OUTBOUND_REQUEUE_AFTER_SECONDS)
    stuck = Message.objects.filter(kind=MessageKind.OUTBOUND, direction=Direction.OUTBOUND,
                                   status=MessageStatus.SENDING, status_updated_at__lt=stale,
                                   outbound_recipient__isnull=False)
    reset_requests = set(stuck.values_list("outbound_recipient__request_id", flat=True))
    reset = stuck.update(status=MessageStatus.QUEUED, next_attempt_at=now, status_updated_at=now)
    if reset_requests:
        OutboundRequest.objects.filter(pk__in=reset_requests).exclude(state=RequestState.SENDING).update(
            state=RequestState.WAITING, next_run_at=now, finished_at=None)
    lost = OutboundRequest.objects.filter(
        Q(pk__in=reset_requests)
        | Q(state=RequestState.PENDING) & (Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=grace))
        | Q(state=RequestState.WAITING) & (Q(next_run_at__isnull=True) | Q(next_run_at__lt=grace))
        | Q(state=RequestState.SENDING, lease_until__lt=now)
    ).exclude(state=RequestState.DONE)
    request_ids = list(lost.order_by("pk").values_list("pk", flat=True)[:settings.OUTBOUND_RECOVER_BATCH])
    with transaction.atomic():
        OutboundRequest.objects.filter(pk__in=request_ids).update(enqueued_at=now)
        for request_id in request_ids:
            outbound_request_enqueue(request_id=request_id)

    from .batches import outbound_batch_enqueue

    batches = list(OutboundBatch.objects.filter(state="submitting").exclude(source="command")
                   .filter(Q(next_run_at__isnull=True) | Q(next_run_at__lt=grace)).values_list("pk", flat=True))
    with transaction.atomic():
        for batch_id in batches:
            outbound_batch_enqueue(batch_id=batch_id)
    return {"callbacks_applied": settled, "messages_requeued": reset, "requests_requeued": len(request_ids),
            "batches_resumed": len(batches),
            "counters_trimmed": ratelimit.counters_trim()}
