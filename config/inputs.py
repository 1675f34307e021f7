"""Reading what a request sends where a database column is waiting: ids that fit a bigint, text without NUL.

``str.isdigit()`` is true for "²" and "١٢", which ``int()`` refuses or reads, and for numbers past what
PostgreSQL's bigint holds; a NUL cannot be stored in, or compared with, a PostgreSQL text column."""

from __future__ import annotations

BIGINT_MAX = 2**63 - 1


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
