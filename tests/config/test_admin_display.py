"""How the admin shows long text, moments and durations, and reads the durations people type."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone, translation

from config.admin_display import HumanDurationField, duration_label, duration_parse, natural_time, truncated


@pytest.mark.parametrize("text, expected", [
    ("5 min", timedelta(minutes=5)), ("1 h 30 min", timedelta(hours=1, minutes=30)), ("7 days", timedelta(days=7)),
    ("90 s", timedelta(seconds=90)), ("1d 2h", timedelta(days=1, hours=2)), ("1.5 hours", timedelta(minutes=90)),
    ("00:05:00", timedelta(minutes=5)), ("7 00:00:00", timedelta(days=7)), ("1:30", timedelta(hours=1, minutes=30)),
    ("2 hours and 5 minutes", timedelta(hours=2, minutes=5)),
])
def test_durations_are_read_as_people_write_them(text, expected):
    assert duration_parse(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "5", "5 fortnights", "min 5", "5 min later"])
def test_what_is_no_duration_is_refused(text):
    with pytest.raises(ValueError):
        duration_parse(text)


@pytest.mark.parametrize("value, expected", [
    (timedelta(days=7), "7 days"), (timedelta(minutes=5), "5 min"), (timedelta(hours=1, minutes=30), "1 h 30 min"),
    (timedelta(days=1, seconds=45), "1 day 45 s"), (timedelta(0), "0 s"),
])
def test_durations_are_shown_as_people_write_them(value, expected):
    assert duration_label(value) == expected
    assert duration_parse(expected) == value or expected == "0 s"


@pytest.mark.parametrize("language", ["en", "ja", "zh-hans", "zh-hant", "pt-br", "sv"])
def test_a_duration_shown_in_the_pages_language_reads_back_when_the_form_is_saved(language):
    value = timedelta(days=7, hours=1, minutes=30)
    with translation.override(language):
        shown = HumanDurationField().prepare_value(value)
        assert HumanDurationField().clean(shown) == value, shown
        assert HumanDurationField().clean(HumanDurationField().prepare_value(timedelta(days=1))) == timedelta(days=1)


def test_the_duration_field_names_the_format_when_it_refuses():
    field = HumanDurationField(help_text="How long.")
    assert "For example" in field.help_text and field.help_text.startswith("How long.")
    assert field.clean("2 h") == timedelta(hours=2)
    with pytest.raises(Exception, match="is not a duration. For example"):
        field.clean("soon")
    assert field.widget.format_value(timedelta(days=7)) == "7 days"


def test_long_text_is_cut_with_the_whole_of_it_in_the_tooltip():
    html = truncated("a" * 100, 20)
    assert 'title="' + "a" * 100 + '"' in html and ">" + "a" * 19 + "…<" in html
    assert truncated("short", 20) == '<span title="short">short</span>'
    assert truncated("", 20) == "—"
    assert "&lt;b&gt;" in truncated("<b>bold</b>", 20)  # escaped


def test_moments_read_naturally_with_the_full_date_on_hover(settings):
    settings.TIME_ZONE = "UTC"
    now = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    with timezone.override("UTC"):
        assert ">today 2:05 p.m.<" in natural_time(now - timedelta(minutes=55), now=now)
        assert ">yesterday 9 a.m.<" in natural_time(datetime(2026, 11, 30, 9, 0, tzinfo=UTC), now=now)
        assert ">November 3 2:05 p.m.<" in natural_time(datetime(2026, 11, 3, 14, 5, tzinfo=UTC), now=now)
        older = natural_time(datetime(2025, 3, 3, 14, 5, tzinfo=UTC), now=now)
        assert ">March 3, 2025<" in older and 'datetime="2025-03-03T14:05:00+00:00"' in older
        assert 'title="' in older
    assert natural_time(None) == "—"
