"""The one interface every provider module implements, and the values that cross it.

A provider module declares everything about its provider that the rest of the hub needs:
the channels it carries, its credential fields (with their validation and help texts), its
number types and number rules, its webhook routes and what each receives, how a webhook's
signature is checked, how payloads are parsed, how its statuses and error codes map onto
ours, where its media lives and how it is fetched, and how to send and validate. Nothing
outside ``channels_app/providers/`` knows a provider by name.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from django.utils.translation import gettext_lazy as _

from config.inputs import JSON_MAX_DEPTH, json_depth_exceeds

if TYPE_CHECKING:
    from channels_app.models import MessagingAccount

#: What replaces a NUL character in text the hub stores (PostgreSQL text cannot hold NUL):
#: U+FFFD REPLACEMENT CHARACTER, so the customer's message is kept and the gap stays visible.
NUL_REPLACEMENT = "\ufffd"
#: The deepest JSON nesting a webhook may carry; deeper payloads are refused with a 400 (config/inputs.py).
MAX_JSON_DEPTH = JSON_MAX_DEPTH

INBOUND, STATUS = "inbound", "status"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def scrub_text(value: str) -> str:
    """``value`` with NUL characters replaced visibly (see NUL_REPLACEMENT)."""
    return value.replace("\x00", NUL_REPLACEMENT) if "\x00" in value else value


def media_type(content_type: str) -> str:
    """The media type of a Content-Type header, lower-cased, without parameters."""
    return content_type.split(";", 1)[0].strip().lower()


def load_json(body: bytes | str) -> Any:
    """Parse a webhook's JSON body; WebhookPayloadError saying what is wrong when it is not JSON."""
    if json_depth_exceeds(body):
        raise WebhookPayloadError(f"body nests JSON deeper than {MAX_JSON_DEPTH} levels")
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise WebhookPayloadError(f"body is not valid UTF-8: {exc}") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise WebhookPayloadError(f"body is not valid JSON: {exc}") from None


def load_json_object(body: bytes | str) -> dict[str, Any]:
    data = load_json(body)
    if not isinstance(data, dict):
        raise WebhookPayloadError("body must be a JSON object")
    return data


# --- credential checks --------------------------------------------------------------------------------------------

def printable_ascii(value: str, label: str) -> str:
    """``value`` when every character is printable ASCII (what HTTP headers and signatures carry), else ValueError."""
    for position, char in enumerate(value, start=1):
        if not (0x21 <= ord(char) <= 0x7E):
            shown = repr(char) if char.isprintable() and not char.isspace() else f"U+{ord(char):04X}"
            raise ValueError(
                _("%(field)s may hold printable ASCII characters only (letters, digits and punctuation, no spaces); "
                  "character %(position)s (%(shown)s) is not one. Copy the value again from the provider's console.")
                % {"field": label, "position": position, "shown": shown}
            )
    return value


def strict_base64(value: str, label: str) -> bytes:
    """The bytes of a strictly valid base64 value, else ValueError naming the field."""
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(_("%(field)s is not valid base64 (A–Z, a–z, 0–9, + and /, padded with =). "
                           "Copy it again from the provider's console.") % {"field": label}) from None
    if not decoded:
        raise ValueError(_("%(field)s is empty once decoded.") % {"field": label})
    return decoded


# --- values that cross the interface ------------------------------------------------------------------------------

