"""A contact's outbound data — the requests' contact rows, batch lists, timeline activities and replies —
exported and erased (the ``privacy`` app puts the apps' parts together).

Erasing keeps each recipient's state, reason and message link (the outbound funnel counts them) and removes what
the caller gave about the person: context items, names and the record they were about; the person's rows in
batch and schedule contact lists; the text of their timeline activities.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.db import transaction

from channels_app.models import Contact
from outbound.models import OutboundBatchChunk, OutboundRecipient, OutboundReply, OutboundSchedule, TimelineActivity


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def contact_outbound_export(*, contact: Contact) -> dict[str, Any]:
    recipients = [{
        "request_id": str(r.request.request_id), "configuration": r.request.configuration.name,
        "batch_id": r.request.batch_id, "to_address": r.to_address, "channel_id": r.channel_id, "optin": r.optin,
        "locale": r.locale, "context_items": r.context_items, "entity_relationship_name": r.entity_relationship_name,
        "customer_name": r.customer_name, "case_name": r.case_name, "state": r.state, "reason_code": r.reason_code,
        "reason": r.reason, "language": r.language, "message_id": r.message_id,
        "requested_at": _iso(r.request.created_at)}
        for r in (OutboundRecipient.objects.filter(contact=contact).select_related("request__configuration")
                  .order_by("request__created_at", "pk"))]
    activities = [{"id": a.pk, "configuration": a.configuration.name, "regarding": a.regarding, "text": a.text,
                   "channel": a.channel, "language": a.language, "message_id": a.message_id,
                   "created_at": _iso(a.created_at)}
                  for a in TimelineActivity.objects.filter(contact=contact).select_related("configuration")
                  .order_by("created_at", "pk")]
    replies = [{"reply_message_id": r.reply_id, "outbound_message_id": r.outbound_message_id,
                "created_at": _iso(r.created_at)}
               for r in OutboundReply.objects.filter(reply__contact=contact).order_by("created_at", "pk")]
    return {"outbound_recipients": recipients, "timeline_activities": activities, "outbound_replies": replies}


def _is_theirs(value: Any, addresses: set[str]) -> bool:
    return isinstance(value, str) and value.strip() in addresses


def _scrub_chunks(chunk_ids: set[int], addresses: set[str]) -> int:
    changed = 0
    for chunk in OutboundBatchChunk.objects.select_for_update().filter(pk__in=chunk_ids):
        contacts = []
        for entry in chunk.contacts or []:
            target = next((v for k, v in entry.items() if str(k).lower() == "tocontactid"), None) \
                if isinstance(entry, dict) else None
            contacts.append({"tocontactid": target, "erased": True} if _is_theirs(target, addresses) else entry)
        if contacts != chunk.contacts:
            chunk.contacts = contacts
            chunk.save(update_fields=["contacts"])
            changed += 1
    return changed


def _scrub_schedules(addresses: set[str]) -> int:
    """Remove the person's rows from schedules' contact lists (their later runs do not write to them)."""
    changed = 0
    for schedule in OutboundSchedule.objects.select_for_update().all():
        rows = list(csv.reader(io.StringIO(schedule.contacts_csv.lstrip("\ufeff"))))
        if not rows:
            continue
        header = [h.strip().lower() for h in rows[0]]
        if "tocontactid" not in header:
            continue
        column = header.index("tocontactid")
        kept = [rows[0], *(r for r in rows[1:] if not (len(r) > column and _is_theirs(r[column], addresses)))]
        if len(kept) != len(rows):
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(kept)
            schedule.contacts_csv = out.getvalue()
            schedule.save(update_fields=["contacts_csv", "updated_at"])
            changed += 1
    return changed


@transaction.atomic
def contact_outbound_erase(*, contact: Contact) -> dict[str, int]:
    recipients = OutboundRecipient.objects.filter(contact=contact)
    addresses = {contact.address, *(a.strip() for a in recipients.values_list("to_address", flat=True))}
    chunk_ids = set(OutboundBatchChunk.objects.filter(request__recipients__contact=contact)
                    .values_list("pk", flat=True))
    count = recipients.update(context_items={}, customer_name="", case_name="", entity_relationship_name="",
                              reason="")
    activities = TimelineActivity.objects.filter(contact=contact).update(text="", regarding="")
    return {"outbound_recipients": count, "timeline_activities": activities,
            "batch_chunks": _scrub_chunks(chunk_ids, addresses), "schedules": _scrub_schedules(addresses)}


def activities_text_remove(*, message_ids: list[int]) -> int:
    """Retention: the timeline copies of messages whose text was removed."""
    return TimelineActivity.objects.filter(message_id__in=message_ids).exclude(text="").update(text="")
