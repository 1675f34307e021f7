"""Azure Communication Services SMS as the emulator serves it (over its HTTPS port: the Azure SDK speaks only HTTPS).

``POST /sms?api-version=…`` and ``GET /phoneNumbers?api-version=…``, authenticated with ACS's HMAC-SHA256
access-key scheme (``x-ms-date`` within the window, ``x-ms-content-sha256`` matching the body, the signature
over verb, path and query, date, host and content hash). Repeated requests (same repeatabilityRequestId and
repeatabilityFirstSent) get the first answer again and are delivered once. Inbound messages and delivery
reports go out through each resource's Event Grid subscription, in the Event Grid or the CloudEvents 1.0
schema, after the subscription's validation handshake; STOP blocks the sender for that recipient as ACS does.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import time
import uuid
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from .callbacks import CallbackJob, _exact
from .common import InjectError, json_response, sms_segments
from .signing import acs_content_hash, acs_signature, acs_string_to_sign
from .state import ACS_NUMBER_TYPES, ACS_OPT_IN, ACS_OPT_OUT, AcsResource, Message, iso, keyword_of

if TYPE_CHECKING:
    from .server import ProviderEmulator

SMS_API_VERSIONS = ("2021-03-07", "2024-12-10-preview", "2025-05-30")
NUMBERS_API_VERSIONS = ("2021-03-07", "2022-12-01", "2024-03-01", "2025-02-11", "2025-06-01")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
SHORT_CODE = re.compile(r"^\d{5,6}$")
AUTH = re.compile(r"^HMAC-SHA256\s+SignedHeaders=([^&]+)&Signature=(\S+)$")
MAX_RECIPIENTS = 100
MAX_MESSAGE = 2048
ORIGIN = "eventgrid.azure.net"
BLOCKED_DETAIL = "Sender blocked for given recipient."
UNDELIVERED_DETAIL = "Message failed to deliver: the carrier rejected it."

SMS_RECEIVED = "Microsoft.Communication.SMSReceived"
#: What the callback log calls an inbound delivery (an event type, like the delivery reports' statuses).
INBOUND_LABEL = "SMSReceived"
DELIVERY_REPORT = "Microsoft.Communication.SMSDeliveryReportReceived"
VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"


def acs_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status, headers)


def topic(resource: AcsResource) -> str:
    return ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/emulator/providers/"
            f"microsoft.communication/communicationservices/{resource.name}")


def _digits(number: str) -> str:
    return number.lstrip("+")


class AcsAPI:
    def __init__(self, emulator: ProviderEmulator) -> None:
        self.emu = emulator
        self.state = emulator.state

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/sms", self.send), web.get("/phoneNumbers", self.list_numbers)]

    # --- authentication ------------------------------------------------------------------------------------------

    def authenticate(self, request: web.Request, body: bytes) -> AcsResource | web.Response:
        header = request.headers.get("Authorization", "")
        match = AUTH.match(header.strip())
        if not match:
            return acs_error(401, "Denied", "Missing or malformed Authorization header (HMAC-SHA256 expected).")
        if match.group(1).lower() != "x-ms-date;host;x-ms-content-sha256":
            return acs_error(401, "Denied", f"Unsupported SignedHeaders {match.group(1)!r}.")
        date = request.headers.get("x-ms-date") or request.headers.get("Date")
        if not date:
            return acs_error(401, "Denied", "Missing x-ms-date header.")
        try:
            sent_at = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError):
            return acs_error(401, "Denied", "x-ms-date is not an RFC 1123 date.")
        if abs(self.state.now() - sent_at) > self.emu.config.acs_date_window_s:
            return acs_error(401, "Denied", "x-ms-date is outside the allowed window.")
        content_hash = request.headers.get("x-ms-content-sha256", "")
        if not hmac.compare_digest(content_hash.encode(), acs_content_hash(body).encode()):
            return acs_error(401, "Denied", "x-ms-content-sha256 does not match the body.")
        string_to_sign = acs_string_to_sign(method=request.method, path_and_query=request.raw_path, date=date,
                                            host=request.headers.get("Host", ""), content_hash=content_hash)
        signature = match.group(2).encode()
        for resource in self.state.acs_resources.values():
            if hmac.compare_digest(acs_signature(resource.key, string_to_sign).encode(), signature):
                return resource
        return acs_error(401, "Denied", "Denied by the resource provider.")

    async def _guard(self, request: web.Request, kind: str) -> web.StreamResponse | str | None:
        fault = await self.emu.fault()
        if fault is None:
            return None
        if fault == "timeout":
            if self.emu.config.timeout_mode == "accept_then_hold":
                return "accept"
            self.state.record_request("acs", kind, request.method, request.path, 0, fault="timeout")
            return await self.emu.drop(request)
        if fault == "429":
            response = acs_error(429, "TooManyRequests", "Too many requests.",
                                 {"Retry-After": str(self.emu.config.retry_after_s)})
        else:
            response = acs_error(500, "InternalServerError", "An internal error occurred.")
        self.state.record_request("acs", kind, request.method, request.path, response.status, fault=fault)
        return response

    # --- send ----------------------------------------------------------------------------------------------------

    async def send(self, request: web.Request) -> web.StreamResponse:
        guard = None if self.emu.quiet() else await self._guard(request, "send")
        if isinstance(guard, web.StreamResponse):
            return guard
        response = self._send(request, await request.read())
        if guard == "accept":
            return await self.emu.drop(request, accepted=True)
        return response

    def _send(self, request: web.Request, body: bytes) -> web.Response:
        resource = self.authenticate(request, body)
        if isinstance(resource, web.Response):
            self.state.record_request("acs", "send", "POST", request.path, 401, code="Denied")
            return resource
        if request.query.get("api-version") not in SMS_API_VERSIONS:
            self.state.record_request("acs", "send", "POST", request.path, 400, account=resource.name,
                                      code="UnsupportedApiVersion")
            return acs_error(400, "UnsupportedApiVersion",
                             f"api-version must be one of {', '.join(SMS_API_VERSIONS)}.")
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = None
        problem = self._request_problem(resource, data)
        if problem:
            self.state.record_request("acs", "send", "POST", request.path, 400, account=resource.name,
                                      code="BadRequest")
            return acs_error(400, "BadRequest", problem)
        options = data.get("smsSendOptions") or {}
        items = [self._recipient(resource, data, recipient, options) for recipient in data["smsRecipients"]]
        self.state.record_request("acs", "send", "POST", request.path, 202, account=resource.name,
                                  message_id=",".join(i.get("messageId", "") for i in items),
                                  params={"body": [body.decode("utf-8", errors="replace")]})
        return json_response({"value": items}, 202)

    @staticmethod
    def _request_problem(resource: AcsResource, data: Any) -> str:
        if not isinstance(data, dict):
            return "The request body must be a JSON object."
        sender = data.get("from")
        if not isinstance(sender, str) or not sender:
            return "from is required."
        if sender not in resource.numbers:
            return f"The From number {sender} is not a number of this resource."
        recipients = data.get("smsRecipients")
        if not isinstance(recipients, list) or not 1 <= len(recipients) <= MAX_RECIPIENTS:
            return f"smsRecipients must list 1 to {MAX_RECIPIENTS} recipients."
        if not all(isinstance(r, dict) for r in recipients):
            return "Each of smsRecipients must be an object."
        message = data.get("message")
        if not isinstance(message, str) or not message:
            return "message is required."
        if len(message) > MAX_MESSAGE:
            return f"message is longer than {MAX_MESSAGE} characters."
        options = data.get("smsSendOptions", {})
        if not isinstance(options, dict) or not isinstance(options.get("enableDeliveryReport", False), bool):
            return "smsSendOptions.enableDeliveryReport must be true or false."
        return ""

    def _recipient(self, resource: AcsResource, data: dict[str, Any], recipient: dict[str, Any],
                   options: dict[str, Any]) -> dict[str, Any]:
        to = recipient.get("to")
        if not isinstance(to, str) or not (E164.match(to) or SHORT_CODE.match(to)):
            return {"to": to, "httpStatusCode": 400, "errorMessage": "Invalid To phone number format.",
                    "successful": False}
        request_id, first_sent = recipient.get("repeatabilityRequestId"), recipient.get("repeatabilityFirstSent")
        key = (resource.name, str(request_id), str(first_sent)) if request_id and first_sent else None
        if key is not None:
            try:
                uuid.UUID(str(request_id))
                parsedate_to_datetime(str(first_sent))
            except (ValueError, TypeError, IndexError):
                return {"to": to, "httpStatusCode": 400, "successful": False,
                        "errorMessage": "repeatabilityRequestId must be a UUID and repeatabilityFirstSent an "
                                        "RFC 1123 date."}
            seen = self.state.acs_repeats.get(key)
            if seen is not None:
                self.state.count("acs.repeated")
                return dict(seen)
        now = self.state.now()
        msg = Message(provider="acs", id=f"Outgoing_{time.strftime('%Y%m%d%H%M%S', time.gmtime(now))}"
                                         f"{uuid.uuid4()}_noam", account=resource.name, to=to, from_=data["from"],
                      body=data["message"], channel="sms", created=now, status="accepted")
        msg.external_id = options.get("tag") if isinstance(options.get("tag"), str) else None
        msg.num_segments = sms_segments(data["message"])
        msg.callback_url = resource.event_url
        self.state.store_message(msg)
        item = {"to": to, "messageId": msg.id, "httpStatusCode": 202, "repeatabilityResult": "accepted",
                "successful": True}
        if key is not None:
            self.state.acs_repeats[key] = item
            while len(self.state.acs_repeats) > self.emu.config.max_messages:
                self.state.acs_repeats.popitem(last=False)
        if (resource.name, data["from"], to) in self.state.acs_blocked:
            final = ("failed", BLOCKED_DETAIL)
        elif self.emu.undeliverable(to):
            final = ("failed", UNDELIVERED_DETAIL)
        else:
            final = ("delivered", "No error.")
        msg.status_description = "" if options.get("enableDeliveryReport") else "no delivery report asked for"
        self.emu.start_progress(msg, [(final[0], (final[1], bool(options.get("enableDeliveryReport"))))])
        return item

    # --- numbers -------------------------------------------------------------------------------------------------

    async def list_numbers(self, request: web.Request) -> web.StreamResponse:
        guard = None if self.emu.quiet() else await self._guard(request, "numbers")
        if isinstance(guard, web.StreamResponse):
            return guard
        resource = self.authenticate(request, await request.read())
        if isinstance(resource, web.Response):
            self.state.record_request("acs", "numbers", "GET", request.path, 401, code="Denied")
            return resource
        version = request.query.get("api-version")
        if version not in NUMBERS_API_VERSIONS:
            return acs_error(400, "UnsupportedApiVersion",
                             f"api-version must be one of {', '.join(NUMBERS_API_VERSIONS)}.")
        try:
            skip, top = int(request.query.get("skip", "0")), int(request.query.get("top", "100"))
        except ValueError:
            return acs_error(400, "BadRequest", "skip and top must be whole numbers.")
        numbers = [(n, t) for n, t in sorted(resource.numbers.items()) if t != "shortCode"]
        page = numbers[skip:skip + max(top, 1)]
        body: dict[str, Any] = {"phoneNumbers": [self._number(number, kind) for number, kind in page]}
        if skip + len(page) < len(numbers):
            body["nextLink"] = (f"{self.emu.public_tls_url}/phoneNumbers?skip={skip + len(page)}&top={top}"
                                f"&api-version={version}")
        self.state.record_request("acs", "numbers", "GET", request.path, 200, account=resource.name)
        return json_response(body)

    @staticmethod
    def _number(number: str, kind: str) -> dict[str, Any]:
        country = "US" if number.startswith("+1") else "GB" if number.startswith("+44") else "ZZ"
        sms = "none" if kind == "geographic" else "inbound+outbound"
        return {"id": _digits(number), "phoneNumber": number, "countryCode": country, "phoneNumberType": kind,
                "capabilities": {"calling": "inbound+outbound" if kind == "geographic" else "none", "sms": sms},
                "assignmentType": "application", "purchaseDate": "2026-01-05T10:00:00Z",
                "cost": {"amount": 2.0, "currencyCode": "USD", "billingFrequency": "monthly"}}

    # --- Event Grid ----------------------------------------------------------------------------------------------

    def _event(self, resource: AcsResource, kind: str, event_id: str, data: dict[str, Any], number: str) -> dict:
        now = iso(self.state.now())
        if resource.schema == "cloudevents":
            return {"id": event_id, "source": topic(resource), "subject": f"/phonenumber/{_digits(number)}",
                    "type": kind, "time": now, "specversion": "1.0", "datacontenttype": "application/json",
                    "data": data}
        return {"id": event_id, "topic": topic(resource), "subject": f"/phonenumber/{_digits(number)}", "data": data,
                "eventType": kind, "dataVersion": "1.0", "metadataVersion": "1", "eventTime": now}

    def _jobs(self, resource: AcsResource, events: list[dict[str, Any]], *, kind: str, label: str,
              message_id: str | None) -> list[CallbackJob]:
        assert resource.event_url is not None
        size = self.emu.config.acs_max_events_per_batch
        jobs = []
        for start in range(0, len(events), size):
            chunk = events[start:start + size]
            if resource.schema == "cloudevents":
                content_type = "application/cloudevents+json; charset=utf-8" if len(chunk) == 1 else \
                    "application/cloudevents-batch+json; charset=utf-8"
                payload: Any = chunk[0] if len(chunk) == 1 else chunk
                headers = {"Content-Type": content_type, "WebHook-Request-Origin": ORIGIN}
            else:
                payload = chunk
                headers = {"Content-Type": "application/json", "aeg-event-type": "Notification"}
            jobs.append(CallbackJob(provider="acs", kind=kind, url=resource.event_url,
                                    body=json.dumps(payload).encode("utf-8"), headers=headers, label=label,
                                    message_id=message_id, account=resource.name,
                                    retry_delays_ms=list(self.emu.config.acs_callback_retry_ms)))
        return jobs

    async def validate_subscription(self, resource: AcsResource) -> bool:
        """The subscription's handshake: a validation event (Event Grid schema) or OPTIONS (CloudEvents)."""
        assert self.emu.dispatcher is not None and self.emu.dispatcher.session is not None
        session = self.emu.dispatcher.session
        url = resource.event_url
        if not url:
            return False
        timeout = aiohttp.ClientTimeout(total=self.emu.config.callback_timeout_s)
        started = time.monotonic()
        status: int | None = None
        text = ""
        error = ""
        try:
            if resource.schema == "cloudevents":
                async with session.options(_exact(url), headers={"WebHook-Request-Origin": ORIGIN},
                                           timeout=timeout, allow_redirects=False) as response:
                    status = response.status
                    allowed = response.headers.get("WebHook-Allowed-Origin", "")
                    ok = status == 200 and allowed in (ORIGIN, "*")
                    if not ok:
                        error = f"OPTIONS answered {status} with WebHook-Allowed-Origin {allowed!r}"
            else:
                code = str(uuid.uuid4()).upper()
                event = [{"id": str(uuid.uuid4()), "topic": topic(resource), "subject": "",
                          "data": {"validationCode": code,
                                   "validationUrl": f"{self.emu.public_url}/_emulator/acs/validate?code={code}"},
                          "eventType": VALIDATION_EVENT, "eventTime": iso(self.state.now()), "metadataVersion": "1",
                          "dataVersion": "1"}]
                async with session.post(_exact(url), data=json.dumps(event).encode(), timeout=timeout,
                                        headers={"Content-Type": "application/json",
                                                 "aeg-event-type": "SubscriptionValidation"},
                                        allow_redirects=False) as response:
                    status = response.status
                    text = (await response.content.read(500)).decode("utf-8", errors="replace")
                    try:
                        answered = json.loads(text).get("validationResponse")
                    except (ValueError, AttributeError):
                        answered = None
                    ok = status == 200 and answered == code
                    if not ok:
                        error = f"validation answered {status} without the validation code"
        except (TimeoutError, aiohttp.ClientError) as exc:
            ok, error = False, str(exc) or exc.__class__.__name__
        resource.validated, resource.validation_error = ok, error
        self.state.count(f"callbacks.acs.validation.{'ok' if ok else 'failed'}")
        self.state.record_callback({
            "ts": self.state.now(), "provider": "acs", "kind": "validation", "url": url, "label": resource.schema,
            "message_id": None, "account": resource.name, "attempt": 1, "http_status": status, "ok": ok,
            "error": error or None, "duration_ms": round((time.monotonic() - started) * 1000, 2), "response": text,
            "body": "", "headers": {}})
        return ok

    def deliver(self, resource: AcsResource, jobs: list[CallbackJob]) -> None:
        """Send events through the subscription, validating it first if it is not yet."""
        assert self.emu.dispatcher is not None and self.emu.activity is not None
        if resource.validated:
            for job in jobs:
                self.emu.dispatcher.submit(job)
            return
        self.emu.activity.inc()

        async def later() -> None:
            try:
                if await self.validate_subscription(resource):
                    for job in jobs:
                        self.emu.dispatcher.submit(job)
                else:
                    self.state.count("callbacks.acs.undelivered_unvalidated")
            finally:
                self.emu.activity.dec()

        asyncio.get_running_loop().create_task(later())

    def delivery_report(self, msg: Message, detail: str, wanted: bool) -> None:
        resource = self.state.acs_resources.get(msg.account)
        if resource is None or not resource.event_url or not wanted:
            return
        data: dict[str, Any] = {
            "messageId": msg.id, "from": _digits(msg.from_ or ""), "to": msg.to,
            "deliveryStatus": "Delivered" if msg.status == "delivered" else "Failed",
            "deliveryStatusDetails": detail, "receivedTimestamp": iso(self.state.now()),
            "deliveryAttempts": [{"timestamp": iso(self.state.now()),
                                  "segmentsSucceeded": msg.num_segments if msg.status == "delivered" else 0,
                                  "segmentsFailed": 0 if msg.status == "delivered" else msg.num_segments}],
        }
        if msg.external_id is not None:
            data["Tag"] = msg.external_id
        event = self._event(resource, DELIVERY_REPORT, msg.id, data, msg.from_ or "")
        self.deliver(resource, self._jobs(resource, [event], kind="delivery_report", label=data["deliveryStatus"],
                                          message_id=msg.id))

    # --- inbound -------------------------------------------------------------------------------------------------

    def inbound(self, spec: dict[str, Any]) -> tuple[AcsResource, list[CallbackJob], dict[str, Any]]:
        """SMSReceived events for injected customer messages (``messages``: several in one delivery)."""
        resource = self.emu.resolve_acs_resource(spec.get("account") or spec.get("resource"))
        if not resource.event_url:
            raise InjectError(409, f"ACS resource {resource.name} has no Event Grid subscription; register one with "
                                   "POST /_emulator/webhooks")
        items = spec.get("messages") or [{"from": spec.get("from"), "to": spec.get("to"), "body": spec.get("body")}]
        if not isinstance(items, list):
            raise InjectError(400, "messages must be a list of {from, to, body}")
        events, ids = [], []
        for item in items:
            if not isinstance(item, dict):
                raise InjectError(400, "each message is an object with from, to and body")
            sender = str(item.get("from") or spec.get("from") or "").strip()
            to = str(item.get("to") or spec.get("to") or "").strip()
            body = str(item.get("body") or "")
            if not E164.match(sender):
                raise InjectError(400, f"from {sender!r} must be an E.164 number, e.g. +15551234567")
            if to not in resource.numbers:
                raise InjectError(400, f"to {to!r} is not a number of ACS resource {resource.name} "
                                       f"(numbers: {', '.join(sorted(resource.numbers)) or 'none'})")
            if spec.get("media") or item.get("media"):
                raise InjectError(400, "ACS SMS carries no media")
            if len(body) > MAX_MESSAGE:
                raise InjectError(400, f"body is longer than {MAX_MESSAGE} characters")
            keyword = keyword_of(body)
            if keyword in ACS_OPT_OUT:
                self.state.acs_blocked.add((resource.name, to, sender))
            elif keyword in ACS_OPT_IN:
                self.state.acs_blocked.discard((resource.name, to, sender))
            now = self.state.now()
            message_id = f"Incoming_{time.strftime('%Y%m%d%H%M%S', time.gmtime(now))}{uuid.uuid4()}"
            msg = Message(provider="acs", id=message_id, account=resource.name, to=to, from_=sender, body=body,
                          channel="sms", created=now, direction="inbound", status="received",
                          callback_url=resource.event_url)
            msg.num_segments = sms_segments(body)
            self.state.store_message(msg)
            data = {"messageId": message_id, "from": _digits(sender), "to": _digits(to), "message": body,
                    "receivedTimestamp": iso(now), "segmentCount": msg.num_segments}
            events.append(self._event(resource, SMS_RECEIVED, message_id, data, to))
            ids.append(message_id)
        jobs = self._jobs(resource, events, kind="inbound", label=INBOUND_LABEL, message_id=ids[0])
        return resource, jobs, {"provider": "acs", "resource": resource.name, "message_ids": ids,
                                "message_id": ids[0], "url": resource.event_url, "schema": resource.schema,
                                "events": events}


def number_type_ok(kind: str) -> bool:
    return kind in ACS_NUMBER_TYPES
