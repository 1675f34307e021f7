"""The emulator process: one aiohttp application serving TeleSign, Twilio and the control API.

Start it from the command line (``manage.py run_provider_emulator``), from asyncio code
(``await emulator.start()``), or in a background thread from tests::

    emulator = ProviderEmulator(twilio_accounts=[("AC…", "token")])
    url = emulator.start_in_thread()        # ephemeral port, e.g. http://127.0.0.1:40123
    ...
    emulator.stop()
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import gc
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from .acs import AcsAPI
from .callbacks import Activity, CallbackDispatcher, CallbackJob
from .common import InjectError
from .config import EmulatorConfig
from .control import ControlAPI
from .state import AcsResource, Message, State, TeleSignAccount, TwilioAccount, strip_whatsapp
from .telesign import TeleSignAPI
from .twilio import TwilioAPI

MAX_MEDIA_ITEMS = 10
MAX_MEDIA_BYTES = 5 * 1024 * 1024


def _png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x2a\x7f\xd4")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PLACEHOLDER_PNG = _png_1x1()


class StepQueue:
    """Delayed calls in arrival order behind one loop timer (much cheaper than a timer per message).

    Every step waits the same ``callback_delay_ms``, so due times arrive in order; if the delay is
    lowered at run time, new steps may wait behind older ones for at most the old delay. The loop
    wakes at most every ``TICK`` seconds for them (a step may run up to a tick late), which keeps
    the cost per message low at thousands of sends per second.
    """

    TICK = 0.005

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.items: deque[tuple[float, Callable[..., None], tuple[Any, ...]]] = deque()
        self.handle: asyncio.TimerHandle | None = None
        self.running = False

    def add(self, delay: float, fn: Callable[..., None], *args: Any) -> None:
        due = self.loop.time() + delay
        self.items.append((due, fn, args))
        if self.handle is None and not self.running:
            self.handle = self.loop.call_at(due, self._run)

    def _run(self) -> None:
        self.handle = None
        self.running = True
        items = self.items
        now = self.loop.time()
        while items and items[0][0] <= now:
            _, fn, args = items.popleft()
            try:
                fn(*args)
            except Exception:  # one broken step must not stall the others
                self.loop.call_exception_handler({"message": "emulator step failed", "exception": sys.exc_info()[1]})
        self.running = False
        if items:
            self.handle = self.loop.call_at(max(items[0][0], now + self.TICK), self._run)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.items.clear()


class ProviderEmulator:
    """A local TeleSign + Twilio + Azure Communication Services. See docs/emulator.md for the HTTP interface.

    With ``tls_cert`` and ``tls_key`` (PEM files) it also serves HTTPS on a second port (``tls_url``):
    the Azure SDK speaks only HTTPS.
    """

    def __init__(self, config: EmulatorConfig | None = None, *,
                 twilio_accounts: Iterable[tuple[str, str]] = (),
                 telesign_accounts: Iterable[tuple[str, str]] = (),
                 twilio_inbound_urls: dict[str, str] | None = None,
                 telesign_callback_urls: dict[str, str] | None = None,
                 acs_resources: Iterable[tuple[str, str, dict[str, str]]] = (),
                 tls_cert: str | None = None, tls_key: str | None = None,
                 **settings: Any) -> None:
        self.config = config or EmulatorConfig()
        if settings:
            self.config.update(settings)
        self.config.validate()
        self.state = State(self.config)
        for sid, token in twilio_accounts:
            self.state.add_twilio_account(sid, token)
        for customer_id, api_key in telesign_accounts:
            self.state.add_telesign_account(customer_id, api_key)
        for number, url in (twilio_inbound_urls or {}).items():
            self.state.set_twilio_inbound(number, url)
        for customer_id, url in (telesign_callback_urls or {}).items():
            self.resolve_telesign_account(customer_id).callback_url = url
        for name, access_key, numbers in acs_resources:
            self.state.add_acs_resource(name, access_key, numbers)
        self.tls_cert, self.tls_key = tls_cert, tls_key
        self.tls_port = 0
        self.twilio = TwilioAPI(self)
        self.telesign = TeleSignAPI(self)
        self.acs = AcsAPI(self)
        self.control = ControlAPI(self)
        self.activity: Activity | None = None
        self.dispatcher: CallbackDispatcher | None = None
        self.runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.started_at = time.time()
        self.steps: StepQueue | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # --- URLs ----------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def public_url(self) -> str:
        return (self.config.public_url or self.url).rstrip("/")

    @property
    def tls_url(self) -> str:
        """The HTTPS base URL (an ACS resource endpoint), when the emulator serves HTTPS."""
        if not self.tls_port:
            raise RuntimeError("the emulator serves no HTTPS: start it with tls_cert and tls_key")
        return self.url.replace("http://", "https://", 1).rsplit(":", 1)[0] + f":{self.tls_port}"

    @property
    def public_tls_url(self) -> str:
        return self.tls_url if self.tls_port else self.public_url

    # --- lifecycle -------------------------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.add_routes(self.control.routes())
        app.add_routes(self.twilio.routes())
        app.add_routes(self.telesign.routes())
        app.add_routes(self.acs.routes())
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0, backlog: int = 2048, tls_port: int = 0) -> str:
        """Start serving on the running loop; port 0 picks a free port (also ``tls_port``, the HTTPS port
        served when a certificate is configured). Returns the base URL."""
        self._loop = asyncio.get_running_loop()
        self.steps = StepQueue(self._loop)
        self.activity = Activity()
        self.dispatcher = CallbackDispatcher(self.state, self.activity)
        await self.dispatcher.start()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            await self.dispatcher.close()
            raise
        sock.setblocking(False)
        self.runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False, keepalive_timeout=75,
                                    shutdown_timeout=0.25)
        await self.runner.setup()
        site = web.SockSite(self.runner, sock, backlog=backlog)
        await site.start()
        self.host, self.port = host, sock.getsockname()[1]
        if self.tls_cert and self.tls_key:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.tls_cert, self.tls_key)
            tls_sock = socket.socket(family, socket.SOCK_STREAM)
            tls_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tls_sock.bind((host, tls_port))
            except OSError:
                tls_sock.close()
                await self.close()
                raise
            tls_sock.setblocking(False)
            await web.SockSite(self.runner, tls_sock, backlog=backlog, ssl_context=context).start()
            self.tls_port = tls_sock.getsockname()[1]
        self.started_at = time.time()
        return self.url

    async def close(self) -> None:
        if self.steps is not None:
            self.steps.cancel()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        if self.dispatcher is not None:
            await self.dispatcher.close()

    def run(self, host: str = "127.0.0.1", port: int = 0,
            on_started: Callable[[str], None] | None = None, *, tune_gc: bool = True, tls_port: int = 0) -> None:
        """Serve until SIGINT/SIGTERM (blocking).

        ``tune_gc`` (for a process of its own): objects that exist at start are frozen out of the
        garbage collector's scans and collections run less often, which matters at thousands of
        requests per second with many messages kept in memory.
        """

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, stop.set)
            url = await self.start(host, port, tls_port=tls_port)
            if tune_gc:
                gc.collect()
                gc.freeze()
                gc.set_threshold(50_000, 50, 100)
            if on_started is not None:
                on_started(url)
            try:
                await stop.wait()
            finally:
                await self.close()

        asyncio.run(main())

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0, tls_port: int = 0) -> str:
        """Serve from a daemon thread with its own event loop; returns the base URL."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start(host, port, tls_port=tls_port))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.close())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=serve, name="provider-emulator", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the emulator did not start in time")
        if failure:
            self._thread = None
            raise failure[0]
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> ProviderEmulator:
        if self._thread is None:
            self.start_in_thread()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- used by the API handlers ----------------------------------------------------------------------------------

    def quiet(self) -> bool:
        """True when no latency or failure is configured (the fast path skips ``fault``)."""
        cfg = self.config
        return not (cfg.latency_ms or cfg.latency_jitter_ms or cfg.fail_5xx or cfg.fail_timeout or cfg.fail_429)

    async def fault(self) -> str | None:
        """Apply latency, then draw the request's fate: None, "5xx", "429" or "timeout"."""
        cfg = self.config
        if cfg.latency_ms or cfg.latency_jitter_ms:
            jitter = self.state.rng.random() * cfg.latency_jitter_ms if cfg.latency_jitter_ms else 0.0
            await asyncio.sleep((cfg.latency_ms + jitter) / 1000)
        if not (cfg.fail_5xx or cfg.fail_timeout or cfg.fail_429):
            return None
        draw = self.state.rng.random()
        if draw < cfg.fail_timeout:
            self.state.count("faults.timeout")
            return "timeout"
        draw -= cfg.fail_timeout
        if draw < cfg.fail_5xx:
            self.state.count("faults.5xx")
            return "5xx"
        draw -= cfg.fail_5xx
        if draw < cfg.fail_429:
            self.state.count("faults.429")
            return "429"
        return None

    async def drop(self, request: web.Request, *, accepted: bool = False) -> web.Response:
        """Leave the client without an answer: hold the request (unless timeout_mode is close), then close."""
        if accepted and self.state.requests:
            self.state.requests[-1]["fault"] = "timeout"
        if self.config.timeout_mode != "close":
            await asyncio.sleep(self.config.timeout_hold_ms / 1000)
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=504)  # never reaches the client: the connection is closed

    def undeliverable(self, number: str) -> bool:
        cfg = self.config
        if not cfg.undeliverable_numbers and not cfg.fail_delivery:
            return False
        digits = strip_whatsapp(number).lstrip("+")
        if any(strip_whatsapp(n).lstrip("+") == digits for n in cfg.undeliverable_numbers):
            return True
        return cfg.fail_delivery > 0 and self.state.rng.random() < cfg.fail_delivery

    def start_progress(self, msg: Message, plan: list[tuple[str, Any]]) -> None:
        """Move an accepted message through ``plan`` (one step per callback_delay_ms), sending its callbacks."""
        assert self.activity is not None and self.steps is not None
        self.activity.inc()
        self.steps.add(self.config.callback_delay_ms / 1000, self._advance, msg, plan, 0)

    def _advance(self, msg: Message, plan: list[tuple[str, Any]], index: int) -> None:
        assert self.activity is not None and self.steps is not None
        status, detail = plan[index]
        now = self.state.now()
        job: CallbackJob | None
        if msg.provider == "acs":
            msg.set_status(status, now)
            msg.status_description, wanted = detail
            self.acs.delivery_report(msg, msg.status_description, wanted)
            job = None
        elif msg.provider == "twilio":
            if detail is not None:
                msg.error_code, msg.error_message = detail
            if status == "sent":
                msg.sent_at = now
            msg.set_status(status, now)
            job = self.twilio.status_callback(msg, status)
        else:
            msg.status_code, msg.status_description = detail
            if status == "failed":
                msg.error_code, msg.error_message = detail
            msg.set_status(status, now)
            job = self.telesign.delivery_report(msg)
        self.state.count(f"status.{msg.provider}.{status}")
        if job is not None:
            self.queue_message_callback(msg, job)
        if index + 1 < len(plan):
            self.steps.add(self.config.callback_delay_ms / 1000, self._advance, msg, plan, index + 1)
        else:
            self.activity.dec()

    def queue_message_callback(self, msg: Message, job: CallbackJob) -> None:
        """Send a message's callbacks one after the other, in the order of its statuses."""
        assert self.activity is not None and self.dispatcher is not None
        if msg.cb_busy:
            if msg.cb_pending is None:
                msg.cb_pending = deque()
            msg.cb_pending.append(job)
            self.activity.inc()
            return
        msg.cb_busy = True
        job.on_done = lambda ok: self._next_callback(msg)
        self.dispatcher.submit(job)

    def _next_callback(self, msg: Message) -> None:
        assert self.activity is not None and self.dispatcher is not None
        if msg.cb_pending:
            job = msg.cb_pending.popleft()
            job.on_done = lambda ok: self._next_callback(msg)
            self.dispatcher.submit(job)
            self.activity.dec()
        else:
            msg.cb_busy = False

    def resolve_twilio_account(self, sid: str | None) -> TwilioAccount:
        accounts = self.state.twilio_accounts
        if sid:
            if sid not in accounts:
                raise InjectError(404, f"no Twilio account {sid} (known: {', '.join(sorted(accounts)) or 'none'})")
            return accounts[sid]
        if len(accounts) == 1:
            return next(iter(accounts.values()))
        raise InjectError(400, "account is required: " + ("no Twilio account is configured" if not accounts
                                                         else f"{len(accounts)} Twilio accounts are configured"))

    def resolve_telesign_account(self, customer_id: str | None) -> TeleSignAccount:
        accounts = self.state.telesign_accounts
        if customer_id:
            if customer_id not in accounts:
                raise InjectError(404, f"no TeleSign customer {customer_id} "
                                       f"(known: {', '.join(sorted(accounts)) or 'none'})")
            return accounts[customer_id]
        if len(accounts) == 1:
            return next(iter(accounts.values()))
        raise InjectError(400, "account is required: " + ("no TeleSign customer is configured" if not accounts
                                                         else f"{len(accounts)} TeleSign customers are configured"))

    def resolve_acs_resource(self, name: str | None) -> AcsResource:
        resources = self.state.acs_resources
        if name:
            if name not in resources:
                raise InjectError(404, f"no ACS resource {name} (known: {', '.join(sorted(resources)) or 'none'})")
            return resources[name]
        if len(resources) == 1:
            return next(iter(resources.values()))
        raise InjectError(400, "account is required: " + ("no ACS resource is configured" if not resources
                                                         else f"{len(resources)} ACS resources are configured"))

    async def acs_subscribe_async(self, name: str, url: str | None, schema: str = "eventgrid") -> dict[str, Any]:
        """Point the resource's Event Grid subscription at ``url`` and run its validation handshake."""
        if schema not in ("eventgrid", "cloudevents"):
            raise InjectError(400, "schema must be 'eventgrid' or 'cloudevents'")
        resource = self.resolve_acs_resource(name)
        resource.event_url, resource.schema, resource.validated = url, schema, False
        if url:
            await self.acs.validate_subscription(resource)
        return resource.public()

    @staticmethod
    def media_items(items: Any) -> list[tuple[str, bytes]]:
        """Media of an injected message: each a content type string, or {content_type, data_base64 | text}."""
        if not isinstance(items, list):
            raise InjectError(400, "media must be a list")
        if len(items) > MAX_MEDIA_ITEMS:
            raise InjectError(400, f"at most {MAX_MEDIA_ITEMS} media per message")
        result = []
        for item in items:
            if isinstance(item, str):
                item = {"content_type": item}
            if not isinstance(item, dict):
                raise InjectError(400, "each media item is a content type or an object with content_type")
            content_type = str(item.get("content_type") or "application/octet-stream")
            if "data_base64" in item:
                try:
                    data = base64.b64decode(str(item["data_base64"]), validate=True)
                except (binascii.Error, ValueError):
                    raise InjectError(400, "media data_base64 is not valid base64") from None
            elif "text" in item:
                data = str(item["text"]).encode("utf-8")
            elif content_type == "image/png":
                data = PLACEHOLDER_PNG
            else:
                data = f"Emulated attachment ({content_type})\n".encode()
            if len(data) > MAX_MEDIA_BYTES:
                raise InjectError(400, f"a media item is larger than {MAX_MEDIA_BYTES} bytes")
            result.append((content_type, data))
        return result

    async def inject_inbound_async(self, spec: dict[str, Any], *, wait: bool = True) -> dict[str, Any]:
        """Make the provider POST a customer's message to the hub; with ``wait``, report the hub's first answer."""
        assert self.dispatcher is not None and self._loop is not None
        provider = spec.get("provider")
        extra_jobs: list[CallbackJob] = []
        if provider == "acs":
            resource, jobs, info = self.acs.inbound(spec)
            if not resource.validated and not await self.acs.validate_subscription(resource):
                raise InjectError(502, f"the Event Grid subscription of {resource.name} did not pass its validation "
                                       f"handshake: {resource.validation_error}")
            job, extra_jobs = jobs[0], jobs[1:]
        elif provider == "twilio":
            job, info = self.twilio.inbound(spec)
        elif provider == "telesign":
            job, info = self.telesign.inbound(spec)
        else:
            raise InjectError(400, f"provider must be 'twilio', 'telesign' or 'acs', got {provider!r}")
        self.state.count(f"inbound.{provider}")
        if wait:
            job.first_result = self._loop.create_future()
        self.dispatcher.submit(job)
        for extra in extra_jobs:
            self.dispatcher.submit(extra)
        if wait:
            assert job.first_result is not None
            entry = await asyncio.wait_for(job.first_result, self.config.callback_timeout_s + 5)
            info["delivery"] = {k: entry[k] for k in ("http_status", "ok", "error", "response", "duration_ms")}
        return info

    # --- thread-safe helpers for code outside the loop (tests) ------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = self._loop
        if loop is None or not loop.is_running() or self._thread is None \
                or threading.current_thread() is self._thread:
            return fn(*args, **kwargs)

        async def run() -> Any:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(30)

    def _await(self, coro_fn: Callable[..., Any], *args: Any, timeout: float = 60, **kwargs: Any) -> Any:
        if self._loop is None or self._thread is None:
            raise RuntimeError("start the emulator with start_in_thread() first")
        return asyncio.run_coroutine_threadsafe(coro_fn(*args, **kwargs), self._loop).result(timeout)

    def configure(self, **values: Any) -> dict[str, Any]:
        return self._call(self.control.apply_config, values)

    def add_twilio_account(self, sid: str, auth_token: str, **extra: Any) -> None:
        self._call(self.state.add_twilio_account, sid, auth_token, **extra)

    def add_telesign_account(self, customer_id: str, api_key: str, **extra: Any) -> None:
        self._call(self.state.add_telesign_account, customer_id, api_key, **extra)

    def add_twilio_service(self, sid: str, service_sid: str, senders: list[str]) -> None:
        """A Messaging Service of Twilio account ``sid`` and its sender pool."""
        self._call(self.state.add_twilio_service, sid, service_sid, senders)

    def set_twilio_inbound_url(self, number: str, url: str, account: str | None = None) -> None:
        self._call(self.state.set_twilio_inbound, number, url, account)

    def add_acs_resource(self, name: str, access_key: str, numbers: dict[str, str] | None = None) -> None:
        """Register an ACS resource: its access key and its numbers (number → tollFree, mobile, shortCode…)."""
        self._call(self.state.add_acs_resource, name, access_key, numbers)

    def subscribe_acs(self, name: str, url: str | None, schema: str = "eventgrid") -> dict[str, Any]:
        """Create (or move) the resource's Event Grid subscription; returns its state after the handshake."""
        return self._await(self.acs_subscribe_async, name, url, schema)

    def set_telesign_callback_url(self, customer_id: str, url: str | None) -> None:
        def apply() -> None:
            self.resolve_telesign_account(customer_id).callback_url = url

        self._call(apply)

    def inject_inbound(self, *, wait: bool = True, **spec: Any) -> dict[str, Any]:
        """Thread-safe ``inject_inbound_async``: ``provider``, ``account``, ``from``/``from_``, ``to``, ``body``…"""
        if "from_" in spec:
            spec["from"] = spec.pop("from_")
        return self._await(self.inject_inbound_async, spec, wait=wait)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every scheduled status step and callback is done."""
        assert self.activity is not None
        return self._await(self.activity.wait_idle, timeout, timeout=timeout + 5)

    def messages(self, **filters: Any) -> list[dict[str, Any]]:
        return self._call(self.control.select_messages, filters)

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        return self._call(self.control.select_requests, filters)

    def callbacks(self, **filters: Any) -> list[dict[str, Any]]:
        return self._call(self.control.select_callbacks, filters)

    def stats(self) -> dict[str, Any]:
        return self._call(self.control.stats_data)

    def reset(self, *, accounts: bool = False) -> None:
        self._call(self.control.reset_state, accounts)
