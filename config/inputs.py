"""Reading what a request sends where a database column is waiting: ids that fit a bigint, text without NUL.

``str.isdigit()`` is true for "²" and "١٢", which ``int()`` refuses or reads, and for numbers past what
PostgreSQL's bigint holds; a NUL cannot be stored in, or compared with, a PostgreSQL text column."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _

BIGINT_MAX = 2**63 - 1
#: The deepest JSON nesting the hub reads (webhooks and the API); deeper is refused with a 400.
JSON_MAX_DEPTH = 64


def json_depth_exceeds(text: str | bytes, limit: int = JSON_MAX_DEPTH) -> bool:
    """Whether ``text`` nests arrays and objects deeper than ``limit`` (strings are skipped over).

    A linear scan, run before ``json.loads``: Python's parser recurses once per level and a few
    thousand levels end in RecursionError.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # the common case, decided at C speed
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def db_id(value: object) -> int | None:
    """``value`` as a positive id that fits a bigint column, or None when it is not one."""
    text = str(value).strip() if value is not None else ""
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    number = int(text)
    return number if 0 < number <= BIGINT_MAX else None


def db_count(value: object) -> int | None:
    """``value`` as a count (0 or more) that fits a bigint, or None."""
    text = str(value).strip() if value is not None else ""
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    number = int(text)
    return number if number <= BIGINT_MAX else None


def has_nul(value: object) -> bool:
    return isinstance(value, str) and "\x00" in value


class RefuseNulMiddleware:
    """A NUL character in a request's path or query string is answered 400 before any view runs: no page,
    filter, search or lookup can compare it with a PostgreSQL text column (webhooks have their own stack,
    which keeps what providers send losslessly). Form and JSON fields are refused by their own validators."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        field = None
        if request.path.startswith("/webhooks/"):  # their own views keep, or refuse, what providers send
            return self.get_response(request)
        if "\x00" in request.path:
            field = "path"
        else:
            field = next((key for key, values in request.GET.lists()
                          if "\x00" in key or any("\x00" in v for v in values)), None)
        if field is None:
            return self.get_response(request)
        # This runs before LocaleMiddleware: the answer speaks the language the request asks for all the same.
        with translation.override(translation.get_language_from_request(request)):
            if "\x00" in request.path:
                detail = _("The request's path contains a NUL character (\\x00), which the hub does not accept "
                           "there.")
            else:
                detail = _("The query parameter “%(name)s” contains a NUL character (\\x00), which the hub does "
                           "not accept there.") % {"name": field.replace("\x00", "\\x00")}
        if request.path.startswith("/api/"):
            return JsonResponse({"error": "nul_character", "detail": detail, "field": field}, status=400)
        return HttpResponseBadRequest(detail, content_type="text/plain; charset=utf-8")
