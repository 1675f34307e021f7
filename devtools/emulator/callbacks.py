"""Callbacks the emulator sends (status callbacks, delivery reports, inbound webhooks).

A fixed pool of worker tasks drains one queue through one shared ``aiohttp.ClientSession``
(keep-alive connection pool), so the request path never waits for a callback. The queue is
bounded: past ``callback_queue_max`` waiting callbacks, new ones are dropped and counted.
A callback the receiver does not accept is retried after the provider's waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from .state import State

RESPONSE_CLIP = 500


def _exact(url: str) -> URL | str:
    """Request the URL exactly as written (it is what the signature covers), unless it needs encoding."""
    if url.isascii() and " " not in url:
        return URL(url, encoded=True)
    return url


class Activity:
    """Counts work still to do (timers, queued and running callbacks); ``wait_idle`` waits for zero."""

    def __init__(self) -> None:
        self.pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def inc(self) -> None:
        self.pending += 1
        self._idle.clear()

    def dec(self) -> None:
        self.pending -= 1
        if self.pending <= 0:
            self.pending = 0
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        # Idle must hold across one loop turn: a finishing callback may schedule the next one.
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self.pending == 0
            try:
                await asyncio.wait_for(self._idle.wait(), remaining)
            except TimeoutError:
                return self.pending == 0
            await asyncio.sleep(0)
            if self.pending == 0:
                return True


@dataclass
class CallbackJob:
    provider: str  # twilio | telesign
    kind: str  # status | delivery_report | inbound
    url: str
    body: bytes
    headers: dict[str, str]
    label: str  # what it reports: a Twilio MessageStatus, a TeleSign code, "inbound"
    message_id: str | None = None
    account: str | None = None
    retry_delays_ms: list[float] = field(default_factory=list)
    attempt: int = 0
    #: Resolved with the record of the first attempt (used to answer an inbound injection).
    first_result: asyncio.Future | None = None
    on_done: Callable[[bool], None] | None = None


class CallbackDispatcher:
    def __init__(self, state: State, activity: Activity) -> None:
        self.state = state
        self.activity = activity
        self.queue: asyncio.Queue[CallbackJob] = asyncio.Queue()
        self.session: aiohttp.ClientSession | None = None
        self.workers: list[asyncio.Task] = []
        self.timers: set[asyncio.TimerHandle] = set()

    async def start(self) -> None:
        concurrency = self.state.config.callback_concurrency
        connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, ttl_dns_cache=300,
                                         keepalive_timeout=30)
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=True,
                                             skip_auto_headers=("User-Agent",))
        self.workers = [asyncio.create_task(self._worker()) for _ in range(concurrency)]

    async def close(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
        for task in self.workers:
            task.cancel()
        for task in self.workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.workers = []
        if self.session is not None:
            await self.session.close()
            self.session = None

    # --- submitting ----------------------------------------------------------------------------------------------

    def submit(self, job: CallbackJob, delay_s: float = 0.0) -> None:
        self.activity.inc()
        if delay_s > 0:
            self._later(delay_s, job)
        else:
            self._enqueue(job)

    def _later(self, delay_s: float, job: CallbackJob) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self.timers.discard(handle)
            self._enqueue(job)

        handle = loop.call_later(delay_s, fire)
        self.timers.add(handle)

    def _enqueue(self, job: CallbackJob) -> None:
        if self.queue.qsize() >= self.state.config.callback_queue_max:
            self.state.count("callbacks.dropped")
            self._record(job, status=None, error="dropped: callback queue full", duration_ms=0, response="")
            self._finish(job, False)
            return
        self.queue.put_nowait(job)

    def _finish(self, job: CallbackJob, ok: bool) -> None:
        try:
            if job.on_done is not None:
                job.on_done(ok)
        finally:
            self.activity.dec()

    # --- sending -------------------------------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                await self._attempt(job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never lose the worker
                self._record(job, status=None, error=f"emulator error: {exc!r}", duration_ms=0, response="")
                self._finish(job, False)

    async def _attempt(self, job: CallbackJob) -> None:
        assert self.session is not None
        job.attempt += 1
        timeout = aiohttp.ClientTimeout(total=self.state.config.callback_timeout_s)
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        text = ""
        try:
            async with self.session.post(_exact(job.url), data=job.body, headers=job.headers, timeout=timeout,
                                         allow_redirects=False) as response:
                status = response.status
                raw = await response.content.read(RESPONSE_CLIP)
                text = raw.decode("utf-8", errors="replace")
        except TimeoutError:
            error = f"timed out after {self.state.config.callback_timeout_s:g} s"
        except aiohttp.ClientError as exc:
            error = str(exc) or exc.__class__.__name__
        duration_ms = round((time.monotonic() - started) * 1000, 2)
        ok = status == 200 if job.provider == "telesign" else (status is not None and 200 <= status < 300)
        self.state.count(f"callbacks.{job.provider}.{job.kind}.{'ok' if ok else 'failed'}")
        self._record(job, status=status, error=error, duration_ms=duration_ms, response=text)
        if not ok and job.attempt <= len(job.retry_delays_ms):
            self._later(job.retry_delays_ms[job.attempt - 1] / 1000, job)
            return
        self._finish(job, ok)

    def _record(self, job: CallbackJob, *, status: int | None, error: str | None, duration_ms: float,
                response: str) -> dict[str, Any]:
        body = job.body.decode("utf-8", errors="replace")
        entry = self.state.record_callback({
            "ts": self.state.now(), "provider": job.provider, "kind": job.kind, "url": job.url,
            "label": job.label, "message_id": job.message_id, "account": job.account, "attempt": job.attempt,
            "http_status": status, "ok": status == 200 if job.provider == "telesign"
            else (status is not None and 200 <= status < 300),
            "error": error, "duration_ms": duration_ms, "response": response, "body": body,
            "headers": dict(job.headers),
        })
        if job.first_result is not None and not job.first_result.done():
            job.first_result.set_result(entry)
        return entry
