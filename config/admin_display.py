"""How the admin's lists show long text, moments and durations: short enough for a column at 1400 px, with
the whole value on hover. Shared by every app's admin (presentation only)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

EMPTY = "—"


def truncated(text: object, length: int = 40) -> str:
    """``text`` cut to ``length`` characters with an ellipsis; the whole of it in the tooltip."""
    full = "" if text is None else str(text)
    if not full:
        return EMPTY
    flat = " ".join(full.split())
    if len(flat) <= length:
        return format_html('<span title="{}">{}</span>', full, flat)
    return format_html('<span class="cell-truncated" title="{}">{}…</span>', full, flat[:length - 1].rstrip())


def natural_time(moment: datetime | None, *, now: datetime | None = None) -> str:
    """A moment as people say it — "14:05", "yesterday 09:12", "3 Nov 14:05", "3 Nov 2025" — in the current time
    zone, with the full date and time on hover."""
    if moment is None:
        return EMPTY
    now = timezone.localtime(now or timezone.now())
    local = timezone.localtime(moment)
    clock = date_format(local, "TIME_FORMAT")
    if local.date() == now.date():
        shown = _("today %(time)s") % {"time": clock}
    elif local.date() == (now - timedelta(days=1)).date():
        shown = _("yesterday %(time)s") % {"time": clock}
    elif local.year == now.year:
        shown = f"{date_format(local, 'MONTH_DAY_FORMAT')} {clock}"
    else:
        shown = date_format(local, "DATE_FORMAT")
    return format_html('<time datetime="{}" title="{}">{}</time>', local.isoformat(),
                       date_format(local, "DATETIME_FORMAT"), shown)


# --- Durations ---------------------------------------------------------------------------------------------

DURATION_HINT = _("For example “30 s”, “5 min”, “1 h 30 min”, “7 days” (or hh:mm:ss).")
_UNITS = {
    "d": 86400, "day": 86400, "days": 86400,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
}
_PART = re.compile(r"(\d+(?:[.,]\d+)?)\s*([^\W\d_]+)")
_CLOCK = re.compile(r"^(?:(\d+)\s+)?(\d+):(\d{1,2})(?::(\d{1,2}))?$")


def duration_label(value: timedelta | None) -> str:
    """A duration as people write it: "7 days", "1 h 30 min", "45 s" ("0 s" for none)."""
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0 s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if days:
        parts.append(ngettext("%(n)d day", "%(n)d days", days) % {"n": days})
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    if secs:
        parts.append(f"{secs} s")
    return " ".join(parts)


def _day_words() -> dict[str, int]:
    """The page language's words for "day" and "days", as ``duration_label`` writes them ("7 dias", "7 日"), so
    that a duration shown in a form reads back when the form is saved."""
    words = {}
    for count in (1, 2, 5):
        word = (ngettext("%(n)d day", "%(n)d days", count) % {"n": count}).replace(str(count), "").strip().lower()
        if word:
            words[word] = 86400
    return words


def duration_parse(text: str) -> timedelta:
    """Read "5 min", "1 h 30 min", "7 days", "90 s", "1d 2h", "00:05:00" or "7 00:00:00"; ValueError otherwise."""
    raw = (text or "").strip().lower()
    if not raw:
        raise ValueError("empty")
    clock = _CLOCK.match(raw)
    if clock:
        days, hours, minutes, secs = (int(g) if g else 0 for g in clock.groups())
        if clock.group(4) is None:  # "1:30" reads as hours and minutes
            return timedelta(days=days, hours=hours, minutes=minutes)
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=secs)
    if raw.isdigit():
        raise ValueError("no unit")
    total = 0.0
    position = 0
    for match in _PART.finditer(raw):
        if raw[position:match.start()].strip(" ,and"):
            raise ValueError(raw)
        unit = _UNITS.get(match.group(2)) or _day_words().get(match.group(2))
        if unit is None:
            raise ValueError(match.group(2))
        total += float(match.group(1).replace(",", ".")) * unit
        position = match.end()
    if position == 0 or raw[position:].strip():
        raise ValueError(raw)
    return timedelta(seconds=round(total))


class HumanDurationInput(forms.TextInput):
    def format_value(self, value):
        if isinstance(value, timedelta):
            return duration_label(value)
        return super().format_value(value)


class HumanDurationField(forms.DurationField):
    """A duration typed and shown as people write it, with the format in the help text."""

    widget = HumanDurationInput

    def __init__(self, *args, **kwargs):
        help_text = kwargs.pop("help_text", "")
        super().__init__(*args, **kwargs)
        self.help_text = f"{help_text} {DURATION_HINT}".strip() if help_text else DURATION_HINT

    def prepare_value(self, value):
        return duration_label(value) if isinstance(value, timedelta) else value

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, timedelta):
            return value
        try:
            return duration_parse(str(value))
        except (ValueError, OverflowError):
            raise ValidationError(
                _("“%(value)s” is not a duration. %(hint)s"), code="invalid",
                params={"value": value, "hint": DURATION_HINT}) from None


class FieldHelpMixin:
    """A ModelAdmin or inline that explains fields the model leaves unexplained (``field_help``: name → text),
    and types durations as people write them ("5 min", "7 days") instead of "7 00:00:00"."""

    field_help: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        from django.db import models

        super().__init__(*args, **kwargs)
        self.formfield_overrides = {**self.formfield_overrides,
                                    models.DurationField: {"form_class": HumanDurationField}}

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["help_texts"] = {**self.field_help, **kwargs.get("help_texts", {})}
        return super().get_form(request, obj, change, **kwargs)

    def get_formset(self, request, obj=None, **kwargs):
        kwargs["help_texts"] = {**self.field_help, **kwargs.get("help_texts", {})}
        return super().get_formset(request, obj, **kwargs)
