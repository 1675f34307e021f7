"""Provider modules behind one interface, registered by name in ``HUB_PROVIDERS``.

This registry is the only place the rest of the hub learns about providers: their classes,
the choices of provider and number type (callables, so a new provider needs no migration),
and every declared credential field. ``providers_reset()`` forgets what was loaded (tests
that change ``HUB_PROVIDERS`` call it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from config.logs import secrets_bind

from .base import (
    INBOUND,
    STATUS,
    BaseProvider,
    CheckedNumber,
    CredentialField,
    ErrorCode,
    InboundMedia,
    InboundMessage,
    IncomingEvent,
    OutgoingMessage,
    ProviderError,
    RemoteNumber,
    SendResult,
    StatusUpdate,
    ValidationResult,
    WebhookAnswer,
    WebhookIntake,
    WebhookPayloadError,
    WebhookRequest,
    WebhookRoute,
)

if TYPE_CHECKING:
    from channels_app.models import MessagingAccount

__all__ = [
    "INBOUND",
    "STATUS",
    "BaseProvider",
    "CheckedNumber",
    "CredentialField",
    "ErrorCode",
    "InboundMedia",
    "InboundMessage",
    "IncomingEvent",
    "OutgoingMessage",
    "ProviderError",
    "RemoteNumber",
    "SendResult",
    "StatusUpdate",
    "ValidationResult",
    "WebhookAnswer",
    "WebhookIntake",
    "WebhookPayloadError",
    "WebhookRequest",
    "WebhookRoute",
    "credential_fields",
    "get_provider",
    "number_type_choices",
    "provider_choices",
    "provider_class",
    "provider_classes",
    "provider_label",
    "providers_reset",
]

_classes: dict[str, type[BaseProvider]] = {}
_fields: dict[str, tuple[str, CredentialField]] | None = None


def provider_classes() -> dict[str, type[BaseProvider]]:
    """Every configured provider class, in HUB_PROVIDERS order."""
    return {name: provider_class(name) for name in settings.HUB_PROVIDERS}


def provider_class(name: str) -> type[BaseProvider]:
    cls = _classes.get(name)
    if cls is None:
        try:
            path = settings.HUB_PROVIDERS[name]
        except KeyError:
            raise LookupError(f"No provider named {name!r} in HUB_PROVIDERS") from None
        cls = import_string(path)
        if getattr(cls, "name", None) != name:
            raise ImproperlyConfigured(f"HUB_PROVIDERS[{name!r}] is {path}, whose name is {cls.name!r}")
        if len(name) > 16:
            raise ImproperlyConfigured(f"Provider name {name!r} is longer than 16 characters")
        _classes[name] = cls
    return cls


def get_provider(account: MessagingAccount) -> BaseProvider:
    secrets_bind(account.secret_values())  # never in a log line of this request or task
    return provider_class(account.provider)(account)


def provider_label(name: str) -> str:
    try:
        return provider_class(name).label
    except LookupError:
        return name


def provider_choices() -> list[tuple[str, str]]:
    """(name, label) of every configured provider: the choices of every ``provider`` column."""
    return [(name, cls.choice_label or cls.label) for name, cls in provider_classes().items()]


def number_type_choices() -> list[tuple[str, str]]:
    """Every number type any configured provider offers, in first-seen order."""
    seen: dict[str, str] = {}
    for cls in provider_classes().values():
        for value, label in cls.number_types:
            seen.setdefault(value, label)
    return list(seen.items())


def credential_fields() -> dict[str, tuple[str, CredentialField]]:
    """Every provider's credential fields by name: (provider name, field).

    Names are one namespace (the API, the admin and the command take them as they are), so
    two providers may not declare the same name.
    """
    global _fields
    if _fields is None:
        found: dict[str, tuple[str, CredentialField]] = {}
        for name, cls in provider_classes().items():
            for spec in cls.credential_fields:
                if spec.name in found:
                    raise ImproperlyConfigured(
                        f"Providers {found[spec.name][0]!r} and {name!r} both declare a credential named "
                        f"{spec.name!r}; give one of them a name of its own.")
                found[spec.name] = (name, spec)
        _fields = found
    return _fields


def providers_reset() -> None:
    """Forget loaded provider classes and fields (after HUB_PROVIDERS changed)."""
    global _fields
    _classes.clear()
    _fields = None
