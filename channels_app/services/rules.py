"""The rules every outgoing message obeys, whoever sends it: an agent's reply, an automated message, a
bot, a survey, a WhatsApp template, a proactive (outbound) message, a test message, a retry.

Each rule is one function here (``rule_length``, ``rule_account``, ``rule_address``, ``rule_consent``,
``rule_whatsapp_window``, ``rule_attachments``), and ``drafts_check`` applies them all, in that order,
to many drafts at once: a rule that reads the database reads it once for all of them (one query
per number at most), so checking a chunk of a hundred proactive messages costs what checking one
does. The single path is this path with one draft.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.models import Channel, Contact, Direction, Message, MessageKind, PhoneNumber
from channels_app.policy import number_policy
from channels_app.providers import provider_class
from channels_app.providers.http import log_text
from config import egress
from config.exceptions import ConflictError, ServiceError

from .consent import consent_opted_out_many, opted_out_error

MAX_MESSAGE_LENGTH = 1600
MAX_ATTACHMENTS = 10
WHATSAPP_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Draft:
    """One outgoing message before it is stored: what every sender hands the pipeline.

    ``contact`` may be unsaved (a test message to someone the hub has never seen): it then has no
    consent record and no conversation, so it is opted in and its WhatsApp window is closed.
    """

    phone_number: PhoneNumber
    contact: Contact
    body: str = ""
    media_urls: tuple[str, ...] = ()
    kind: str = MessageKind.REGULAR
    content_sid: str = ""  # a WhatsApp template: sendable outside the 24-hour window
    content_variables: dict[str, str] = field(default_factory=dict)
    author_id: int | None = None


# --- The rules ---------------------------------------------------------------------------------------

def rule_length(draft: Draft) -> ServiceError | None:
    """Something to send (text, attachments or a template), and at most MAX_MESSAGE_LENGTH characters."""
    body = draft.body or ""
    if not draft.content_sid and not body.strip() and not draft.media_urls:
        return ServiceError(_("The message is empty."), code="body_required", field="body")
    if len(body) > MAX_MESSAGE_LENGTH:
        return ServiceError(_("The message is %(length)s characters; the limit is %(limit)s.")
                            % {"length": len(body), "limit": MAX_MESSAGE_LENGTH},
                            code="body_too_long", field="body", extra={"limit": MAX_MESSAGE_LENGTH})
    return None


def rule_address(draft: Draft) -> ServiceError | None:
    """An SMS needs a phone number: a WhatsApp user known only by a username has none."""
    if draft.phone_number.channel == Channel.SMS and not draft.contact.has_phone:
        return ServiceError(
            _("No phone number is known for %(contact)s: they write on WhatsApp with a username, so they can be "
              "reached on WhatsApp only.") % {"contact": draft.contact.display_name or draft.contact.address},
            code="no_phone_number", field="contact")
    return None


def rule_account(draft: Draft) -> ServiceError | None:
    """Nothing goes out through an inactive account."""
    account = draft.phone_number.account
    if not account.is_active:
        return ConflictError(_("Account '%(account)s' is inactive.") % {"account": account.name},
                             code="account_inactive", field="account")
    return None


def rule_consent(drafts: Sequence[Draft]) -> dict[int, ServiceError]:
    """Nothing goes to a contact opted out of the sending number, except the one opt-out confirmation.

    Returns the refused drafts by index; one query per sending number.
    """
    by_number: dict[int, list[int]] = defaultdict(list)
    for index, draft in enumerate(drafts):
        if draft.kind != MessageKind.OPT_OUT_CONFIRMATION and draft.contact.pk is not None:
            by_number[draft.phone_number.pk].append(index)
    refused: dict[int, ServiceError] = {}
    for indexes in by_number.values():
        phone = drafts[indexes[0]].phone_number
        opted_out = consent_opted_out_many(contact_ids={drafts[i].contact.pk for i in indexes}, phone_number=phone)
        for index in indexes:
            if drafts[index].contact.pk in opted_out:
                refused[index] = opted_out_error(contact=drafts[index].contact, phone_number=phone)
    return refused


def whatsapp_windows_close_at(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], datetime]:
    """When the 24-hour window closes for each (contact id, number id) whose customer ever wrote (one query)."""
    pairs = set(pairs)
    if not pairs:
        return {}
    rows = (Message.objects.filter(direction=Direction.INBOUND, contact_id__in={c for c, _ in pairs},
                                   phone_number_id__in={p for _, p in pairs})
            .values("contact_id", "phone_number_id").annotate(last=Max("created_at")).order_by())
    return {(r["contact_id"], r["phone_number_id"]): r["last"] + WHATSAPP_WINDOW for r in rows
            if (r["contact_id"], r["phone_number_id"]) in pairs}


def whatsapp_window_closes_at(*, contact: Contact, phone_number: PhoneNumber) -> datetime | None:
    """When the 24-hour session window closes (None: the customer never wrote)."""
    if contact.pk is None:
        return None
    return whatsapp_windows_close_at([(contact.pk, phone_number.pk)]).get((contact.pk, phone_number.pk))


def rule_whatsapp_window(drafts: Sequence[Draft], *, now: datetime | None = None) -> dict[int, ServiceError]:
    """On WhatsApp, free text only within 24 hours of the customer's last message; a template any time.

    Returns the refused drafts by index; one query for all of them.
    """
    concerned = [i for i, d in enumerate(drafts) if d.phone_number.channel == Channel.WHATSAPP and not d.content_sid]
    if not concerned:
        return {}
    now = now or timezone.now()
    closes = whatsapp_windows_close_at((drafts[i].contact.pk, drafts[i].phone_number.pk) for i in concerned
                                       if drafts[i].contact.pk is not None)
    refused: dict[int, ServiceError] = {}
    for index in concerned:
        draft = drafts[index]
        closes_at = closes.get((draft.contact.pk, draft.phone_number.pk))
        if closes_at is not None and closes_at > now:
            continue
        if closes_at:
            text = _("The WhatsApp 24-hour window closed at %(closed_at)s; only an approved template can be sent "
                     "until the customer writes again.") % {"closed_at": closes_at.isoformat(timespec="minutes")}
        else:
            text = _("The WhatsApp 24-hour window is not open (the customer has not written); only an approved "
                     "template can be sent until the customer writes again.")
        refused[index] = ConflictError(
            text,
            code="whatsapp_window_closed", field="body",
            extra={"window_closes_at": closes_at.isoformat() if closes_at else None},
        )
    return refused


def _link_refusal(url: str) -> str:
    """Why ``url`` is not an attachment link the hub passes on ("" when it is one): read as the HTTP
    client reads it (config/egress.py), with no user name, no backslash, and no internal address written
    in it. The provider fetches the link, so a name is not looked up here."""
    try:
        egress.check_url(url, resolve_host=False)
    except egress.EgressRefused as exc:
        return exc.message
    return ""


def rule_attachments(drafts: Sequence[Draft]) -> dict[int, ServiceError]:
    """Web links the provider can fetch, at most MAX_ATTACHMENTS (fewer where the provider carries fewer),
    and only on a number whose workstream lets agents send attachments (``HUB_NUMBER_POLICY``). The
    policy is asked once per number."""
    refused: dict[int, ServiceError] = {}
    allowed: dict[int, bool] = {}
    for index, draft in enumerate(drafts):
        if not draft.media_urls:
            continue
        bad = next(((url, why) for url in draft.media_urls if (why := _link_refusal(url))), None)
        if bad is not None:
            refused[index] = ServiceError(
                _("“%(url)s” is not a web link the hub sends (https://…): %(reason)s Attachments are sent as links.")
                % {"url": log_text(bad[0]), "reason": bad[1]}, code="attachment_url_invalid", field="attachments")
            continue
        phone = draft.phone_number
        limit = min(MAX_ATTACHMENTS, provider_class(phone.provider).max_attachments)
        if limit == 0:
            refused[index] = ServiceError(
                _("%(number)s cannot send attachments: its provider carries text only.") % {"number": phone.number},
                code="attachments_not_supported", field="attachments")
            continue
        if len(draft.media_urls) > limit:
            refused[index] = ServiceError(
                _("The message has %(count)s attachments; at most %(limit)s can be sent in one message.")
                % {"count": len(draft.media_urls), "limit": limit},
                code="too_many_attachments", field="attachments", extra={"limit": limit})
            continue
        if phone.pk not in allowed:
            allowed[phone.pk] = number_policy(phone).agents_may_send_attachments
        if not allowed[phone.pk]:
            refused[index] = ServiceError(_("Agents may not send attachments on "
                                            "%(number)s.") % {"number": phone.number},
                                          code="attachments_not_allowed", field="attachments")
    return refused


# --- All of them -------------------------------------------------------------------------------------

def drafts_check(drafts: Sequence[Draft], *, now: datetime | None = None) -> list[ServiceError | None]:
    """Every rule, for every draft: the first rule each one breaks (None: it may be sent), in order."""
    errors: list[ServiceError | None] = [rule_length(d) or rule_account(d) or rule_address(d) for d in drafts]
    for rule in (rule_consent, lambda ds: rule_whatsapp_window(ds, now=now), rule_attachments):
        pending = [i for i, e in enumerate(errors) if e is None]
        if not pending:
            break
        for position, error in rule([drafts[i] for i in pending]).items():
            errors[pending[position]] = error
    return errors


def draft_check(draft: Draft) -> None:
    """Every rule for one draft; raises the ServiceError of the first it breaks."""
    error = drafts_check([draft])[0]
    if error is not None:
        raise error
