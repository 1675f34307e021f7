"""TeleSign SMS: ``POST /v1/messaging`` signed with TSA HMAC-SHA256, callbacks signed over the raw body."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from email.utils import formatdate
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from requests.models import RequestEncodingMixin

from channels_app.models import Channel, ValidationStatus

from .base import (
    INBOUND,
    STATUS,
    BaseProvider,
    CheckedNumber,
    CredentialField,
    ErrorCode,
    InboundMessage,
    OutgoingMessage,
    ProviderError,
    SendResult,
    StatusUpdate,
    ValidationResult,
    WebhookPayloadError,
    WebhookRequest,
    WebhookRoute,
    load_json_object,
    strict_base64,
)
from .http import error_from_response, json_or_empty, provider_request

MESSAGING_RESOURCE = "/v1/messaging"
#: A reference id that exists nowhere: signed look-ups of it test credentials without sending.
PROBE_REFERENCE_ID = "0" * 32

#: Delivery-report codes that mean the message is on its way (not final).
IN_PROGRESS_CODES = {290, 292, 295, 203, 250, 251, 599}
DELIVERED_CODES = {200, 201}

#: TeleSign's codes (API status codes and delivery-report codes) that mean more than "refused".
ERROR_CODES = {
    "10000": ErrorCode(retryable=True, meaning="System unavailable, please try again later."),
    "10019": ErrorCode(retryable=True, meaning="Rate limit exceeded."),
    "10020": ErrorCode(meaning="Transaction hard cap reached."),
    "210": ErrorCode(meaning="Temporary phone error."),
    "503": ErrorCode(meaning="Temporary carrier rejection."),
    "505": ErrorCode(meaning="Temporary gateway rejection."),
    "510": ErrorCode(opt_out=True, meaning="Blocked by the subscriber."),
}


def _check_api_key(value: str) -> str:
    strict_base64(value, _("API key"))
    return value


def _decode_key(api_key: str) -> bytes:
    # Lenient, as the official SDK decodes (its sample key even holds a '-').
    return base64.b64decode(api_key)


def encode_form(fields: list[tuple[str, str]] | dict[str, str]) -> str:
    """URL-encode a form body exactly as requests (and so the SDK) does."""
    return RequestEncodingMixin._encode_params(fields)


def sign_request(*, customer_id: str, api_key: str, method: str, resource: str, body: str,
                 date: str | None = None, nonce: str | None = None) -> dict[str, str]:
    """The TSA HMAC-SHA256 headers for one request, byte for byte as TeleSign's SDK builds them."""
    date = date or formatdate(usegmt=True)
    nonce = nonce or str(uuid.uuid4())
    content_type = "application/x-www-form-urlencoded" if method in ("POST", "PUT") else ""
    parts = [method, "\n", content_type, "\n", date, "\nx-ts-auth-method:HMAC-SHA256", "\nx-ts-nonce:", nonce]
    if content_type and body:
        parts += ["\n", body]
    parts += ["\n", resource]
    digest = hmac.new(_decode_key(api_key), "".join(parts).encode("utf-8"), hashlib.sha256).digest()
    return {
        "Authorization": f"TSA {customer_id}:{base64.b64encode(digest).decode()}",
        "Date": date,
        "Content-Type": content_type,
        "x-ts-auth-method": "HMAC-SHA256",
        "x-ts-nonce": nonce,
    }


def callback_signature(api_key: str, body: bytes) -> str:
    """base64(HMAC-SHA256(base64-decoded API key, raw body)): what TeleSign puts after ``TSA <customer_id>:``."""
    return base64.b64encode(hmac.new(_decode_key(api_key), body, hashlib.sha256).digest()).decode()


def _status_of(data: dict[str, Any]) -> tuple[Any, str]:
    status = data.get("status") if isinstance(data.get("status"), dict) else {}
    return status.get("code"), str(status.get("description") or "")


def _address(digits: str) -> str:
    digits = str(digits).strip().lstrip("+")
    return "+" + digits if len(digits) > 6 else digits


