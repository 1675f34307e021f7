import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels_app.segments import GSM7_BASIC, GSM7_EXTENSION, count

gsm_basic = st.text(alphabet=sorted(GSM7_BASIC), max_size=2000)
gsm_any = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=2000)
bmp_non_gsm = st.characters(min_codepoint=0x400, max_codepoint=0x4FF)  # Cyrillic: not in GSM-7
astral = st.characters(min_codepoint=0x1F600, max_codepoint=0x1F64F)


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),
        ("€" * 81, "GSM-7", 162, 2),
        # 152 septets then an escape pair: the pair may not straddle the boundary.
        ("a" * 152 + "€" + "a" * 10, "GSM-7", 164, 2),
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),
        ("ж" * 70, "UCS-2", 70, 1),
        ("ж" * 71, "UCS-2", 71, 2),
        ("😀" * 35, "UCS-2", 70, 1),
        ("😀" * 36, "UCS-2", 72, 2),
        # 66 units then a surrogate pair: the pair starts the next segment.
        ("ж" * 66 + "😀" + "ж" * 5, "UCS-2", 73, 2),
        ("ж" * 66 + "😀" + "ж" * 66, "UCS-2", 134, 3),
    ],
)
def test_known_counts(text, encoding, units, segments):
    info = count(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)


@given(gsm_basic)
def test_plain_gsm_text_follows_160_153(text):
    info = count(text)
    assert info.encoding == "GSM-7" and info.units == len(text)
    expected = 0 if not text else 1 if len(text) <= 160 else math.ceil(len(text) / 153)
    assert info.segments == expected


@given(st.text(alphabet=bmp_non_gsm, min_size=1, max_size=2000))
def test_bmp_unicode_text_follows_70_67(text):
    info = count(text)
    assert info.encoding == "UCS-2" and info.units == len(text)
    assert info.segments == (1 if len(text) <= 70 else math.ceil(len(text) / 67))


@given(gsm_any, st.one_of(bmp_non_gsm, astral))
def test_one_non_gsm_character_makes_the_whole_message_ucs2(text, odd):
    assert count(text + odd).encoding == "UCS-2"


@given(st.text(max_size=600), st.text(min_size=1, max_size=5))
def test_appending_never_reduces_segments(text, more):
    if count(text).encoding == count(text + more).encoding:
        assert count(text + more).segments >= count(text).segments


@given(st.text(max_size=2000))
def test_segments_hold_every_unit_and_waste_at_most_one_unit_each(text):
    info = count(text)
    if info.segments > 1:
        per = 153 if info.encoding == "GSM-7" else 67
        assert info.units <= per * info.segments
        # An unsplittable pair can leave at most one unit empty at each boundary.
        assert info.units > (per - 1) * (info.segments - 1)
