"""Number formats, checked with ``phonenumbers``: the building blocks provider modules compose
their number rules from, and the entry point the services call."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import phonenumbers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.exceptions import ServiceError

from .providers import CheckedNumber, provider_class

if TYPE_CHECKING:
    from .providers import BaseProvider

_DIGITS = re.compile(r"^[1-9]\d{5,14}$")
_E164 = re.compile(r"^\+[1-9]\d{5,14}$")
_SHORT_CODE = re.compile(r"^\d{5,6}$")

E164_EXAMPLE = "+14252306549"
WHATSAPP_HELP = gettext_lazy("E.164 with the leading +, e.g. +14252306549 (no spaces or symbols).")

__all__ = ["CheckedNumber", "check_number", "to_e164"]


def check_number(*, provider: str, channel: str, number: str, number_type: str = "") -> CheckedNumber:
    """Validate ``number`` for an account of ``provider``/``channel``; raise ServiceError naming the field."""
    return provider_class(provider).check_number(channel=channel, number=number, number_type=number_type)


def _is_valid(e164: str) -> bool:
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(parsed)


def required(number: str) -> str:
    raw = (number or "").strip()
    if not raw:
        raise ServiceError(_("Enter a number."), code="number_required", field="number")
    return raw


def check_type(provider: type[BaseProvider], number_type: str) -> str:
    """``number_type`` when the provider offers it for SMS; ServiceError listing its types otherwise."""
    labels = ", ".join(str(label) for _, label in provider.number_types)
    if not number_type:
        raise ServiceError(_("Choose the number's type: %(types)s.") % {"types": labels},
                           code="number_type_required", field="number_type")
    if number_type not in dict(provider.number_types):
        raise ServiceError(_("%(provider)s SMS numbers are %(types)s; '%(type)s' is not one of them.")
                           % {"provider": provider.label, "types": labels, "type": number_type},
                           code="number_type_invalid", field="number_type")
    return number_type


def whatsapp_number(raw: str) -> CheckedNumber:
    if not _E164.match(raw):
        raise ServiceError(
            _("'%(number)s' is not accepted: WhatsApp numbers are written in E.164 with a leading +, "
              "e.g. +14252306549 (no spaces or symbols).") % {"number": raw},
            code="number_format", field="number",
        )
    if not _is_valid(raw):
        raise ServiceError(_("%(number)s is not a valid phone number.") % {"number": raw}, code="number_invalid",
                           field="number")
    return CheckedNumber(raw, raw, "")


def short_code(raw: str, number_type: str) -> CheckedNumber:
    if not _SHORT_CODE.match(raw):
        raise ServiceError(_("'%(number)s' is not accepted: a short code is 5 or 6 digits, e.g. 44222.")
                           % {"number": raw},
                           code="number_format", field="number")
    return CheckedNumber(raw, raw, number_type)


def e164_number(raw: str, number_type: str, *, provider_label: str) -> CheckedNumber:
    """A number written in E.164 (``+14252306549``), as most providers want it."""
    if not _E164.match(raw):
        raise ServiceError(
            _("'%(number)s' is not accepted: %(provider)s numbers are written in E.164, e.g. +14252306549 "
              "(a leading +, no spaces or symbols).") % {"number": raw, "provider": provider_label},
            code="number_format", field="number",
        )
    if not _is_valid(raw):
        raise ServiceError(_("%(number)s is not a valid phone number.") % {"number": raw}, code="number_invalid",
                           field="number")
    return CheckedNumber(raw, raw, number_type)


def digits_number(raw: str, number_type: str, *, provider_label: str) -> CheckedNumber:
    """A number written as digits only, country code first (``14252306549``)."""
    if not _DIGITS.match(raw):
        raise ServiceError(
            _("'%(number)s' is not accepted: %(provider)s numbers are digits only, country code first, "
              "e.g. 14252306549 (no +, spaces or symbols).") % {"number": raw, "provider": provider_label},
            code="number_format", field="number",
        )
    e164 = "+" + raw
    if not _is_valid(e164):
        raise ServiceError(_("%(number)s is not a valid phone number.") % {"number": raw}, code="number_invalid",
                           field="number")
    return CheckedNumber(raw, e164, number_type)


def to_e164(address: str, *, default_region: str | None = None) -> str | None:
    """Normalize a customer address (``+1…``, ``1…`` digits, ``whatsapp:+1…``) to E.164, or None."""
    raw = (address or "").strip()
    if raw.lower().startswith("whatsapp:"):
        raw = raw[len("whatsapp:"):]
    if _SHORT_CODE.match(raw):
        return raw
    if raw and raw[0] != "+" and raw.isdigit() and default_region is None:
        raw = "+" + raw
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