class ProviderError(Exception):
    """A provider call that failed.

    ``retryable`` is true for timeouts, connection errors, 5xx and 429: the same request
    may succeed later. Otherwise the provider refused it (``code`` and ``message`` are the
    provider's own) and sending it again will not help; a code among the provider's
    ``opt_out_error_codes`` means the recipient opted out (or blocked the sender).
    """

    def __init__(self, message: str, *, retryable: bool, code: Any = "", http_status: int | None = None,
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
class ErrorCode:
    """One row of a provider's error table: what the code means for the hub."""

    retryable: bool = False
    opt_out: bool = False
    meaning: str = ""


@dataclass(frozen=True)
class OutgoingMessage:
    to: str  # the customer's address: E.164, or on WhatsApp a WhatsApp user ID (US.1349…) exactly as received
    from_: str  # our number as configured on the account
    channel: str
    body: str = ""
    media_urls: tuple[str, ...] = ()
    status_callback: str | None = None
    content_sid: str | None = None  # a WhatsApp template (Twilio Content SID)
    content_variables: dict[str, str] | None = None
    external_id: str | None = None  # our message id
    #: When the hub first tried this message: with ``external_id``, what makes a resend after an
    #: unknown outcome recognisable to providers that deduplicate repeated requests.
    first_sent_at: datetime | None = None


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
    """What the webhook view hands a provider: the public URL the provider called and the raw request."""

    method: str
    url: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, list[str]]  # decoded form parameters (form-encoded bodies), else empty

    @property
    def content_type(self) -> str:
        """The media type, lower-cased: providers may send ``Application/JSON``."""
        return media_type(self.headers.get("content-type", ""))

    def query(self, name: str) -> str | None:
        values = parse_qs(urlsplit(self.url).query).get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class InboundMedia:
    url: str
    content_type: str


@dataclass(frozen=True)
class InboundMessage:
    provider_message_id: str
    from_address: str  # the customer's address: E.164, or a WhatsApp user ID (BSUID) when the number is hidden
    to_address: str  # our number, as configured (E.164 or short code)
    channel: str
    body: str
    profile_name: str = ""
    media: tuple[InboundMedia, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)
    #: The customer's WhatsApp user ID sent beside a phone ``from_address``: the two are one person.
    user_id: str = ""
    #: What the quick-reply button the customer tapped carries (``body`` is the button's text).
    button_payload: str = ""
    #: The sender pool the message reached us through (a Twilio Messaging Service SID), when the provider says.
    service_id: str = ""

    def __post_init__(self) -> None:
        # A customer's NUL (sent as %00 or \u0000) must not make the message unstorable.
        object.__setattr__(self, "body", scrub_text(self.body))
        object.__setattr__(self, "profile_name", scrub_text(self.profile_name))
        object.__setattr__(self, "button_payload", scrub_text(self.button_payload))


@dataclass(frozen=True)
class StatusUpdate:
    provider_message_id: str
    status: str  # a message status: sent, delivered, read, undelivered, failed
    error_code: str = ""
    error_message: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "error_message", scrub_text(self.error_message))


class WebhookPayloadError(ValueError):
    """A verified webhook whose payload is malformed; the message says what is wrong."""


@dataclass(frozen=True)
class CredentialField:
    """One credential an account of the provider holds, encrypted and write-only.

    ``check`` (optional) gets the trimmed value once it is known to be printable ASCII and
    returns the value to store, or raises ValueError with a message saying what to fix.
    ``env`` is the environment variable ``create_messaging_account`` reads it from. ``secret`` False marks an
    identifier (a customer id, an account SID, an endpoint): still stored encrypted and never shown from the
    database, but the admin's form keeps what was typed when it is shown again after an error.
    """

    name: str
    label: str
    help_text: str
    env: str = ""
    check: Callable[[str], str] | None = None
    #: False for a setting an account may leave unset (a second signing key, a sender pool).
    required: bool = True
    secret: bool = True

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    def clean(self, value: str) -> str:
        value = printable_ascii(value.strip(), self.label)
        return self.check(value) if self.check else value


@dataclass(frozen=True)
class WebhookAnswer:
    """The HTTP answer to a provider's webhook."""

    status: int = 200
    body: bytes = b'{"status":"accepted"}'
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class WebhookRoute:
    """A URL the provider calls: ``/webhooks/<url_prefix>/<token>/<path>``.

    ``kind`` is ``inbound`` or ``status`` when the URL decides what arrives there; None when
    the payload does (one URL for both). ``answer`` is what a stored webhook is answered.
    """

    name: str  # the key in the account's callback URLs, e.g. "inbound"
    path: str  # after the token, e.g. "inbound/" (or "" for the token's own URL)
    label: str
    help: str  # where to paste it in the provider's console
    kind: str | None = None
    methods: tuple[str, ...] = ("POST",)
    answer: WebhookAnswer = WebhookAnswer()


@dataclass(frozen=True)
class IncomingEvent:
    """One event of a verified webhook, as it is stored: the kind, its de-duplication key and its own body."""

    kind: str
    key: str
    body: bytes
    content_type: str


