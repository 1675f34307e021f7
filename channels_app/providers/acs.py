"""Azure Communication Services (ACS) SMS.

Sends ``POST {endpoint}/sms?api-version=2021-03-07`` signed with ACS's HMAC-SHA256 access-key
scheme, each recipient with a repeatability id derived from our message, so that a resend after
an unknown outcome is recognised by ACS and never delivered twice. Inbound messages and delivery
reports arrive through an Event Grid subscription to the account's webhook URL, in the Event Grid
schema or the CloudEvents 1.0 schema, several events per request when batching is on. Event Grid
signs nothing: the unguessable token in the URL is what authenticates it. ACS SMS carries no
attachments; ACS blocks sends to recipients who texted STOP and relays STOP/START to us.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime, formatdate
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from channels_app.models import Channel, ValidationStatus

from .base import (
    INBOUND,
    STATUS,
    BaseProvider,
    CheckedNumber,
    CredentialField,
    ErrorCode,
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
    load_json,
    strict_base64,
)
from .http import json_or_empty, provider_request, retry_after_seconds

SMS_API_VERSION = "2021-03-07"
NUMBERS_API_VERSION = "2022-12-01"
#: The namespace of repeatability ids: uuid5(namespace, "<account token>:<our message id>").
REPEATABILITY_NAMESPACE = uuid.UUID("6f1b3f2c-52d6-4c55-9a43-2a4f3f7a1c0e")
#: Pages of the numbers listing read at most (100 numbers each).
MAX_NUMBER_PAGES = 20

SMS_RECEIVED = "Microsoft.Communication.SMSReceived"
DELIVERY_REPORT = "Microsoft.Communication.SMSDeliveryReportReceived"
VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
CLOUDEVENTS_TYPES = ("application/cloudevents+json", "application/cloudevents-batch+json")
EVENT_CONTENT_TYPE = "application/json"

#: How ACS tells that the recipient opted out: the delivery report's (or send's) detail, e.g.
#: "Sender blocked for given recipient." once the recipient texted STOP.
BLOCKED = re.compile(r"\bblocked\b|opted[ -]?out", re.IGNORECASE)

#: ACS's number types (phoneNumberType of the Phone Numbers API) → ours.
NUMBER_TYPES = {"tollFree": "toll_free", "mobile": "mobile", "shortCode": "short_code"}

#: HTTP statuses of a send (whole request or one recipient) and what they mean.
ERROR_CODES = {
    "400": ErrorCode(meaning="ACS refused the message (bad request)."),
    "401": ErrorCode(meaning="ACS refused the access key."),
    "403": ErrorCode(meaning="ACS refused the request (forbidden)."),
    "404": ErrorCode(meaning="No such resource or sender number."),
    "408": ErrorCode(retryable=True, meaning="ACS timed out."),
    "429": ErrorCode(retryable=True, meaning="Too many requests."),
    "500": ErrorCode(retryable=True, meaning="ACS internal error."),
    "502": ErrorCode(retryable=True, meaning="Bad gateway."),
    "503": ErrorCode(retryable=True, meaning="ACS is unavailable."),
    "504": ErrorCode(retryable=True, meaning="Gateway timeout."),
    "blocked": ErrorCode(opt_out=True, meaning="ACS blocks messages to this recipient (they texted STOP)."),
}


# --- credentials ----------------------------------------------------------------------------------------------

def parse_connection_string(value: str) -> dict[str, str] | None:
    """``{"endpoint", "access_key"}`` from ``endpoint=https://…/;accesskey=…``, None for anything else."""
    parts = {}
    for element in value.strip().split(";"):
        key, sep, item = element.partition("=")
        if sep:
            parts[key.strip().lower()] = item.strip()
    if "endpoint" in parts and "accesskey" in parts:
        return {"endpoint": parts["endpoint"], "access_key": parts["accesskey"]}
    return None


def _endpoint_hosts() -> list[str]:
    return [h.lower() for h in getattr(settings, "ACS_ENDPOINT_HOSTS", [".communication.azure.com"])]


