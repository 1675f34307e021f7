"""HTTP to providers: one keep-alive ``requests.Session`` per account, timeouts, error
classification, and a channel-log row for every exchange with secrets redacted."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from config import metrics
from config.redaction import REDACTED, redact

from .base import ErrorCode, ProviderError

if TYPE_CHECKING:
    from channels_app.models import MessagingAccount

logger = logging.getLogger(__name__)

_SENSITIVE_HEADERS = {"authorization", "x-ts-authorization", "x-twilio-signature", "proxy-authorization", "cookie"}

_sessions: dict[int, tuple[Any, requests.Session]] = {}
_sessions_lock = threading.Lock()


def session_for(account: MessagingAccount) -> requests.Session:
    """The account's pooled session; a credentials change gets a fresh one."""
    key = account.pk or id(account)
    fingerprint = account.credentials_updated_at
    with _sessions_lock:
        cached = _sessions.get(key)
        if cached and cached[0] == fingerprint:
            return cached[1]
        if cached:
            cached[1].close()
        session = requests.Session()
        session.headers["User-Agent"] = "messaging-hub/1"
        # No per-request look at proxy variables and ~/.netrc: a proxy is configured explicitly.
        session.trust_env = False
        if settings.PROVIDER_HTTPS_PROXY:
            session.proxies = {"https": settings.PROVIDER_HTTPS_PROXY, "http": settings.PROVIDER_HTTPS_PROXY}
        if settings.PROVIDER_CA_BUNDLE:
            session.verify = settings.PROVIDER_CA_BUNDLE
        _sessions[key] = (fingerprint, session)
        return session




