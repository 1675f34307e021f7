"""Status callbacks in batches: as cheap per callback as a message is per send.

A campaign's messages come back twice each (sent, then delivered). A worker that picks up one status
event claims, in the same transaction, up to ``INBOUND_STATUS_BATCH`` pending status events of the
same account (``SKIP LOCKED``: workers never share one), parses them, finds all their messages with
one query (locked ``FOR UPDATE``, so a send's own write-back waits for this one and then sees it),
applies each message's callbacks in the order they were received, and writes every message that
moved with one UPDATE and every event with one more.

The rules are those of ``delivery.message_status_apply``: a message only moves forward
(``STATUS_RANK``); a "delivered" or "read" notes when; a failure keeps the provider's code and records
an opt-out when the code means one. A callback that outruns the send's bookkeeping finds its message
by our own id (the status URL's ``message`` parameter). A callback for a message the hub does not
know (yet) is not retried in a loop: it counts an attempt and waits for the recovery sweep
(``INBOUND_EVENT_REQUEUE_AFTER_SECONDS``), up to ``INBOUND_EVENT_MAX_ATTEMPTS``, then fails with
its reason, visible in the admin. A malformed callback, or a batch that fails as a whole, goes
through ``inbound_event_process`` one event at a time, whose failure rules then apply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from channels_app.models import (
    Direction,
    EventKind,
    EventState,
    InboundEvent,
    Message,
    MessageStatus,
    MessagingAccount,
)
from channels_app.providers import StatusUpdate, WebhookPayloadError, get_provider
from config import metrics
from config.db.rows import rows_update
from config.logs import log_bound

from .delivery import STATUS_FIELDS, provider_opt_outs_record, status_changes, status_opts_out
from .inbound import _request_of, inbound_event_process

logger = logging.getLogger(__name__)



@dataclass
class _Row:
    """One message as the batch sees it: its values, and those the batch changed."""

    pk: int
    provider: str
    values: dict[str, Any]
    changed: dict[str, Any] = field(default_factory=dict)
    moved: bool = False
    #: The callback that moved it last (its log line names it and its web request).
    moved_by: InboundEvent | None = None

    def get(self, name: str) -> Any:
        return self.changed.get(name, self.values[name])

    def set(self, name: str, value: Any) -> None:
        if value != self.values[name]:
            self.changed[name] = value
        else:
            self.changed.pop(name, None)


@dataclass(frozen=True)
class StatusBatchResult:
    moved: int  # callbacks that moved their message forward
    kept: int  # callbacks their message was already past (or a duplicate of one applied)
    unknown: int  # callbacks for a message the hub does not know (yet): they wait for the sweep
    slow: int  # processed one by one (malformed, or the batch failed)

    def __str__(self) -> str:
        return f"status: {self.moved} moved, {self.kept} kept, {self.unknown} waiting, {self.slow} one by one"


def status_events_process_batch(*, event_id: int) -> StatusBatchResult:
    """Apply the status event, and other pending status events of its account with it."""
    head = InboundEvent.objects.filter(pk=event_id).values("account_id", "kind", "state").first()
    if head is None or head["state"] != EventState.PENDING or head["kind"] != EventKind.STATUS:
        if head is not None and head["state"] == EventState.PENDING:
            inbound_event_process(event_id=event_id)
            return StatusBatchResult(0, 0, 0, 1)
        return StatusBatchResult(0, 0, 0, 0)
    slow: list[int] = []
    try:
        with transaction.atomic():
            result, slow = _batch(head["account_id"], event_id)
    except Exception:
        logger.exception("batch of status events starting at %s failed; processing them one by one", event_id)
        result = StatusBatchResult(0, 0, 0, 0)
        slow = list(InboundEvent.objects.filter(
            account_id=head["account_id"], kind=EventKind.STATUS, state=EventState.PENDING, pk__gte=event_id)
            .order_by("pk").values_list("pk", flat=True)[: settings.INBOUND_STATUS_BATCH])
    for pk in slow:
        inbound_event_process(event_id=pk)
    return StatusBatchResult(result.moved, result.kept, result.unknown, len(slow))


def _batch(account_id: int, event_id: int) -> tuple[StatusBatchResult, list[int]]:
    events = list(
        InboundEvent.objects.select_for_update(skip_locked=True)
        .filter(account_id=account_id, kind=EventKind.STATUS, state=EventState.PENDING, pk__gte=event_id)
        # Others already tried once wait for the sweep (their message is not known yet): taken along, they
        # would run out of attempts while a campaign's callbacks flow.
        .filter(Q(attempts=0) | Q(pk=event_id))
        .order_by("pk").only("pk", "url", "content_type", "body", "attempts", "received_at", "request_id")
        [: settings.INBOUND_STATUS_BATCH]
    )
    if not events:
        return StatusBatchResult(0, 0, 0, 0), []
    account = MessagingAccount.objects.get(pk=account_id)
    provider = get_provider(account)
    parsed: list[tuple[InboundEvent, StatusUpdate, int | None]] = []
    slow: list[int] = []
    for event in events:
        request = _request_of(event)
        try:
            update = provider.parse_status(request)
        except WebhookPayloadError:
            slow.append(event.pk)  # the one-by-one path records why it failed
            continue
        if update.status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED) and update.error_code:
            meaning = provider.error_meaning(update.error_code)
            if meaning is not None and meaning.retryable:
                slow.append(event.pk)  # a retryable failure (a rate limit) queues its message again: one by one
                continue
        hint = provider.status_message_hint(request)
        parsed.append((event, update, int(hint) if hint and str(hint).isdigit() else None))

    rows = _rows(account, parsed)
    by_provider_id = {r.values["provider_message_id"]: r for r in rows.values() if r.values["provider_message_id"]}
    now = timezone.now()
    moved = kept = 0
    unknown: list[tuple[InboundEvent, str]] = []
    applied: list[InboundEvent] = []
    opt_outs: list[int] = []
    for event, update, hint in parsed:  # in the order received: a message's callbacks apply in turn
        row = by_provider_id.get(update.provider_message_id)
        if row is None and hint is not None:
            candidate = rows.get(hint)
            if candidate is not None and not candidate.get("provider_message_id"):
                row = candidate
                row.set("provider_message_id", update.provider_message_id)
                by_provider_id[update.provider_message_id] = row
        if row is None:
            unknown.append((event, f"no outgoing message with id {update.provider_message_id}"))
            continue
        applied.append(event)
        if _apply(row, update, now):
            row.moved_by = event
            moved += 1
            if status_opts_out(update, provider=row.provider):
                opt_outs.append(row.pk)
        else:
            kept += 1

    rows_update(Message, {r.pk: r.changed for r in rows.values() if r.changed})
    for row in rows.values():
        if row.moved:
            with log_bound(event_id=row.moved_by.pk, request_id=row.moved_by.request_id):
                metrics.status_applied(provider=row.provider, status=row.get("status"),
                                       error_code=row.get("error_code"), message_id=row.pk)
    if opt_outs:  # read after the UPDATE above: each message carries the code that meant an opt-out
        provider_opt_outs_record(Message.objects.filter(pk__in=opt_outs).select_related("contact", "phone_number"))
    if applied:
        InboundEvent.objects.filter(pk__in=[e.pk for e in applied]).update(
            state=EventState.PROCESSED, processed_at=now, error="", attempts=F("attempts") + 1)
        metrics.inbound_processed(provider=account.provider, kind=EventKind.STATUS,
                                  received_at=[e.received_at for e in applied])
    if unknown:
        _wait_for_sweep(unknown, now)
    return StatusBatchResult(moved, kept, len(unknown), 0), slow


def _rows(account: MessagingAccount, parsed: list[tuple[InboundEvent, StatusUpdate, int | None]]) -> dict[int, _Row]:
    """The batch's messages, locked, by primary key: by the provider's id, or by our own id for a message
    whose provider id is not recorded yet."""
    provider_ids = {update.provider_message_id for _, update, _ in parsed if update.provider_message_id}
    hints = {hint for _, _, hint in parsed if hint is not None}
    # With the provider, the look-up by provider id uses the (provider, provider_message_id) index;
    # without it, PostgreSQL would read every message of the account for each batch.
    where = Q(provider=account.provider, provider_message_id__in=provider_ids)
    if hints:
        where |= Q(pk__in=hints, provider_message_id__isnull=True)
    found = (Message.objects.select_for_update(of=("self",))
             .filter(where, account_id=account.pk, direction=Direction.OUTBOUND)
             .order_by("pk").values("pk", "provider", *STATUS_FIELDS))
    return {v["pk"]: _Row(v.pop("pk"), v.pop("provider"), v) for v in found}


def _apply(row: _Row, update: StatusUpdate, now: datetime) -> bool:
    """One callback on one message, by the rule of ``delivery.status_changes``; whether it moved forward."""
    changes, moved = status_changes(current={name: row.get(name) for name in STATUS_FIELDS}, update=update,
                                    provider=row.provider, now=now)
    for name, value in changes.items():
        row.set(name, value)
    row.moved = row.moved or moved
    return moved


def _wait_for_sweep(unknown: list[tuple[InboundEvent, str]], now: datetime) -> None:
    """Callbacks whose message is not known: an attempt counted, left for the sweep's later look (or
    failed, with their reason, once out of attempts). The drain looks only at events never tried, so
    it does not spin on them."""
    out_of_attempts = [e.pk for e, _ in unknown if e.attempts + 1 >= settings.INBOUND_EVENT_MAX_ATTEMPTS]
    rows_update(InboundEvent, {
        e.pk: {"attempts": e.attempts + 1, "error": error,
               **({"state": EventState.FAILED, "processed_at": now} if e.pk in out_of_attempts else {})}
        for e, error in unknown
    })
