"""TeleSign's SMS API as the emulator serves it.

``POST /v1/messaging`` and ``GET /v1/messaging/{reference_id}``, authenticated with Basic auth or
TSA HMAC-SHA256 (Date or x-ts-date, nonce reuse and the ±15 minute window checked). Delivery
reports and inbound SMS are JSON, signed ``TSA <customer_id>:<base64 HMAC-SHA256 of the body>`` in
both ``Authorization`` and ``X-TS-Authorization``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import re
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .callbacks import CallbackJob
from .common import InjectError, first, json_response, parse_form, sms_segments
from .signing import telesign_callback_headers, telesign_request_signature, telesign_string_to_sign
from .state import TELESIGN_KEYWORDS, Message, TeleSignAccount, hex_id, iso, strip_whatsapp

if TYPE_CHECKING:
    from .server import ProviderEmulator

RESOURCE = "/v1/messaging"
PHONE = re.compile(r"^\d{7,15}$")
REFERENCE_ID = re.compile(r"^[0-9A-Fa-f]{32}$")
HTTP_URL = re.compile(r"^https?://[^/\s?#]+[^\s]*$")
MESSAGE_TYPES = ("OTP", "ARN", "MKT")
LIFECYCLE_EVENTS = ("create", "sign-in", "transact", "update", "delete")
MAX_MESSAGE = 1600
MAX_NONCE = 128
#: What the callback log calls an inbound delivery (TeleSign's event name, like the delivery reports' codes).
INBOUND_LABEL = "mo_sms"

IN_PROGRESS = (290, "Message in progress")
DELIVERED = (200, "Delivered to handset")
UNDELIVERED = (207, "Error delivering SMS to handset (reason unknown)")

AUTH_ERRORS = {
    10002: "'x-ts-nonce' header value has been used recently",
    10003: "'x-ts-nonce' header value is either too long or too short",
    10004: "'Date' or 'x-ts-date' header is not within tolerable range",
    10005: "'Date' or 'x-ts-date' header is not RFC822 compliant",
    10006: "Invalid 'x-ts-auth-method' header.",
    10007: "Missing required 'Date' or 'x-ts-date' header",
    10008: "Invalid Signature.",
    10009: "Missing required 'Authorization' header",
    10010: "CustomerID Account Suspended",
    10015: "Invalid Customer ID.",
    10022: "Invalid API Key.",
    10028: "Required 'Authorization' header is not in the correct format",
}
FIELD_ERRORS = {
    11000: "Invalid value for parameter phone_number.",
    11003: "Invalid value for parameter account_lifecycle_event",
    11004: "Invalid value for parameter callback_url",
    11009: "Invalid value for parameter message.",
    11010: "Invalid value for parameter originating_ip.",
    11011: "Invalid value for parameter reference_id",
    11013: "Invalid value for parameter sender_id.",
    11016: "Invalid value for parameter external_id",
    11017: "Invalid value for parameter message_type.",
    11034: "Invalid value for parameter dlt_template_id",
    11035: "Invalid value for parameter dlt_entity_id",
    12000: "Missing Required Parameter phone_number",
    12009: "Missing Required Parameter message",
    12017: "Missing Required Parameter message_type",
}


class AuthFailure(Exception):
    def __init__(self, code: int, customer_id: str | None = None, signature_string: str | None = None):
        super().__init__(code)
        self.code = code
        self.customer_id = customer_id
        self.signature_string = signature_string


def status_body(code: int, description: str, updated: float, *, reference_id: str | None = None,
                **extra: Any) -> dict[str, Any]:
    return {"reference_id": reference_id,
            "status": {"code": code, "description": description, "updated_on": iso(updated)}, **extra}


def _digits(value: str) -> str:
    return strip_whatsapp(value).strip().lstrip("+")


class TeleSignAPI:
    def __init__(self, emulator: ProviderEmulator) -> None:
        self.emu = emulator
        self.state = emulator.state
        #: Basic Authorization header → (account, the key it was checked against).
        self._checked: dict[str, tuple[TeleSignAccount, str]] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(RESOURCE, self.send),
            web.get(RESOURCE + "/{reference_id}", self.status),
            web.route("*", "/v1/{tail:.*}", self.unknown),
        ]

    # --- authentication ------------------------------------------------------------------------------------------

    def authenticate(self, request: web.Request, body: str) -> TeleSignAccount:
        headers = request.headers
        authorization = headers.get("Authorization")
        if not authorization:
            raise AuthFailure(10009)
        checked = self._checked.get(authorization)
        if checked is not None:
            account, api_key = checked
            if self.state.telesign_accounts.get(account.customer_id) is account and account.api_key == api_key \
                    and account.status == "active":
                return account
            del self._checked[authorization]
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise AuthFailure(10028) from None
            customer_id, sep, api_key = decoded.partition(":")
            if not sep or not customer_id:
                raise AuthFailure(10028)
            account = self.state.telesign_accounts.get(customer_id)
            if account is None:
                raise AuthFailure(10015, customer_id)
            if not hmac.compare_digest(api_key.encode(), account.api_key.encode()):
                raise AuthFailure(10022, customer_id)
            if account.status != "active":
                raise AuthFailure(10010, customer_id)
            if len(self._checked) >= 1024:
                self._checked.clear()
            self._checked[authorization] = (account, account.api_key)
            return account
        if scheme != "TSA":
            raise AuthFailure(10028)
        customer_id, sep, signature = credentials.partition(":")
        if not sep or not customer_id or not signature:
            raise AuthFailure(10028)
        account = self.state.telesign_accounts.get(customer_id)
        if account is None:
            raise AuthFailure(10015, customer_id)
        if account.status != "active":
            raise AuthFailure(10010, customer_id)
        xts = {name.lower(): value for name, value in headers.items()
               if name.lower().startswith("x-ts-") and name.lower() != "x-ts-authorization"}
        if xts.get("x-ts-auth-method", "").upper() != "HMAC-SHA256":
            raise AuthFailure(10006, customer_id)
        date = xts.get("x-ts-date") or headers.get("Date")
        if not date:
            raise AuthFailure(10007, customer_id)
        try:
            sent_at = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError):
            raise AuthFailure(10005, customer_id) from None
        if abs(self.state.now() - sent_at) > self.emu.config.telesign_date_window_s:
            raise AuthFailure(10004, customer_id)
        nonce = xts.get("x-ts-nonce", "")
        if not 1 <= len(nonce) <= MAX_NONCE:
            raise AuthFailure(10003, customer_id)
        string_to_sign = telesign_string_to_sign(
            method=request.method, content_type=headers.get("Content-Type", ""), date=headers.get("Date", ""),
            xts_headers=xts, body=body, resource=request.rel_url.raw_path)
        expected = telesign_request_signature(account.key, string_to_sign)
        if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
            raise AuthFailure(10008, customer_id, string_to_sign)
        if not self.state.use_nonce(customer_id, nonce):
            raise AuthFailure(10002, customer_id)
        return account

    def _auth_error(self, failure: AuthFailure, *, external_id: str | None = None) -> web.Response:
        body = status_body(failure.code, AUTH_ERRORS[failure.code], self.state.now())
        if external_id is not None:
            body["external_id"] = external_id
        if failure.signature_string is not None:
            body["signature_string"] = failure.signature_string
        return json_response(body, 401)

    # --- faults ----------------------------------------------------------------------------------------------------

    async def _guard(self, request: web.Request, kind: str) -> web.StreamResponse | str | None:
        fault = await self.emu.fault()
        if fault is None:
            return None
        if fault == "timeout":
            if self.emu.config.timeout_mode == "accept_then_hold":
                return "accept"
            self.state.record_request("telesign", kind, request.method, request.path, 0, fault="timeout")
            return await self.emu.drop(request)
        now = self.state.now()
        if fault == "429":
            response = json_response(status_body(10019, "Rate Limit Exceeded", now), 429,
                                     {"Retry-After": str(self.emu.config.retry_after_s)})
            code = 10019
        else:
            response = json_response(status_body(10000, "System Unavailable, Please try again later.", now),
                                     500 if request.method == "POST" else 503)
            code = 10000
        self.state.record_request("telesign", kind, request.method, request.path, response.status, fault=fault,
                                  code=code)
        return response

    # --- send ----------------------------------------------------------------------------------------------------

    async def send(self, request: web.Request) -> web.StreamResponse:
        guard = None if self.emu.quiet() else await self._guard(request, "send")
        if isinstance(guard, web.StreamResponse):
            return guard
        response = await self._send(request)
        if guard == "accept":
            return await self.emu.drop(request, accepted=True)
        return response

    async def _send(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = raw.decode("utf-8", errors="replace")
        params = parse_form(raw)
        external_id = first(params, "external_id")
        try:
            account = self.authenticate(request, body)
        except AuthFailure as failure:
            self.state.record_request("telesign", "send", "POST", request.path, 401, account=failure.customer_id,
                                      code=failure.code, params=params)
            return self._auth_error(failure, external_id=external_id)

        code = self._field_error(params)
        if code:
            self.state.record_request("telesign", "send", "POST", request.path, 400,
                                      account=account.customer_id, code=code, params=params)
            extra = {"external_id": external_id} if external_id is not None else {}
            return json_response(status_body(code, FIELD_ERRORS[code], self.state.now(), **extra), 400)

        now = self.state.now()
        message = first(params, "message") or ""
        callback_url = first(params, "callback_url")
        msg = Message(provider="telesign", id=hex_id().upper(), account=account.customer_id,
                      to=first(params, "phone_number") or "", from_=first(params, "sender_id"), body=message,
                      channel="sms", created=now, status="in_progress", callback_url=callback_url, params=params)
        msg.status_code, msg.status_description = IN_PROGRESS
        msg.client = request.remote
        msg.external_id = external_id
        msg.num_segments = sms_segments(message)
        self.state.store_message(msg)
        self.state.record_request("telesign", "send", "POST", request.path, 200, account=account.customer_id,
                                  message_id=msg.id, params=params)
        final = UNDELIVERED if self.emu.undeliverable(msg.to) else DELIVERED
        self.emu.start_progress(msg, [("delivered" if final == DELIVERED else "failed", final)])
        return json_response(status_body(*IN_PROGRESS, now, reference_id=msg.id, external_id=external_id))

    @staticmethod
    def _field_error(params: dict[str, list[str]]) -> int | None:
        phone = first(params, "phone_number")
        if not phone:
            return 12000
        if not PHONE.match(phone):
            return 11000
        message = first(params, "message")
        if not message:
            return 12009
        if len(message) > MAX_MESSAGE:
            return 11009
        message_type = first(params, "message_type")
        if not message_type:
            return 12017
        if message_type not in MESSAGE_TYPES:
            return 11017
        event = first(params, "account_lifecycle_event")
        if event is not None and event not in LIFECYCLE_EVENTS:
            return 11003
        sender = first(params, "sender_id")
        if sender is not None and len(sender) > 20:
            return 11013
        external_id = first(params, "external_id")
        if external_id is not None and (len(external_id) > 100 or not external_id.isascii()):
            return 11016
        ip = first(params, "originating_ip")
        if ip is not None:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                return 11010
        callback = first(params, "callback_url")
        if callback is not None and not HTTP_URL.match(callback):
            return 11004
        for name, code in (("dlt_template_id", 11034), ("dlt_entity_id", 11035)):
            value = first(params, name)
            if value is not None and len(value) > 40:
                return code
        return None

    # --- status --------------------------------------------------------------------------------------------------

    async def status(self, request: web.Request) -> web.StreamResponse:
        guard = None if self.emu.quiet() else await self._guard(request, "status_fetch")
        if isinstance(guard, web.StreamResponse):
            return guard
        response = self._status(request, (await request.read()).decode("utf-8", errors="replace"))
        return await self.emu.drop(request, accepted=True) if guard == "accept" else response

    def _status(self, request: web.Request, body: str) -> web.Response:
        try:
            account = self.authenticate(request, body)
        except AuthFailure as failure:
            self.state.record_request("telesign", "status_fetch", "GET", request.path, 401,
                                      account=failure.customer_id, code=failure.code)
            return self._auth_error(failure)
        reference_id = request.match_info["reference_id"]
        now = self.state.now()
        if not REFERENCE_ID.match(reference_id):
            self.state.record_request("telesign", "status_fetch", "GET", request.path, 400,
                                      account=account.customer_id, code=11011)
            return json_response(status_body(11011, FIELD_ERRORS[11011], now, reference_id=reference_id), 400)
        msg = self.state.messages.get(reference_id.upper())
        if msg is None or msg.provider != "telesign" or msg.account != account.customer_id \
                or msg.direction != "outbound-api":
            self.state.record_request("telesign", "status_fetch", "GET", request.path, 404,
                                      account=account.customer_id, code=10017)
            return json_response(status_body(10017, "Customer ID / Reference ID not found", now,
                                             reference_id=reference_id), 404)
        self.state.record_request("telesign", "status_fetch", "GET", request.path, 200,
                                  account=account.customer_id, message_id=msg.id)
        return json_response(status_body(msg.status_code or 290, msg.status_description, msg.updated,
                                         reference_id=msg.id, external_id=msg.external_id,
                                         submit_timestamp=iso(msg.created)))

    async def unknown(self, request: web.Request) -> web.Response:
        self.state.record_request("telesign", "unknown", request.method, request.path, 404)
        return json_response(status_body(10017, "Customer ID / Reference ID not found", self.state.now()), 404)

    # --- callbacks -----------------------------------------------------------------------------------------------

    def delivery_report(self, msg: Message) -> CallbackJob | None:
        account = self.state.telesign_accounts.get(msg.account)
        url = msg.callback_url or (account.callback_url if account else None)
        if account is None or not url:
            return None
        payload = {
            "reference_id": msg.id,
            "status": {"code": msg.status_code, "description": msg.status_description, "updated_on": iso(msg.updated)},
            "submit_timestamp": iso(msg.created),
            "errors": [],
            "sub_resource": "sms",
            "external_id": msg.external_id,
        }
        return self._signed_job(account, url, payload, kind="delivery_report", label=str(msg.status_code),
                                message_id=msg.id)

    def _signed_job(self, account: TeleSignAccount, url: str, payload: dict[str, Any], *, kind: str, label: str,
                    message_id: str) -> CallbackJob:
        body = json.dumps(payload).encode("utf-8")
        return CallbackJob(provider="telesign", kind=kind, url=url, body=body,
                           headers=telesign_callback_headers(account.customer_id, account.key, body), label=label,
                           message_id=message_id, account=account.customer_id,
                           retry_delays_ms=list(self.emu.config.telesign_callback_retry_ms))

    def inbound(self, spec: dict[str, Any]) -> tuple[CallbackJob, dict[str, Any]]:
        """Build the signed ``mo_sms`` callback for an injected customer message."""
        account = self.emu.resolve_telesign_account(spec.get("account"))
        phone, sender_id = _digits(str(spec.get("from") or "")), _digits(str(spec.get("to") or ""))
        if not PHONE.match(phone):
            raise InjectError(400, f"from {spec.get('from')!r} must be a phone number (digits, country code first)")
        if not sender_id:
            raise InjectError(400, "to (the number or short code that receives the message) is required")
        if spec.get("media"):
            raise InjectError(400, "TeleSign inbound SMS carry no media")
        url = spec.get("url") or account.callback_url
        if not url:
            raise InjectError(409, f"no callback URL registered for TeleSign customer {account.customer_id}; "
                                   "register one with POST /_emulator/webhooks or pass url")
        if not HTTP_URL.match(url):
            raise InjectError(400, f"callback URL {url!r} is not an http(s) URL")
        text = str(spec.get("body") or "")
        if len(text) > MAX_MESSAGE:
            raise InjectError(400, f"body is longer than {MAX_MESSAGE} characters")
        now = self.state.now()
        reference_id = hex_id().upper()
        words = text.strip().split()
        keyword = words[0].lower().rstrip(".!?,;:") if len(words) == 1 else ""
        action = TELESIGN_KEYWORDS.get(keyword, "generic")
        user_response: dict[str, Any] = {"phone_number": phone, "sender_id": sender_id, "mo_message": text,
                                         "action": action}
        if action != "generic":
            user_response["keyword"] = keyword
            key = (account.customer_id, sender_id, phone)
            if action == "stop":
                self.state.telesign_opt_outs.add(key)
            elif action == "start":
                self.state.telesign_opt_outs.discard(key)
        payload = {
            "reference_id": reference_id,
            "status": {"code": 1500, "description": "Delivered to customer", "updated_on": iso(now)},
            "submit_timestamp": iso(now),
            "errors": [],
            "sub_resource": "mo_sms",
            "user_response": user_response,
        }
        msg = Message(provider="telesign", id=reference_id, account=account.customer_id, to=sender_id, from_=phone,
                      body=text, channel="sms", created=now, direction="inbound", status="received",
                      callback_url=url)
        msg.status_code, msg.status_description = 1500, "Delivered to customer"
        self.state.store_message(msg)
        job = self._signed_job(account, url, payload, kind="inbound", label=INBOUND_LABEL, message_id=reference_id)
        return job, {"provider": "telesign", "reference_id": reference_id, "account": account.customer_id,
                     "url": url, "payload": payload}
