"""Read queries shared by the API, the admin, the command and the services."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from channels_app.models import MessageStatus
from outbound.models import BatchState, OutboundBatch, OutboundRecipient, OutboundRequest, RecipientState

#: Progress of a contact, from its message's delivery state.
MESSAGE_PROGRESS = {
    MessageStatus.QUEUED: "pending",
    MessageStatus.SENDING: "pending",
    MessageStatus.SENT: "sent",
    MessageStatus.DELIVERED: "delivered",
    MessageStatus.READ: "delivered",
    MessageStatus.UNDELIVERED: "failed",
    MessageStatus.FAILED: "failed",
}
RECIPIENT_PROGRESS = {
    RecipientState.PENDING: "pending",
    RecipientState.SKIPPED: "skipped",
    RecipientState.REJECTED: "failed",
}
PROGRESS_STATUSES = ("pending", "sent", "delivered", "failed", "skipped")
_UNFINISHED = [MessageStatus.QUEUED, MessageStatus.SENDING]


def recipient_progress(recipient: OutboundRecipient) -> tuple[str, str, str]:
    """(status, error code, reason) of one contact: pending, sent, delivered, failed or skipped."""
    if recipient.state == RecipientState.MESSAGE and recipient.message is not None:
        message = recipient.message
        status = MESSAGE_PROGRESS.get(message.status, "pending")
        reason = message.error_message if status == "failed" or message.status == MessageStatus.QUEUED else ""
        return status, message.error_code if reason else "", reason
    return RECIPIENT_PROGRESS.get(recipient.state, "pending"), recipient.reason_code, recipient.reason


def _progress_counts(recipients: QuerySet[OutboundRecipient]) -> dict[str, int]:
    message_status = "message__status__in"
    return recipients.aggregate(
        total=Count("pk"),
        pending=Count("pk", filter=Q(state=RecipientState.PENDING)
                      | Q(state=RecipientState.MESSAGE, **{message_status: _UNFINISHED})),
        sent=Count("pk", filter=Q(state=RecipientState.MESSAGE, message__status=MessageStatus.SENT)),
        delivered=Count("pk", filter=Q(state=RecipientState.MESSAGE,
                                       **{message_status: [MessageStatus.DELIVERED, MessageStatus.READ]})),
        failed=Count("pk", filter=Q(state=RecipientState.REJECTED)
                     | Q(state=RecipientState.MESSAGE,
                         **{message_status: [MessageStatus.FAILED, MessageStatus.UNDELIVERED]})),
        skipped=Count("pk", filter=Q(state=RecipientState.SKIPPED)),
    )


@dataclass(frozen=True)
class RequestProgress:
    request: OutboundRequest
    counts: dict[str, int]
    contacts: list[dict[str, Any]]


def request_progress(*, request: OutboundRequest) -> RequestProgress:
    """Counts per status and every contact's outcome: two queries."""
    recipients = (OutboundRecipient.objects.filter(request=request).select_related("message")
                  .order_by("index"))
    contacts = []
    counts = dict.fromkeys(("total", *PROGRESS_STATUSES), 0)
    for recipient in recipients:
        status, code, reason = recipient_progress(recipient)
        counts["total"] += 1
        counts[status] += 1
        message = recipient.message
        contacts.append({
            "index": recipient.index,
            "tocontactid": recipient.to_address,
            "status": status,
            "error": code,
            "reason": reason,
            "language": recipient.language,
            "message_id": message.pk if message else None,
            "sent_at": message.sent_at if message else None,
            "delivered_at": message.delivered_at if message else None,
        })
    return RequestProgress(request=request, counts=counts, contacts=contacts)


def requests_progress_counts(*, request_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Counts per status for many requests in one query (admin lists)."""
    ids = list(request_ids)
    result = {pk: dict.fromkeys(("total", *PROGRESS_STATUSES), 0) for pk in ids}
    rows = (OutboundRecipient.objects.filter(request_id__in=ids)
            .values("request_id", "state", "message__status").annotate(n=Count("pk")))
    for row in rows:
        if row["state"] == RecipientState.MESSAGE:
            status = MESSAGE_PROGRESS.get(row["message__status"], "pending")
        else:
            status = RECIPIENT_PROGRESS.get(row["state"], "pending")
        result[row["request_id"]][status] += row["n"]
        result[row["request_id"]]["total"] += row["n"]
    return result


@dataclass(frozen=True)
class BatchProgress:
    contacts: int
    submitted: int
    requests: int
    counts: dict[str, int]

    @property
    def percent_done(self) -> int:
        """Contacts with a final outcome (anything but pending), of all contacts."""
        if not self.contacts:
            return 100
        return int(100 * (self.counts["total"] - self.counts["pending"]) / self.contacts)


def batch_progress(*, batch: OutboundBatch) -> BatchProgress:
    """How far a batch is: contacts submitted in requests, and the outcomes of those contacts (two queries)."""
    submitted = batch.requests.aggregate(contacts=Sum("contact_count"), requests=Count("pk"))
    counts = _progress_counts(OutboundRecipient.objects.filter(request__batch=batch))
    return BatchProgress(contacts=batch.contact_count, submitted=submitted["contacts"] or 0,
                         requests=submitted["requests"], counts=counts)


def request_has_work(*, request_id: int) -> bool:
    """Whether anything of the request is still to be sent (contacts not sent yet, or messages to retry)."""
    return (OutboundRecipient.objects.filter(request_id=request_id, state=RecipientState.PENDING).exists()
            or OutboundRecipient.objects.filter(request_id=request_id, state=RecipientState.MESSAGE,
                                                message__status=MessageStatus.QUEUED).exists())


#: How many not-sent contacts a batch page lists (the requests' pages list the rest).
BATCH_PROBLEMS_LIMIT = 200


def batch_problems(*, batch: OutboundBatch, limit: int = BATCH_PROBLEMS_LIMIT) -> tuple[list[Any], int]:
    """The batch's contacts that were skipped or not sent, or whose message failed, with their reasons (first
    ``limit``), and how many there are in all."""
    problems = (OutboundRecipient.objects.filter(request__batch=batch)
                .filter(Q(state__in=[RecipientState.SKIPPED, RecipientState.REJECTED])
                        | Q(state=RecipientState.MESSAGE, message__status__in=[MessageStatus.FAILED,
                                                                               MessageStatus.UNDELIVERED]))
                .select_related("message", "request").order_by("request_id", "index"))
    return list(problems[:limit]), problems.count()


def batch_in_progress(*, batch: OutboundBatch) -> bool:
    """Whether the batch's page should keep refreshing: requests still being submitted or contacts being sent."""
    if batch.state == BatchState.SUBMITTING:
        return True
    return (OutboundRecipient.objects.filter(request__batch=batch, state=RecipientState.PENDING).exists()
            or OutboundRecipient.objects.filter(request__batch=batch, state=RecipientState.MESSAGE,
                                                message__status__in=[MessageStatus.QUEUED,
                                                                     MessageStatus.SENDING]).exists())
