"""Twilio Programmable Messaging as the emulator serves it.

``POST/GET /2010-04-01/Accounts/{Sid}/Messages.json``, ``GET …/Messages/{MessageSid}.json``,
``GET /2010-04-01/Accounts/{Sid}.json`` and inbound media under ``…/Messages/{Sid}/Media/{MediaSid}``,
all with HTTP Basic auth (Account SID + Auth Token). Status callbacks and inbound webhooks are
form-encoded and signed with ``X-Twilio-Signature`` over the exact URL called.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from .callbacks import CallbackJob
from .common import JSON_HEADERS, InjectError, first, json_response, parse_form, query_int, sms_segments
from .signing import FORM_CONTENT_TYPE, twilio_signature
from .state import (
    TWILIO_OPT_IN,
    TWILIO_OPT_OUT,
    WHATSAPP_PREFIX,
    Media,
    Message,
    TwilioAccount,
    hex_id,
    is_whatsapp,
    keyword_of,
    rfc2822,
    strip_whatsapp,
)

if TYPE_CHECKING:
    from .server import ProviderEmulator

API_VERSION = "2010-04-01"
PREFIX = f"/{API_VERSION}/Accounts"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
SHORT_CODE = re.compile(r"^\d{5,6}$")
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
MAX_BODY = 1600
MAX_CDN_TOKENS = 10_000
HTTP_URL = re.compile(r"^https?://[^/\s?#]+[^\s]*$")

WINDOW_MESSAGE = ("Failed to send freeform message because you are outside the allowed window. If you are using "
                  "WhatsApp, please use a Message Template.")
UNDELIVERED = (30003, "Unreachable destination handset")


def twilio_error(code: int, message: str, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"code": code, "message": message,
                          "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
                         status, headers)


def unauthorized() -> web.Response:
    return twilio_error(20003, "Authenticate", 401, {"WWW-Authenticate": 'Basic realm="Twilio API"'})


def not_found(path: str) -> web.Response:
    return twilio_error(20404, f"The requested resource {path} was not found", 404)


def message_json(msg: Message) -> dict[str, Any]:
    uri = f"{PREFIX}/{msg.account}/Messages/{msg.id}.json"
    return {
        "account_sid": msg.account,
        "api_version": API_VERSION,
        "body": msg.body,
        "date_created": rfc2822(msg.created),
        "date_sent": rfc2822(msg.sent_at) if msg.sent_at else None,
        "date_updated": rfc2822(msg.updated),
        "direction": msg.direction,
        "error_code": msg.error_code,
        "error_message": msg.error_message,
        "from": msg.from_,
        "messaging_service_sid": msg.messaging_service_sid,
        "num_media": str(msg.num_media),
        "num_segments": str(msg.num_segments),
        "price": None,
        "price_unit": "USD",
        "sid": msg.id,
        "status": msg.status,
        "subresource_uris": {"media": f"{PREFIX}/{msg.account}/Messages/{msg.id}/Media.json"},
        "to": msg.to,
        "uri": uri,
    }


_json_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _json_or_null(value: str | None) -> str:
    return "null" if value is None else _json_str(value)


def message_json_bytes(msg: Message) -> bytes:
    """``json.dumps(message_json(msg), separators=(",", ":"))``, several times faster (the send hot path)."""
    base = f"{PREFIX}/{msg.account}/Messages/{msg.id}"
    return (
        f'{{"account_sid":{_json_str(msg.account)},"api_version":"{API_VERSION}","body":{_json_str(msg.body)},'
        f'"date_created":"{rfc2822(msg.created)}",'
        f'"date_sent":{_json_or_null(rfc2822(msg.sent_at) if msg.sent_at else None)},'
        f'"date_updated":"{rfc2822(msg.updated)}","direction":"{msg.direction}",'
        f'"error_code":{"null" if msg.error_code is None else int(msg.error_code)},'
        f'"error_message":{_json_or_null(msg.error_message)},"from":{_json_or_null(msg.from_)},'
        f'"messaging_service_sid":{_json_or_null(msg.messaging_service_sid)},"num_media":"{msg.num_media}",'
        f'"num_segments":"{msg.num_segments}","price":null,"price_unit":"USD","sid":{_json_str(msg.id)},'
        f'"status":"{msg.status}","subresource_uris":{{"media":{_json_str(base + "/Media.json")}}},'
        f'"to":{_json_str(msg.to)},"uri":{_json_str(base + ".json")}}}'
    ).encode("ascii")


#: A WhatsApp user ID (business-scoped user ID) of a customer who hides their number behind a username.
WHATSAPP_USER_ID = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")
SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
#: What the callback log calls an inbound delivery (as the delivery reports are called by their MessageStatus).
INBOUND_LABEL = "inbound"


def _address_ok(value: str, *, whatsapp: bool, sender: bool) -> bool:
    if whatsapp:
        bare = strip_whatsapp(value)
        # Customers may be written to (and write from) their user ID, exactly as WhatsApp gave it: no +.
        return is_whatsapp(value) and bool(E164.match(bare) or (not sender and WHATSAPP_USER_ID.match(bare)))
    if E164.match(value):
        return True
    return sender and bool(SHORT_CODE.match(value) or ALPHANUMERIC_SENDER.match(value))


class TwilioAPI:
    def __init__(self, emulator: ProviderEmulator) -> None:
        self.emu = emulator
        self.state = emulator.state
        #: Authorization header → (account, the token it was checked against): skips decoding on keep-alive.
        self._checked: dict[str, tuple[TwilioAccount, str]] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(PREFIX + "/{sid}/Messages.json", self.send),
            web.get(PREFIX + "/{sid}/Messages.json", self.list_messages),
            web.get(PREFIX + "/{sid}/Messages/{message_sid}.json", self.fetch_message),
            web.get(PREFIX + "/{sid}/Messages/{message_sid}/Media/{media_sid}.json", self.media_metadata),
            web.get(PREFIX + "/{sid}/Messages/{message_sid}/Media/{media_sid}", self.media),
            web.get(PREFIX + "/{sid}.json", self.fetch_account),
            web.get("/_emulator/cdn/{token}", self.cdn),
            web.route("*", f"/{API_VERSION}" + "/{tail:.*}", self.unknown),
        ]

    # --- shared --------------------------------------------------------------------------------------------------

    def _authenticate(self, request: web.Request) -> TwilioAccount | None:
        header = request.headers.get("Authorization", "")
        checked = self._checked.get(header)
        if checked is not None:
            account, token = checked
            if self.state.twilio_accounts.get(account.sid) is account and account.auth_token == token \
                    and account.status != "closed":
                return account
            del self._checked[header]
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return None
        try:
            username, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        account = self.state.twilio_accounts.get(username)
        if account is None or not sep or not hmac.compare_digest(password.encode(), account.auth_token.encode()):
            return None
        if account.status == "closed":
            return None
        if len(self._checked) >= 1024:
            self._checked.clear()
        self._checked[header] = (account, account.auth_token)
        return account

    def _fault_response(self, fault: str) -> web.Response:
        if fault == "429":
            return twilio_error(20429, "Too Many Requests", 429,
                                {"Retry-After": str(self.emu.config.retry_after_s)})
        return twilio_error(20500, "Internal Server Error", 500)

    async def _guard(self, request: web.Request, kind: str) -> web.StreamResponse | str | None:
        """Latency and injected failures. Returns a response to send, "accept" (process then drop), or None."""
        fault = await self.emu.fault()
        if fault is None:
            return None
        path = request.path
        if fault == "timeout":
            if self.emu.config.timeout_mode == "accept_then_hold":
                return "accept"
            self.state.record_request("twilio", kind, request.method, path, 0, fault="timeout")
            return await self.emu.drop(request)
        response = self._fault_response(fault)
        self.state.record_request("twilio", kind, request.method, path, response.status, fault=fault,
                                  code=20429 if fault == "429" else 20500)
        return response

    # --- Messages ------------------------------------------------------------------------------------------------

    async def send(self, request: web.Request) -> web.StreamResponse:
        guard = None if self.emu.quiet() else await self._guard(request, "send")
        if isinstance(guard, web.StreamResponse):
            return guard
        response = await self._send(request)
        if guard == "accept":
            return await self.emu.drop(request, accepted=True)
        return response

    async def _send(self, request: web.Request) -> web.Response:
        sid = request.match_info["sid"]
        path = request.path
        account = self._authenticate(request)
        if account is None or account.sid != sid or account.status != "active":
            self.state.record_request("twilio", "send", "POST", path, 401, account=sid, code=20003)
            return unauthorized()
        params = parse_form(await request.read())

        def refuse(code: int, message: str, status: int = 400) -> web.Response:
            self.state.record_request("twilio", "send", "POST", path, status, account=sid, code=code, params=params)
            return twilio_error(code, message, status)

        to = (first(params, "To") or "").strip()
        from_ = (first(params, "From") or "").strip()
        chosen_by_service = False
        service = (first(params, "MessagingServiceSid") or "").strip()
        body = first(params, "Body") or ""
        media_urls = [u for u in params.get("MediaUrl", []) if u]
        content_sid = (first(params, "ContentSid") or "").strip()
        content_variables = first(params, "ContentVariables")
        status_callback = (first(params, "StatusCallback") or "").strip()

        if not to:
            return refuse(21604, "A 'To' phone number is required.")
        if not from_ and not service:
            return refuse(21603, "A 'From' phone number is required.")
        whatsapp = is_whatsapp(to)
        if not _address_ok(to, whatsapp=whatsapp, sender=False) or strip_whatsapp(to) == strip_whatsapp(from_):
            return refuse(21211, f"Invalid 'To' Phone Number: {to}")
        if service:
            if not SERVICE_SID.match(service):
                return refuse(21705, "The Messaging Service is invalid")
            if service not in account.services:
                return refuse(21701, "The Messaging Service does not exist")
            if not from_:
                # Twilio chooses the sender from the service's pool (the first of the pool here).
                pool = account.services[service]
                if not pool:
                    return refuse(21703, "The Messaging Service does not have a phone number available to send "
                                         "a message")
                from_ = (WHATSAPP_PREFIX if whatsapp else "") + pool[0]
                chosen_by_service = True
            elif strip_whatsapp(from_) not in account.services[service]:
                return refuse(21606, f"The From phone number {from_} is not in the Messaging Service's sender pool.")
        if from_:
            if whatsapp != is_whatsapp(from_):
                return refuse(21910, "Invalid From and To pair. From and To should be of the same channel")
            if not _address_ok(from_, whatsapp=whatsapp, sender=True):
                return refuse(21212, f"Invalid 'From' Phone Number: {from_}")
            if account.numbers and strip_whatsapp(from_) not in account.numbers and from_ not in account.numbers \
                    and not service:
                return refuse(21606, f"The From phone number {from_} is not a valid, SMS-capable inbound phone "
                                     "number or short code for your account.")
        if content_variables is not None and not content_sid:
            return refuse(21654, "ContentVariables can only be used together with ContentSid.")
        if not body and not media_urls and not content_sid:
            return refuse(21602, "Message body is required.")
        if len(body) > MAX_BODY:
            return refuse(21617, "The concatenated message body exceeds the 1600 character limit.")
        if status_callback and not HTTP_URL.match(status_callback):
            return refuse(21609, f"The StatusCallback URL {status_callback} is not a valid URL.")
        if not whatsapp and self._opted_out(account.sid, from_ or None, to):
            return refuse(21610, "Attempt to send to unsubscribed recipient")
        window_closed = (whatsapp and not content_sid and self.emu.config.whatsapp_window != "off"
                         and not self.state.whatsapp_window_open(account.sid, from_ or None, to))
        if window_closed and self.emu.config.whatsapp_window == "reject":
            return refuse(63016, WINDOW_MESSAGE)

        now = self.state.now()
        prefix = "MM" if media_urls else "SM"
        msg = Message(provider="twilio", id=prefix + hex_id(), account=account.sid, to=to,
                      from_=None if chosen_by_service else from_ or None,
                      body=body, channel="whatsapp" if whatsapp else "sms", created=now,
                      status="accepted" if service else "queued", callback_url=status_callback or None,
                      params=params)
        msg.client = request.remote
        msg.messaging_service_sid = service or None
        msg.content_sid = content_sid or None
        msg.media_urls = media_urls
        msg.num_media = len(media_urls)
        msg.num_segments = 1 if whatsapp or media_urls else sms_segments(body)
        if chosen_by_service:
            msg.num_segments = 0
        self.state.store_message(msg)
        self.state.record_request("twilio", "send", "POST", path, 201, account=sid, message_id=msg.id, params=params)
        answer = message_json_bytes(msg)  # "from" is null until the service has chosen its sender
        if chosen_by_service:
            msg.from_ = from_
        self.emu.start_progress(msg, self._plan(msg, window_closed))
        return web.Response(body=answer, status=201, headers=JSON_HEADERS)

    def _opted_out(self, account: str, ours: str | None, customer: str) -> bool:
        if ours:
            return self.state.is_opted_out(account, ours, customer)
        customer = strip_whatsapp(customer)
        return any(a == account and c == customer for a, _, c in self.state.opt_outs)

    def _plan(self, msg: Message, window_closed: bool) -> list[tuple[str, tuple[int, str] | None]]:
        if window_closed:
            return [("failed", (63016, WINDOW_MESSAGE))]
        if self.emu.undeliverable(strip_whatsapp(msg.to)):
            return [("sent", None), ("undelivered", UNDELIVERED)]
        plan: list[tuple[str, tuple[int, str] | None]] = [("sent", None), ("delivered", None)]
        if msg.channel == "whatsapp" and self.emu.config.whatsapp_read:
            plan.append(("read", None))
        return plan

    def status_callback(self, msg: Message, status: str) -> CallbackJob | None:
        """The signed status callback for one step (None when the message has no StatusCallback)."""
        if not msg.callback_url:
            return None
        account = self.state.twilio_accounts.get(msg.account)
        if account is None:
            return None
        params: list[tuple[str, str]] = [
            ("SmsSid", msg.id), ("SmsStatus", status), ("MessageStatus", status), ("To", msg.to),
            ("From", msg.from_ or ""), ("MessageSid", msg.id), ("AccountSid", msg.account),
            ("ApiVersion", API_VERSION),
        ]
        if msg.messaging_service_sid:
            params.append(("MessagingServiceSid", msg.messaging_service_sid))
        if msg.error_code is not None and status in ("failed", "undelivered"):
            params.append(("ErrorCode", str(msg.error_code)))
        if msg.channel == "whatsapp":
            params += [("ChannelPrefix", "whatsapp"), ("ChannelToAddress", strip_whatsapp(msg.to))]
            if status in ("delivered", "read"):
                params.append(("EventType", status.upper()))
        elif status == "delivered":
            params.append(("RawDlrDoneDate", time.strftime("%y%m%d%H%M", time.gmtime(self.state.now()))))
        return self._signed_job(account, msg.callback_url, params, kind="status", label=status, message_id=msg.id)

    def _signed_job(self, account: TwilioAccount, url: str, params: list[tuple[str, str]], *, kind: str,
                    label: str, message_id: str | None) -> CallbackJob:
        body = urlencode(params).encode("utf-8")
        if account.signing_key:
            _key_id, secret, algorithm = account.signing_key
            signature = twilio_signature(secret, url, params, algorithm)
        else:
            signature = twilio_signature(account.auth_token, url, params)
        headers = {
            "Content-Type": FORM_CONTENT_TYPE,
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": hex_id(),
            "User-Agent": "TwilioProxy/1.1",
            "Accept": "*/*",
        }
        job = CallbackJob(provider="twilio", kind=kind, url=url, body=body, headers=headers, label=label,
                          message_id=message_id, account=account.sid,
                           retry_delays_ms=list(self.emu.config.twilio_callback_retry_ms))
        if account.signing_key:
            job.headers["X-Twilio-Webhooks-Signature-Settings"] = \
                f"key={account.signing_key[0]},algorithm={account.signing_key[2]}"
        return job

    async def list_messages(self, request: web.Request) -> web.StreamResponse:
        guard = None if self.emu.quiet() else await self._guard(request, "message_list")
        if isinstance(guard, web.StreamResponse):
            return guard
        sid = request.match_info["sid"]
        account = self._authenticate(request)
        if account is None or account.sid != sid:
            self.state.record_request("twilio", "message_list", "GET", request.path, 401, account=sid, code=20003)
            return unauthorized()
        page_size = max(1, min(query_int(request, "PageSize", 50) or 50, 1000))
        to, from_ = request.query.get("To"), request.query.get("From")
        items = []
        for msg in reversed(self.state.messages.values()):
            if msg.provider != "twilio" or msg.account != sid:
                continue
            if (to and msg.to != to) or (from_ and msg.from_ != from_):
                continue
            items.append(message_json(msg))
            if len(items) >= page_size:
                break
        uri = f"{PREFIX}/{sid}/Messages.json?PageSize={page_size}&Page=0"
        self.state.record_request("twilio", "message_list", "GET", request.path, 200, account=sid)
        response = json_response({"messages": items, "page": 0, "page_size": page_size, "start": 0,
                                  "end": max(0, len(items) - 1), "uri": uri, "first_page_uri": uri,
                                  "next_page_uri": None, "previous_page_uri": None})
        return await self.emu.drop(request, accepted=True) if guard == "accept" else response

    async def fetch_message(self, request: web.Request) -> web.StreamResponse:
        guard = None if self.emu.quiet() else await self._guard(request, "message_fetch")
        if isinstance(guard, web.StreamResponse):
            return guard
        sid, message_sid = request.match_info["sid"], request.match_info["message_sid"]
        account = self._authenticate(request)
        if account is None or account.sid != sid:
            self.state.record_request("twilio", "message_fetch", "GET", request.path, 401, account=sid, code=20003)
            return unauthorized()
        msg = self.state.messages.get(message_sid)
        if msg is None or msg.provider != "twilio" or msg.account != sid:
            self.state.record_request("twilio", "message_fetch", "GET", request.path, 404, account=sid, code=20404)
            return not_found(request.path)
        self.state.record_request("twilio", "message_fetch", "GET", request.path, 200, account=sid,
                                  message_id=msg.id)
        response = json_response(message_json(msg))
        return await self.emu.drop(request, accepted=True) if guard == "accept" else response

    async def fetch_account(self, request: web.Request) -> web.StreamResponse:
        guard = None if self.emu.quiet() else await self._guard(request, "account_fetch")
        if isinstance(guard, web.StreamResponse):
            return guard
        sid = request.match_info["sid"]
        account = self._authenticate(request)
        if account is None or account.sid != sid:
            self.state.record_request("twilio", "account_fetch", "GET", request.path, 401, account=sid, code=20003)
            return unauthorized()
        base = f"{PREFIX}/{sid}"
        self.state.record_request("twilio", "account_fetch", "GET", request.path, 200, account=sid)
        response = json_response({
            "auth_token": account.auth_token,
            "date_created": rfc2822(account.created),
            "date_updated": rfc2822(account.created),
            "friendly_name": account.friendly_name or sid,
            "owner_account_sid": sid,
            "sid": sid,
            "status": account.status,
            "subresource_uris": {
                "messages": f"{base}/Messages.json",
                "incoming_phone_numbers": f"{base}/IncomingPhoneNumbers.json",
                "balance": f"{base}/Balance.json",
            },
            "type": account.type,
            "uri": f"{base}.json",
        })
        return await self.emu.drop(request, accepted=True) if guard == "accept" else response

    # --- media ---------------------------------------------------------------------------------------------------

    def _media_for(self, request: web.Request) -> Media | web.Response:
        sid = request.match_info["sid"]
        account = self._authenticate(request)
        if account is None or account.sid != sid:
            self.state.record_request("twilio", "media_fetch", "GET", request.path, 401, account=sid, code=20003)
            return unauthorized()
        media = self.state.media.get(request.match_info["media_sid"])
        if media is None or media.account != sid or media.message_sid != request.match_info["message_sid"]:
            self.state.record_request("twilio", "media_fetch", "GET", request.path, 404, account=sid, code=20404)
            return not_found(request.path)
        return media

    async def media(self, request: web.Request) -> web.Response:
        media = self._media_for(request)
        if isinstance(media, web.Response):
            return media
        self.state.record_request("twilio", "media_fetch", "GET", request.path,
                                  307 if self.emu.config.media_redirect else 200, account=media.account,
                                  message_id=media.message_sid)
        if self.emu.config.media_redirect:
            token = hex_id(24)
            tokens = self.state.cdn_tokens
            tokens[token] = media.sid
            if len(tokens) > MAX_CDN_TOKENS:
                del tokens[next(iter(tokens))]
            raise web.HTTPTemporaryRedirect(f"{self.emu.public_url}/_emulator/cdn/{token}")
        return web.Response(body=media.data, headers={"Content-Type": media.content_type})

    async def media_metadata(self, request: web.Request) -> web.Response:
        media = self._media_for(request)
        if isinstance(media, web.Response):
            return media
        self.state.record_request("twilio", "media_fetch", "GET", request.path, 200, account=media.account,
                                  message_id=media.message_sid)
        stamp = rfc2822(self.state.now())
        return json_response({"account_sid": media.account, "content_type": media.content_type,
                              "date_created": stamp, "date_updated": stamp, "parent_sid": media.message_sid,
                              "sid": media.sid, "uri": request.path})

    async def cdn(self, request: web.Request) -> web.Response:
        sid = self.state.cdn_tokens.get(request.match_info["token"])
        media = self.state.media.get(sid) if sid else None
        if media is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=media.data, headers={"Content-Type": media.content_type})

    async def unknown(self, request: web.Request) -> web.Response:
        self.state.record_request("twilio", "unknown", request.method, request.path, 404, code=20404)
        return not_found(request.path)

    # --- inbound -------------------------------------------------------------------------------------------------

    def inbound(self, spec: dict[str, Any]) -> tuple[CallbackJob, dict[str, Any]]:
        """Build the signed inbound webhook for an injected customer message; updates opt-outs and windows."""
        sender, to = str(spec.get("from") or "").strip(), str(spec.get("to") or "").strip()
        if not sender or not to:
            raise InjectError(400, "from and to are required")
        whatsapp = spec.get("channel") == "whatsapp" or is_whatsapp(sender) or is_whatsapp(to)
        if whatsapp:
            sender, to = WHATSAPP_PREFIX + strip_whatsapp(sender), WHATSAPP_PREFIX + strip_whatsapp(to)
        for label, value in (("from", sender), ("to", to)):
            if label == "from" and whatsapp and WHATSAPP_USER_ID.match(strip_whatsapp(value)):
                continue  # a customer known by their username: From is their user ID
            if not _address_ok(value, whatsapp=whatsapp, sender=label == "to"):
                what = "WhatsApp address" if whatsapp else "number"
                raise InjectError(400, f"{label} {value!r} is not a valid {what}")
        target = self.state.twilio_inbound.get(to)
        url = spec.get("url") or (target.url if target else None)
        if not url:
            known = ", ".join(sorted(self.state.twilio_inbound)) or "none"
            raise InjectError(409, f"no inbound URL registered for {to} (registered: {known}); "
                                   "register one with POST /_emulator/webhooks or pass url")
        if not HTTP_URL.match(url):
            raise InjectError(400, f"inbound URL {url!r} is not an http(s) URL")
        account = self.emu.resolve_twilio_account(spec.get("account") or (target.account if target else None))
        body = str(spec.get("body") or "")
        if len(body) > MAX_BODY:
            raise InjectError(400, f"body is longer than {MAX_BODY} characters")
        media_items = self.emu.media_items(spec.get("media") or [])
        now = self.state.now()
        message_sid = ("MM" if media_items else "SM") + hex_id()
        params: list[tuple[str, str]] = [
            ("SmsMessageSid", message_sid), ("NumMedia", str(len(media_items))),
            ("SmsSid", message_sid), ("SmsStatus", "received"), ("Body", body), ("To", to),
            ("NumSegments", "1" if whatsapp else str(sms_segments(body))), ("MessageSid", message_sid),
            ("AccountSid", account.sid), ("From", sender), ("ApiVersion", API_VERSION),
        ]
        media_urls = []
        for index, (content_type, data) in enumerate(media_items):
            media_sid = "ME" + hex_id()
            self.state.add_media(Media(sid=media_sid, account=account.sid, message_sid=message_sid,
                                       content_type=content_type, data=data))
            media_url = f"{self.emu.public_url}{PREFIX}/{account.sid}/Messages/{message_sid}/Media/{media_sid}"
            media_urls.append(media_url)
            params += [(f"MediaContentType{index}", content_type), (f"MediaUrl{index}", media_url)]
        customer, ours = strip_whatsapp(sender), strip_whatsapp(to)
        if whatsapp:
            kind = "text"
            if media_items:
                major = media_items[0][0].split("/", 1)[0]
                kind = major if major in ("image", "video", "audio") else "document"
            user_id = WHATSAPP_USER_ID.match(customer)
            if spec.get("button_text"):
                kind = "button"
                params += [("ButtonText", str(spec["button_text"])),
                           ("ButtonPayload", str(spec.get("button_payload") or ""))]
            params += [("ProfileName", str(spec.get("profile_name") or "")), ("MessageType", kind)]
            if not user_id:
                params.append(("WaId", customer.lstrip("+")))
            else:
                params.append(("ExternalUserId", WHATSAPP_PREFIX + customer))  # From and ExternalUserId: the ID
            if spec.get("external_user_id") is not None and not user_id:
                external = str(spec["external_user_id"])
                params.append(("ExternalUserId", external if external.startswith(WHATSAPP_PREFIX) or not external
                               else WHATSAPP_PREFIX + external))
            self.state.whatsapp_last_inbound[(account.sid, ours, customer)] = now
        else:
            keyword = keyword_of(body)
            if keyword in TWILIO_OPT_OUT:
                self.state.opt_outs.add((account.sid, ours, customer))
            elif keyword in TWILIO_OPT_IN:
                self.state.opt_outs.discard((account.sid, ours, customer))
        service = account.service_of(ours)
        if service:
            params.append(("MessagingServiceSid", service))
        msg = Message(provider="twilio", id=message_sid, account=account.sid, to=to, from_=sender, body=body,
                      channel="whatsapp" if whatsapp else "sms", created=now, direction="inbound",
                      status="received", callback_url=url, params={k: [v] for k, v in params})
        msg.media_urls, msg.num_media = media_urls, len(media_urls)
        self.state.store_message(msg)
        job = self._signed_job(account, url, params, kind="inbound", label=INBOUND_LABEL, message_id=message_sid)
        return job, {"provider": "twilio", "message_sid": message_sid, "account": account.sid, "url": url,
                     "params": dict(params)}
