"""Data an administrator manages about one contact — an export of everything, an erasure — and the retention
of messages' text, attachments and webhook events. Each app exports and erases its own rows
(``<app>/services/privacy.py``); this module puts them together.

The erasure's choice (README, *Privacy*): what the person wrote and sent is removed — messages' text, template
variables, attachments and their files, the webhooks and provider exchanges that carried them, names, context
items, case texts, timeline texts — and everything the reports count stays (message statuses and times,
conversations and their milestones, outbound outcomes), so figures for past periods do not move. The phone
number and the whole consent history are kept: they are the record that the person opted out (or in), which
must go on being honoured and be shown on request.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.models import Contact
from channels_app.services import privacy as wire
from config.exceptions import ServiceError
from outbound.services import privacy as outbound
from workstreams.services import privacy as work

logger = logging.getLogger(__name__)

EXPORT_FORMAT = 1


def contact_find(*, ref: str) -> Contact:
    """A contact by id or phone number (as stored, e.g. +14155550123), or the ServiceError saying none is."""
    ref = (ref or "").strip()
    if not ref:
        raise ServiceError(_("Name the contact by id or phone number."), code="required", field="contact")
    contact = None
    if ref.isdigit() and not ref.startswith("0"):
        contact = Contact.objects.filter(pk=int(ref)).first()
    contact = contact or Contact.objects.filter(address=ref).first()
    if contact is None:
        raise ServiceError(_("There is no contact with the id or phone number “%(ref)s”.") % {"ref": ref[:50]},
                           code="not_found", field="contact", http_status=404)
    return contact


def contact_export_data(*, contact: Contact) -> tuple[dict[str, Any], list]:
    data, files = wire.contact_wire_export(contact=contact)
    data.update(work.contact_work_export(contact=contact))
    data.update(outbound.contact_outbound_export(contact=contact))
    return {"format": EXPORT_FORMAT, "exported_at": timezone.now().isoformat(), **data}, files


def contact_export(*, contact: Contact) -> bytes:
    """Everything about the contact as a zip: ``contact.json`` and the stored attachment files under
    ``attachments/`` (named as ``contact.json`` names them)."""
    data, files = contact_export_data(contact=contact)
    missing = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for attachment in files:
            name = f"attachments/{attachment.pk}-{attachment.file.name.rsplit('/', 1)[-1]}"
            try:
                with attachment.file.open("rb") as handle:
                    archive.writestr(name, handle.read())
            except OSError:
                missing.append(name)
        data["missing_files"] = missing
        archive.writestr("contact.json", json.dumps(data, ensure_ascii=False, indent=2, default=str))
    return buffer.getvalue()


def export_filename(contact: Contact) -> str:
    return f"contact-{contact.pk}-{timezone.now():%Y%m%d-%H%M%S}.zip"


@dataclass(frozen=True)
class Erasure:
    contact: Contact
    counts: dict[str, int]


def contact_erase(*, contact: Contact, by: Any = None) -> Erasure:
    """Erase the contact's data (see the module's docstring for what stays), in one transaction."""
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        counts = {**wire.contact_wire_erase(contact=locked), **work.contact_work_erase(contact=locked),
                  **outbound.contact_outbound_erase(contact=locked)}
    logger.info("Contact %s erased by %s: %s", locked.pk, getattr(by, "username", None) or "a command", counts)
    locked.refresh_from_db()
    return Erasure(locked, counts)


def retention_apply() -> dict[str, int]:
    """One slice of each retention (beat runs it every ``RETENTION_SECONDS``): at most ``RETENTION_SLICE``
    messages, attachments and webhook events each."""
    limit = settings.RETENTION_SLICE
    with transaction.atomic():
        ids = wire.message_retention_apply(days=settings.MESSAGE_RETENTION_DAYS, limit=limit)
        outbound.activities_text_remove(message_ids=ids)
    done = {"messages": len(ids),
            "attachments": wire.attachment_retention_apply(days=settings.ATTACHMENT_RETENTION_DAYS, limit=limit),
            "inbound_events": wire.inbound_event_retention_apply(days=settings.INBOUND_EVENT_RETENTION_DAYS,
                                                                 limit=limit)}
    if any(done.values()):
        logger.info("Retention: %s", done)
    return done