def check_endpoint(value: str) -> str:
    """The resource endpoint as ``https://<host>[:port]``; ValueError saying what is wrong."""
    if "\\" in value or "@" in value:
        raise ValueError(_("Endpoint must be a plain https URL, e.g. https://<resource>.communication.azure.com"))
    parts = urlsplit(value)
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ValueError(_("Endpoint must be the resource's https URL, e.g. https://<resource>.communication.azure.com "
                           "(Azure portal → the Communication Services resource → Keys)."))
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(_("Endpoint is the resource's base URL only, e.g. "
                           "https://<resource>.communication.azure.com/ (no path or query)."))
    try:
        port = parts.port
    except ValueError:
        raise ValueError(_("Endpoint has a port that is not a number.")) from None
    host = parts.hostname.lower()
    if not any(host.endswith(entry) if entry.startswith(".") else host == entry for entry in _endpoint_hosts()):
        raise ValueError(_("Endpoint host %(host)s is not an ACS resource host (%(hosts)s; ACS_ENDPOINT_HOSTS lists "
                           "the allowed ones).") % {"host": host, "hosts": ", ".join(_endpoint_hosts())})
    netloc = f"[{host}]" if ":" in host else host
    return f"https://{netloc}" + (f":{port}" if port and port != 443 else "")


def _check_access_key(value: str) -> str:
    strict_base64(value, _("Access key"))
    return value


# --- HMAC-SHA256 request signing ------------------------------------------------------------------------------

def content_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def string_to_sign(*, method: str, path_and_query: str, date: str, host: str, body_hash: str) -> str:
    return f"{method.upper()}\n{path_and_query}\n{date};{host};{body_hash}"


def sign_request(*, access_key: str, method: str, path_and_query: str, host: str, body: bytes = b"",
                 date: str | None = None) -> dict[str, str]:
    """The headers of an HMAC-SHA256 signed ACS request.

    ``Signature = base64(HMAC-SHA256(base64-decoded key, "VERB\\n<path?query>\\n<x-ms-date>;<host>;<body hash>"))``;
    ``host`` is the Host header as sent (with the port when it is not the default).
    """
    date = date or formatdate(usegmt=True)
    body_hash = content_hash(body)
    message = string_to_sign(method=method, path_and_query=path_and_query, date=date, host=host, body_hash=body_hash)
    digest = hmac.new(base64.b64decode(access_key), message.encode("utf-8"), hashlib.sha256).digest()
    signature = base64.b64encode(digest).decode()
    return {
        "x-ms-date": date,
        "x-ms-content-sha256": body_hash,
        "Authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}",
    }


def repeatability_id(account_token: str, message_id: str) -> str:
    """The same id for every send of one message, so ACS delivers a resent request once."""
    return str(uuid.uuid5(REPEATABILITY_NAMESPACE, f"{account_token}:{message_id}"))


def _digits_to_address(value: Any) -> str:
    """ACS writes numbers with or without the +: ``15555555555`` → ``+15555555555``; short codes stay digits.

    Spaces, dashes, dots and brackets around the digits are dropped.
    """
    text = str(value or "").strip()
    digits = re.sub(r"[\s().-]", "", text).lstrip("+")
    if not digits.isdigit():
        return text
    return "+" + digits if len(digits) > 6 else digits


# --- the provider -------------------------------------------------------------------------------------------

