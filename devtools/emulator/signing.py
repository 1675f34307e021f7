"""TeleSign and Twilio signatures, computed the way the providers compute them.

Plain functions with no Django import: the emulator verifies requests and signs callbacks with
them, and tests and benchmarks use the client-side helpers to build signed requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterable, Mapping
from email.utils import formatdate

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


# --- TeleSign ----------------------------------------------------------------------------------------------------

def telesign_key_bytes(api_key: str) -> bytes:
    """The HMAC key: the API key base64-decoded leniently, as TeleSign's Python SDK decodes it.

    Characters outside the base64 alphabet are dropped (the SDK's own sample key holds ``-``).
    Raises ``binascii.Error`` when what is left is not base64.
    """
    return base64.b64decode(api_key)


def telesign_string_to_sign(*, method: str, content_type: str, date: str, xts_headers: Mapping[str, str],
                            body: str, resource: str) -> str:
    """TeleSign's string-to-sign for a REST request.

    ``METHOD \\n content-type \\n date \\n x-ts-*:value (sorted by name) [\\n body] \\n resource``.
    ``date`` is the ``Date`` header; the line is empty when the date travels in ``x-ts-date``
    (which then appears among the ``x-ts-*`` lines). The body line is present only for a
    non-empty body with a content type; ``resource`` is the path without the query string.
    With the two headers TeleSign's current SDKs send (``x-ts-auth-method``, ``x-ts-nonce``)
    this is byte for byte the SDK's string.
    """
    headers = {name.lower(): value for name, value in xts_headers.items()}
    lines = [method.upper(), content_type, "" if "x-ts-date" in headers else date]
    lines += [f"{name}:{headers[name]}" for name in sorted(headers)]
    if content_type and body:
        lines.append(body)
    lines.append(resource)
    return "\n".join(lines)


def telesign_hmac(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode("ascii")


def telesign_request_signature(api_key: str | bytes, string_to_sign: str) -> str:
    key = api_key if isinstance(api_key, bytes) else telesign_key_bytes(api_key)
    return telesign_hmac(key, string_to_sign.encode("utf-8"))


def telesign_callback_signature(api_key: str | bytes, body: bytes) -> str:
    """What TeleSign puts after ``TSA <customer_id>:`` on a callback: base64 HMAC-SHA256 of the raw body."""
    key = api_key if isinstance(api_key, bytes) else telesign_key_bytes(api_key)
    return telesign_hmac(key, body)


def telesign_callback_headers(customer_id: str, api_key: str | bytes, body: bytes) -> dict[str, str]:
    value = f"TSA {customer_id}:{telesign_callback_signature(api_key, body)}"
    return {"Authorization": value, "X-TS-Authorization": value, "Content-Type": "application/json"}


def telesign_sign_request(*, customer_id: str, api_key: str, method: str, resource: str, body: str = "",
                          date: str | None = None, nonce: str | None = None, use_x_ts_date: bool = False,
                          content_type: str | None = None) -> dict[str, str]:
    """Client side: the headers of a TSA HMAC-SHA256 request, as TeleSign's SDKs build them.

    ``use_x_ts_date`` sends the date in ``x-ts-date`` (older SDKs) instead of ``Date``.
    """
    date = date or formatdate(usegmt=True)
    nonce = nonce or str(uuid.uuid4())
    if content_type is None:
        content_type = FORM_CONTENT_TYPE if method.upper() in ("POST", "PUT") else ""
    xts = {"x-ts-auth-method": "HMAC-SHA256", "x-ts-nonce": nonce}
    if use_x_ts_date:
        xts["x-ts-date"] = date
    string_to_sign = telesign_string_to_sign(method=method, content_type=content_type, date=date,
                                             xts_headers=xts, body=body, resource=resource)
    headers = {
        "Authorization": f"TSA {customer_id}:{telesign_request_signature(api_key, string_to_sign)}",
        "Content-Type": content_type,
        **xts,
    }
    if not use_x_ts_date:
        headers["Date"] = date
    return headers


def basic_auth_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


# --- Twilio ------------------------------------------------------------------------------------------------------

def _pairs(params: Mapping[str, str | Iterable[str]] | Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    items = params.items() if isinstance(params, Mapping) else params
    grouped: dict[str, set[str]] = {}
    for key, value in items:
        values = [value] if isinstance(value, str) else list(value)
        grouped.setdefault(key, set()).update(values)
    return grouped


def twilio_signature(auth_token: str, url: str,
                     params: Mapping[str, str | Iterable[str]] | Iterable[tuple[str, str]] = (),
                     algorithm: str = "HMAC_SHA1") -> str:
    """X-Twilio-Signature: base64(HMAC-SHA1(auth token, full URL + each key with its values, sorted)); with a
    signing key, its secret and the key's algorithm (HMAC_SHA1 or HMAC_SHA256).

    Keys are sorted by code point; a key's repeated values are de-duplicated and sorted;
    key and value are appended with no separator. ``url`` is exactly the URL requested,
    query string included.
    """
    payload = [url]
    grouped = _pairs(params)
    for key in sorted(grouped):
        for value in sorted(grouped[key]):
            payload.append(key)
            payload.append(value)
    digest_of = hashlib.sha256 if algorithm.upper() == "HMAC_SHA256" else hashlib.sha1
    digest = hmac.new(auth_token.encode("utf-8"), "".join(payload).encode("utf-8"), digest_of).digest()
    return base64.b64encode(digest).decode("ascii")


# --- Azure Communication Services -----------------------------------------------------------------------------

ACS_SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"


def acs_content_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def acs_string_to_sign(*, method: str, path_and_query: str, date: str, host: str, content_hash: str) -> str:
    """ACS's HMAC string-to-sign: ``VERB\\n<path and query>\\n<x-ms-date>;<host>;<x-ms-content-sha256>``."""
    return f"{method.upper()}\n{path_and_query}\n{date};{host};{content_hash}"


def acs_signature(key: bytes, string_to_sign: str) -> str:
    return base64.b64encode(hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).digest()).decode("ascii")


def acs_sign_request(*, access_key: str, method: str, path_and_query: str, host: str, body: bytes = b"",
                     date: str | None = None) -> dict[str, str]:
    """Client side: the headers of an HMAC-SHA256 signed ACS request, as the Azure SDKs build them."""
    date = date or formatdate(usegmt=True)
    content_hash = acs_content_hash(body)
    signature = acs_signature(base64.b64decode(access_key), acs_string_to_sign(
        method=method, path_and_query=path_and_query, date=date, host=host, content_hash=content_hash))
    return {"x-ms-date": date, "x-ms-content-sha256": content_hash,
            "Authorization": f"HMAC-SHA256 SignedHeaders={ACS_SIGNED_HEADERS}&Signature={signature}"}
