"""Sending a request: one worker task claims it, then sends its contacts in chunks.

The messages are channels_app's: this module renders, and hands them to channels_app's pipeline
(``channels_app.services.delivery``) to check, store, claim and record. Per chunk, in one short
transaction: messages of the request due for a retry are claimed (``messages_claim``), the contacts
not sent yet are locked with ``select_for_update(skip_locked=True)``, each contact's text is rendered
in its locale, every send rule is checked for all of them at once (``messages_check``: consent in
one query), and their messages are stored in bulk already claimed (``messages_create``: COPY on
PostgreSQL), with their timeline activities. Then, outside any transaction, a small thread pool
calls the provider for each message through the account's keep-alive session, within the
per-number rate, backing off on 429. Outcomes are written back (``messages_outcome_apply``) in one
UPDATE per WRITE_BACK_EVERY messages that never moves a message backwards (a fast status callback is
never overwritten).

Nothing is sent twice: a contact gets its message row in the same transaction that moves it out of
"pending", a message is claimed before its HTTP call, and two runs of the same request cannot
claim the same rows. A run that is interrupted gives back the claims it had not used; a worker
that dies leaves the messages it had not written back "sending": status callbacks settle those the
provider accepted, and ``outbound_recover`` queues the rest again after MESSAGE_SENDING_STALE_SECONDS
(their outcome is unknown, as for agents' replies).
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.models import Channel, Message, MessageKind, MessageStatus, PhoneNumber
from channels_app.providers import BaseProvider, get_provider
from channels_app.providers.http import channel_log_buffered, session_for
from channels_app.services.delivery import (
    Attempt,
    Draft,
    Send,
    SendOutcome,
    attempt_send,
    messages_check,
    messages_claim,
    messages_create,
    messages_outcome_apply,
    messages_stale_requeue,
    messages_withdraw,
    send_of,
)
from config.db.bulk import bulk_insert
from config.db.rows import rows_update
from config.logs import log_bound
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
from .templates import MissingValues, content_variables_render, localization_choose, template_render

logger = logging.getLogger(__name__)

#: Outcomes are written back at least this often within a chunk.
WRITE_BACK_EVERY = 25


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


class _NotSendable(Exception):
    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def _render(recipient: OutboundRecipient, configuration: OutboundConfiguration,
            localizations: list[TemplateLocalization]) -> tuple[TemplateLocalization, str, dict[str, str]]:
    """The localization, text and WhatsApp variables for one contact; _NotSendable says why there are none.

    Only the template's own rules are here; the send rules (length, consent …) are channels_app's.
    """
    template = configuration.template
    localization = localization_choose(localizations=localizations, locale=recipient.locale,
                                       default_language=template.default_language)
    if localization is None:
        raise _NotSendable("no_localization", _("Template '%(template)s' has no version for '%(locale)s' nor for its "
                                                "default language '%(default_language)s'.")
                           % {"template": template.name, "locale": recipient.locale or "-",
                              "default_language": template.default_language})
    values = _values(recipient)
    try:
        body = template_render(text=localization.text, values=values)
        variables = (content_variables_render(mapping=localization.content_variables or {}, values=values)
                     if configuration.channel_type == Channel.WHATSAPP else {})
    except MissingValues as exc:
        names = ", ".join("{" + n + "}" for n in exc.names)
        raise _NotSendable("missing_values", _("No value for %(names)s in the '%(language)s' version of template "
                                               "'%(template)s': give it in contextitems (CustomerName and CaseName "
                                               "also as fields).")
                           % {"names": names, "language": localization.language, "template": template.name}) from None
    return localization, body, variables


def _claim_chunk(request: OutboundRequest, configuration: OutboundConfiguration,
                 localizations: list[TemplateLocalization], *, limit: int) -> tuple[list[Send], bool]:
    """Claim up to ``limit`` messages to send now: retries that are due, then contacts not sent yet.

    Also says whether that was everything there is to send now (no need to look again).
    """
    phone = configuration.phone_number
    with transaction.atomic():
        claimed = messages_claim(where=Q(outbound_recipient__request_id=request.pk), phone_number=phone, limit=limit)
        room = limit - claimed.locked
        # One more than there is room for tells whether another chunk follows.
        recipients = list(
            OutboundRecipient.objects.select_for_update(skip_locked=True, of=("self",)).select_related("contact")
            .filter(request_id=request.pk, state=RecipientState.PENDING).order_by("index")[:room + 1]
        )
        exhausted = claimed.locked < limit and len(recipients) <= room
        recipients = recipients[:max(room, 0)]
        if not claimed.locked and not recipients:
            return [], True
        sends = list(claimed.sends)

        rendered: list[tuple[OutboundRecipient, TemplateLocalization, Draft]] = []
        for recipient in recipients:
            try:
                localization, body, variables = _render(recipient, configuration, localizations)
            except _NotSendable as exc:
                _reject(recipient, RecipientState.REJECTED, exc.code, exc.reason)
                continue
            whatsapp = configuration.channel_type == Channel.WHATSAPP
            rendered.append((recipient, localization, Draft(
                phone_number=phone, contact=recipient.contact, body=body, kind=MessageKind.OUTBOUND,
                content_sid=localization.content_sid if whatsapp else "", content_variables=variables,
                author_id=request.created_by_id)))
        errors = messages_check(drafts=[draft for _, _, draft in rendered])
        accepted: list[tuple[OutboundRecipient, TemplateLocalization, Draft]] = []
        for (recipient, localization, draft), error in zip(rendered, errors, strict=True):
            if error is None:
                accepted.append((recipient, localization, draft))
            else:
                # An opted-out contact is skipped (nothing was wrong with the request); any other rule rejects.
                _reject(recipient, RecipientState.SKIPPED if error.code == "opted_out" else RecipientState.REJECTED,
                        error.code, error.message)
        messages = messages_create(drafts=[draft for _, _, draft in accepted], claimed=True)
        for (recipient, localization, _), message in zip(accepted, messages, strict=True):
            recipient.state, recipient.language, recipient.message = (RecipientState.MESSAGE, localization.language,
                                                                      message)
            sends.append(send_of(message))
        if recipients:
            rows_update(OutboundRecipient, {r.pk: {"state": r.state, "reason_code": r.reason_code, "reason": r.reason,
                                                   "language": r.language, "message": r.message_id}
                                            for r in recipients})
        if messages and configuration.show_in_timeline:
            bulk_insert(TimelineActivity, [
                TimelineActivity(
                    contact_id=recipient.contact_id, case_id=recipient.case_id,
                    regarding=recipient.entity_relationship_name, configuration=configuration,
                    configuration_ref=configuration.configuration_id, message=message, recipient=recipient,
                    text=message.body, channel=message.channel, language=recipient.language,
                )
                for (recipient, _, _), message in zip(accepted, messages, strict=True)
            ])
    return sends, exhausted


# --- Sending -------------------------------------------------------------------------------------

def _send_one(provider: BaseProvider, send: Send, throttle: _Throttle) -> Attempt:
    with log_bound(message_id=send.message.pk):  # its channel-log row and log lines name the message
        attempt = attempt_send(provider, send)
    if attempt.error is not None and attempt.error.http_status == 429:
        throttle.hit(attempt.error.retry_after or settings.OUTBOUND_THROTTLE_BACKOFF_SECONDS)
    return attempt


def _blocks(sends: list[Send], phone: PhoneNumber, throttle: _Throttle) -> Iterator[list[Send]]:
    """The sends in blocks the per-number rate allows now (waiting for the next second when it is used up)."""
    rate = settings.OUTBOUND_SEND_RATE_PER_NUMBER
    if rate <= 0:
        yield sends
        return
    index = 0
    while index < len(sends) and not throttle.active:
        granted, wait_for = ratelimit.number_take(phone_number_id=phone.pk, n=len(sends) - index, per_second=rate)
        if not granted:
            time.sleep(wait_for)
            continue
        yield sends[index:index + granted]
        index += granted


def _in_thread(run: Any, send: Send) -> Attempt:
    close_old_connections()  # the provider module writes the channel log from this thread
    return run(send)


def _not_attempted(send: Send) -> Attempt:
    return Attempt(send.message.pk, send.attempts)


def _dispatch(sends: list[Send], *, provider: BaseProvider, phone: PhoneNumber,
              record: Callable[[list[Attempt], _Throttle], None]) -> _Throttle:
    """Send them, concurrently when OUTBOUND_SEND_CONCURRENCY > 1, handing the attempts to ``record``
    every WRITE_BACK_EVERY and at the end (so a worker that dies leaves few sends unrecorded).

    On an interruption the sends that never started are reported not attempted; one whose HTTP call
    was under way and did not finish gets no outcome (its row stays "sending").
    """
    throttle = _Throttle()
    started: set[int] = set()
    finished: set[int] = set()
    pending: list[Attempt] = []

    def run(send: Send) -> Attempt:
        if throttle.active:
            return _not_attempted(send)
        started.add(send.message.pk)
        return _send_one(provider, send, throttle)

    def flush() -> None:
        batch = pending[:]
        pending.clear()
        if batch:
            record(batch, throttle)

    def collect(attempt: Attempt) -> None:
        pending.append(attempt)
        finished.add(attempt.message_id)
        if len(pending) >= WRITE_BACK_EVERY:
            flush()

    size = settings.OUTBOUND_SEND_CONCURRENCY
    try:
        if size <= 1:
            for block in _blocks(sends, phone, throttle):
                for send in block:
                    collect(run(send))
            return throttle
        _session_ready(phone.account, size)
        pool = _pool(size)
        futures = []
        try:
            for block in _blocks(sends, phone, throttle):
                # Each in a copy of this task's log context (its request id).
                futures += [pool.submit(contextvars.copy_context().run, _in_thread, run, send) for send in block]
            for future in as_completed(futures):
                collect(future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            wait([f for f in futures if not f.cancelled()],
                 timeout=settings.PROVIDER_CONNECT_TIMEOUT + settings.PROVIDER_READ_TIMEOUT)
            for future in futures:
                if future.done() and not future.cancelled() and future.exception() is None:
                    attempt = future.result()
                    if attempt.message_id not in finished:
                        pending.append(attempt)
                        finished.add(attempt.message_id)
            raise
        return throttle
    finally:
        pending.extend(_not_attempted(send) for send in sends
                       if send.message.pk not in finished and send.message.pk not in started)
        flush()


_TALLY = {SendOutcome.SENT: "sent", SendOutcome.FAILED: "failed", SendOutcome.RETRYING: "retrying",
          SendOutcome.NOT_ATTEMPTED: "not_attempted"}


def _record(attempts: list[Attempt], *, phone: PhoneNumber, throttle: _Throttle) -> dict[str, int]:
    """Hand the attempts to channels_app (one UPDATE); how many were sent, failed, retrying, not attempted."""
    tally = dict.fromkeys(_TALLY.values(), 0)
    for applied in messages_outcome_apply(account=phone.account, attempts=attempts, hold_seconds=throttle.seconds):
        tally[_TALLY[applied.outcome]] += 1
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
            slice_ends, dispatched = time.monotonic() + settings.OUTBOUND_SEND_SLICE_SECONDS, 0
            while not exhausted:
                if dispatched and time.monotonic() > slice_ends:
                    # A bounded slice: the rest of the request goes back in the queue (``_finish``
                    # schedules it now), behind the tasks waiting there.
                    break
                sends, exhausted = _claim_chunk(request, configuration, localizations,
                                                limit=settings.OUTBOUND_SEND_CHUNK)
                if not sends:
                    continue

                def record(attempts: list[Attempt], chunk_throttle: _Throttle) -> None:
                    for key, value in _record(attempts, phone=phone, throttle=chunk_throttle).items():
                        total[key] += value

                with channel_log_buffered():  # the chunk's channel-log rows go in with one INSERT
                    throttle = _dispatch(sends, provider=provider, phone=phone, record=record)
                dispatched += 1
                _extend_lease(request.pk, run)
                if throttle.active:
                    break
        interrupted = False
    finally:
        state = _finish(request.pk, run, throttle=throttle, interrupted=interrupted)
    return f"{state}: " + ", ".join(f"{value} {key.replace('_', ' ')}" for key, value in total.items() if value)


def _skip_inactive(request: OutboundRequest, configuration: OutboundConfiguration) -> None:
    reason = _("The outbound configuration '%(configuration)s' was deactivated before this contact was sent.") % {
        "configuration": configuration.name}
    OutboundRecipient.objects.filter(request=request, state=RecipientState.PENDING).update(
        state=RecipientState.SKIPPED, reason_code="configuration_inactive", reason=reason)
    messages_withdraw(where=Q(outbound_recipient__request=request), code="configuration_inactive", reason=reason)


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
    grace = now - timedelta(seconds=settings.OUTBOUND_REQUEUE_AFTER_SECONDS)
    reset = messages_stale_requeue(where=Q(kind=MessageKind.OUTBOUND, outbound_recipient__isnull=False), now=now)
    reset_requests = set(OutboundRecipient.objects.filter(message_id__in=reset).values_list("request_id", flat=True))
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
    return {"callbacks_applied": settled, "messages_requeued": len(reset), "requests_requeued": len(request_ids),
            "batches_resumed": len(batches),
            "counters_trimmed": ratelimit.counters_trim()}
