"""The control API under ``/_emulator/``: configure, register accounts and webhook targets,
inject customer messages, and read what the emulator received and sent.

It has no authentication: bind the emulator to a loopback address (the default).
"""

from __future__ import annotations

import binascii
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .acs import number_type_ok
from .common import InjectError, json_response
from .config import ConfigError
from .state import iso, strip_whatsapp

if TYPE_CHECKING:
    from .server import ProviderEmulator

DEFAULT_LIMIT = 1000
TWILIO_STATUSES = ("active", "suspended", "closed")
TELESIGN_STATUSES = ("active", "suspended")


def _error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status)


def _as_int(name: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None


def _as_time(name: str, value: Any) -> float | None:
    """Seconds since the epoch, from a number or an ISO 8601 timestamp."""
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"{name} must be seconds since the epoch or an ISO 8601 time, got {value!r}") from None


def _as_bool(value: Any) -> bool | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes")


def _limit(items: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    limit = DEFAULT_LIMIT if limit is None else limit
    return items[-limit:] if limit > 0 else []


class ControlAPI:
    def __init__(self, emulator: ProviderEmulator) -> None:
        self.emu = emulator
        self.state = emulator.state

    def routes(self) -> list[web.RouteDef]:
        p = "/_emulator"
        return [
            web.get(p, self.index),
            web.get(p + "/", self.index),
            web.get(p + "/health", self.health),
            web.get(p + "/config", self.get_config),
            web.post(p + "/config", self.post_config),
            web.get(p + "/accounts", self.get_accounts),
            web.post(p + "/accounts", self.post_accounts),
            web.get(p + "/webhooks", self.get_webhooks),
            web.post(p + "/webhooks", self.post_webhooks),
            web.post(p + "/inbound", self.post_inbound),
            web.get(p + "/requests", self.get_requests),
            web.get(p + "/messages", self.get_messages),
            web.get(p + "/messages/{id}", self.get_message),
            web.get(p + "/callbacks", self.get_callbacks),
            web.get(p + "/optouts", self.get_optouts),
            web.get(p + "/stats", self.get_stats),
            web.get(p + "/idle", self.get_idle),
            web.post(p + "/reset", self.post_reset),
        ]

    @staticmethod
    async def _json(request: web.Request) -> dict[str, Any]:
        if not await request.read():
            return {}
        try:
            data = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text='{"error": "body must be JSON"}', content_type="application/json") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text='{"error": "body must be a JSON object"}', content_type="application/json")
        return data

    # --- plain functions (also called in-process) -------------------------------------------------------------------

    def apply_config(self, values: dict[str, Any]) -> dict[str, Any]:
        seed_before = self.emu.config.seed
        changed = self.emu.config.update(values)
        if "seed" in changed or self.emu.config.seed != seed_before:
            self.state.reseed(self.emu.config.seed)
        self.state.resize()
        return self.emu.config.as_dict()

    def select_requests(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        provider, kind, account = filters.get("provider"), filters.get("kind"), filters.get("account")
        since = _as_int("since", filters.get("since"))
        since_time = _as_time("since_time", filters.get("since_time"))
        status = _as_int("status", filters.get("status"))
        items = [
            {**r, "at": iso(r["ts"])} for r in self.state.requests
            if (not provider or r["provider"] == provider) and (not kind or r["kind"] == kind)
            and (not account or r["account"] == account) and (since is None or r["seq"] > since)
            and (since_time is None or r["ts"] >= since_time) and (status is None or r["status"] == status)
        ]
        return _limit(items, _as_int("limit", filters.get("limit")))

    def select_messages(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        wanted = {k: filters.get(k) for k in ("provider", "account", "status", "direction", "channel")}
        to, sender = filters.get("to"), filters.get("from") or filters.get("from_")
        items = []
        for msg in self.state.messages.values():
            if any(v and getattr(msg, k) != v for k, v in wanted.items()):
                continue
            if to and strip_whatsapp(msg.to) != strip_whatsapp(to):
                continue
            if sender and strip_whatsapp(msg.from_ or "") != strip_whatsapp(sender):
                continue
            items.append(msg.public())
        return _limit(items, _as_int("limit", filters.get("limit")))

    def select_callbacks(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        provider, kind, message_id = filters.get("provider"), filters.get("kind"), filters.get("message_id")
        since = _as_int("since", filters.get("since"))
        ok = _as_bool(filters.get("ok"))
        items = [
            {**c, "at": iso(c["ts"])} for c in self.state.callbacks
            if (not provider or c["provider"] == provider) and (not kind or c["kind"] == kind)
            and (not message_id or c["message_id"] == message_id) and (since is None or c["seq"] > since)
            and (ok is None or c["ok"] == ok)
        ]
        return _limit(items, _as_int("limit", filters.get("limit")))

    def stats_data(self) -> dict[str, Any]:
        dispatcher, activity = self.emu.dispatcher, self.emu.activity
        return {
            "uptime_s": round(time.time() - self.emu.started_at, 3),
            "counters": dict(sorted(self.state.counters.items())),
            "stored": {"requests": len(self.state.requests), "messages": len(self.state.messages),
                       "callbacks": len(self.state.callbacks), "media": len(self.state.media)},
            "last_request_seq": self.state.request_seq,
            "last_callback_seq": self.state.callback_seq,
            "pending_work": activity.pending if activity else 0,
            "callback_queue": dispatcher.queue.qsize() if dispatcher else 0,
        }

    def reset_state(self, accounts: bool = False) -> None:
        self.state.reset_activity()
        if accounts:
            self.state.twilio_accounts.clear()
            self.state.telesign_accounts.clear()
            self.state.twilio_inbound.clear()
            self.state.acs_resources.clear()

    # --- handlers ---------------------------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        return json_response({
            "emulates": ["telesign", "twilio", "acs"],
            "twilio": ["POST /2010-04-01/Accounts/{Sid}/Messages.json", "GET /2010-04-01/Accounts/{Sid}.json",
                       "GET /2010-04-01/Accounts/{Sid}/Messages/{MessageSid}.json"],
            "telesign": ["POST /v1/messaging", "GET /v1/messaging/{reference_id}"],
            "acs": ["POST /sms?api-version=2021-03-07", "GET /phoneNumbers?api-version=2022-12-01"],
            "control": [f"{route.method} {route.path}" for route in self.routes() if route.path != "/_emulator/"],
            "docs": "docs/emulator.md",
        })

    async def health(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok", "url": self.emu.url, "public_url": self.emu.public_url})

    async def get_config(self, request: web.Request) -> web.Response:
        return json_response(self.emu.config.as_dict())

    async def post_config(self, request: web.Request) -> web.Response:
        try:
            return json_response(self.apply_config(await self._json(request)))
        except ConfigError as exc:
            return _error(400, str(exc))

    async def get_accounts(self, request: web.Request) -> web.Response:
        return json_response({"twilio": [a.public() for a in self.state.twilio_accounts.values()],
                              "telesign": [a.public() for a in self.state.telesign_accounts.values()],
                              "acs": [r.public() for r in self.state.acs_resources.values()]})

    async def post_accounts(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        provider = data.get("provider")
        if provider == "twilio":
            sid = str(data.get("sid") or data.get("account_sid") or "")
            token = data.get("auth_token")
            if not sid:
                return _error(400, "sid is required")
            if token is None and sid not in self.state.twilio_accounts:
                return _error(400, "auth_token is required for a new account")
            if data.get("status") is not None and data["status"] not in TWILIO_STATUSES:
                return _error(400, f"status must be one of {', '.join(TWILIO_STATUSES)}")
            if data.get("type") is not None and data["type"] not in ("Full", "Trial"):
                return _error(400, "type must be Full or Trial")
            numbers = data.get("numbers")
            if numbers is not None and (not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers)):
                return _error(400, "numbers must be a list of numbers")
            services = data.get("services")
            if services is not None and not (isinstance(services, dict) and all(
                    isinstance(v, list) and all(isinstance(n, str) for n in v) for v in services.values())):
                return _error(400, "services must map each MG… SID to a list of sender numbers")
            key = data.get("signing_key")
            if key is not None and not (isinstance(key, dict) and key.get("id") and key.get("secret")
                                        and key.get("algorithm", "HMAC_SHA1") in ("HMAC_SHA1", "HMAC_SHA256")):
                return _error(400, "signing_key is {\"id\", \"secret\", \"algorithm\": \"HMAC_SHA1|HMAC_SHA256\"}")
            existing = self.state.twilio_accounts.get(sid)
            account = self.state.add_twilio_account(
                sid, str(token if token is not None else existing.auth_token),  # type: ignore[union-attr]
                friendly_name=data.get("friendly_name"), status=data.get("status"), type=data.get("type"),
                numbers=[strip_whatsapp(n) for n in numbers] if numbers is not None else None,
                signing_key=(str(key["id"]), str(key["secret"]), key.get("algorithm", "HMAC_SHA1")) if key else None)
            for service_sid, senders in (services or {}).items():
                self.state.add_twilio_service(sid, service_sid, senders)
            return json_response(account.public())
        if provider == "telesign":
            customer_id = str(data.get("customer_id") or "")
            api_key = data.get("api_key")
            if not customer_id:
                return _error(400, "customer_id is required")
            existing = self.state.telesign_accounts.get(customer_id)
            if api_key is None and existing is None:
                return _error(400, "api_key is required for a new customer")
            if data.get("status") is not None and data["status"] not in TELESIGN_STATUSES:
                return _error(400, f"status must be one of {', '.join(TELESIGN_STATUSES)}")
            try:
                account = self.state.add_telesign_account(
                    customer_id, str(api_key if api_key is not None else existing.api_key),  # type: ignore[union-attr]
                    status=data.get("status"))
            except (binascii.Error, ValueError):
                return _error(400, "api_key is not base64")
            if "callback_url" in data:
                account.callback_url = data["callback_url"] or None
            return json_response(account.public())
        if provider == "acs":
            name = str(data.get("resource") or data.get("account") or "")
            access_key = data.get("access_key")
            numbers = data.get("numbers") or {}
            if isinstance(numbers, list):
                numbers = {str(n): "tollFree" for n in numbers}
            if not name:
                return _error(400, "resource is required (a name of your choosing)")
            existing = self.state.acs_resources.get(name)
            if access_key is None and existing is None:
                return _error(400, "access_key is required for a new resource")
            if not isinstance(numbers, dict) or not all(isinstance(k, str) and number_type_ok(str(v))
                                                        for k, v in numbers.items()):
                return _error(400, "numbers must map numbers to tollFree, mobile, geographic or shortCode")
            try:
                resource = self.state.add_acs_resource(
                    name, str(access_key if access_key is not None else existing.access_key),  # type: ignore[union-attr]
                    {k: str(v) for k, v in numbers.items()})
            except (binascii.Error, ValueError):
                return _error(400, "access_key is not base64")
            return json_response(resource.public())
        return _error(400, "provider must be 'twilio', 'telesign' or 'acs'")

    async def get_webhooks(self, request: web.Request) -> web.Response:
        return json_response({
            "twilio": [{"number": n, "url": t.url, "account": t.account} for n, t in self.state.twilio_inbound.items()],
            "telesign": [{"customer_id": a.customer_id, "url": a.callback_url}
                         for a in self.state.telesign_accounts.values() if a.callback_url],
            "acs": [{"resource": r.name, "url": r.event_url, "schema": r.schema, "validated": r.validated}
                    for r in self.state.acs_resources.values() if r.event_url],
        })

    async def post_webhooks(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        url = data.get("url") or None
        if url is not None and not str(url).startswith(("http://", "https://")):
            return _error(400, "url must be an http(s) URL")
        if data.get("provider") == "twilio":
            number = str(data.get("number") or "").strip()
            if not number:
                return _error(400, "number is required (e.g. +14155550100, or whatsapp:+14155238886)")
            if url is None:
                self.state.twilio_inbound.pop(number, None)
            else:
                self.state.set_twilio_inbound(number, url, data.get("account") or None)
            return json_response({"provider": "twilio", "number": number, "url": url})
        if data.get("provider") == "telesign":
            try:
                account = self.emu.resolve_telesign_account(data.get("customer_id"))
            except InjectError as exc:
                return _error(exc.status, exc.message)
            account.callback_url = url
            return json_response({"provider": "telesign", "customer_id": account.customer_id, "url": url})
        if data.get("provider") == "acs":
            try:
                state = await self.emu.acs_subscribe_async(data.get("resource") or data.get("account"), url,
                                                           str(data.get("schema") or "eventgrid"))
            except InjectError as exc:
                return _error(exc.status, exc.message)
            if url and not state["validated"]:
                return json_response({**state, "error": f"the subscription's validation handshake failed: "
                                                        f"{state['validation_error']}"}, 502)
            return json_response(state)
        return _error(400, "provider must be 'twilio', 'telesign' or 'acs'")

    async def post_inbound(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        wait = _as_bool(data.pop("wait", True))
        try:
            info = await self.emu.inject_inbound_async(data, wait=wait is not False)
        except InjectError as exc:
            return _error(exc.status, exc.message)
        except TimeoutError:
            return _error(504, "the webhook did not complete in time")
        return json_response(info, 200 if wait is not False else 202)

    def _filtered(self, fn: Any, request: web.Request) -> web.Response:
        try:
            items = fn(dict(request.query))
        except ValueError as exc:
            return _error(400, str(exc))
        return json_response({"count": len(items), "items": items, "last_request_seq": self.state.request_seq,
                              "last_callback_seq": self.state.callback_seq})

    async def get_requests(self, request: web.Request) -> web.Response:
        return self._filtered(self.select_requests, request)

    async def get_messages(self, request: web.Request) -> web.Response:
        return self._filtered(self.select_messages, request)

    async def get_message(self, request: web.Request) -> web.Response:
        msg = self.state.messages.get(request.match_info["id"])
        if msg is None:
            return _error(404, "no such message (or it was evicted by max_messages)")
        return json_response(msg.public())

    async def get_callbacks(self, request: web.Request) -> web.Response:
        return self._filtered(self.select_callbacks, request)

    async def get_optouts(self, request: web.Request) -> web.Response:
        return json_response({
            "twilio": [{"account": a, "number": n, "customer": c} for a, n, c in sorted(self.state.opt_outs)],
            "telesign": [{"customer_id": a, "sender_id": n, "phone_number": c}
                         for a, n, c in sorted(self.state.telesign_opt_outs)],
            "acs": [{"resource": a, "number": n, "customer": c} for a, n, c in sorted(self.state.acs_blocked)],
        })

    async def get_stats(self, request: web.Request) -> web.Response:
        return json_response(self.stats_data())

    async def get_idle(self, request: web.Request) -> web.Response:
        try:
            timeout = float(request.query.get("timeout", "10"))
        except ValueError:
            return _error(400, "timeout must be a number of seconds")
        assert self.emu.activity is not None
        idle = await self.emu.activity.wait_idle(max(0.0, min(timeout, 300.0)))
        return json_response({"idle": idle, "pending_work": self.emu.activity.pending})

    async def post_reset(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        self.reset_state(bool(data.get("accounts")))
        return json_response({"reset": True, "accounts": bool(data.get("accounts"))})
