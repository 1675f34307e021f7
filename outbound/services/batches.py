"""Contact lists of any size: checked whole, stored in chunks of at most 100, submitted as requests inside
the hourly limit.

The admin upload and schedules let a worker submit the chunks (``outbound_batch_advance``, queue
"bulk"; when the hourly limit is reached it comes back when the next request fits). The
``send_outbound`` command submits them itself, showing a progress bar. Each chunk becomes a request
in the transaction that marks it submitted, so a chunk is never submitted twice nor skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.models import Channel
from config.exceptions import ServiceError
from outbound.models import (
    BatchState,
    OutboundBatch,
    OutboundBatchChunk,
    OutboundConfiguration,
    OutboundRequest,
    OutboundSchedule,
    Source,
)

from .contacts import contact_parse, field_at
from .ratelimit import RateLimited
from .requests import _address, configuration_require_active, contacts_cases, contacts_check, outbound_request_create


def contacts_validate(*, configuration: OutboundConfiguration, rows: list[Any], lines: list[int] | None = None) -> None:
    """Check every contact of a list before anything is stored; the error names the CSV line or position."""
    for position, raw in enumerate(rows):
        where = _("line %(line)s") % {"line": lines[position]} if lines else f"contacts[{position}]"
        parsed = contact_parse(raw, index=position, where=where)
        contacts_check(configuration=configuration, contacts=[parsed], where=where)
        contacts_cases([parsed], where=where)


@dataclass(frozen=True)
class RowNote:
    """One row of a contact list that will not be sent, and why."""

    line: int
    tocontactid: str
    reason: str


@dataclass(frozen=True)
class ContactListReview:
    """What a list would do, worked out for every row before anything is stored or sent.

    ``refused`` rows are malformed (a field, or a number that is no phone number): while there is one, the
    list is not accepted. ``skipped`` rows are well formed but will not be sent (not opted in, another
    channel, a number given twice), as a request would skip them.
    """

    total: int
    refused: list[RowNote]
    skipped: list[RowNote]

    @property
    def accepted(self) -> bool:
        return not self.refused

    @property
    def to_send(self) -> int:
        return self.total - len(self.refused) - len(self.skipped)


def contact_list_review(*, configuration: OutboundConfiguration, rows: list[Any],
                        lines: list[int] | None = None) -> ContactListReview:
    """Check every row of a list (all of them, not up to the first error) against the rules a send applies."""
    refused: list[RowNote] = []
    skipped: list[RowNote] = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(rows):
        line = lines[position] if lines else position
        where = _("line %(line)s") % {"line": line} if lines else f"contacts[{position}]"
        given = str(raw.get("tocontactid", "")) if isinstance(raw, dict) else ""
        try:
            parsed = contact_parse(raw, index=position, where=where)
            contacts_check(configuration=configuration, contacts=[parsed], where=where)
            contacts_cases([parsed], where=where)
        except ServiceError as exc:
            refused.append(RowNote(line, given, exc.message))
            continue
        address = _address(parsed.tocontactid, channel=parsed.channelid)
        if address is None:
            if parsed.channelid == Channel.WHATSAPP:
                reason = _("%(field)s: '%(address)s' is not a phone number; write it in E.164 with the country code, "
                           "e.g. +14155550123 or a WhatsApp user ID exactly as received, e.g. "
                           "US.13491208655302741918.")
            else:
                reason = _("%(field)s: '%(address)s' is not a phone number; write it in E.164 with the country code, "
                           "e.g. +14155550123.")
            refused.append(RowNote(line, given, reason % {"field": field_at(where, "tocontactid"),
                                                          "address": parsed.tocontactid}))
        elif address in seen:
            skipped.append(RowNote(line, given, _("%(address)s is already on line %(line)s; it is sent once.")
                                   % {"address": address, "line": seen[address]}))
        elif not parsed.optin:
            seen[address] = line
            skipped.append(RowNote(line, given, _("optin is false: the customer has not agreed to be contacted.")))
        elif parsed.channelid != configuration.channel_type:
            seen[address] = line
            skipped.append(RowNote(line, given, _("The customer's channel is %(channel)s; this configuration sends "
                                                  "%(configuration_channel)s.")
                                   % {"channel": Channel(parsed.channelid).label,
                                      "configuration_channel": Channel(configuration.channel_type).label}))
        else:
            seen[address] = line
    return ContactListReview(total=len(rows), refused=refused, skipped=skipped)


def outbound_batch_create(*, configuration: OutboundConfiguration, contacts: list[Any], source: str,
                          name: str = "", lines: list[int] | None = None, user: Any = None,
                          schedule: OutboundSchedule | None = None,
                          scheduled_for: datetime | None = None) -> OutboundBatch:
    """Check the whole list, then store it in chunks of OUTBOUND_MAX_CONTACTS_PER_REQUEST.

    Unless the command submits it itself (``source`` command), a worker starts submitting once
    this transaction commits.
    """
    configuration_require_active(configuration)
    if not contacts:
        raise ServiceError(_("The contact list is empty."), code="contacts_required", field="contacts")
    contacts_validate(configuration=configuration, rows=contacts, lines=lines)
    size = settings.OUTBOUND_MAX_CONTACTS_PER_REQUEST
    with transaction.atomic():
        batch = OutboundBatch.objects.create(
            configuration=configuration, name=name[:255], source=source, schedule=schedule,
            scheduled_for=scheduled_for,
            contact_count=len(contacts), chunk_count=(len(contacts) + size - 1) // size, created_by=user,
            next_run_at=timezone.now(),
        )
        OutboundBatchChunk.objects.bulk_create([
            OutboundBatchChunk(batch=batch, index=i, contacts=contacts[start:start + size],
                               first_line=lines[start] if lines else start)
            for i, start in enumerate(range(0, len(contacts), size))
        ], batch_size=200)
        if source != Source.COMMAND:
            outbound_batch_enqueue(batch_id=batch.pk)
    return batch


def outbound_batch_enqueue(*, batch_id: int, countdown: float | None = None) -> None:
    from outbound.tasks import outbound_batch_advance_task

    transaction.on_commit(
        lambda: outbound_batch_advance_task.apply_async(args=[batch_id], queue="bulk", countdown=countdown))


@dataclass(frozen=True)
class BatchStep:
    request: OutboundRequest | None = None
    retry_after: float | None = None  # the hourly limit is reached: wait this long
    finished: bool = False
    error: str = ""


def outbound_batch_submit_next(*, batch_id: int) -> BatchStep:
    """Submit the batch's next chunk as one request (under a row lock: two submitters never take the same one)."""
    with transaction.atomic():
        batch = OutboundBatch.objects.select_related("configuration").get(pk=batch_id)
        if batch.state != BatchState.SUBMITTING:
            return BatchStep(finished=True, error=batch.error)
        chunk = (OutboundBatchChunk.objects.select_for_update(skip_locked=True)
                 .filter(batch_id=batch_id, submitted_at__isnull=True).order_by("index").first())
        if chunk is None:
            if not OutboundBatchChunk.objects.filter(batch_id=batch_id, submitted_at__isnull=True).exists():
                OutboundBatch.objects.filter(pk=batch_id, state=BatchState.SUBMITTING).update(
                    state=BatchState.SUBMITTED, finished_at=timezone.now(), next_run_at=None)
                return BatchStep(finished=True)
            return BatchStep(retry_after=1.0)  # another submitter holds the last chunks
        try:
            with transaction.atomic():
                request = outbound_request_create(
                    configuration=batch.configuration, contacts=chunk.contacts, source=batch.source, batch=batch,
                    user=batch.created_by,
                )
        except RateLimited as exc:
            OutboundBatch.objects.filter(pk=batch_id).update(
                next_run_at=timezone.now() + timedelta(seconds=exc.retry_after))
            return BatchStep(retry_after=exc.retry_after)
        except ServiceError as exc:
            text = _("Contacts from line %(line)s (request %(number)s of %(total)s) were refused: %(problem)s") % {
                "line": chunk.first_line, "number": chunk.index + 1, "total": batch.chunk_count, "problem": exc.message}
            OutboundBatch.objects.filter(pk=batch_id).update(state=BatchState.STOPPED, error=text,
                                                             finished_at=timezone.now())
            return BatchStep(finished=True, error=text)
        chunk.request = request
        chunk.submitted_at = timezone.now()
        chunk.contacts = []  # they live on in the request's contacts
        chunk.save(update_fields=["request", "submitted_at", "contacts"])
        return BatchStep(request=request)


