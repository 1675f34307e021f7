"""A contact's wire-level data exported and erased, and the retention of messages' text, attachments and
webhook events. These rows belong to this app; the higher apps' rows are theirs (each has its own
``services/privacy.py``), and the ``privacy`` app puts the parts together.

Erasing keeps every row the reports count (a message keeps its status, times, provider and error code; consent
records stay whole) and removes what the person said or sent: the messages' text, template variables and
provider error text, their attachments (the files too), the webhooks that carried them and the channel-log
exchanges that quoted them. The contact keeps the phone number, because the consent history refers to it and an
opt-out must go on being honoured; their name and locale go.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from channels_app.models import (
    Attachment,
    AttachmentState,
    ChannelLog,
    Contact,
    EventKind,
    EventState,
    InboundEvent,
    Message,
)

logger = logging.getLogger(__name__)

#: Messages handled per statement when looking up their webhooks (one OR of keys each).
EVENT_LOOKUP_CHUNK = 200


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def contact_wire_export(*, contact: Contact) -> tuple[dict[str, Any], list[Attachment]]:
    """The contact, their consent history and messages (with attachment details) as JSON-ready data, and the
    stored attachments whose files go into the export."""
    consent = [{"number": str(r.phone_number), "state": r.state, "source": r.source, "detail": r.detail,
                "at": _iso(r.created_at)}
               for r in contact.consent_records.select_related("phone_number").order_by("created_at", "pk")]
    messages, files = [], []
    for m in (contact.messages.select_related("phone_number").prefetch_related("attachments")
              .order_by("created_at", "pk")):
        attachments = []
        for a in m.attachments.all():
            stored = a.state == AttachmentState.STORED and bool(a.file)
            attachments.append({"id": a.pk, "content_type": a.content_type, "size": a.size, "state": a.state,
                                "url": a.url, "file": f"attachments/{a.pk}-{a.file.name.rsplit('/', 1)[-1]}"
                                if stored else None})
            if stored:
                files.append(a)
        messages.append({
            "id": m.pk, "number": m.phone_number.number, "channel": m.channel, "direction": m.direction,
            "kind": m.kind, "body": m.body, "content_sid": m.content_sid, "content_variables": m.content_variables,
            "status": m.status, "error_code": m.error_code, "error_message": m.error_message,
            "provider": m.provider, "provider_message_id": m.provider_message_id, "created_at": _iso(m.created_at),
            "sent_at": _iso(m.sent_at), "delivered_at": _iso(m.delivered_at), "read_at": _iso(m.read_at),
            "redacted_at": _iso(m.redacted_at), "attachments": attachments})
    data = {"contact": {"id": contact.pk, "address": contact.address, "display_name": contact.display_name,
                        "locale": contact.locale, "created_at": _iso(contact.created_at),
                        "erased_at": _iso(contact.erased_at)},
            "consent": consent, "messages": messages}
    return data, files


def _delete_files(names: list[str], storage) -> None:
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            logger.warning("Could not delete the attachment file %s", name, exc_info=True)


def attachments_remove(*, queryset: QuerySet[Attachment]) -> int:
    """Remove attachments' files (once the transaction commits) and their links; the rows stay, marked removed."""
    rows = list(queryset.exclude(state=AttachmentState.REMOVED).values_list("pk", "file"))
    if not rows:
        return 0
    storage = Attachment._meta.get_field("file").storage
    names = [name for _pk, name in rows if name]
    Attachment.objects.filter(pk__in=[pk for pk, _name in rows]).update(
        state=AttachmentState.REMOVED, file="", url="", size=None, error="")
    transaction.on_commit(lambda: _delete_files(names, storage))
    return len(rows)


def _events_of(messages: Iterable[tuple[int, str | None, str]]) -> Q | None:
    """The stored webhooks about these messages: the one that brought each inbound message, and the status
    callbacks about each outgoing one (keys ``<provider id>:<status>:<error code>``)."""
    found = None
    for account_id, provider_id, direction in messages:
        if not provider_id:
            continue
        if direction == "inbound":
            q = Q(account_id=account_id, kind=EventKind.INBOUND, event_key=provider_id)
        else:
            q = Q(account_id=account_id, kind=EventKind.STATUS, event_key__startswith=f"{provider_id}:")
        found = q if found is None else found | q
    return found


def messages_redact(*, queryset: QuerySet[Message], events: bool = False) -> int:
    """Remove the text of these messages (body, template variables, the provider's error text), their
    attachments and the channel-log exchanges about them, and — with ``events`` — the webhooks that carried
    them. Status, times, provider, error code and segments stay, for the reports."""
    ids = list(queryset.values_list("pk", flat=True))
    if not ids:
        return 0
    now = timezone.now()
    for start in range(0, len(ids), EVENT_LOOKUP_CHUNK):
        chunk = ids[start:start + EVENT_LOOKUP_CHUNK]
        if events:
            keys = _events_of(Message.objects.filter(pk__in=chunk).values_list("account_id", "provider_message_id",
                                                                                 "direction"))
            if keys is not None:
                InboundEvent.objects.filter(keys).delete()
        ChannelLog.objects.filter(message_id__in=chunk).delete()
        attachments_remove(queryset=Attachment.objects.filter(message_id__in=chunk))
        Message.objects.filter(pk__in=chunk).update(body="", content_variables={}, error_message="",
                                                    redacted_at=now)
    return len(ids)


@transaction.atomic
def contact_wire_erase(*, contact: Contact) -> dict[str, int]:
    """Erase what the contact said and sent, keep what the reports and the consent history need."""
    messages = messages_redact(queryset=Message.objects.filter(contact=contact), events=True)
    Contact.objects.filter(pk=contact.pk).update(display_name="", locale="", erased_at=timezone.now())
    contact.refresh_from_db()
    return {"messages": messages}


# --- Retention ----------------------------------------------------------------------------------


def message_retention_apply(*, days: int, limit: int) -> list[int]:
    """Remove the text of up to ``limit`` messages older than ``days`` days (0: keep for ever); return their
    ids, for the higher apps' copies of the text (within the caller's transaction)."""
    if days <= 0:
        return []
    cutoff = timezone.now() - timedelta(days=days)
    ids = list(Message.objects.filter(created_at__lt=cutoff, redacted_at__isnull=True)
               .order_by("created_at").values_list("pk", flat=True)[:limit])
    messages_redact(queryset=Message.objects.filter(pk__in=ids))
    return ids


def attachment_retention_apply(*, days: int, limit: int) -> int:
    """Remove up to ``limit`` attachments (their files) older than ``days`` days (0: keep for ever)."""
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    ids = list(Attachment.objects.filter(created_at__lt=cutoff).exclude(state=AttachmentState.REMOVED)
               .order_by("created_at").values_list("pk", flat=True)[:limit])
    with transaction.atomic():
        return attachments_remove(queryset=Attachment.objects.filter(pk__in=ids))


def inbound_event_retention_apply(*, days: int, limit: int) -> int:
    """Delete up to ``limit`` stored webhooks received more than ``days`` days ago that were processed or
    failed (a pending one still has work to do); 0: keep for ever."""
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    ids = list(InboundEvent.objects.filter(received_at__lt=cutoff).exclude(state=EventState.PENDING)
               .order_by("received_at").values_list("pk", flat=True)[:limit])
    deleted, _ = InboundEvent.objects.filter(pk__in=ids).delete()
    return deleted
