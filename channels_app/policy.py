"""The seams to the higher apps: what they decide about our numbers, and what they do with what we receive.

channels_app does not know workstreams. It asks ``HUB_NUMBER_POLICY`` whether customers and agents
may send attachments on a number (without a configured policy, both may), and hands every stored
inbound message to the ``HUB_INBOUND_HANDLERS`` as a ``Received`` value: one at a time through a
handler's ``one``, a batch through its ``many``.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Generic, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from channels_app.models import Message, PhoneNumber
    from channels_app.services.consent import Keyword


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

    if provider_class(phone_number.provider).max_attachments == 0:
        policy = replace(policy, customers_may_send_attachments=False, agents_may_send_attachments=False)
    return policy


@dataclass(frozen=True)
class Received:
    """An inbound message channels_app has stored, with what it learnt while storing it."""

    message: Message
    #: The customer's whole message was this keyword (STOP, START, HELP …).
    keyword: Keyword | None = None
    #: The keyword changed the consent in force (a second STOP changes nothing).
    consent_changed: bool = False
    #: Attachments the number does not accept from customers: recorded as refused, not stored.
    refused_attachments: int = 0


T = TypeVar("T")


class InboundHandler(ABC, Generic[T]):
    """What a higher app does with received messages. ``many`` is the entry point; ``one`` is ``many``
    with one item. Both return one result per message, in order."""

    def one(self, received: Received) -> T:
        return self.many([received])[0]

    @abstractmethod
    def many(self, received: Sequence[Received]) -> list[T]:
        """Handle the messages, in the order they arrived (one transaction: the caller's)."""


@functools.cache
def _handlers(paths: tuple[str, ...]) -> tuple[InboundHandler, ...]:
    handlers = []
    for path in paths:
        handler = import_string(path)
        if not isinstance(handler, InboundHandler):
            raise ImproperlyConfigured(f"HUB_INBOUND_HANDLERS: {path} is not an InboundHandler instance "
                                       f"(channels_app.policy.InboundHandler).")
        handlers.append(handler)
    return tuple(handlers)


def inbound_handlers() -> tuple[InboundHandler, ...]:
    """The handlers that take stored inbound messages upward (``HUB_INBOUND_HANDLERS``), in order."""
    return _handlers(tuple(getattr(settings, "HUB_INBOUND_HANDLERS", [])))
