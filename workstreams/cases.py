"""Support cases."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from channels_app.services.contacts import contact_for, normalize_address
from config.exceptions import ServiceError

from .models import Case, CaseStatus
from .signals import case_created


def case_check(*, title: str, contact_address: str) -> None:
    """Everything a new case needs, checked before anything is saved (forms call it too); raise
    ServiceError naming the field."""
    if not (title or "").strip():
        raise ServiceError(_("Enter a title for the case."), code="title_required", field="title")
    if not normalize_address(contact_address or ""):
        raise ServiceError(_("'%(address)s' is not a phone number in E.164 form, e.g. +14155550123 (or the "
                             "WhatsApp user ID of a customer known by a username).") % {"address": contact_address},
                           code="contact_invalid", field="contact")


@transaction.atomic
def case_create(*, title: str, contact_address: str, description: str = "", customer_name: str = "") -> Case:
    """Open a case for the customer with this number; listeners (e.g. outbound messages) run in the same
    transaction."""
    case_check(title=title, contact_address=contact_address)
    title = title.strip()
    try:
        contact = contact_for(contact_address, display_name=customer_name)
    except ValueError:
        raise ServiceError(_("'%(address)s' is not a phone number in E.164 form, e.g. +14155550123.")
                           % {"address": contact_address},
                           code="contact_invalid", field="contact") from None
    case = Case.objects.create(title=title[:200], contact=contact, description=description,
                               status=CaseStatus.ACTIVE)
    case_created.send(sender=Case, case=case)
    return case
