"""Contacts and their addresses: the one get-or-create every path that meets a customer goes through.

A contact is reachable at one or more addresses (``ContactAddress``): a phone number in E.164 and,
for a WhatsApp user who hides their number behind a username, a WhatsApp user ID (BSUID) kept
exactly as received. ``Contact.address`` is the phone number when one is known, else the user ID.

``contacts_for`` takes many addresses (an inbound batch, an outbound request's contact list) and
costs a few queries whatever their number; ``contact_for`` is it with one address.
``contact_for_sender`` is what an inbound message meets: the address written from, and a second
address the provider says belongs to the same person (a phone ``From`` with its WhatsApp user ID),
linked to one contact — two contacts the hub already had for them are merged, history and all.
``contact_reply_address`` is where a reply goes: on WhatsApp the address the customer last wrote
from, on SMS the phone number.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from channels_app.models import (
    AddressKind,
    Channel,
    Contact,
    ContactAddress,
    is_whatsapp_user_id,
)
from channels_app.numbers import to_e164
from channels_app.providers import WebhookPayloadError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContactDetails:
    """What a caller knows of a customer: a name (a WhatsApp profile, a CRM) and a language."""

    display_name: str = ""
    locale: str = ""


def address_kind(value: str) -> str:
    return AddressKind.WHATSAPP_ID if is_whatsapp_user_id(value) else AddressKind.PHONE


def normalize_address(address: str, *, allow_user_id: bool = True) -> str | None:
    """An address as the hub keeps it: E.164 for a phone number (any form ``to_e164`` reads), a WhatsApp
    user ID exactly as written (``whatsapp:`` prefix dropped); None when it is neither."""
    raw = (address or "").strip()
    if raw.lower().startswith("whatsapp:"):
        raw = raw[len("whatsapp:"):]
    if allow_user_id and is_whatsapp_user_id(raw):
        return raw
    return to_e164(raw)


def contacts_for(details: Mapping[str, ContactDetails], *, update_names: bool = True) -> dict[str, Contact]:
    """The contacts with these addresses (normalized: E.164 or WhatsApp user IDs), created where missing
    with the details given.

    An address is found among every address of every contact (a phone number linked to a WhatsApp user
    ID finds the same contact). With ``update_names``, an existing contact takes the name given when it
    differs (a WhatsApp profile name is kept current); otherwise existing contacts are left as they are.
    A contact a concurrent caller creates at the same moment is shared, not duplicated.
    """
    if not details:
        return {}
    found = _by_address(details)
    missing = [Contact(address=address, display_name=d.display_name[:200], locale=d.locale[:16])
               for address, d in details.items() if address not in found]
    if missing:
        Contact.objects.bulk_create(missing, ignore_conflicts=True)
        created = {c.address: c for c in Contact.objects.filter(address__in=[m.address for m in missing])}
        ContactAddress.objects.bulk_create(
            [ContactAddress(contact=c, kind=address_kind(a), value=a) for a, c in created.items()],
            ignore_conflicts=True)
        found.update(created)
    if update_names:
        renamed = {c.pk: (c, details[a].display_name[:200]) for a, c in found.items()
                   if details[a].display_name and c.display_name != details[a].display_name[:200]}
        for contact, name in renamed.values():
            contact.display_name = name
            contact.updated_at = timezone.now()
        if renamed:
            Contact.objects.bulk_update([c for c, _ in renamed.values()], ["display_name", "updated_at"])
    return found


def _by_address(addresses: Iterable[str]) -> dict[str, Contact]:
    addresses = list(addresses)
    found = {a.value: a.contact for a in
             ContactAddress.objects.filter(value__in=addresses).select_related("contact")}
    # A contact stored before it had address rows (or by a bulk path) is still found by its own address.
    rest = [a for a in addresses if a not in found]
    if rest:
        found.update({c.address: c for c in Contact.objects.filter(address__in=rest)})
    return found


def contact_for(address: str, *, display_name: str = "") -> Contact:
    """The contact with this address (a phone number in any form ``to_e164`` reads, or a WhatsApp user ID),
    created on first contact; a WhatsApp profile name is kept. Raises WebhookPayloadError when the address
    is neither."""
    normalized = normalize_address(address)
    if not normalized:
        raise WebhookPayloadError(f"sender {address!r} is neither a phone number nor a WhatsApp user ID")
    return contacts_for({normalized: ContactDetails(display_name=display_name)})[normalized]


def contact_for_sender(*, address: str, linked: str = "", display_name: str = "",
                       when: datetime | None = None) -> tuple[Contact, str]:
    """The contact an inbound message is from, and the address it came from (normalized).

    ``linked`` is another address the provider says is the same person's (the WhatsApp user ID sent
    beside a phone ``From``): both end up on one contact. When the hub already had a contact for each,
    they are merged into the older one (messages, conversations, consent and every other record move
    with it). The address written from is marked as the customer's latest, so replies go there.
    """
    written = normalize_address(address)
    if not written:
        raise WebhookPayloadError(f"sender {address!r} is neither a phone number nor a WhatsApp user ID")
    other = normalize_address(linked) if linked else None
    contact = contacts_for({written: ContactDetails(display_name=display_name)})[written]
    if other and other != written:
        contact = _link(contact, other)
    now = when or timezone.now()
    updated = ContactAddress.objects.filter(value=written).update(last_inbound_at=now)
    if not updated:
        ContactAddress.objects.get_or_create(value=written, defaults={
            "contact": contact, "kind": address_kind(written), "last_inbound_at": now})
    return contact, written


def _link(contact: Contact, value: str) -> Contact:
    """Give ``contact`` the address ``value`` too; merge the contact that already has it."""
    row = ContactAddress.objects.select_related("contact").filter(value=value).first()
    owner = row.contact if row else Contact.objects.filter(address=value).first()
    if owner is None:
        ContactAddress.objects.get_or_create(value=value, defaults={"contact": contact, "kind": address_kind(value)})
        _prefer_phone(contact)
        return contact
    if owner.pk == contact.pk:
        return contact
    keep, gone = (owner, contact) if owner.pk < contact.pk else (contact, owner)
    try:
        with transaction.atomic():
            contact_merge(keep=keep, gone=gone)
    except IntegrityError as exc:
        # Two records that may exist once per contact (e.g. an open conversation each on the same number):
        # the contacts stay apart, the message is stored with the one it was written from.
        logger.warning("contacts %s and %s share address %s but could not be merged: %s",
                       keep.pk, gone.pk, value, exc)
        return contact
    return keep


def contact_merge(*, keep: Contact, gone: Contact) -> Contact:
    """Move everything of ``gone`` to ``keep`` (every record that points to a contact, whichever app it
    belongs to) and delete ``gone``. Call it in a transaction."""
    gone_address, gone_pk = gone.address, gone.pk
    for relation in Contact._meta.related_objects:
        if relation.one_to_many or relation.one_to_one:
            relation.related_model._base_manager.filter(**{relation.field.name: gone}).update(
                **{relation.field.name: keep})
    if not ContactAddress.objects.filter(value=gone_address).exists():
        ContactAddress.objects.create(contact=keep, kind=address_kind(gone_address), value=gone_address)
    if not keep.display_name and gone.display_name:
        keep.display_name = gone.display_name
    if not keep.locale and gone.locale:
        keep.locale = gone.locale
    Contact.objects.filter(pk=gone_pk).delete()
    keep.save(update_fields=["display_name", "locale", "updated_at"])
    _prefer_phone(keep)
    logger.info("contact %s merged into contact %s", gone_pk, keep.pk)
    return keep


def _prefer_phone(contact: Contact) -> None:
    """A contact known by a WhatsApp user ID only takes its phone number as its address once one is known."""
    if contact.has_phone:
        return
    phone = (ContactAddress.objects.filter(contact=contact, kind=AddressKind.PHONE)
             .order_by("created_at", "pk").values_list("value", flat=True).first())
    if phone:
        Contact.objects.filter(pk=contact.pk).update(address=phone, updated_at=timezone.now())
        contact.address = phone


def contact_reply_addresses(contacts: Iterable[Contact], *, channel: str) -> dict[int, str | None]:
    """Where a message to each contact goes on ``channel`` (one query): on WhatsApp the address the customer
    last wrote from (a phone number or a WhatsApp user ID), on SMS the phone number; None when the contact
    has no address the channel can reach (no phone number known for an SMS)."""
    contacts = list(contacts)
    result: dict[int, str | None] = {}
    saved = [c for c in contacts if c.pk is not None]
    rows: dict[int, list[tuple[str, str, datetime | None]]] = {}
    if saved:
        for contact_id, kind, value, last in (ContactAddress.objects.filter(contact__in=saved)
                                              .order_by(F("last_inbound_at").desc(nulls_last=True), "pk")
                                              .values_list("contact_id", "kind", "value", "last_inbound_at")):
            rows.setdefault(contact_id, []).append((kind, value, last))
    for contact in contacts:
        addresses = rows.get(contact.pk, []) if contact.pk is not None else []
        if not addresses:
            addresses = [(address_kind(contact.address), contact.address, None)]
        if channel == Channel.WHATSAPP:
            result[contact.pk] = addresses[0][1]
        else:
            phones = [value for kind, value, _ in addresses if kind == AddressKind.PHONE]
            result[contact.pk] = phones[0] if phones else (contact.phone or None)
    return result


def contact_reply_address(contact: Contact, *, channel: str) -> str | None:
    return contact_reply_addresses([contact], channel=channel)[contact.pk]