def outbound_batch_advance(*, batch_id: int) -> str:
    """Worker: submit up to OUTBOUND_BATCH_REQUESTS_PER_RUN chunks, then come back (later, at the hourly limit)."""
    if not OutboundBatch.objects.filter(pk=batch_id).exists():
        return "missing"
    submitted = 0
    for _run in range(settings.OUTBOUND_BATCH_REQUESTS_PER_RUN):
        step = outbound_batch_submit_next(batch_id=batch_id)
        if step.finished:
            return f"{submitted} submitted; " + (f"stopped: {step.error}" if step.error else "finished")
        if step.retry_after is not None:
            with transaction.atomic():
                outbound_batch_enqueue(batch_id=batch_id, countdown=step.retry_after)
            return f"{submitted} submitted; hourly limit reached, back in {step.retry_after:.0f}s"
        submitted += 1
    with transaction.atomic():
        OutboundBatch.objects.filter(pk=batch_id).update(next_run_at=timezone.now())
        outbound_batch_enqueue(batch_id=batch_id)
    return f"{submitted} submitted; more to come"


def outbound_batch_resume(*, batch: OutboundBatch) -> None:
    """Submit a stopped batch's remaining chunks again (e.g. after reactivating its configuration)."""
    if batch.state == BatchState.SUBMITTED:
        raise ServiceError(_("Every contact of this batch was already submitted."), code="batch_finished",
                           field="batch")
    configuration_require_active(batch.configuration)
    with transaction.atomic():
        OutboundBatch.objects.filter(pk=batch.pk).update(state=BatchState.SUBMITTING, error="", finished_at=None,
                                                         next_run_at=timezone.now())
        if batch.source != Source.COMMAND:
            outbound_batch_enqueue(batch_id=batch.pk)