class AzureCommunicationServicesProvider(BaseProvider):
    name = "acs"
    label = "Azure Communication Services"
    description = _("Azure Communication Services carries SMS (no attachments).")
    channels = (Channel.SMS,)
    credential_fields = (
        CredentialField(
            name="endpoint", label=_("Endpoint"),
            help_text=_("The resource's endpoint, https://<resource>.communication.azure.com (Azure portal → the "
                        "Communication Services resource → Keys). A connection string endpoint=…;accesskey=… may be "
                        "pasted here instead."),
            env="ACS_ENDPOINT", check=check_endpoint),
        CredentialField(
            name="access_key", label=_("Access key"),
            help_text=_("The resource's primary (or secondary) access key, base64, from the same Keys page."),
            env="ACS_ACCESS_KEY", check=_check_access_key),
    )
    number_types = (("toll_free", _("Toll-free")), ("short_code", _("Short code")), ("mobile", _("Mobile")))
    webhook_routes = (
        WebhookRoute(
            "events", "events/", _("Event Grid endpoint (inbound messages and delivery reports)"),
            _("In the Azure portal, on the Communication Services resource: Events → + Event Subscription; event "
              "types 'SMS Received' and 'SMS Delivery Report Received'; endpoint type Web Hook with this URL. Either "
              "event schema works (Event Grid or CloudEvents 1.0); the subscription's validation is answered here. "
              "Keep the URL secret: it is what authenticates Event Grid."),
            methods=("POST", "OPTIONS"),
        ),
    )
    max_attachments = 0  # ACS SMS carries text only
    error_codes = ERROR_CODES
    connect_help = (_("Azure Communication Services accounts need the resource's endpoint and access key (or its "
                      "connection string) from the Azure portal. Once the account is saved, subscribe its Event Grid "
                      "endpoint to the resource's SMS events, and use “Sync numbers from Azure” to add the numbers "
                      "acquired with the Send SMS or Send and receive SMS feature."))
    lists_numbers = True
    list_numbers_label = _("Sync numbers from Azure")

    # --- credentials -------------------------------------------------------------------------------------------

    @classmethod
    def normalize_credentials(cls, values: dict[str, str]) -> dict[str, str]:
        """A connection string (``endpoint=…;accesskey=…``) in either field fills both."""
        for name in ("endpoint", "access_key"):
            parsed = parse_connection_string(values.get(name, ""))
            if parsed:
                return {**values, **parsed}
        return values

    def _endpoint(self) -> str:
        endpoint, key = self.credential("endpoint"), self.credential("access_key")
        if not (endpoint and key):
            raise ProviderError("The account has no ACS endpoint and access key.", retryable=False,
                                code="missing_credentials")
        try:
            return check_endpoint(endpoint)
        except ValueError as exc:
            raise ProviderError(str(exc), retryable=False, code="endpoint_invalid") from None

    def _request(self, *, kind: str, method: str, path_and_query: str, body: bytes = b""):
        endpoint = self._endpoint()
        host = urlsplit(endpoint).netloc
        headers = sign_request(access_key=self.credential("access_key"), method=method,
                               path_and_query=path_and_query, host=host, body=body)
        if body:
            headers["Content-Type"] = "application/json"
        return provider_request(self.account, kind=kind, method=method, url=endpoint + path_and_query,
                                data=body or None, headers=headers)

    # --- numbers -----------------------------------------------------------------------------------------------

    @classmethod
    def check_long_number(cls, raw: str, number_type: str) -> CheckedNumber:
        from channels_app import numbers

        return numbers.e164_number(raw, number_type, provider_label=cls.label)

    def remote_numbers(self) -> list[RemoteNumber]:
        """The resource's phone numbers (Phone Numbers API), with the SMS capability of each."""
        found: list[RemoteNumber] = []
        path = f"/phoneNumbers?api-version={NUMBERS_API_VERSION}"
        for _page in range(MAX_NUMBER_PAGES):
            response = self._request(kind="validate", method="GET", path_and_query=path)
            data = json_or_empty(response)
            if response.status_code != 200:
                raise self._error(response, data)
            for item in data.get("phoneNumbers") or []:
                if isinstance(item, dict) and item.get("phoneNumber"):
                    found.append(self._remote(item))
            next_link = data.get("nextLink")
            if not next_link:
                break
            target = urlsplit(urljoin(self._endpoint() + "/", str(next_link)))
            path = target.path + (f"?{target.query}" if target.query else "")
        return found

    @staticmethod
    def _remote(item: dict[str, Any]) -> RemoteNumber:
        number = str(item["phoneNumber"])
        kind = str(item.get("phoneNumberType") or "")
        sms = str((item.get("capabilities") or {}).get("sms") or "none")
        ours = NUMBER_TYPES.get(kind, "")
        description = " ".join(x for x in (str(item.get("countryCode") or ""), f"SMS {sms}") if x)
        if not ours:
            return RemoteNumber(number, "", description, usable=False,
                                note=_("%(kind)s numbers do not carry SMS here") % {"kind": kind} if kind
                                else _("its numbers do not carry SMS here"))
        if "outbound" not in sms:
            return RemoteNumber(number, ours, description, usable=False,
                                note=_("SMS sending is not enabled on it (Azure portal → Phone numbers → features)"))
        return RemoteNumber(number, ours, description,
                            note="" if "inbound" in sms else _("it does not receive SMS"))

    # --- send and validate -------------------------------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> SendResult:
        if message.media_urls:
            raise ProviderError("ACS SMS carries no attachments.", retryable=False, code="attachments_not_supported")
        first_sent = message.first_sent_at or datetime.now(UTC)
        recipient = {
            "to": message.to,
            "repeatabilityRequestId": repeatability_id(self.account.webhook_token, message.external_id)
            if message.external_id else str(uuid.uuid4()),
            "repeatabilityFirstSent": format_datetime(first_sent.astimezone(UTC), usegmt=True),
        }
        options: dict[str, Any] = {"enableDeliveryReport": True}
        if message.external_id:
            options["tag"] = message.external_id
        body = json.dumps({"from": message.from_, "smsRecipients": [recipient], "message": message.body,
                           "smsSendOptions": options}, ensure_ascii=False).encode("utf-8")
        response = self._request(kind="send", method="POST", path_and_query=f"/sms?api-version={SMS_API_VERSION}",
                                 body=body)
        data = json_or_empty(response)
        if response.status_code not in (200, 202):
            raise self._error(response, data)
        items = data.get("value") if isinstance(data.get("value"), list) else []
        item = items[0] if items and isinstance(items[0], dict) else {}
        if item.get("successful") and item.get("messageId"):
            return SendResult(provider_message_id=str(item["messageId"]), status="sent", raw=data)
        if item.get("successful") is None and not item:
            raise ProviderError("ACS answered without a result for the recipient.", retryable=True,
                                http_status=response.status_code)
        status = str(item.get("httpStatusCode") or "")
        text = str(item.get("errorMessage") or "")
        if str(item.get("repeatabilityResult") or "").lower() == "rejected" and not text:
            text = "ACS rejected the repeated request (its first attempt is too old to be repeated)."
        blocked = bool(BLOCKED.search(text))
        code = "blocked" if blocked else status
        meaning = self.error_meaning(code)
        raise ProviderError(text or (meaning.meaning if meaning else f"ACS refused the recipient (HTTP {status})"),
                            retryable=bool(meaning and meaning.retryable), code=code,
                            http_status=int(status) if status.isdigit() else response.status_code,
                            retry_after=retry_after_seconds(response) if meaning and meaning.retryable else None)

    def _error(self, response, data: dict[str, Any]) -> ProviderError:
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        status = response.status_code
        meaning = self.error_meaning(str(status))
        retryable = status >= 500 or status == 429 or bool(meaning and meaning.retryable)
        text = str(error.get("message") or (meaning.meaning if meaning else "") or f"HTTP {status}")
        return ProviderError(text, retryable=retryable, code=str(error.get("code") or status), http_status=status,
                             retry_after=retry_after_seconds(response) if retryable else None)

    def validate_credentials(self) -> ValidationResult:
        """Lists one of the resource's numbers: an authenticated call that sends nothing."""
        try:
            response = self._request(kind="validate", method="GET",
                                     path_and_query=f"/phoneNumbers?api-version={NUMBERS_API_VERSION}&top=1")
        except ProviderError as exc:
            if exc.code in ("missing_credentials", "endpoint_invalid"):
                return ValidationResult(ValidationStatus.INVALID, exc.code, exc.message)
            return ValidationResult(ValidationStatus.UNREACHABLE, "", exc.message)
        data = json_or_empty(response)
        if response.status_code == 200:
            return ValidationResult(ValidationStatus.VALID, "",
                                    "ACS accepted the endpoint and access key.")
        error = self._error(response, data)
        if response.status_code in (401, 403):
            return ValidationResult(ValidationStatus.INVALID, error.code, error.message)
        return ValidationResult(ValidationStatus.ERROR, error.code, error.message)

    # --- webhooks (Event Grid) ---------------------------------------------------------------------------------

    def signature_present(self, request: WebhookRequest) -> bool:
        return True  # Event Grid signs nothing: the URL's token authenticates it

    def verify_webhook(self, request: WebhookRequest) -> bool:
        return True

    def webhook_options(self, request: WebhookRequest, route: WebhookRoute) -> WebhookAnswer:
        """CloudEvents 1.0 abuse protection: permit the origin that asks (the URL's token is the access control)."""
        origin = request.headers.get("webhook-request-origin", "").strip()
        if not origin:
            return WebhookAnswer(status=400, body=json.dumps({
                "error": "invalid_handshake",
                "detail": "An OPTIONS request here is CloudEvents' abuse-protection handshake: it needs a "
                          "WebHook-Request-Origin header."}).encode())
        return WebhookAnswer(status=200, body=b"", content_type="text/plain",
                             headers=(("WebHook-Allowed-Origin", origin), ("WebHook-Allowed-Rate", "*"),
                                      ("Allow", "POST, OPTIONS")))

    @staticmethod
    def _events(request: WebhookRequest) -> tuple[list[Any], bool]:
        """The events of a request, and whether they use the CloudEvents schema."""
        data = load_json(request.body)
        events = data if isinstance(data, list) else [data]
        if not events:
            raise WebhookPayloadError("body holds no events")
        cloud = request.content_type in CLOUDEVENTS_TYPES or (isinstance(events[0], dict)
                                                              and "specversion" in events[0])
        return events, cloud

    def webhook_intake(self, request: WebhookRequest, route: WebhookRoute) -> WebhookIntake:
        events, cloud = self._events(request)
        first = events[0] if isinstance(events[0], dict) else {}
        if request.headers.get("aeg-event-type", "").lower() == "subscriptionvalidation" \
                or first.get("eventType") == VALIDATION_EVENT or first.get("type") == VALIDATION_EVENT:
            data = first.get("data") if isinstance(first.get("data"), dict) else {}
            code = data.get("validationCode")
            if not code or not isinstance(code, str):
                raise WebhookPayloadError("subscription validation event without data.validationCode")
            answer = WebhookAnswer(body=json.dumps({"validationResponse": code}).encode())
            return WebhookIntake([], answer=answer, note="Event Grid subscription validation answered")
        stored: list[IncomingEvent] = []
        refused: list[str] = []
        ignored: list[str] = []
        for index, event in enumerate(events, start=1):
            where = f"event {index}" if len(events) > 1 else "event"
            if not isinstance(event, dict):
                refused.append(f"{where} is not a JSON object")
                continue
            kind_of = event.get("type" if cloud else "eventType")
            body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            one = WebhookRequest(method="POST", url=request.url, headers={"content-type": EVENT_CONTENT_TYPE},
                                 body=body, params={})
            try:
                if kind_of == SMS_RECEIVED:
                    stored.append(IncomingEvent(INBOUND, self.parse_inbound(one).provider_message_id, body,
                                                EVENT_CONTENT_TYPE))
                elif kind_of == DELIVERY_REPORT:
                    update = self.parse_status(one)
                    stored.append(IncomingEvent(STATUS, f"{update.provider_message_id}:{update.status}:"
                                                        f"{update.error_code}", body, EVENT_CONTENT_TYPE))
                elif not kind_of:
                    refused.append(f"{where} has no {'type' if cloud else 'eventType'}")
                else:
                    ignored.append(str(kind_of))
            except WebhookPayloadError as exc:
                refused.append(f"{where}: {exc}")
        note = f"ignored events of types the hub does not handle: {', '.join(sorted(set(ignored)))}" if ignored \
            else ""
        return WebhookIntake(stored, refused=refused, note=note)

    @staticmethod
    def _event_data(request: WebhookRequest) -> dict[str, Any]:
        data = load_json(request.body)
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if not isinstance(data, dict):
            raise WebhookPayloadError("an event must be a JSON object")
        payload = data.get("data")
        if not isinstance(payload, dict):
            raise WebhookPayloadError("missing fields: data")
        return payload

    def parse_inbound(self, request: WebhookRequest) -> InboundMessage:
        data = self._event_data(request)
        missing = [f"data.{k}" for k in ("messageId", "from", "to") if not data.get(k)]
        if "message" not in data:
            missing.append("data.message")
        if missing:
            raise WebhookPayloadError("missing fields: " + ", ".join(missing))
        if not isinstance(data["message"], str):
            raise WebhookPayloadError("data.message must be text")
        return InboundMessage(
            provider_message_id=str(data["messageId"]),
            from_address=_digits_to_address(data["from"]),
            to_address=_digits_to_address(data["to"]),
            channel=Channel.SMS,
            body=data["message"],
            raw=data,
        )

    def parse_status(self, request: WebhookRequest) -> StatusUpdate:
        data = self._event_data(request)
        missing = [f"data.{k}" for k in ("messageId", "deliveryStatus") if not data.get(k)]
        if missing:
            raise WebhookPayloadError("missing fields: " + ", ".join(missing))
        status = str(data["deliveryStatus"])
        detail = str(data.get("deliveryStatusDetails") or "")
        if status.lower() == "delivered":
            return StatusUpdate(str(data["messageId"]), "delivered", raw=data)
        # Every other report is final and unsuccessful ("Failed" today).
        blocked = bool(BLOCKED.search(detail))
        return StatusUpdate(str(data["messageId"]), "failed", "blocked" if blocked else status[:32],
                            detail or f"ACS reported {status}", raw=data)

    def status_message_hint(self, request: WebhookRequest) -> str | None:
        """Our message id, which rides in the send's tag (``smsSendOptions.tag``, echoed as ``Tag``)."""
        try:
            data = self._event_data(request)
        except WebhookPayloadError:
            return None
        tag = data.get("Tag", data.get("tag"))
        return str(tag) if tag not in (None, "") else None


__all__ = ["AzureCommunicationServicesProvider", "check_endpoint", "parse_connection_string", "repeatability_id",
           "sign_request"]
