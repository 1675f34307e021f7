"""Everything the emulator remembers, in memory: accounts, webhook targets, messages, opt-outs,
WhatsApp windows, TeleSign nonces, media, and bounded records of requests and callbacks.

All of it is touched only from the emulator's event loop. Counters are kept for the whole run;
full records are capped (oldest dropped first) so long benchmark runs use bounded memory.
"""

from __future__ import annotations

import base64
import os
import random
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .config import EmulatorConfig
from .signing import telesign_key_bytes

WHATSAPP_PREFIX = "whatsapp:"

#: Twilio's default opt-out / opt-in keywords (single word, case-insensitive).
TWILIO_OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
TWILIO_OPT_IN = frozenset({"START", "YES", "UNSTOP"})
#: TeleSign's keyword → action mapping for inbound SMS.
TELESIGN_KEYWORDS = {
    **{k: "stop" for k in ("arrêt", "arret", "cancel", "end", "quit", "stop", "unsubscribe")},
    **{k: "help" for k in ("aide", "contact", "help", "info")},
    "start": "start",
}


def keyword_of(text: str) -> str:
    """The single word of a message, upper-cased, trailing punctuation stripped ('' if several words)."""
    words = text.strip().split()
    if len(words) != 1:
        return ""
    return words[0].rstrip(".!?,;:").upper()


def strip_whatsapp(address: str) -> str:
    address = address.strip()
    return address[len(WHATSAPP_PREFIX):] if address.lower().startswith(WHATSAPP_PREFIX) else address


def is_whatsapp(address: str) -> bool:
    return address.strip().lower().startswith(WHATSAPP_PREFIX)


_iso_last: tuple[int, str] = (-1, "")


