"""The one small interface every provider module implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from channels_app.models import MessagingAccount


class ProviderError(Exception):
    """A provider call that failed.

    ``retryable`` is true for timeouts, connection errors, 5xx and 429: the same request
    may succeed later. Otherwise the provider refused it (``code`` and ``message`` are the
    provider's own) and sending it again will not help.
    """

    def __init__(self, message: str, *, retryable: bool, code: str = "", http_status: int | None = None,
                 retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.code = str(code) if code not in (None, "") else ""
        self.http_status = http_status
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


@dataclass(frozen=True)
class OutgoingMessage:
    to: str  # the customer's E.164 address
    from_: str  # our number as the provider wants it (TeleSign digits, Twilio E.164)
    channel: str
    body: str = ""
    media_urls: tuple[str, ...] = ()
    status_callback: str | None = None
    content_sid: str | None = None  # a WhatsApp template (Twilio Content SID)
    content_variables: dict[str, str] | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: str  # our message status right after the provider accepted it
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ValidationResult:
    status: str  # a channels_app.models.ValidationStatus value
    code: str = ""
    message: str = ""

    @property
    def valid(self) -> bool:
        return self.status == "valid"


@dataclass(frozen=True)
class WebhookRequest:
    """What a webhook view hands a provider: the public URL the provider called and the raw request."""

    method: str
    url: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, list[str]]  # decoded form parameters (form-encoded bodies), else empty


@dataclass(frozen=True)
class InboundMedia:
    url: str
    content_type: str


@dataclass(frozen=True)
class InboundMessage:
    provider_message_id: str
    from_address: str  # E.164
    to_address: str  # our number, as configured (E.164 or short code)
    channel: str
    body: str
    profile_name: str = ""
    media: tuple[InboundMedia, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusUpdate:
    provider_message_id: str
    status: str  # a message status: sent, delivered, read, undelivered, failed
    error_code: str = ""
    error_message: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


class WebhookPayloadError(ValueError):
    """A verified webhook whose payload is malformed; the message says what is wrong."""


class BaseProvider:
    """Subclasses set ``name`` and implement the five operations."""

    name: ClassVar[str]
    #: The provider's error codes that mean the recipient has opted out (a send refused with one of
    #: them, or a status callback carrying one, records the opt-out).
    opt_out_error_codes: ClassVar[frozenset[str]] = frozenset()
    #: How many attachments one outgoing message may carry through this provider (0: none).
    max_attachments: ClassVar[int] = 10

    def __init__(self, account: MessagingAccount):
        self.account = account

    def send(self, message: OutgoingMessage) -> SendResult:
        raise NotImplementedError

    def validate_credentials(self) -> ValidationResult:
        raise NotImplementedError

    def verify_webhook(self, request: WebhookRequest) -> bool:
        raise NotImplementedError

    def parse_inbound(self, request: WebhookRequest) -> InboundMessage:
        raise NotImplementedError

    def parse_status(self, request: WebhookRequest) -> StatusUpdate:
        raise NotImplementedError
