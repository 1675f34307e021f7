"""Automated sends: configurations attached to a system event fire when it happens."""

from __future__ import annotations

import logging

from config.exceptions import ServiceError
from outbound.models import OutboundRequest, OutboundTrigger, Source, TriggerEvent
from workstreams.models import Case

from .requests import outbound_request_create

logger = logging.getLogger(__name__)


def case_created_fire(*, case: Case) -> list[OutboundRequest]:
    """Send every active configuration attached to "a case was created" to the case's customer.

    Runs inside the transaction that creates the case, so the requests exist only if the case does;
    they are sent once it commits. CustomerName is the contact's name and CaseName the case's title;
    optin is true (a message about the customer's own case), and the customer's consent on the
    number (STOP) is still honoured. The requests count against the hourly limit but are never
    refused by it. A configuration that refuses (e.g. inactive) is logged and does not stop the case.
    """
    triggers = (OutboundTrigger.objects.filter(event=TriggerEvent.CASE_CREATED, is_active=True,
                                               configuration__is_active=True)
                .select_related("configuration__template", "configuration__phone_number__account"))
    contact = case.contact
    requests = []
    for trigger in triggers:
        configuration = trigger.configuration
        item = {
            "tocontactid": contact.address,
            "channelid": configuration.channel_type,
            "optin": True,
            "locale": contact.locale,
            "CustomerName": contact.display_name,
            "CaseName": case.title,
            "entityrelationshipname": f"case:{case.pk}",
            "msdyn_ocoutboundconfigurationid": str(configuration.configuration_id),
        }
        try:
            requests.append(outbound_request_create(configuration=configuration, contacts=[item],
                                                    source=Source.TRIGGER, case=case, enforce_limit=False))
        except ServiceError as exc:
            logger.warning("case %s: outbound configuration %s not sent: %s", case.pk, configuration.pk, exc.message)
    return requests


def case_created_receiver(sender, case: Case, **kwargs) -> None:
    """Receiver of ``workstreams.signals.case_created``."""
    case_created_fire(case=case)
