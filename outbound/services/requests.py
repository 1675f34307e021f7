"""Outbound requests: one invocation of a configuration with at most 100 contacts.

``outbound_request_create`` checks the request as a whole (400 for a malformed or oversized list,
a missing entityrelationshipname when the configuration shows messages in the timeline, 429 over
the hourly limit), decides what it can about each contact (an invalid number or a duplicate is
rejected, optin false is skipped; the others are accepted), stores the request and its contacts
in one transaction and, once that commits, hands the request to one worker task on the "bulk" queue.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels_app.models import Channel
from channels_app.services.contacts import ContactDetails, contacts_for, normalize_address
from channels_app.services.delivery import messages_due_now
from config.db.bulk import bulk_insert
from config.exceptions import ConflictError, ServiceError
from outbound import selectors
from outbound.models import (
    OutboundBatch,
    OutboundConfiguration,
    OutboundRecipient,
    OutboundRequest,
    RecipientState,
    RequestState,
    Source,
)
from workstreams.models import Case

from . import ratelimit
from .contacts import CONFIGURATION_FIELD, ContactInput, contact_parse, field_at, payload_parse

#: entityrelationshipname values that name one of our cases: "case:42", "incident:42".
CASE_REFERENCE = re.compile(r"^\s*(?:case|incident)\s*[:/#]\s*(\d+)\s*$", re.IGNORECASE)
_SHORT_CODE = re.compile(r"^\d{3,6}$")


def configuration_for(ref: str) -> OutboundConfiguration:
    """The configuration with this configuration ID; refuse an unknown or inactive one."""
    if not ref:
        raise ServiceError(_("configuration_id is required: the outbound configuration's ID (a UUID), also accepted "
                             "as %(field)s.") % {"field": CONFIGURATION_FIELD}, code="required",
                           field="configuration_id")
    configuration = (OutboundConfiguration.objects.select_related("template", "phone_number__account")
                     .filter(configuration_id=ref).first())
    if configuration is None:
        raise ServiceError(_("No outbound configuration has the ID %(id)s.") % {"id": ref},
                           code="configuration_not_found",
                           field="configuration_id")
    configuration_require_active(configuration)
    return configuration


def configuration_require_active(configuration: OutboundConfiguration) -> None:
    if not configuration.is_active:
        raise ConflictError(_("The outbound configuration '%(configuration)s' is inactive.")
                            % {"configuration": configuration.name},
                            code="configuration_inactive", field="configuration_id")


def contacts_check_size(contacts: Any) -> None:
    limit = settings.OUTBOUND_MAX_CONTACTS_PER_REQUEST
    if not isinstance(contacts, list):
        raise ServiceError(_("contacts must be a list of contacts."), code="invalid_type", field="contacts")
    if not contacts:
        raise ServiceError(_("contacts is empty: give at least one contact."), code="contacts_required",
                           field="contacts")
    if len(contacts) > limit:
        raise ServiceError(
            ngettext("A request may carry at most %(limit)s contact; this one has %(count)s. Split larger lists into "
                     "requests of 100 (the send_outbound command and the admin upload do it for you).",
                     "A request may carry at most %(limit)s contacts; this one has %(count)s. Split larger lists into "
                     "requests of 100 (the send_outbound command and the admin upload do it for you).", limit)
            % {"limit": limit, "count": len(contacts)},
            code="too_many_contacts", field="contacts", extra={"limit": limit},
        )


def contacts_check(*, configuration: OutboundConfiguration, contacts: list[ContactInput],
                   where: str = "contacts[{index}]") -> None:
    """Rules every contact of a configuration obeys (checked before anything is stored)."""
    expected = str(configuration.configuration_id)
    for contact in contacts:
        place = where.format(index=contact.index)
        if contact.configuration_ref and contact.configuration_ref != expected:
            raise ServiceError(
                _("%(field)s is %(given)s, but the request is for configuration %(expected)s; send one "
                  "request per configuration.")
                % {"field": field_at(place, CONFIGURATION_FIELD), "given": contact.configuration_ref,
                   "expected": expected},
                code="configuration_mismatch", field=field_at(place, CONFIGURATION_FIELD),
            )
        if configuration.show_in_timeline and not contact.entityrelationshipname:
            raise ServiceError(
                _("%(field)s is required: configuration '%(configuration)s' shows messages in the timeline, and this "
                  "field names the record the activity is attached to.")
                % {"field": field_at(place, "entityrelationshipname"), "configuration": configuration.name},
                code="entityrelationshipname_required", field=field_at(place, "entityrelationshipname"),
            )


def contacts_cases(contacts: list[ContactInput], where: str = "contacts[{index}]") -> dict[int, Case]:
    """The cases named by entityrelationshipname ("case:42"), in one query; refuse unknown ones."""
    wanted = {c.index: int(m.group(1)) for c in contacts if (m := CASE_REFERENCE.match(c.entityrelationshipname))}
    if not wanted:
        return {}
    found = Case.objects.in_bulk(set(wanted.values()))
    for index, case_id in wanted.items():
        if case_id not in found:
            name = field_at(where.format(index=index), "entityrelationshipname")
            raise ServiceError(_("%(field)s names case %(case_id)s, which does not exist.")
                               % {"field": name, "case_id": case_id}, code="case_not_found",
                               field=name)
    return {index: found[case_id] for index, case_id in wanted.items()}


def _address(tocontactid: str, *, channel: str) -> str | None:
    """The customer's address: a phone number (E.164), or on WhatsApp also a WhatsApp user ID
    (``US.1349…``, with or without ``whatsapp:``) of a customer known by a username."""
    address = normalize_address(tocontactid, allow_user_id=channel == Channel.WHATSAPP)
    if not address or _SHORT_CODE.match(address):
        return None
    return address


def outbound_request_submit(*, payload: Any, user: Any = None) -> OutboundRequest:
    """A request from the API: the body in the documented shape (see ``contacts.payload_parse``)."""
    parsed = payload_parse(payload)
    return outbound_request_create(configuration_ref=parsed.configuration_ref, contacts=parsed.contacts,
                                   source=Source.API, user=user)


def outbound_request_create(*, contacts: list[Any], source: str, configuration: OutboundConfiguration | None = None,
                            configuration_ref: str = "", user: Any = None, batch: OutboundBatch | None = None,
                            case: Case | None = None, enforce_limit: bool = True) -> OutboundRequest:
    """Check, store the request with its contacts in one transaction, and send it from a worker after commit.

    ``enforce_limit`` false counts the request against the hourly limit without refusing it (automated
    triggers must not lose a message).
    """
    contacts_check_size(contacts)
    parsed = [contact_parse(raw, index=i) for i, raw in enumerate(contacts)]
    if configuration is None:
        refs = {configuration_ref} if configuration_ref else {c.configuration_ref for c in parsed} - {""}
        if len(refs) > 1:
            raise ServiceError(_("The contacts name %(count)s different configurations in %(field)s; send "
                                 "one request per configuration.") % {"count": len(refs), "field": CONFIGURATION_FIELD},
                               code="configuration_mismatch", field=f"contacts[0].{CONFIGURATION_FIELD}")
        configuration = configuration_for(refs.pop() if refs else "")
    else:
        configuration_require_active(configuration)
    contacts_check(configuration=configuration, contacts=parsed)
    cases = contacts_cases(parsed)

    # What can be decided now about each contact.
    outcomes: list[tuple[ContactInput, str | None, str, str, str]] = []  # contact, address, state, code, reason
    seen: dict[str, int] = {}
    for item in parsed:
        address = _address(item.tocontactid, channel=item.channelid)
        if address is None:
            if item.channelid == Channel.WHATSAPP:
                reason = _("'%(address)s' is not a phone number; write it in E.164, e.g. +14155550123 or a WhatsApp "
                           "user ID exactly as received, e.g. US.13491208655302741918.")
            else:
                reason = _("'%(address)s' is not a phone number; write it in E.164, e.g. +14155550123.")
            outcomes.append((item, None, RecipientState.REJECTED, "invalid_number",
                             reason % {"address": item.tocontactid}))
        elif address in seen:
            outcomes.append((item, address, RecipientState.REJECTED, "duplicate",
                             _("%(address)s is already contacts[%(index)s] of this request; it is sent once.")
                             % {"address": address, "index": seen[address]}))
        elif not item.optin:
            seen[address] = item.index
            outcomes.append((item, address, RecipientState.SKIPPED, "optin_false",
                             _("optin is false: the customer has not agreed to be contacted.")))
        elif item.channelid != configuration.channel_type:
            seen[address] = item.index
            outcomes.append((item, address, RecipientState.SKIPPED, "channel_mismatch",
                             _("The customer's channel is %(channel)s; configuration '%(configuration)s' sends "
                               "%(configuration_channel)s.")
                             % {"channel": Channel(item.channelid).label, "configuration": configuration.name,
                                "configuration_channel": Channel(configuration.channel_type).label}))
        else:
            seen[address] = item.index
            outcomes.append((item, address, RecipientState.PENDING, "", ""))
    pending = any(state == RecipientState.PENDING for _, _, state, _, _ in outcomes)

    if enforce_limit:
        ratelimit.requests_admit()
    try:
        with transaction.atomic():
            now = timezone.now()
            # New contacts take the request's name and locale; existing ones keep theirs.
            by_address = contacts_for({a: ContactDetails(display_name=item.customer_name, locale=item.locale)
                                       for item, a, _, _, _ in outcomes if a}, update_names=False)
            request = OutboundRequest.objects.create(
                configuration=configuration, source=source, batch=batch, case=case, created_by=user,
                contact_count=len(parsed),
                state=RequestState.PENDING if pending else RequestState.DONE,
                enqueued_at=now if pending else None, finished_at=None if pending else now,
            )
            bulk_insert(OutboundRecipient, [
                OutboundRecipient(
                    request=request, index=item.index, to_address=item.tocontactid,
                    contact=by_address.get(address) if address else None, channel_id=item.channelid,
                    optin=item.optin, locale=item.locale, context_items=item.contextitems,
                    entity_relationship_name=item.entityrelationshipname, customer_name=item.customer_name,
                    case_name=item.case_name, case=cases.get(item.index, case), state=state, reason_code=code,
                    reason=reason[:500],
                )
                for item, address, state, code, reason in outcomes
            ])
            if pending:
                outbound_request_enqueue(request_id=request.pk)
            if not enforce_limit:
                # Counted once the request exists; a counter that cannot be reached must not undo it.
                transaction.on_commit(lambda: ratelimit.requests_admit(enforce=False), robust=True)
    except BaseException:
        if enforce_limit:
            ratelimit.requests_release()
        raise
    return request


def outbound_request_enqueue(*, request_id: int, countdown: float | None = None) -> None:
    """Send the request from a worker (queue "bulk") once the surrounding transaction commits. A broker that
    cannot be reached then is logged, not raised: the request is stored, and the sweep queues it again."""
    from outbound.tasks import outbound_request_send_task

    transaction.on_commit(
        lambda: outbound_request_send_task.apply_async(args=[request_id], queue="bulk", countdown=countdown),
        robust=True,
    )


def outbound_request_rerun(*, request: OutboundRequest) -> bool:
    """Send whatever of the request was not sent yet (nothing that was sent goes again). False: nothing to do."""
    if not selectors.request_has_work(request_id=request.pk):
        return False
    now = timezone.now()
    with transaction.atomic():
        # Now, not after the backoff: retries waiting for their time are due at once.
        messages_due_now(where=Q(outbound_recipient__request_id=request.pk))
        OutboundRequest.objects.filter(pk=request.pk).exclude(state=RequestState.SENDING).update(
            state=RequestState.PENDING, finished_at=None, next_run_at=None)
        OutboundRequest.objects.filter(pk=request.pk).update(enqueued_at=now)
        outbound_request_enqueue(request_id=request.pk)
    return True