@dataclass(frozen=True)
class WebhookIntake:
    """What a verified webhook holds: events to store, and (for handshakes) the answer to give instead."""

    events: list[IncomingEvent]
    answer: WebhookAnswer | None = None
    #: Events that could not be read, each "what is wrong"; the others are stored, the webhook answered 400.
    refused: list[str] = field(default_factory=list)
    #: A note for the channel log (e.g. a subscription handshake answered).
    note: str = ""


@dataclass(frozen=True)
class CheckedNumber:
    number: str  # as the provider wants it
    e164: str  # normalized address used to match inbound traffic
    number_type: str


@dataclass(frozen=True)
class RemoteNumber:
    """A number found on the provider's side (for importing numbers into an account)."""

    number: str
    number_type: str
    description: str = ""
    #: Whether the number can carry the account's channel (e.g. SMS enabled on it).
    usable: bool = True
    note: str = ""


class BaseProvider:
    """Subclasses declare their facts as class attributes and implement the operations."""

    #: The name in HUB_PROVIDERS and in stored rows (at most 16 characters).
    name: ClassVar[str]
    label: ClassVar[str]
    #: How the provider is offered in choices (its label unless set).
    choice_label: ClassVar[str] = ""
    #: One sentence for the provider field's help text.
    description: ClassVar[str] = ""
    channels: ClassVar[tuple[str, ...]] = ("sms",)
    credential_fields: ClassVar[tuple[CredentialField, ...]] = ()
    #: The SMS number types it offers: (value, label), the first is the default.
    number_types: ClassVar[tuple[tuple[str, str], ...]] = (("long_code", _("Long "
                                                                           "code")), ("short_code", _("Short "
                                                                                                           "code")),
                                                           ("toll_free", _("Toll-free")))
    short_code_types: ClassVar[tuple[str, ...]] = ("short_code",)
    #: The first segment of its webhook URLs; its name unless set.
    url_prefix: ClassVar[str] = ""
    webhook_routes: ClassVar[tuple[WebhookRoute, ...]] = ()
    #: How many attachments one outgoing message may carry through this provider (0: none; then its
    #: numbers take no attachment settings either).
    max_attachments: ClassVar[int] = 10
    #: The provider's error codes that the hub treats specially (codes as strings).
    error_codes: ClassVar[Mapping[str, ErrorCode]] = {}
    #: The codes that mean the recipient has opted out (a send refused with one of them, or a status
    #: callback carrying one, records the opt-out): those its error table marks ``opt_out``.
    opt_out_error_codes: ClassVar[frozenset[str]] = frozenset()
    #: The account form's introduction: how to connect an account of this provider (HTML-safe text).
    connect_help: ClassVar[str] = ""
    #: True for a stand-in that records sends instead of making them.
    sends_nothing: ClassVar[bool] = False
    #: Whether ``remote_numbers`` lists the numbers on the provider's side, and the button's label.
    lists_numbers: ClassVar[bool] = False
    list_numbers_label: ClassVar[str] = _("Import numbers from the provider")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "opt_out_error_codes" not in cls.__dict__:
            cls.opt_out_error_codes = frozenset(code for code, meaning in cls.error_codes.items() if meaning.opt_out)

    def __init__(self, account: MessagingAccount):
        self.account = account

    # --- credentials ---------------------------------------------------------------------------------------------

    def credential(self, name: str) -> str:
        return self.account.credential(name)

    @classmethod
    def normalize_credentials(cls, values: dict[str, str]) -> dict[str, str]:
        """Hook for alternative input forms (e.g. a connection string holding two fields)."""
        return values

    # --- numbers -------------------------------------------------------------------------------------------------

    @classmethod
    def number_type_label(cls, value: str) -> str:
        return dict(cls.number_types).get(value, value)

    @classmethod
    def number_help(cls, channel: str) -> tuple[str, str]:
        """(help text, example) for the numbers of an account on ``channel``."""
        from channels_app import numbers

        if channel == "whatsapp":
            return numbers.WHATSAPP_HELP, numbers.E164_EXAMPLE
        return (_("E.164 with the leading +, e.g. +14252306549; or a 5–6 digit short code."), numbers.E164_EXAMPLE)

    @classmethod
    def check_number(cls, *, channel: str, number: str, number_type: str = "") -> CheckedNumber:
        """Validate a number for an account on ``channel``; ServiceError naming the field."""
        from channels_app import numbers

        raw = numbers.required(number)
        if channel == "whatsapp":
            return numbers.whatsapp_number(raw)
        number_type = numbers.check_type(cls, number_type)
        if number_type in cls.short_code_types:
            return numbers.short_code(raw, number_type)
        return cls.check_long_number(raw, number_type)

    @classmethod
    def check_long_number(cls, raw: str, number_type: str) -> CheckedNumber:
        from channels_app import numbers

        return numbers.e164_number(raw, number_type, provider_label=cls.label)

    # --- webhooks ------------------------------------------------------------------------------------------------

    @classmethod
    def route(cls, name: str) -> WebhookRoute:
        for route in cls.webhook_routes:
            if route.name == name:
                return route
        raise LookupError(f"{cls.label} has no webhook route {name!r}")

    def signature_present(self, request: WebhookRequest) -> bool:
        """Whether the request carries the provider's signature at all (for the refusal's reason)."""
        raise NotImplementedError

    def verify_webhook(self, request: WebhookRequest) -> bool:
        raise NotImplementedError

    def event_kind(self, request: WebhookRequest) -> str:
        """``inbound`` or ``status`` for a route whose payload decides (``route.kind`` None)."""
        raise NotImplementedError

    def webhook_intake(self, request: WebhookRequest, route: WebhookRoute) -> WebhookIntake:
        """The events of a verified webhook. The default: one event, its kind from the route or the payload."""
        kind = route.kind or self.event_kind(request)
        if kind == INBOUND:
            key = self.parse_inbound(request).provider_message_id
        else:
            update = self.parse_status(request)
            key = f"{update.provider_message_id}:{update.status}:{update.error_code}"
        return WebhookIntake([IncomingEvent(kind, key, request.body, request.headers.get("content-type", ""))])

    def webhook_options(self, request: WebhookRequest, route: WebhookRoute) -> WebhookAnswer:
        """The answer to an OPTIONS request on a route that allows it (e.g. an abuse-protection handshake)."""
        return WebhookAnswer(status=405, body=b'{"error":"method_not_allowed"}')

    def status_message_hint(self, request: WebhookRequest) -> str | None:
        """Our own id of the message a status callback is about, when the callback carries it.

        The hub adds ``?message=<id>`` to the status URLs it sends with each message.
        """
        return request.query("message")

    def parse_inbound(self, request: WebhookRequest) -> InboundMessage:
        raise NotImplementedError

    def parse_status(self, request: WebhookRequest) -> StatusUpdate:
        raise NotImplementedError

    def service_belongs_to_account(self, service_id: str) -> bool:
        """Whether the sender pool ``service_id`` (e.g. a Twilio Messaging Service) is the account's own."""
        return False

    # --- errors --------------------------------------------------------------------------------------------------

    @classmethod
    def error_meaning(cls, code: Any) -> ErrorCode | None:
        return cls.error_codes.get(str(code)) if code not in (None, "") else None

    # --- media ---------------------------------------------------------------------------------------------------

    def media_hosts(self) -> list[str]:
        """Hosts (or ``.suffix`` domains) customers' media may be downloaded from; none by default."""
        return []

    def media_auth(self) -> tuple[str, str] | None:
        """HTTP Basic credentials for the media host, when it protects media."""
        return None

    def media_credential_origins(self) -> list[str]:
        """The exact origins (``https://host[:port]``, no subdomains) ``media_auth`` may be sent to; every
        other media host, and every redirect target on another origin, is fetched without credentials."""
        return []

    # --- operations ----------------------------------------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> SendResult:
        raise NotImplementedError

    def validate_credentials(self) -> ValidationResult:
        raise NotImplementedError

    def remote_numbers(self) -> list[RemoteNumber]:
        """The numbers on the provider's side (when ``lists_numbers``); ProviderError when it cannot say."""
        raise NotImplementedError


def form_params(body: bytes) -> dict[str, list[str]]:
    """Decode a form body as Django does (UTF-8, undecodable bytes replaced), keeping blank values."""
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)


def first_values(params: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    return {k: (v if len(v) > 1 else v[0]) for k, v in ((k, list(v)) for k, v in params.items()) if v}
