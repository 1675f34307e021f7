"""Small helpers shared by the emulated APIs."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web


class InjectError(Exception):
    """An inbound injection that cannot be made; ``status`` is the control API's HTTP answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=json.dumps(data, separators=(",", ":")).encode("utf-8"), status=status,
                        headers={**JSON_HEADERS, **headers} if headers else JSON_HEADERS)


def parse_form(body: bytes) -> dict[str, list[str]]:
    """Decode an ``application/x-www-form-urlencoded`` body; keys keep every value, blanks included.

    Same result as ``urllib.parse.parse_qs(..., keep_blank_values=True)``, faster on the common
    case of values that need no unquoting.
    """
    if not body:
        return {}
    result: dict[str, list[str]] = {}
    for pair in body.decode("utf-8", errors="replace").split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        if "%" in key or "+" in key:
            key = unquote_plus(key)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        values = result.get(key)
        if values is None:
            result[key] = [value]
        else:
            values.append(value)
    return result


def first(params: dict[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    return values[0] if values else None


def sms_segments(text: str) -> int:
    """SMS segments of a text: GSM-7 160/153 septets (extension characters count 2), else UCS-2 70/67 units."""
    if not text:
        return 1
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        units = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        return 1 if units <= 160 else math.ceil(units / 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def query_int(request: web.Request, name: str, default: int | None = None) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"{name} must be a whole number, got {value!r}"}),
                                 content_type="application/json") from None
