"""What a higher app decides about one of our numbers, asked through ``HUB_NUMBER_POLICY``.

channels_app does not know workstreams; it asks this seam whether customers and agents may
send attachments on a number. Without a configured policy, both may.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from channels_app.models import PhoneNumber


@dataclass(frozen=True)
class NumberPolicy:
    customers_may_send_attachments: bool = True
    agents_may_send_attachments: bool = True
    #: The higher app answers HELP itself (the account's help reply is then not sent).
    answers_help: bool = False


def number_policy(phone_number: PhoneNumber) -> NumberPolicy:
    """The higher app's answer, narrowed by what the number's provider carries: where messages carry no
    attachments, neither customers nor agents may send them, whatever is configured."""
    path = getattr(settings, "HUB_NUMBER_POLICY", "")
    policy = import_string(path)(phone_number) if path else NumberPolicy()
    from channels_app.providers import provider_class

    if phone_number.channel not in provider_class(phone_number.provider).attachment_channels:
        policy = replace(policy, customers_may_send_attachments=False, agents_may_send_attachments=False)
    return policy


def inbound_handlers() -> list:
    """The functions that take a stored inbound message upward (``HUB_INBOUND_HANDLERS``)."""
    return [import_string(path) for path in getattr(settings, "HUB_INBOUND_HANDLERS", [])]
