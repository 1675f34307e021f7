"""Twilio SMS and WhatsApp: ``Messages.json`` with Basic auth; webhooks signed with X-Twilio-Signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from channels_app.models import Channel, ValidationStatus

from .base import (
    INBOUND,
    STATUS,
    BaseProvider,
    CredentialField,
    ErrorCode,
    InboundMedia,
    InboundMessage,
    OutgoingMessage,
    ProviderError,
    SendResult,
    StatusUpdate,
    ValidationResult,
    WebhookAnswer,
    WebhookPayloadError,
    WebhookRequest,
    WebhookRoute,
    first_values,
)
from .http import error_from_response, json_or_empty, provider_request

API_VERSION = "2010-04-01"

#: Twilio's message status → ours. Twilio sends no callback for its initial status.
STATUS_MAP = {
    "accepted": "sent",
    "scheduled": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "partially_delivered": "delivered",
    "read": "read",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}


#: Twilio error codes that mean more than "refused" (https://www.twilio.com/docs/api/errors). A retryable
#: code is sent again with backoff, like a 5xx, whether the API answers it or a status callback reports it.
ERROR_CODES = {
    "21610": ErrorCode(opt_out=True, meaning="The recipient replied STOP: Twilio blocks messages to them."),
    "20429": ErrorCode(retryable=True, meaning="Too many concurrent requests (HTTP 429)."),
    "429": ErrorCode(retryable=True, meaning="Too many requests (HTTP 429 without a Twilio code)."),
    "20500": ErrorCode(retryable=True, meaning="Twilio internal error."),
    "20503": ErrorCode(retryable=True, meaning="Twilio service unavailable."),
    "30001": ErrorCode(retryable=True, meaning="Queue overflow."),
    "63017": ErrorCode(retryable=True, meaning="Rate limit exceeded for the account."),
    "63018": ErrorCode(retryable=True, meaning="Rate limit exceeded for the channel (e.g. the WhatsApp sender's "
                                               "messaging limit)."),
}

#: What signs a webhook when the request names its signature settings
#: (``X-Twilio-Webhooks-Signature-Settings: key=<id>,algorithm=HMAC_SHA256``): the named key's secret.
SIGNATURE_SETTINGS_HEADER = "x-twilio-webhooks-signature-settings"
HASHES = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}
#: The signing key slots an account has: two, so a new key can be added before the old one is retired.
SIGNING_KEY_SLOTS = (("signing_key_sid", "signing_key_secret"), ("signing_key_sid_2", "signing_key_secret_2"))

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
WHATSAPP_PREFIX = "whatsapp:"

logger = logging.getLogger(__name__)


def _check_sid(value: str) -> str:
    if not SID.match(value):
        raise ValueError(_("Account SID is AC followed by 32 hexadecimal characters, e.g. "
                           "AC0123456789abcdef0123456789abcdef (Twilio Console, Account Info)."))
    return value


def _check_service_sid(value: str) -> str:
    if not SERVICE_SID.match(value):
        raise ValueError(_("A Messaging Service SID is MG followed by 32 hexadecimal characters, e.g. "
                           "MG0123456789abcdef0123456789abcdef (Twilio Console, Messaging, Services)."))
    return value


def compute_signature(secret: str, url: str, params: dict[str, list[str]], algorithm: str = "HMAC_SHA1") -> str:
    """X-Twilio-Signature: base64(HMAC(secret, url + sorted keys with their sorted values)), SHA-1 or SHA-256."""
    payload = url
    for key in sorted(params):
        for value in sorted(set(params[key])):
            payload += key + value
    digest = hmac.new(secret.encode("utf-8"), payload.encode("utf-8"), HASHES[algorithm]).digest()
    return base64.b64encode(digest).decode()


def signature_settings(header: str) -> tuple[str, str]:
    """(key id, algorithm) from ``X-Twilio-Webhooks-Signature-Settings`` (algorithm upper-cased; HMAC_SHA1 when
    the header names none)."""
    key, algorithm = "", "HMAC_SHA1"
    for part in header.split(","):
        name, _, value = part.partition("=")
        if name.strip() == "key":
            key = value.strip()
        elif name.strip() == "algorithm" and value.strip():
            algorithm = value.strip().upper()
    return key, algorithm


def url_variants(url: str) -> list[str]:
    """The URL with and without its port, as Twilio's own validator tries both.

    A URL without a port is also tried with the scheme's default port (443 / 80); a URL
    with a port is also tried without it.
    """
    parts = urlsplit(url)
    netloc_host = parts.netloc.rsplit("@", 1)[-1]
    userinfo = parts.netloc[: len(parts.netloc) - len(netloc_host)]
    if parts.port is not None:
        bare = netloc_host.rsplit(":", 1)[0]
        other = urlunsplit((parts.scheme, userinfo + bare, parts.path, parts.query, parts.fragment))
    else:
        port = 443 if parts.scheme == "https" else 80
        other = urlunsplit((parts.scheme, f"{userinfo}{netloc_host}:{port}", parts.path, parts.query, parts.fragment))
    return [url, other]


def _address(value: str) -> str:
    value = value.strip()
    return value[len(WHATSAPP_PREFIX):] if value.lower().startswith(WHATSAPP_PREFIX) else value


def whatsapp_user_id(value: str) -> str | None:
    """The WhatsApp user ID (BSUID) in ``whatsapp:US.1349…`` (or without the prefix), else None."""
    from channels_app.models import is_whatsapp_user_id

    bare = _address(value)
    return bare if is_whatsapp_user_id(bare) else None


class TwilioProvider(BaseProvider):
    name = "twilio"
    label = "Twilio"
    description = _("Twilio carries SMS and WhatsApp.")
    channels = (Channel.SMS, Channel.WHATSAPP)
    credential_fields = (
        CredentialField(name="account_sid", label=_("Account SID"),
                        help_text=_("Twilio Account SID (AC…), from the Twilio Console."),
                        env="TWILIO_ACCOUNT_SID", check=_check_sid, secret=False),
        CredentialField(name="auth_token", label=_("Auth token"),
                        help_text=_("Twilio Auth Token, from the Twilio Console."),
                        env="TWILIO_AUTH_TOKEN"),
        CredentialField(
            name="messaging_service_sid", label=_("Messaging Service SID"),
            help_text=_("Optional. A Twilio Messaging Service (MG…) the account sends through: every send then carries "
                        "it, and messages to any sender of the service reach this account. Use it when your US traffic "
                        "must go through a Messaging Service (A2P 10DLC campaigns, number pools, short codes). A "
                        "single number can name its own service instead: add the MG… SID as a number of type "
                        "'Messaging Service'."),
            env="TWILIO_MESSAGING_SERVICE_SID", check=_check_service_sid, required=False, secret=False),
        CredentialField(
            name="signing_key_sid", label=_("Webhook signing key ID"),
            help_text=_("Optional. The ID of a Twilio webhook signing key (SharedKey) that signs this account's "
                        "webhooks instead of the Auth Token (the request names it in "
                        "X-Twilio-Webhooks-Signature-Settings; HMAC-SHA1 or HMAC-SHA256). Webhooks without that header "
                        "are checked with the Auth Token."),
            env="TWILIO_SIGNING_KEY_SID", required=False, secret=False),
        CredentialField(name="signing_key_secret", label=_("Webhook signing key secret"),
                        help_text=_("Optional. The secret of that signing key, shown once when the key is created."),
                        env="TWILIO_SIGNING_KEY_SECRET", required=False),
        CredentialField(
            name="signing_key_sid_2", label=_("Second signing key ID"),
            help_text=_("Optional. To rotate keys without losing a webhook: add the new key here, switch the Webhook "
                        "Setting in Twilio to it, then replace the first key. Both keys are accepted meanwhile."),
            env="TWILIO_SIGNING_KEY_SID_2", required=False, secret=False),
        CredentialField(name="signing_key_secret_2", label=_("Second signing key secret"),
                        help_text=_("Optional. The second key's secret."),
                        env="TWILIO_SIGNING_KEY_SECRET_2", required=False),
    )
    number_types = (("long_code", _("Long code")), ("short_code", _("Short code")), ("toll_free", _("Toll-free")),
                    ("service", _("Messaging Service")))
    webhook_routes = (
        WebhookRoute(
            "inbound", "inbound/", _("Inbound URL"),
            _("In the Twilio Console, paste it into 'A message comes in' (HTTP POST) on the phone number, the "
              "WhatsApp sender, or the WhatsApp sandbox settings."),
            kind=INBOUND, answer=WebhookAnswer(body=EMPTY_TWIML, content_type="text/xml"),
        ),
        WebhookRoute(
            "status", "status/", _("Status callback URL"),
            _("The hub sends it with every message, so Twilio reports delivery and read receipts to it; you "
              "may also paste it into 'Status callback URL' on the WhatsApp sender or sandbox settings."),
            kind=STATUS, answer=WebhookAnswer(body=b"", content_type="text/html; charset=utf-8"),
        ),
    )
    error_codes = ERROR_CODES
    connect_help = (_("Twilio accounts need the Account SID and Auth Token from the Twilio Console. Once the "
                      "account is saved, paste its inbound URL into the number's (or WhatsApp sender's) messaging "
                      "settings. Optional: a Messaging Service SID when your traffic must go through a Messaging "
                      "Service (US A2P 10DLC, number pools, short codes), and the webhook signing keys when a Twilio "
                      "Webhook Setting signs with a SharedKey instead of the Auth Token."))

    @classmethod
    def check_long_number(cls, raw: str, number_type: str):
        from channels_app import numbers

        if number_type == "service":
            return cls.check_service(raw)
        return numbers.e164_number(raw, number_type, provider_label=cls.label)

    @classmethod
    def check_number(cls, *, channel: str, number: str, number_type: str = ""):
        from channels_app import numbers

        raw = numbers.required(number)
        if SERVICE_SID.match(raw):  # a Messaging Service stands for its senders, on SMS and WhatsApp alike
            return cls.check_service(raw)
        return super().check_number(channel=channel, number=raw, number_type=number_type)

    @classmethod
    def check_service(cls, raw: str):
        from channels_app import numbers
        from config.exceptions import ServiceError

        try:
            return numbers.CheckedNumber(_check_service_sid(raw), raw, "service")
        except ValueError as exc:
            raise ServiceError(str(exc), code="number_format", field="number") from None

    @classmethod
    def number_help(cls, channel: str) -> tuple[str, str]:
        text, example = super().number_help(channel)
        return (_("%(text)s Or a Messaging Service SID (MG…, type 'Messaging Service'): Twilio then chooses the "
                  "sender from the service's pool.") % {"text": text}, example)

    def service_belongs_to_account(self, service_id: str) -> bool:
        return bool(service_id) and service_id == self.credential("messaging_service_sid")

    @property
    def base_url(self) -> str:
        return settings.TWILIO_API_URL

    def _auth(self) -> tuple[str, str]:
        sid, token = self.credential("account_sid"), self.credential("auth_token")
        if not (sid and token):
            raise ProviderError("The account has no Twilio Account SID and Auth Token.", retryable=False,
                                code="missing_credentials")
        return sid, token

    def media_hosts(self) -> list[str]:
        api_host = urlsplit(settings.TWILIO_API_URL).hostname or ""
        return [api_host, *settings.TWILIO_MEDIA_HOSTS]

    def media_credential_origins(self) -> list[str]:
        # Media URLs name api.twilio.com, which redirects to pre-signed twiliocdn.com URLs (no credentials);
        # the configured API base URL (the emulator's in development) is the operator's own choice.
        api = urlsplit(settings.TWILIO_API_URL)
        return ["https://api.twilio.com", f"{api.scheme}://{api.netloc}"]

    def media_auth(self) -> tuple[str, str] | None:
        # New Twilio accounts protect media URLs with HTTP Basic auth (Account SID and Auth Token).
        sid, token = self.credential("account_sid"), self.credential("auth_token")
        return (sid, token) if sid and token else None

    @staticmethod
    def _error(data: dict[str, Any]) -> tuple[Any, str]:
        # Legacy body {"code","message"}; RFC 9457 bodies carry "code" and "detail".
        return data.get("code"), str(data.get("message") or data.get("detail") or data.get("title") or "")

    def send(self, message: OutgoingMessage) -> SendResult:
        auth = self._auth()
        prefix = WHATSAPP_PREFIX if message.channel == Channel.WHATSAPP else ""
        # A WhatsApp user ID is sent back exactly as received: whatsapp:US.1349… (no +).
        fields: list[tuple[str, str]] = [("To", prefix + message.to)]
        if SERVICE_SID.match(message.from_):
            fields.append(("MessagingServiceSid", message.from_))  # Twilio picks the sender from the pool
        else:
            fields.append(("From", prefix + message.from_))
            if self.credential("messaging_service_sid"):
                fields.append(("MessagingServiceSid", self.credential("messaging_service_sid")))
        if message.content_sid:
            fields.append(("ContentSid", message.content_sid))
            if message.content_variables:
                fields.append(("ContentVariables", json.dumps(message.content_variables, separators=(",", ":"))))
        else:
            if message.body:
                fields.append(("Body", message.body))
            fields += [("MediaUrl", url) for url in message.media_urls]
        if message.status_callback:
            fields.append(("StatusCallback", message.status_callback))
        url = f"{self.base_url}/{API_VERSION}/Accounts/{auth[0]}/Messages.json"
        response = provider_request(self.account, kind="send", method="POST", url=url, data=fields, auth=auth)
        data = json_or_empty(response)
        if response.status_code >= 400:
            code, text = self._error(data)
            raise error_from_response(response, code=code or response.status_code, message=text, table=ERROR_CODES)
        if not data.get("sid"):
            raise ProviderError("Twilio answered without a message sid.", retryable=True,
                                http_status=response.status_code)
        if data.get("status") in ("failed", "undelivered", "canceled"):
            meaning = self.error_meaning(data.get("error_code"))
            raise ProviderError(str(data.get("error_message") or f"Twilio status {data['status']}"),
                                retryable=bool(meaning and meaning.retryable), code=data.get("error_code") or "")
        return SendResult(provider_message_id=str(data["sid"]), status="sent", raw=data)

    def validate_credentials(self) -> ValidationResult:
        try:
            sid, token = self._auth()
        except ProviderError as exc:
            return ValidationResult(ValidationStatus.INVALID, exc.code, exc.message)
        url = f"{self.base_url}/{API_VERSION}/Accounts/{sid}.json"
        try:
            response = provider_request(self.account, kind="validate", method="GET", url=url, auth=(sid, token))
        except ProviderError as exc:
            return ValidationResult(ValidationStatus.UNREACHABLE, "", exc.message)
        data = json_or_empty(response)
        if response.status_code == 200:
            state = data.get("status")
            if state == "active":
                return ValidationResult(ValidationStatus.VALID, "",
                                        f"Twilio account {data.get('friendly_name') or sid} is active.")
            return ValidationResult(ValidationStatus.INVALID, f"account_{state}",
                                    f"The Twilio account is {state}; it cannot send messages.")
        code, text = self._error(data)
        if response.status_code in (401, 403, 404):
            return ValidationResult(ValidationStatus.INVALID, str(code or response.status_code),
                                    text or "Twilio refused the Account SID and Auth Token.")
        return ValidationResult(ValidationStatus.ERROR, str(code or response.status_code),
                                text or f"Twilio answered HTTP {response.status_code}.")

    def signature_present(self, request: WebhookRequest) -> bool:
        return bool(request.headers.get("x-twilio-signature"))

    def signing_secrets(self, key_id: str) -> list[str]:
        """The secrets of the account's signing keys with this id (both slots may hold it during a rotation)."""
        secrets = []
        for sid_field, secret_field in SIGNING_KEY_SLOTS:
            sid, secret = self.credential(sid_field), self.credential(secret_field)
            if key_id and sid and secret and hmac.compare_digest(sid.encode(), key_id.encode()):
                secrets.append(secret)
        return secrets

    def verify_webhook(self, request: WebhookRequest) -> bool:
        """X-Twilio-Signature made with the key and algorithm the signature settings header names (one of the
        account's two signing keys, HMAC-SHA1 or HMAC-SHA256), or without that header with the Auth Token
        and HMAC-SHA1."""
        signature = request.headers.get("x-twilio-signature", "")
        if not signature:
            return False
        header = request.headers.get(SIGNATURE_SETTINGS_HEADER, "").strip()
        if header:
            key_id, algorithm = signature_settings(header)
            if algorithm not in HASHES:
                return False
            secrets = self.signing_secrets(key_id)
        else:
            algorithm, secrets = "HMAC_SHA1", [self.credential("auth_token")] if self.credential("auth_token") else []
        params = request.params if request.method == "POST" else {}
        for secret in secrets:
            for candidate in url_variants(request.url):
                expected = compute_signature(secret, candidate, params, algorithm)
                if hmac.compare_digest(expected.encode(), signature.encode()):
                    return True
        return False

    @staticmethod
    def _one(params: dict[str, list[str]], key: str) -> str:
        values = params.get(key) or [""]
        return values[0]

    def _require(self, params: dict[str, list[str]], *keys: str) -> None:
        missing = [k for k in keys if not self._one(params, k)]
        if missing:
            raise WebhookPayloadError("missing fields: " + ", ".join(missing))

    def parse_inbound(self, request: WebhookRequest) -> InboundMessage:
        p = request.params
        self._require(p, "MessageSid", "From", "To")
        sender = self._one(p, "From")
        channel = Channel.WHATSAPP if sender.lower().startswith("whatsapp:") else Channel.SMS
        try:
            num_media = int(self._one(p, "NumMedia") or 0)
        except ValueError:
            raise WebhookPayloadError(f"NumMedia must be a number, got {self._one(p, 'NumMedia')!r}") from None
        media = []
        for i in range(min(num_media, 10)):
            url = self._one(p, f"MediaUrl{i}")
            if not url:
                raise WebhookPayloadError(f"NumMedia is {num_media} but MediaUrl{i} is missing")
            media.append(InboundMedia(url=url, content_type=self._one(p, f"MediaContentType{i}")))
        body, payload = self._one(p, "Body"), ""
        if channel == Channel.WHATSAPP and self._one(p, "ButtonText"):
            # A quick-reply tap: the text is what the button said, its payload is for bots and rules.
            body, payload = self._one(p, "ButtonText"), self._one(p, "ButtonPayload")
        user_id = ""
        external = self._one(p, "ExternalUserId").strip()
        if channel == Channel.WHATSAPP and external and not whatsapp_user_id(sender):
            user_id = whatsapp_user_id(external) or ""
            if not user_id:
                logger.warning("Twilio message %s: ExternalUserId %r is not a WhatsApp user ID; ignored",
                               self._one(p, "MessageSid"), external[:200])
        service = self._one(p, "MessagingServiceSid").strip()
        return InboundMessage(
            provider_message_id=self._one(p, "MessageSid"),
            from_address=_address(sender),
            to_address=_address(self._one(p, "To")),
            channel=channel,
            body=body,
            profile_name=self._one(p, "ProfileName"),
            media=tuple(media),
            raw=first_values(p),
            user_id=user_id,
            button_payload=payload,
            service_id=service if SERVICE_SID.match(service) else "",
        )

    def parse_status(self, request: WebhookRequest) -> StatusUpdate:
        p = request.params
        self._require(p, "MessageSid")
        twilio_status = self._one(p, "MessageStatus") or self._one(p, "SmsStatus")
        if not twilio_status:
            raise WebhookPayloadError("missing fields: MessageStatus")
        if twilio_status not in STATUS_MAP:
            raise WebhookPayloadError(f"unknown MessageStatus {twilio_status!r}")
        return StatusUpdate(
            provider_message_id=self._one(p, "MessageSid"),
            status=STATUS_MAP[twilio_status],
            error_code=self._one(p, "ErrorCode"),
            error_message=self._one(p, "ErrorMessage"),
            raw=first_values(p),
        )
