"""Opt-out and opt-in: keywords, consent records, and the check every send goes through."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from django.utils.translation import gettext as _

from channels_app.models import ConsentRecord, ConsentState, Contact, PhoneNumber
from config.exceptions import ServiceError

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})



class Keyword(StrEnum):
    """What a customer's one-word message asks for."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


OPT_OUT, OPT_IN, HELP = Keyword.OPT_OUT, Keyword.OPT_IN, Keyword.HELP


def keyword_action(body: str) -> Keyword | None:
    """``opt_out``, ``opt_in`` or ``help`` when the whole message is one such keyword, else None.

    Matching trims white space and trailing punctuation and ignores case: "Stop." opts out,
    "stop please" does not.
    """
    word = (body or "").strip().rstrip(".!?").strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return OPT_OUT
    if word in OPT_IN_KEYWORDS:
        return OPT_IN
    if word in HELP_KEYWORDS:
        return HELP
    return None


def consent_state(*, contact: Contact, phone_number: PhoneNumber) -> str:
    """The consent in force: the latest record, or opted in when the contact never opted out."""
    if contact.pk in consent_opted_out_many(contact_ids=[contact.pk], phone_number=phone_number):
        return ConsentState.OPTED_OUT
    return ConsentState.OPTED_IN


def consent_opted_out_many(*, contact_ids: Iterable[int], phone_number: PhoneNumber) -> set[int]:
    """Of these contacts, those whose consent in force on this number is "opted out" (one query).

    The latest record counts; a contact with no record is opted in.
    """
    ids = set(contact_ids)
    if not ids:
        return set()
    latest: dict[int, str] = {}
    rows = (ConsentRecord.objects.filter(phone_number=phone_number, contact_id__in=ids)
            .order_by("contact_id", "-created_at", "-id").values_list("contact_id", "state"))
    for contact_id, state in rows:
        latest.setdefault(contact_id, state)
    return {contact_id for contact_id, state in latest.items() if state == ConsentState.OPTED_OUT}


def consent_record(*, contact: Contact, phone_number: PhoneNumber, state: str, source: str,
                   detail: str = "") -> ConsentRecord | None:
    """Record a change of consent; recording the state already in force writes nothing."""
    if consent_state(contact=contact, phone_number=phone_number) == state:
        return None
    return ConsentRecord.objects.create(contact=contact, phone_number=phone_number, state=state, source=source,
                                        detail=detail[:255])


def consent_opt_outs_record(*, opt_outs: Iterable[tuple[Contact, PhoneNumber, str, str]]) -> int:
    """Record opt-outs of many contacts at once: ``(contact, phone_number, source, detail)`` each, one
    query per number to find who is already opted out and one insert for the rest. Returns how many were
    recorded; a contact already opted out on that number, or named twice, gets no second record."""
    by_number: dict[int, tuple[PhoneNumber, dict[int, tuple[Contact, str, str]]]] = {}
    for contact, phone_number, source, detail in opt_outs:
        by_number.setdefault(phone_number.pk, (phone_number, {}))[1].setdefault(contact.pk, (contact, source, detail))
    records = []
    for phone_number, contacts in by_number.values():
        already = consent_opted_out_many(contact_ids=contacts, phone_number=phone_number)
        records += [ConsentRecord(contact=contact, phone_number=phone_number, state=ConsentState.OPTED_OUT,
                                  source=source, detail=detail[:255])
                    for pk, (contact, source, detail) in contacts.items() if pk not in already]
    ConsentRecord.objects.bulk_create(records)
    return len(records)


def opted_out_error(*, contact: Contact, phone_number: PhoneNumber) -> ServiceError:
    """The refusal of a send to a contact who opted out (the consent rule's, in ``rules``)."""
    return ServiceError(
        _("%(contact)s has opted out of messages from %(number)s; nothing can be sent until they text START.")
        % {"contact": contact.address, "number": phone_number.number},
        code="opted_out", field="contact", http_status=409,
    )
