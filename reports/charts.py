"""Charts drawn on the server as SVG: no script, no CDN. Each chart has a title and a description for screen
readers (``role="img"`` with ``aria-labelledby``), labelled axes, and every bar's value in a ``<title>`` that
browsers show on hover. The numbers are in the table beside each chart too."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.formats import number_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

#: Colours that stay apart for the common colour-vision deficiencies (Okabe–Ito).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


@dataclass
class Series:
    label: str
    values: Sequence[float]
    color: str = ""


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top``."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _fmt(value: float, unit: str = "") -> str:
    text = number_format(int(value) if float(value).is_integer() else round(value, 1), force_grouping=True)
    return f"{text}{unit}"


def _frame(title: str, description: str, width: int, height: int, body: list[str]) -> SafeString:
    ident = f"chart-{uuid.uuid4().hex[:8]}"
    # Every text in the drawing went through escape(); the rest is numbers and our own markup.
    return mark_safe(  # noqa: S308
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-labelledby="{ident}-t {ident}-d" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(description)}</desc>'
        + "".join(body) + "</svg>")


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    parts = []
    for i, s in enumerate(series):
        parts.append(f'<g class="legend"><rect x="{x}" y="{y + i * 18}" width="12" height="12" fill="{s.color}"/>'
                     f'<text x="{x + 18}" y="{y + i * 18 + 10}" font-size="12">{escape(s.label)}</text></g>')
    return parts


def bar_chart(*, title: str, categories: Sequence[str], series: Sequence[Series], x_label: str, y_label: str,
              stacked: bool = True, unit: str = "", width: int = 1100, height: int = 300) -> SafeString:
    """Vertical bars per category (e.g. per day), stacked or side by side."""
    series = [Series(s.label, list(s.values), s.color or PALETTE[i % len(PALETTE)]) for i, s in enumerate(series)]
    left, right, top_pad, bottom = 70, 240, 20, 70
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    totals = [sum(s.values[i] for s in series) if stacked else max((s.values[i] for s in series), default=0)
              for i in range(len(categories))]
    ticks = nice_ticks(max(totals, default=0))
    top = ticks[-1] or 1
    body = []
    for tick in ticks:
        y = top_pad + plot_h - tick / top * plot_h
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                    f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{_fmt(tick)}</text>')
    n = max(len(categories), 1)
    slot = plot_w / n
    bar_w = slot * 0.8 if stacked else slot * 0.8 / max(len(series), 1)
    label_every = max(1, math.ceil(n / 16))
    for i, category in enumerate(categories):
        x0 = left + i * slot + slot * 0.1
        base = 0.0
        for j, s in enumerate(series):
            value = s.values[i]
            h = value / top * plot_h
            x = x0 if stacked else x0 + j * bar_w
            y = top_pad + plot_h - (base + value) / top * plot_h if stacked else top_pad + plot_h - h
            body.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                        f'height="{max(h, 0):.1f}" fill="{s.color}"><title>{escape(category)} — {escape(s.label)}: '
                        f'{_fmt(value, unit)}</title></rect>')
            if stacked:
                base += value
        if i % label_every == 0:
            cx = left + i * slot + slot / 2
            body.append(f'<text x="{cx:.1f}" y="{top_pad + plot_h + 16}" font-size="11" text-anchor="middle">'
                        f'{escape(category)}</text>')
    body.append(f'<line x1="{left}" x2="{left}" y1="{top_pad}" y2="{top_pad + plot_h}" stroke="#666"/>'
                f'<line x1="{left}" x2="{left + plot_w}" y1="{top_pad + plot_h}" y2="{top_pad + plot_h}" '
                f'stroke="#666"/>')
    body.append(f'<text class="axis-label" x="{left + plot_w / 2}" y="{height - 20}" font-size="12" '
                f'text-anchor="middle">{escape(x_label)}</text>')
    body.append(f'<text class="axis-label" x="16" y="{top_pad + plot_h / 2}" font-size="12" text-anchor="middle" '
                f'transform="rotate(-90 16 {top_pad + plot_h / 2})">{escape(y_label)}</text>')
    body.extend(_legend(series, left + plot_w + 20, top_pad))
    description = "; ".join(f"{s.label}: {_fmt(sum(s.values), unit)} in all" for s in series)
    return _frame(title, description, width, height, body)


def hbar_chart(*, title: str, categories: Sequence[str], series: Sequence[Series], x_label: str, y_label: str,
               unit: str = "", width: int = 1100, row_height: int = 34) -> SafeString:
    """Horizontal bars, one group per category (e.g. funnel stages, or median and 90th percentile)."""
    series = [Series(s.label, list(s.values), s.color or PALETTE[i % len(PALETTE)]) for i, s in enumerate(series)]
    left, right, top_pad, bottom = 190, 240, 16, 56
    height = top_pad + bottom + row_height * max(len(categories), 1)
    plot_w = width - left - right
    ticks = nice_ticks(max((v for s in series for v in s.values), default=0))
    top = ticks[-1] or 1
    body = []
    plot_h = row_height * max(len(categories), 1)
    for tick in ticks:
        x = left + tick / top * plot_w
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top_pad}" y2="{top_pad + plot_h}" stroke="#ddd"/>'
                    f'<text x="{x:.1f}" y="{top_pad + plot_h + 14}" font-size="11" text-anchor="middle">'
                    f'{_fmt(tick)}</text>')
    bar_h = row_height * 0.8 / max(len(series), 1)
    for i, category in enumerate(categories):
        y0 = top_pad + i * row_height + row_height * 0.1
        body.append(f'<text x="{left - 8}" y="{y0 + row_height * 0.45:.1f}" font-size="12" text-anchor="end">'
                    f'{escape(category)}</text>')
        for j, s in enumerate(series):
            value = s.values[i]
            w = value / top * plot_w
            y = y0 + j * bar_h
            body.append(f'<rect class="bar" x="{left}" y="{y:.1f}" width="{max(w, 0):.1f}" '
                        f'height="{max(bar_h - 1, 1):.1f}" fill="{s.color}"><title>{escape(category)} — '
                        f'{escape(s.label)}: {_fmt(value, unit)}</title></rect>'
                        f'<text x="{left + w + 4:.1f}" y="{y + bar_h * 0.7:.1f}" font-size="11">'
                        f'{_fmt(value, unit)}</text>')
    body.append(f'<line x1="{left}" x2="{left}" y1="{top_pad}" y2="{top_pad + plot_h}" stroke="#666"/>')
    body.append(f'<text class="axis-label" x="{left + plot_w / 2}" y="{height - 14}" font-size="12" '
                f'text-anchor="middle">{escape(x_label)}</text>')
    body.append(f'<text class="axis-label" x="14" y="{top_pad + plot_h / 2}" font-size="12" text-anchor="middle" '
                f'transform="rotate(-90 14 {top_pad + plot_h / 2})">{escape(y_label)}</text>')
    if len(series) > 1:
        body.extend(_legend(series, left + plot_w + 20, top_pad))
    description = "; ".join(f"{c}: " + ", ".join(f"{s.label} {_fmt(s.values[i], unit)}" for s in series)
                            for i, c in enumerate(categories))
    return _frame(title, description, width, height, body)
