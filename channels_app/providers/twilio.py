"""Twilio SMS and WhatsApp: ``Messages.json`` with Basic auth; webhooks signed with X-Twilio-Signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

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


#: Twilio error codes that mean more than "refused" (https://www.twilio.com/docs/api/errors).
ERROR_CODES = {
    "21610": ErrorCode(opt_out=True, meaning="The recipient replied STOP: Twilio blocks messages to them."),
    "20429": ErrorCode(retryable=True, meaning="Too many requests."),
    "30001": ErrorCode(retryable=True, meaning="Queue overflow."),
    "63018": ErrorCode(retryable=True, meaning="Rate limit exceeded for the channel."),
}

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
SID = re.compile(r"^AC[0-9a-fA-F]{32}$")


def _check_sid(value: str) -> str:
    if not SID.match(value):
        raise ValueError("Account SID is AC followed by 32 hexadecimal characters, e.g. "
                         "AC0123456789abcdef0123456789abcdef (Twilio Console, Account Info).")
    return value


def compute_signature(auth_token: str, url: str, params: dict[str, list[str]]) -> str:
    """X-Twilio-Signature: base64(HMAC-SHA1(token, url + sorted keys with their sorted values))."""
    payload = url
    for key in sorted(params):
        for value in sorted(set(params[key])):
            payload += key + value
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


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
    return value[len("whatsapp:"):] if value.lower().startswith("whatsapp:") else value


class TwilioProvider(BaseProvider):
    name = "twilio"
    label = "Twilio"
    description = "Twilio carries SMS and WhatsApp."
    channels = (Channel.SMS, Channel.WHATSAPP)
    credential_fields = (
        CredentialField("account_sid", "Account SID", "Twilio Account SID (AC…), from the Twilio Console.",
                        env="TWILIO_ACCOUNT_SID", check=_check_sid, secret=False),
        CredentialField("auth_token", "Auth token", "Twilio Auth Token, from the Twilio Console.",
                        env="TWILIO_AUTH_TOKEN"),
    )
    webhook_routes = (
        WebhookRoute(
            "inbound", "inbound/", "Inbound URL",
            "In the Twilio Console, paste it into 'A message comes in' (HTTP POST) on the phone number, the "
            "WhatsApp sender, or the WhatsApp sandbox settings.",
            kind=INBOUND, answer=WebhookAnswer(body=EMPTY_TWIML, content_type="text/xml"),
        ),
        WebhookRoute(
            "status", "status/", "Status callback URL",
            "The hub sends it with every message, so Twilio reports delivery and read receipts to it; you "
            "may also paste it into 'Status callback URL' on the WhatsApp sender or sandbox settings.",
            kind=STATUS, answer=WebhookAnswer(body=b"", content_type="text/html; charset=utf-8"),
        ),
    )
    error_codes = ERROR_CODES
    connect_help = ("Twilio accounts need the Account SID and Auth Token from the Twilio Console. Once the "
                    "account is saved, paste its inbound URL into the number's (or WhatsApp sender's) messaging "
                    "settings.")

    @classmethod
    def check_long_number(cls, raw: str, number_type: str):
        from channels_app import numbers

        return numbers.e164_number(raw, number_type, provider_label=cls.label)

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
        prefix = "whatsapp:" if message.channel == Channel.WHATSAPP else ""
        fields: list[tuple[str, str]] = [("To", prefix + message.to), ("From", prefix + message.from_)]
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

    def verify_webhook(self, request: WebhookRequest) -> bool:
        signature = request.headers.get("x-twilio-signature", "")
        token = self.credential("auth_token")
        if not signature or not token:
            return False
        params = request.params if request.method == "POST" else {}
        for candidate in url_variants(request.url):
            expected = compute_signature(token, candidate, params)
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
        return InboundMessage(
            provider_message_id=self._one(p, "MessageSid"),
            from_address=_address(sender),
            to_address=_address(self._one(p, "To")),
            channel=channel,
            body=self._one(p, "Body"),
            profile_name=self._one(p, "ProfileName"),
            media=tuple(media),
            raw=first_values(p),
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
