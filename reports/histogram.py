"""Durations in buckets, so that rolled-up days can give a median and a 90th percentile without the rows.

Below a minute every second is a bucket of its own; above, each bucket is 5 % wider than the one before. Each
bucket keeps its count and the sum of its durations; a percentile read from the buckets takes each value as its
bucket's mean, so it is exact when a bucket's values are alike and otherwise off by less than the bucket's
width (a second below a minute, 5 % above — "3 min 30 s" may read "3 min 25 s"). A period with no rolled-up day
gets exact percentiles from the live table (``percentile_cont``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta

LINEAR = 60
GROWTH = 1.05


def bucket_of(seconds: float) -> int:
    seconds = max(seconds, 0.0)
    if seconds < LINEAR:
        return int(seconds)
    return LINEAR + int(math.log(seconds / LINEAR) / math.log(GROWTH))


def histogram_percentiles(counts: Iterable[tuple[int, int, float]],
                          fractions: tuple[float, ...] = (0.5, 0.9)) -> tuple[int, list[timedelta | None]]:
    """How many values, and the percentiles of a histogram given as (bucket, count, seconds) triples, as
    percentile_cont defines them (position ``p × (n − 1)``, interpolated), each value of a bucket taken as the
    bucket's mean."""
    merged: dict[int, list] = {}
    for bucket, count, seconds in counts:
        entry = merged.setdefault(bucket, [0, 0.0])
        entry[0] += count
        entry[1] += seconds
    ordered = sorted((b, c, total / c) for b, (c, total) in merged.items() if c > 0)
    n = sum(c for _b, c, _mean in ordered)
    if not n:
        return 0, [None for _ in fractions]

    def value_at(index: int) -> float:
        seen = 0
        for _bucket, count, mean in ordered:
            if index < seen + count:
                return mean
            seen += count
        return ordered[-1][2]

    results = []
    for p in fractions:
        k = p * (n - 1)
        low = math.floor(k)
        a, b = value_at(low), value_at(min(low + 1, n - 1))
        results.append(timedelta(seconds=a + (b - a) * (k - low)))
    return n, results
