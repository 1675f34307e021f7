"""Log lines that say what they concern: ids bound to the work in progress, JSON or plain text, no secrets.

Every line carries the ids bound where it was written — ``request_id`` (the web request or, for work
beat started, the first task: it follows one message from the webhook or API call through the
worker to the provider call), ``task_id``, ``account_id``, ``message_id``, ``conversation_id``,
``event_id`` — from a context variable:

- a web request gets its id in ``config.handlers`` (a sane ``X-Request-ID`` header is kept, otherwise
  a new one; the response carries it back);
- a task published from there carries the request id in a message header; the worker binds it again,
  with the task's id and the ids among the task's arguments (``message_id=``, ``event_id=`` …);
- services bind more ids as they learn them (``log_bind``), for the rest of the request or task.

``LOG_FORMAT=json`` writes one JSON object per line; the default is plain text with the ids at the end.
Either way the text is redacted: the secrets of the account being worked on, the hub's own keys and
tokens, credentials in URLs and authorization headers, and anything shaped like a Twilio Account SID.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import json
import logging
import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus

from config.redaction import REDACTED

#: The ids a line may carry, in the order plain text shows them.
FIELDS = ("request_id", "task_id", "account_id", "conversation_id", "message_id", "event_id")
_IDS = frozenset(FIELDS)

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("hub_log_context", default={})  # noqa: B039
# Secrets of the account being worked on (never logged: only used to blank them out).
_secrets: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("hub_log_secrets", default=())

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


# --- The context ------------------------------------------------------------------------------------

def log_context() -> dict[str, Any]:
    """The ids bound here and now."""
    return _context.get()


def current_request_id() -> str:
    """The request (or first task) id of the work in progress; empty outside any. Used as a model default."""
    return _context.get().get("request_id") or ""


def current_message_id() -> int | None:
    """The message being worked on, if one is bound. Used as a model default (channel log)."""
    value = _context.get().get("message_id")
    return value if isinstance(value, int) else None


def _clean(ids: dict[str, Any]) -> dict[str, Any]:
    unknown = set(ids) - _IDS
    if unknown:
        raise TypeError(f"unknown log ids: {', '.join(sorted(unknown))}")
    return {k: v for k, v in ids.items() if v not in (None, "")}


def log_bind(**ids: Any) -> None:
    """Bind ids for the rest of the current request or task (they are reset when it ends)."""
    _context.set({**_context.get(), **_clean(ids)})


@contextlib.contextmanager
def log_bound(**ids: Any) -> Iterator[None]:
    """Bind ids inside the block only."""
    token = _context.set({**_context.get(), **_clean(ids)})
    try:
        yield
    finally:
        _context.reset(token)


def context_start(**ids: Any) -> contextvars.Token:
    """Start a fresh context (a request or a task); give the token to ``context_end``."""
    _secrets.set(())
    return _context.set(_clean(ids))


def context_end(token: contextvars.Token) -> None:
    try:
        _context.reset(token)
    except ValueError:  # set in another context (a thread that outlived it): start clean instead
        _context.set({})
    _secrets.set(())


def request_id_from(header: str | None) -> str:
    """The id for a web request: the caller's ``X-Request-ID`` if it is a sane token, else a new one."""
    if header and _REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


def secrets_bind(values: Iterable[str]) -> None:
    """Blank these values out of every line written for the rest of the request or task."""
    current = _secrets.get()
    new = tuple(v for v in _spellings_of(tuple(values)) if v not in current)
    if new:
        _secrets.set(tuple(sorted(current + new, key=len, reverse=True)))


# --- Redaction --------------------------------------------------------------------------------------
# Every line goes through this, so it is built for speed: the secrets' spellings are worked out once
# (when bound), and each pattern runs only when a cheap substring test says it may match.

_PATTERNS = (
    # Credentials in a URL: scheme://user:password@host
    ("://", re.compile(r"(?P<keep>[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+(?=@)", re.IGNORECASE),
     rf"\g<keep>{REDACTED}"),
    # Authorization header values: Basic and Bearer credentials, DRF tokens, TeleSign's "TSA <id>:<signature>"
    ("asic", re.compile(r"(?P<keep>\b[Bb]asic\s+)[A-Za-z0-9+/=._~-]{8,}"), rf"\g<keep>{REDACTED}"),
    ("earer", re.compile(r"(?P<keep>\b[Bb]earer\s+)[A-Za-z0-9+/=._~-]{8,}"), rf"\g<keep>{REDACTED}"),
    ("Token", re.compile(r"(?P<keep>\bToken\s+)[0-9a-fA-F]{20,}"), rf"\g<keep>{REDACTED}"),
    ("TSA", re.compile(r"(?P<keep>\bTSA\s+)[^\s:]+:[A-Za-z0-9+/=]+"), rf"\g<keep>{REDACTED}"),
    # Twilio Account SIDs (and other 34-character Twilio keys that start the same way)
    ("AC", re.compile(r"\bAC[0-9a-fA-F]{32}\b"), REDACTED),
)


def _spellings(values: Iterable[str]) -> tuple[str, ...]:
    """Each secret as it may appear in text: as is, and URL-quoted both ways; longest first."""
    found = set()
    for value in values:
        if value and len(value) >= 4:
            found.update((value, quote(value, safe=""), quote_plus(value)))
    return tuple(sorted(found, key=len, reverse=True))