def iso(ts: float) -> str:
    """ISO 8601 UTC with microseconds and a Z, as TeleSign writes ``updated_on``."""
    global _iso_last
    second = int(ts // 1)
    if _iso_last[0] != second:
        _iso_last = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    micro = min(round((ts - second) * 1_000_000), 999_999)
    return f"{_iso_last[1]}.{micro:06d}Z"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


_rfc2822_last: tuple[int, str] = (-1, "")


def rfc2822(ts: float) -> str:
    """Twilio's date format, e.g. ``Thu, 30 Jul 2015 20:12:31 +0000`` (locale independent)."""
    global _rfc2822_last
    second = int(ts)
    if _rfc2822_last[0] == second:
        return _rfc2822_last[1]
    t = time.gmtime(second)
    text = (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000")
    _rfc2822_last = (second, text)
    return text


def hex_id(nbytes: int = 16) -> str:
    return os.urandom(nbytes).hex()


@dataclass
class TwilioAccount:
    sid: str
    auth_token: str
    friendly_name: str = ""
    status: str = "active"  # active | suspended | closed
    type: str = "Full"  # Full | Trial
    #: When not empty, ``From`` must be one of these (else 21606).
    numbers: set[str] = field(default_factory=set)
    created: float = field(default_factory=time.time)
    #: Messaging Services: MG… SID → its senders (numbers, without ``whatsapp:``), in pool order.
    services: dict[str, list[str]] = field(default_factory=dict)
    #: A webhook signing key (SharedKey): (key id, secret, HMAC_SHA1 | HMAC_SHA256); None: the Auth Token signs.
    signing_key: tuple[str, str, str] | None = None

    def service_of(self, number: str) -> str | None:
        """The Messaging Service whose pool holds ``number`` (without ``whatsapp:``), if any."""
        return next((sid for sid, senders in self.services.items() if number in senders), None)

    def public(self) -> dict[str, Any]:
        return {"provider": "twilio", "sid": self.sid, "friendly_name": self.friendly_name or self.sid,
                "status": self.status, "type": self.type, "numbers": sorted(self.numbers),
                "services": {sid: list(senders) for sid, senders in self.services.items()},
                "signing_key": self.signing_key[0] if self.signing_key else None}


@dataclass
class TeleSignAccount:
    customer_id: str
    api_key: str
    status: str = "active"  # active | suspended
    callback_url: str | None = None
    key: bytes = b""

    def __post_init__(self) -> None:
        self.key = telesign_key_bytes(self.api_key)
        if not self.key:
            raise ValueError("the API key decodes to no bytes")

    def public(self) -> dict[str, Any]:
        return {"provider": "telesign", "customer_id": self.customer_id, "status": self.status,
                "callback_url": self.callback_url}


#: ACS relays every message but acts on these itself (toll-free and short-code opt-outs).
ACS_OPT_OUT = frozenset({"STOP"})
ACS_OPT_IN = frozenset({"START", "UNSTOP"})
#: ACS phone number types as its Phone Numbers API names them.
ACS_NUMBER_TYPES = ("tollFree", "mobile", "geographic", "shortCode")


@dataclass
class AcsResource:
    """An Azure Communication Services resource: its access key, its numbers and its Event Grid subscription."""

    name: str
    access_key: str
    #: Our numbers (E.164, or short-code digits) → their ACS type (tollFree, mobile, geographic, shortCode).
    numbers: dict[str, str] = field(default_factory=dict)
    event_url: str | None = None
    schema: str = "eventgrid"  # eventgrid | cloudevents
    #: The subscription's validation handshake succeeded (events are delivered only then).
    validated: bool = False
    validation_error: str = ""
    key: bytes = b""

    def __post_init__(self) -> None:
        self.key = base64.b64decode(self.access_key, validate=True)
        if not self.key:
            raise ValueError("the access key decodes to no bytes")

    def public(self) -> dict[str, Any]:
        return {"provider": "acs", "resource": self.name, "numbers": dict(sorted(self.numbers.items())),
                "event_url": self.event_url, "schema": self.schema, "validated": self.validated,
                "validation_error": self.validation_error}


@dataclass
class InboundTarget:
    url: str
    account: str | None = None  # Twilio Account SID that owns the number (optional)


class Message:
    """One message the emulator accepted (outbound) or injected (inbound)."""

    __slots__ = ("account", "body", "callback_url", "cb_busy", "cb_pending", "channel", "client", "content_sid",
                 "created", "direction", "error_code", "error_message", "external_id", "from_", "history", "id",
                 "media_urls", "messaging_service_sid", "num_media", "num_segments", "params", "provider",
                 "sent_at", "status", "status_code", "status_description", "to", "updated")

    def __init__(self, *, provider: str, id: str, account: str, to: str, from_: str | None, body: str,
                 channel: str, created: float, direction: str = "outbound-api", status: str = "queued",
                 callback_url: str | None = None, params: dict[str, list[str]] | None = None) -> None:
        self.provider = provider
        self.id = id
        self.account = account
        self.to = to
        self.from_ = from_
        self.body = body
        self.channel = channel
        self.created = created
        self.updated = created
        self.sent_at: float | None = None
        self.direction = direction
        self.status = status
        self.status_code: int | None = None  # TeleSign's numeric status
        self.status_description = ""
        self.error_code: int | None = None
        self.error_message: str | None = None
        self.callback_url = callback_url
        self.external_id: str | None = None
        self.messaging_service_sid: str | None = None
        self.content_sid: str | None = None
        self.media_urls: list[str] = []
        self.num_media = 0
        self.num_segments = 1
        self.params = params or {}
        #: The address the send came from (the hub host that called the API); None for injected messages.
        self.client: str | None = None
        self.history: list[tuple[str, float]] = [(status, created)]
        # Callbacks of one message go out one at a time, in order.
        self.cb_busy = False
        self.cb_pending: deque | None = None

    def set_status(self, status: str, ts: float) -> None:
        self.status = status
        self.updated = ts
        self.history.append((status, ts))

    def public(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "provider": self.provider, "id": self.id, "account": self.account, "direction": self.direction,
            "channel": self.channel, "from": self.from_, "to": self.to, "body": self.body, "status": self.status,
            "error_code": self.error_code, "error_message": self.error_message,
            "created": iso(self.created), "updated": iso(self.updated),
            "history": [{"status": s, "at": iso(t)} for s, t in self.history],
            "callback_url": self.callback_url, "num_segments": self.num_segments, "num_media": self.num_media,
            "media_urls": list(self.media_urls), "params": self.params, "client": self.client,
        }
        if self.provider == "telesign":
            data["status_code"] = self.status_code
            data["external_id"] = self.external_id
        elif self.provider == "acs":
            data["tag"] = self.external_id
            data["status_detail"] = self.status_description
        else:
            data["messaging_service_sid"] = self.messaging_service_sid
            data["content_sid"] = self.content_sid
        return data


@dataclass
class Media:
    sid: str
    account: str
    message_sid: str
    content_type: str
    data: bytes


class State:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.twilio_accounts: dict[str, TwilioAccount] = {}
        self.telesign_accounts: dict[str, TeleSignAccount] = {}
        self.acs_resources: dict[str, AcsResource] = {}
        #: Twilio inbound URL per number as configured: "+14155550100" (SMS) or "whatsapp:+14155238886".
        self.twilio_inbound: dict[str, InboundTarget] = {}
        self.rng = random.Random(config.seed)
        self.reset_activity()

    # --- clock ----------------------------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.config.clock_offset_s

    # --- activity (everything /_emulator/reset clears) -------------------------------------------------------------

    def reset_activity(self) -> None:
        cfg = self.config
        self.counters: Counter[str] = Counter()
        self.request_seq = 0
        self.requests: deque[dict[str, Any]] = deque(maxlen=cfg.max_records)
        self.callback_seq = 0
        self.callbacks: deque[dict[str, Any]] = deque(maxlen=cfg.max_callbacks)
        self.messages: OrderedDict[str, Message] = OrderedDict()
        #: Twilio opt-outs: (account sid, our number, customer number), numbers without "whatsapp:".
        self.opt_outs: set[tuple[str, str, str]] = set()
        #: TeleSign opt-outs seen (TeleSign reports them; the customer owns the list, sends are not blocked).
        self.telesign_opt_outs: set[tuple[str, str, str]] = set()
        #: Last inbound WhatsApp message time per (account sid, business number, customer number).
        self.whatsapp_last_inbound: dict[tuple[str, str, str], float] = {}
        self.nonces: dict[tuple[str, str], float] = {}
        self.nonce_order: deque[tuple[float, tuple[str, str]]] = deque()
        self.media: OrderedDict[str, Media] = OrderedDict()
        self.cdn_tokens: dict[str, str] = {}
        #: ACS: recipients who texted STOP to one of our numbers, (resource, our number, customer).
        self.acs_blocked: set[tuple[str, str, str]] = set()
        #: ACS repeatable requests seen: (resource, repeatabilityRequestId, repeatabilityFirstSent) → the answer.
        self.acs_repeats: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()

    def resize(self) -> None:
        """Apply changed record caps."""
        cfg = self.config
        if self.requests.maxlen != cfg.max_records:
            self.requests = deque(self.requests, maxlen=cfg.max_records)
        if self.callbacks.maxlen != cfg.max_callbacks:
            self.callbacks = deque(self.callbacks, maxlen=cfg.max_callbacks)
        while len(self.messages) > cfg.max_messages:
            self.messages.popitem(last=False)

    def reseed(self, seed: int | None) -> None:
        self.rng = random.Random(seed)

    # --- accounts and targets ------------------------------------------------------------------------------------

    def add_twilio_account(self, sid: str, auth_token: str, **extra: Any) -> TwilioAccount:
        account = self.twilio_accounts.get(sid)
        if account is None:
            account = TwilioAccount(sid=sid, auth_token=auth_token)
            self.twilio_accounts[sid] = account
        account.auth_token = auth_token
        for key, value in extra.items():
            if value is not None:
                setattr(account, key, set(value) if key == "numbers" else value)
        return account

    def add_twilio_service(self, account_sid: str, service_sid: str, senders: list[str]) -> None:
        """A Messaging Service of the account and its sender pool (numbers, with or without ``whatsapp:``)."""
        self.twilio_accounts[account_sid].services[service_sid] = [strip_whatsapp(n) for n in senders]

    def add_telesign_account(self, customer_id: str, api_key: str, **extra: Any) -> TeleSignAccount:
        account = self.telesign_accounts.get(customer_id)
        if account is None or account.api_key != api_key:
            previous = account
            account = TeleSignAccount(customer_id=customer_id, api_key=api_key)
            if previous is not None:
                account.status, account.callback_url = previous.status, previous.callback_url
            self.telesign_accounts[customer_id] = account
        for key, value in extra.items():
            if value is not None:
                setattr(account, key, value)
        return account

    def add_acs_resource(self, name: str, access_key: str, numbers: dict[str, str] | None = None) -> AcsResource:
        resource = self.acs_resources.get(name)
        if resource is None or resource.access_key != access_key:
            previous = resource
            resource = AcsResource(name=name, access_key=access_key)
            if previous is not None:
                resource.numbers, resource.event_url = previous.numbers, previous.event_url
                resource.schema, resource.validated = previous.schema, previous.validated
            self.acs_resources[name] = resource
        if numbers:
            resource.numbers.update(numbers)
        return resource

    def set_twilio_inbound(self, number: str, url: str, account: str | None = None) -> None:
        self.twilio_inbound[number.strip()] = InboundTarget(url=url, account=account)

    # --- records --------------------------------------------------------------------------------------------------

    def count(self, key: str) -> None:
        self.counters[key] += 1

    def record_request(self, provider: str, kind: str, method: str, path: str, status: int, *,
                       account: str | None = None, code: Any = None, message_id: str | None = None,
                       params: dict[str, list[str]] | None = None, fault: str | None = None) -> None:
        self.request_seq += 1
        self.counters[f"requests.{provider}.{kind}.{status}"] += 1
        self.requests.append({"seq": self.request_seq, "ts": self.now(), "provider": provider, "kind": kind,
                              "method": method, "path": path, "status": status, "account": account,
                              "code": code, "message_id": message_id, "params": params, "fault": fault})

    def record_callback(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.callback_seq += 1
        entry["seq"] = self.callback_seq
        self.callbacks.append(entry)
        return entry

    def store_message(self, message: Message) -> None:
        self.messages[message.id] = message
        if len(self.messages) > self.config.max_messages:
            self.messages.popitem(last=False)
        self.counters[f"messages.{message.provider}.{message.direction}"] += 1

    # --- opt-outs and windows -------------------------------------------------------------------------------------

    def is_opted_out(self, account: str, ours: str, customer: str) -> bool:
        return (account, strip_whatsapp(ours), strip_whatsapp(customer)) in self.opt_outs

    def whatsapp_window_open(self, account: str, business: str | None, customer: str) -> bool:
        hours = self.config.whatsapp_window_hours
        limit = self.now() - hours * 3600
        customer = strip_whatsapp(customer)
        if business:
            last = self.whatsapp_last_inbound.get((account, strip_whatsapp(business), customer))
            return last is not None and last >= limit
        return any(acct == account and cust == customer and ts >= limit
                   for (acct, _, cust), ts in self.whatsapp_last_inbound.items())

    # --- TeleSign nonces ------------------------------------------------------------------------------------------

    def use_nonce(self, customer_id: str, nonce: str) -> bool:
        """Remember a nonce; False when it was used within the date window."""
        now = self.now()
        window = self.config.telesign_date_window_s
        order = self.nonce_order
        while order and (order[0][0] < now - 2 * window or len(order) >= self.config.telesign_nonce_cache):
            _, old = order.popleft()
            self.nonces.pop(old, None)
        key = (customer_id, nonce)
        seen = self.nonces.get(key)
        if seen is not None and seen >= now - 2 * window:
            return False
        self.nonces[key] = now
        order.append((now, key))
        return True

    # --- media ----------------------------------------------------------------------------------------------------

    def add_media(self, media: Media) -> None:
        self.media[media.sid] = media
        while len(self.media) > self.config.max_media:
            _, old = self.media.popitem(last=False)
            for token in [t for t, sid in self.cdn_tokens.items() if sid == old.sid]:
                del self.cdn_tokens[token]
