"""Contacts: the one get-or-create every path that meets a customer goes through.

``contacts_for`` takes many addresses (an inbound batch, an outbound request's contact list) and
costs two queries (three when some are new); ``contact_for`` is it with one address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.utils import timezone

from channels_app.models import Contact
from channels_app.numbers import to_e164
from channels_app.providers import WebhookPayloadError


@dataclass(frozen=True)
class ContactDetails:
    """What a caller knows of a customer: a name (a WhatsApp profile, a CRM) and a language."""

    display_name: str = ""
    locale: str = ""


def contacts_for(details: Mapping[str, ContactDetails], *, update_names: bool = True) -> dict[str, Contact]:
    """The contacts with these E.164 addresses, created where missing with the details given.

    With ``update_names``, an existing contact takes the name given when it differs (a WhatsApp
    profile name is kept current); otherwise existing contacts are left as they are. A contact a
    concurrent caller creates at the same moment is shared, not duplicated.
    """
    if not details:
        return {}
    found = {c.address: c for c in Contact.objects.filter(address__in=list(details))}
    missing = [Contact(address=address, display_name=d.display_name[:200], locale=d.locale[:16])
               for address, d in details.items() if address not in found]
    if missing:
        Contact.objects.bulk_create(missing, ignore_conflicts=True)
        found.update({c.address: c for c in Contact.objects.filter(address__in=[m.address for m in missing])})
    if update_names:
        renamed = [c for a, c in found.items()
                   if details[a].display_name and c.display_name != details[a].display_name[:200]]
        for contact in renamed:
            contact.display_name = details[contact.address].display_name[:200]
            contact.updated_at = timezone.now()
        if renamed:
            Contact.objects.bulk_update(renamed, ["display_name", "updated_at"])
    return found


def contact_for(address: str, *, display_name: str = "") -> Contact:
    """The contact with this address (any form ``to_e164`` reads), created on first contact; a WhatsApp
    profile name is kept. Raises WebhookPayloadError when the address is not a phone number."""
    normalized = to_e164(address)
    if not normalized:
        raise WebhookPayloadError(f"sender {address!r} is not a phone number")
    return contacts_for({normalized: ContactDetails(display_name=display_name)})[normalized]