@functools.lru_cache(maxsize=256)
def _spellings_of(values: tuple[str, ...]) -> tuple[str, ...]:
    """``_spellings``, worked out once per set of secrets (an account's, bound on every webhook it gets)."""
    return _spellings(values)


def _static_secrets() -> tuple[str, ...]:
    """The hub's own secrets, from settings (read when first needed)."""
    global _static
    if _static is None:
        from django.conf import settings

        values = [getattr(settings, "SECRET_KEY", ""), *getattr(settings, "FIELD_ENCRYPTION_KEYS", []),
                  getattr(settings, "METRICS_TOKEN", "")]
        for db in getattr(settings, "DATABASES", {}).values():
            values.append(db.get("PASSWORD") or "")
        for url in (getattr(settings, "REDIS_URL", ""), getattr(settings, "CELERY_BROKER_URL", "")):
            match = re.match(r"^[a-z+]+://[^/:@]*:([^@/]+)@", url or "")
            if match:
                values.append(match.group(1))
        _static = _spellings(values)
    return _static


_static: tuple[str, ...] | None = None


def redact_log_text(text: str) -> str:
    if not text:
        return text
    for secret in (*_secrets.get(), *_static_secrets()):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for trigger, pattern, replacement in _PATTERNS:
        if trigger in text:
            text = pattern.sub(replacement, text)
    return text


# --- Logging plumbing (settings.LOGGING) -----------------------------------------------------------

class ContextFilter(logging.Filter):
    """Put the bound ids on each record (as attributes, for the formatters)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class PlainFormatter(logging.Formatter):
    """``time LEVEL logger message [request_id=… message_id=…]``, redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(f"{key}={getattr(record, key)}" for key in FIELDS if getattr(record, key, None))
        if ids:
            head, sep, tail = text.partition("\n")  # after the message, before a traceback
            text = f"{head} [{ids}]{sep}{tail}"
        return redact_log_text(text)


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC, milliseconds), level, logger, message, the bound ids,
    exc_info and stack_info when there are; the text redacted.

    Written here rather than taken from a JSON-logging library: this runs for every line of every process,
    and a general-purpose formatter (every record attribute merged, every value walked) cost six times as
    much per line.
    """

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                                "message": redact_log_text(record.getMessage())}
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None and value != "":
                data[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exc_info"] = redact_log_text(record.exc_text)
        if record.stack_info:
            data["stack_info"] = redact_log_text(self.formatStack(record.stack_info))
        return json.dumps(data, ensure_ascii=False, default=str)


def logging_config(*, level: str, fmt: str) -> dict[str, Any]:
    if fmt not in ("plain", "json"):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"LOG_FORMAT must be 'plain' or 'json', not {fmt!r}.")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"plain": {"()": PlainFormatter}, "json": {"()": JsonLinesFormatter}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": fmt, "filters": ["context"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"},
                    "axes": {"level": "WARNING"}},  # its start-up banner and every sign-in; lockouts are still logged
    }


# --- Celery: the request id travels with the task -------------------------------------------------

HEADER = "hub_request_id"
_task_tokens: dict[str, contextvars.Token] = {}


def _on_publish(headers: dict | None = None, **_: Any) -> None:
    request_id = _context.get().get("request_id")
    if headers is not None and request_id:
        headers[HEADER] = request_id


def _argument_ids(task: Any, args: Any, kwargs: Any) -> dict[str, Any]:
    """Ids among the task's arguments, by name (``message_send_task(message_id)`` → message_id)."""
    try:
        bound = inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {}))
    except (TypeError, ValueError):
        return {}
    return {k: v for k, v in bound.arguments.items() if k in _IDS and isinstance(v, int | str)}


def _on_prerun(task_id: str | None = None, task: Any = None, args: Any = None, kwargs: Any = None, **_: Any) -> None:
    if task is None or task_id is None:
        return
    if getattr(task.request, "is_eager", False):
        # Run inline: the caller's ids and request id, and what the task binds stays inside it.
        ids = {**_context.get(), "task_id": task_id, **_argument_ids(task, args, kwargs)}
        _task_tokens[task_id] = _context.set(ids)
        return
    request_id = getattr(task.request, HEADER, None)
    if not request_id and isinstance(getattr(task.request, "headers", None), dict):
        request_id = task.request.headers.get(HEADER)
    ids = {"request_id": request_id or task_id, "task_id": task_id, **_argument_ids(task, args, kwargs)}
    _task_tokens[task_id] = context_start(**ids)


def _on_postrun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    token = _task_tokens.pop(task_id, None) if task_id else None
    if token is None:
        return
    if task is not None and getattr(task.request, "is_eager", False):
        try:
            _context.reset(token)
        except ValueError:
            pass
        return
    context_end(token)


def connect_celery() -> None:
    from celery import signals

    signals.before_task_publish.connect(_on_publish, weak=False, dispatch_uid="hub-log-publish")
    signals.task_prerun.connect(_on_prerun, weak=False, dispatch_uid="hub-log-prerun")
    signals.task_postrun.connect(_on_postrun, weak=False, dispatch_uid="hub-log-postrun")