def log_text(value: Any) -> str:
    """Text a channel-log column can hold, whatever arrived: bytes that are not UTF-8 are shown as
    ``\\xNN`` escapes and NUL characters as ``\\x00`` (PostgreSQL text holds no NUL)."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).decode("utf-8", errors="backslashreplace")
    text = str(value)
    return text.replace("\x00", "\\x00") if "\x00" in text else text


_text = log_text


def _clip(text: str) -> str:
    limit = settings.CHANNEL_LOG_MAX_BODY
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more characters]"


def safe_headers(headers: Mapping[str, str], secrets: Iterable[str]) -> dict[str, str]:
    secrets = list(secrets)
    return {
        log_text(k): (REDACTED if k.lower() in _SENSITIVE_HEADERS else redact(log_text(v), secrets))
        for k, v in headers.items()
    }


_buffer_lock = threading.Lock()
_buffer: list | None = None


@contextmanager
def channel_log_buffered() -> Iterator[None]:
    """Collect the channel-log rows written inside (from any thread) and insert them at the end in bulk.

    For bulk sends: one INSERT for a chunk instead of one per provider call.
    """
    global _buffer
    with _buffer_lock:
        outer = _buffer is not None
        if not outer:
            _buffer = []
    try:
        yield
    finally:
        if not outer:
            with _buffer_lock:
                rows, _buffer = _buffer, None
            if rows:
                from channels_app.models import ChannelLog
                from config.db.bulk import bulk_insert

                try:
                    bulk_insert(ChannelLog, rows)
                except Exception:  # the log must never break a send
                    logger.exception("could not write %s channel-log rows", len(rows))


def write_log(account: MessagingAccount, *, kind: str, method: str, url: str, status_code: int | None = None,
              duration_ms: int | None = None, request_headers: Mapping[str, str] | None = None,
              request_body: Any = None, response_body: Any = None, error: str = "", is_error: bool = False) -> None:
    """Write one channel-log row with every secret of ``account`` redacted."""
    from channels_app.models import ChannelLog

    secrets = account.secret_values()
    try:
        row = ChannelLog(
            account=account,
            kind=kind,
            method=method,
            url=redact(log_text(url), secrets),
            status_code=status_code,
            duration_ms=duration_ms,
            request_headers=safe_headers(request_headers or {}, secrets),
            request_body=_clip(redact(_text(request_body), secrets)),
            response_body=_clip(redact(_text(response_body), secrets)),
            error=redact(log_text(error), secrets),
            is_error=is_error,
        )
        with _buffer_lock:
            if _buffer is not None:
                _buffer.append(row)
                return
        row.save(force_insert=True)
    except Exception:  # the log must never break a send
        logger.exception("could not write channel log for account %s", account.pk)


def _reason(exc: BaseException) -> str:
    """The innermost, human-readable cause of a requests exception."""
    inner: BaseException | None = exc
    seen = set()
    while inner is not None and id(inner) not in seen:
        seen.add(id(inner))
        nxt = getattr(inner, "reason", None)
        if isinstance(nxt, BaseException):
            inner = nxt
            continue
        if inner.args and isinstance(inner.args[0], BaseException):
            inner = inner.args[0]
            continue
        break
    text = str(inner) if inner is not None else str(exc)
    # urllib3 prefixes "<connection object at 0x…>: "; keep the part after it.
    if ">: " in text:
        text = text.split(">: ", 1)[1]
    return text or exc.__class__.__name__


def provider_request(account: MessagingAccount, *, kind: str, method: str, url: str,
                     data: Any = None, headers: Mapping[str, str] | None = None,
                     auth: tuple[str, str] | None = None) -> requests.Response:
    """Send one request through the account's session and log it.

    Raises a retryable ProviderError ("could not reach <host>: <reason>") when no HTTP
    answer came back; any HTTP answer is returned for the provider module to interpret.
    """
    host = urlsplit(url).hostname or url
    session = session_for(account)
    started = time.monotonic()
    try:
        response = _send(session, method, url, data=data, headers=headers, auth=auth)
    except requests.Timeout as exc:
        message = f"could not reach {host}: timed out ({_reason(exc)})"
        metrics.provider_call(provider=account.provider, kind=kind, status_code=None,
                              seconds=time.monotonic() - started)
        _log_failure(account, kind, method, url, headers, data, started, message)
        raise ProviderError(message, retryable=True) from None
    except requests.RequestException as exc:
        message = f"could not reach {host}: {_reason(exc)}"
        metrics.provider_call(provider=account.provider, kind=kind, status_code=None,
                              seconds=time.monotonic() - started)
        _log_failure(account, kind, method, url, headers, data, started, message)
        raise ProviderError(message, retryable=True) from None
    metrics.provider_call(provider=account.provider, kind=kind, status_code=response.status_code,
                          seconds=time.monotonic() - started)
    duration = int((time.monotonic() - started) * 1000)
    sent = response.request
    write_log(
        account, kind=kind, method=method, url=url, status_code=response.status_code, duration_ms=duration,
        request_headers=dict(sent.headers) if sent is not None else dict(headers or {}),
        request_body=sent.body if sent is not None else data,
        response_body=response.text, is_error=response.status_code >= 400,
    )
    return response


def _send(session: requests.Session, method: str, url: str, *, data: Any,
          headers: Mapping[str, str] | None, auth: tuple[str, str] | None) -> requests.Response:
    """One exchange through the session's keep-alive connection pool, without the session layer.

    ``Session.request`` merges cookies, environment settings and hooks and follows redirects: a
    third of a bulk send's CPU, for nothing a provider API uses (the hub keeps no cookies, the
    sessions ignore the environment, and a provider's redirect is not followed). The request is
    prepared by ``requests`` as usual and goes out through the session's mounted adapter, with its
    headers, proxies and TLS settings.
    """
    prepared = requests.PreparedRequest()
    prepared.prepare(method=method, url=url, data=data, auth=auth,
                     headers={**session.headers, **(headers or {})})
    return session.get_adapter(url).send(
        prepared, timeout=(settings.PROVIDER_CONNECT_TIMEOUT, settings.PROVIDER_READ_TIMEOUT),
        proxies=session.proxies, verify=session.verify, cert=session.cert, stream=False)


def _log_failure(account, kind, method, url, headers, data, started, message) -> None:
    write_log(
        account, kind=kind, method=method, url=url, duration_ms=int((time.monotonic() - started) * 1000),
        request_headers=headers or {}, request_body=data, error=message, is_error=True,
    )


def json_or_empty(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except (ValueError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_from_response(response: requests.Response, *, code: Any, message: str,
                        table: Mapping[str, ErrorCode] | None = None) -> ProviderError:
    """Classify an HTTP error answer: 5xx and 429 are retryable, other 4xx are permanent, unless the
    provider's error table (``table``, by code) says the code is retryable."""
    status = response.status_code
    meaning = (table or {}).get(str(code)) if code not in (None, "") else None
    retryable = status >= 500 or status == 429 or bool(meaning and meaning.retryable)
    return ProviderError(
        message or (meaning.meaning if meaning else "") or f"HTTP {status}", retryable=retryable, code=code,
        http_status=status, retry_after=retry_after_seconds(response) if retryable else None,
    )
