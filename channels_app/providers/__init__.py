"""Provider adapters behind one interface, chosen by the account's ``provider`` through ``HUB_PROVIDERS``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.module_loading import import_string

from .base import (
    BaseProvider,
    InboundMedia,
    InboundMessage,
    OutgoingMessage,
    ProviderError,
    SendResult,
    StatusUpdate,
    ValidationResult,
    WebhookPayloadError,
    WebhookRequest,
)

if TYPE_CHECKING:
    from channels_app.models import MessagingAccount

__all__ = [
    "BaseProvider",
    "InboundMedia",
    "InboundMessage",
    "OutgoingMessage",
    "ProviderError",
    "SendResult",
    "StatusUpdate",
    "ValidationResult",
    "WebhookPayloadError",
    "WebhookRequest",
    "get_provider",
    "provider_class",
]

_classes: dict[str, type[BaseProvider]] = {}


def provider_class(name: str) -> type[BaseProvider]:
    if name not in _classes:
        try:
            path = settings.HUB_PROVIDERS[name]
        except KeyError:
            raise LookupError(f"No provider named {name!r} in HUB_PROVIDERS") from None
        _classes[name] = import_string(path)
    return _classes[name]


def get_provider(account: MessagingAccount) -> BaseProvider:
    return provider_class(account.provider)(account)
