"""Number formats per provider and channel, checked with ``phonenumbers``."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from config.exceptions import ServiceError

from .models import Channel, NumberType, Provider

_DIGITS = re.compile(r"^[1-9]\d{5,14}$")
_E164 = re.compile(r"^\+[1-9]\d{5,14}$")
_SHORT_CODE = re.compile(r"^\d{5,6}$")

#: Number types each provider offers for SMS.
SMS_NUMBER_TYPES: dict[str, tuple[str, ...]] = {
    Provider.TELESIGN: (NumberType.GEOGRAPHIC, NumberType.SHORT_CODE, NumberType.TOLL_FREE),
    Provider.TWILIO: (NumberType.LONG_CODE, NumberType.SHORT_CODE, NumberType.TOLL_FREE),
    Provider.SANDBOX: (NumberType.LONG_CODE, NumberType.SHORT_CODE, NumberType.TOLL_FREE),
}


@dataclass(frozen=True)
class CheckedNumber:
    number: str  # as the provider wants it
    e164: str  # normalized address used to match inbound traffic
    number_type: str


def _is_valid(e164: str) -> bool:
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(parsed)


def check_number(*, provider: str, channel: str, number: str, number_type: str = "") -> CheckedNumber:
    """Validate ``number`` for an account of ``provider``/``channel``; raise ServiceError naming the field."""
    raw = (number or "").strip()
    if not raw:
        raise ServiceError("Enter a number.", code="number_required", field="number")

    if channel == Channel.WHATSAPP:
        if not _E164.match(raw):
            raise ServiceError(
                f"'{raw}' is not accepted: WhatsApp numbers are written in E.164 with a leading +, "
                "e.g. +14252306549 (no spaces or symbols).",
                code="number_format", field="number",
            )
        if not _is_valid(raw):
            raise ServiceError(f"{raw} is not a valid phone number.", code="number_invalid", field="number")
        return CheckedNumber(raw, raw, "")

    allowed = SMS_NUMBER_TYPES[provider]
    if not number_type:
        raise ServiceError(
            "Choose the number's type: " + ", ".join(NumberType(t).label for t in allowed) + ".",
            code="number_type_required", field="number_type",
        )
    if number_type not in allowed:
        raise ServiceError(
            f"{Provider(provider).label} SMS numbers are "
            + ", ".join(NumberType(t).label for t in allowed)
            + f"; '{number_type}' is not one of them.",
            code="number_type_invalid", field="number_type",
        )

    if number_type == NumberType.SHORT_CODE:
        if not _SHORT_CODE.match(raw):
            raise ServiceError(
                f"'{raw}' is not accepted: a short code is 5 or 6 digits, e.g. 44222.",
                code="number_format", field="number",
            )
        return CheckedNumber(raw, raw, number_type)

    if provider == Provider.TELESIGN:
        if not _DIGITS.match(raw):
            raise ServiceError(
                f"'{raw}' is not accepted: TeleSign numbers are digits only, country code first, "
                "e.g. 14252306549 (no +, spaces or symbols).",
                code="number_format", field="number",
            )
        e164 = "+" + raw
    else:
        if not _E164.match(raw):
            raise ServiceError(
                f"'{raw}' is not accepted: Twilio numbers are written in E.164, e.g. +14252306549 "
                "(a leading +, no spaces or symbols).",
                code="number_format", field="number",
            )
        e164 = raw
    if not _is_valid(e164):
        raise ServiceError(f"{raw} is not a valid phone number.", code="number_invalid", field="number")
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
