"""SMS encoding and segment count (3GPP TS 23.038).

A message that uses only the GSM 03.38 basic set and its extension table goes as GSM-7:
160 septets in one segment, 153 per segment when concatenated; an extension character
takes two septets (ESC + char) and is never split across segments. Anything else makes
the whole message UCS-2: 70 UTF-16 code units in one segment, 67 when concatenated;
characters outside the BMP (most emoji) take two units and a pair is never split.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    characters: int

    def as_dict(self) -> dict[str, object]:
        return {"encoding": self.encoding, "units": self.units, "segments": self.segments,
                "characters": self.characters}


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _pack(sizes: list[int], single: int, multi: int) -> int:
    total = sum(sizes)
    if total == 0:
        return 0
    if total <= single:
        return 1
    segments, used = 1, 0
    for size in sizes:  # an indivisible unit that does not fit starts the next segment
        if used + size > multi:
            segments += 1
            used = 0
        used += size
    return segments


def count(text: str) -> SegmentInfo:
    if is_gsm7(text):
        sizes = [2 if c in GSM7_EXTENSION else 1 for c in text]
        return SegmentInfo("GSM-7", sum(sizes), _pack(sizes, GSM7_SINGLE, GSM7_MULTI), len(text))
    sizes = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return SegmentInfo("UCS-2", sum(sizes), _pack(sizes, UCS2_SINGLE, UCS2_MULTI), len(text))