class TeleSignProvider(BaseProvider):
    name = "telesign"
    label = "TeleSign"
    description = _("TeleSign carries SMS.")
    channels = (Channel.SMS,)
    credential_fields = (
        CredentialField(name="customer_id", label=_("Customer ID"),
                        help_text=_("TeleSign Customer ID, from the TeleSign portal."),
                        env="TELESIGN_CUSTOMER_ID", secret=False),
        CredentialField(name="api_key", label=_("API key"),
                        help_text=_("TeleSign API key (base64), from the TeleSign portal."),
                        env="TELESIGN_API_KEY", check=_check_api_key),
    )
    number_types = (("geographic", _("Geographic")), ("short_code", _("Short code")), ("toll_free", _("Toll-free")))
    webhook_routes = (
        WebhookRoute(
            "callback", "", _("Callback URL (inbound messages and delivery reports)"),
            _("Give this URL to TeleSign as the account's callback URL (TeleSign portal, or ask TeleSign support). "
              "TeleSign POSTs both customers' inbound messages and delivery reports to it."),
        ),
    )
    error_codes = ERROR_CODES
    #: TeleSign's messaging API carries text only: an attachment would be dropped without a word.
    max_attachments = 0
    connect_help = (_("TeleSign accounts need the Customer ID and API key from the TeleSign portal. Once the "
                      "account is saved, give TeleSign its callback URL for inbound messages and delivery reports."))

    @classmethod
    def number_help(cls, channel: str) -> tuple[str, str]:
        return _("Digits only, country code first, e.g. 14252306549 (no +, spaces or symbols); "
                 "or a 5–6 digit short code."), "14252306549"

    @classmethod
    def check_long_number(cls, raw: str, number_type: str) -> CheckedNumber:
        from channels_app import numbers

        return numbers.digits_number(raw, number_type, provider_label=cls.label)

    def _key(self) -> str:
        return self.credential("api_key")

    @property
    def base_url(self) -> str:
        return settings.TELESIGN_API_URL

    def _signed(self, method: str, resource: str, body: str = "") -> dict[str, str]:
        return sign_request(customer_id=self.credential("customer_id"), api_key=self._key(),
                            method=method, resource=resource, body=body)

    def _require_credentials(self) -> None:
        if not (self.credential("customer_id") and self._key()):
            raise ProviderError("The account has no TeleSign Customer ID and API key.", retryable=False,
                                code="missing_credentials")
        try:
            _decode_key(self._key())
        except (binascii.Error, ValueError):
            raise ProviderError("The TeleSign API key is not valid base64.", retryable=False,
                                code="invalid_api_key") from None

    def send(self, message: OutgoingMessage) -> SendResult:
        self._require_credentials()
        fields = [
            ("phone_number", message.to.lstrip("+")),
            ("message", message.body),
            ("message_type", "ARN"),
            ("sender_id", message.from_.lstrip("+")),
        ]
        if message.external_id:
            fields.append(("external_id", message.external_id))
        if message.status_callback:
            fields.append(("callback_url", message.status_callback))
        body = encode_form(fields)
        response = provider_request(
            self.account, kind="send", method="POST", url=self.base_url + MESSAGING_RESOURCE, data=body,
            headers=self._signed("POST", MESSAGING_RESOURCE, body),
        )
        data = json_or_empty(response)
        code, description = _status_of(data)
        if response.status_code >= 400:
            raise error_from_response(response, code=code or response.status_code, message=description,
                                      table=ERROR_CODES)
        if not data.get("reference_id"):
            raise ProviderError("TeleSign answered without a reference_id.", retryable=True,
                                http_status=response.status_code)
        if code is not None and code not in IN_PROGRESS_CODES and code not in DELIVERED_CODES:
            meaning = self.error_meaning(code)
            raise ProviderError(description or f"TeleSign status {code}", retryable=bool(meaning and meaning.retryable),
                                code=code, http_status=response.status_code)
        return SendResult(provider_message_id=str(data["reference_id"]), status="sent", raw=data)

    def validate_credentials(self) -> ValidationResult:
        try:
            self._require_credentials()
        except ProviderError as exc:
            return ValidationResult(ValidationStatus.INVALID, exc.code, exc.message)
        resource = f"{MESSAGING_RESOURCE}/{PROBE_REFERENCE_ID}"
        try:
            response = provider_request(self.account, kind="validate", method="GET", url=self.base_url + resource,
                                        headers=self._signed("GET", resource))
        except ProviderError as exc:
            return ValidationResult(ValidationStatus.UNREACHABLE, "", exc.message)
        code, description = _status_of(json_or_empty(response))
        if response.status_code == 401:
            return ValidationResult(ValidationStatus.INVALID, str(code or 401),
                                    description or "TeleSign refused the credentials.")
        if response.status_code in (200, 400, 404):
            return ValidationResult(ValidationStatus.VALID, "", "TeleSign accepted the Customer ID and API key.")
        return ValidationResult(ValidationStatus.ERROR, str(code or response.status_code),
                                description or f"TeleSign answered HTTP {response.status_code}.")

    def signature_present(self, request: WebhookRequest) -> bool:
        return bool(request.headers.get("authorization") or request.headers.get("x-ts-authorization"))

    def verify_webhook(self, request: WebhookRequest) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        customer_id, sep, signature = credentials.partition(":")
        if scheme != "TSA" or not sep or not self._key():
            return False
        try:
            expected = callback_signature(self._key(), request.body)
        except (binascii.Error, ValueError):
            return False
        same_customer = hmac.compare_digest(customer_id.strip().lower().encode(),
                                            self.credential("customer_id").strip().lower().encode())
        same_signature = hmac.compare_digest(signature.strip().encode(), expected.encode())
        return same_customer and same_signature

    @staticmethod
    def payload(request: WebhookRequest) -> dict[str, Any]:
        return load_json_object(request.body)

    def event_kind(self, request: WebhookRequest) -> str:
        """``inbound`` for ``mo_sms``, ``status`` for ``sms`` delivery reports (both arrive on one URL)."""
        sub = self.payload(request).get("sub_resource")
        if sub == "mo_sms":
            return INBOUND
        if sub == "sms":
            return STATUS
        raise WebhookPayloadError(f"sub_resource must be 'mo_sms' or 'sms', got {sub!r}")

    def status_message_hint(self, request: WebhookRequest) -> str | None:
        """Our message id: the callback URL's ``message`` parameter, or the ``external_id`` we sent."""
        hint = super().status_message_hint(request)
        if hint:
            return hint
        try:
            external_id = self.payload(request).get("external_id")
        except WebhookPayloadError:
            return None
        return str(external_id) if external_id not in (None, "") else None

    def parse_inbound(self, request: WebhookRequest) -> InboundMessage:
        data = self.payload(request)
        reply = data.get("user_response")
        missing = [k for k in ("reference_id",) if not data.get(k)]
        if not isinstance(reply, dict):
            missing.append("user_response")
            reply = {}
        missing += [f"user_response.{k}" for k in ("phone_number", "sender_id") if not reply.get(k)]
        if "mo_message" not in reply and "user_response" not in missing:
            missing.append("user_response.mo_message")
        if missing:
            raise WebhookPayloadError("missing fields: " + ", ".join(missing))
        return InboundMessage(
            provider_message_id=str(data["reference_id"]),
            from_address=_address(reply["phone_number"]),
            to_address=_address(reply["sender_id"]),
            channel=Channel.SMS,
            body=str(reply.get("mo_message") or ""),
            raw=data,
        )

    def parse_status(self, request: WebhookRequest) -> StatusUpdate:
        data = self.payload(request)
        code, description = _status_of(data)
        if not data.get("reference_id") or code is None:
            raise WebhookPayloadError("missing fields: " + ", ".join(
                k for k, v in (("reference_id", data.get("reference_id")), ("status.code", code)) if not v
            ))
        try:
            code = int(code)
        except (TypeError, ValueError):
            raise WebhookPayloadError(f"status.code must be a number, got {code!r}") from None
        if code in DELIVERED_CODES:
            return StatusUpdate(str(data["reference_id"]), "delivered", raw=data)
        if code in IN_PROGRESS_CODES:
            return StatusUpdate(str(data["reference_id"]), "sent", raw=data)
        return StatusUpdate(str(data["reference_id"]), "failed", str(code), description, raw=data)
