"""Counters shared by every process: the hourly request limit and the per-number send rate.

Redis holds them when ``OUTBOUND_RATE_BACKEND`` is ``redis`` (the default when ``REDIS_URL`` is
set); otherwise rows of ``RateCounter`` in the database do, so the embedded default needs no
server. Both count in fixed windows: one-minute windows summed over the last hour for requests
(a sliding hour, to the minute), one-second windows for sends per number.
"""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils.translation import ngettext

from config.exceptions import ServiceError
from outbound.models import RateCounter

HOUR_WINDOW = 60  # seconds per window of the hourly limit
HOUR_WINDOWS = 60  # windows in an hour
REQUESTS_SCOPE = "requests"

_redis_lock = threading.Lock()
_redis_client: tuple[int, str, Any] | None = None


class RateLimited(ServiceError):
    """The hourly request limit is reached; ``retry_after`` says when the next request fits."""

    http_status = 429

    def __init__(self, message: str, *, retry_after: float, limit: int):
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(message, code="rate_limited", extra={"limit": limit, "retry_after": self.retry_after})


def _use_redis() -> bool:
    return settings.OUTBOUND_RATE_BACKEND == "redis"


def _redis() -> Any:
    """One client per process (a forked worker gets its own)."""
    global _redis_client
    import redis

    url = settings.REDIS_URL
    with _redis_lock:
        if _redis_client is None or _redis_client[0] != os.getpid() or _redis_client[1] != url:
            _redis_client = (os.getpid(), url, redis.Redis.from_url(url))
        return _redis_client[2]


def _key(scope: str, window: int) -> str:
    return f"{settings.OUTBOUND_RATE_KEY_PREFIX}{scope}:{window}"


# --- Database counters --------------------------------------------------------------------------

def _db_add(scope: str, window: int, n: int) -> None:
    with transaction.atomic():
        if RateCounter.objects.filter(scope=scope, window=window).update(count=F("count") + n):
            return
        try:
            with transaction.atomic():
                RateCounter.objects.create(scope=scope, window=window, count=n)
        except IntegrityError:  # another process created it a moment ago
            RateCounter.objects.filter(scope=scope, window=window).update(count=F("count") + n)


def _db_counts(scope: str, windows: list[int]) -> list[int]:
    rows = dict(RateCounter.objects.filter(scope=scope, window__in=windows).values_list("window", "count"))
    return [rows.get(w, 0) for w in windows]


# --- The hourly request limit -------------------------------------------------------------------

def _retry_after(counts: list[int], limit: int, n: int, now: float, current: int) -> float:
    """Seconds until enough old windows leave the hour for ``n`` more (counts: newest window first)."""
    total = sum(counts)
    for k in range(1, HOUR_WINDOWS + 1):
        dropped = sum(counts[HOUR_WINDOWS - k:])
        if total - dropped + n <= limit:
            return current + HOUR_WINDOW * k - now
    return current + HOUR_WINDOW * HOUR_WINDOWS - now


def requests_admit(*, n: int = 1, enforce: bool = True) -> None:
    """Count ``n`` requests against the hourly limit; raise RateLimited (counting nothing) when they do not fit.

    With ``enforce`` false the requests are counted but never refused (automated triggers).
    """
    limit = settings.OUTBOUND_MAX_REQUESTS_PER_HOUR
    now = time.time()
    current = int(now // HOUR_WINDOW) * HOUR_WINDOW
    windows = [current - HOUR_WINDOW * i for i in range(HOUR_WINDOWS)]
    if _use_redis():
        keys = [_key(REQUESTS_SCOPE, w) for w in windows]
        pipe = _redis().pipeline()
        pipe.incrby(keys[0], n)
        pipe.expire(keys[0], HOUR_WINDOW * (HOUR_WINDOWS + 2))
        pipe.mget(keys[1:])
        newest, _, older = pipe.execute()
        counts = [int(newest)] + [int(v or 0) for v in older]
    else:
        _db_add(REQUESTS_SCOPE, current, n)
        counts = _db_counts(REQUESTS_SCOPE, windows)
    if not enforce or sum(counts) <= limit:
        return
    requests_release(n=n, window=current)
    counts[0] -= n
    retry_after = _retry_after(counts, limit, n, now, current)
    raise RateLimited(
        ngettext("The limit of %(limit)s outbound requests per hour is reached; try again in %(seconds)s second.",
                 "The limit of %(limit)s outbound requests per hour is reached; try again in %(seconds)s seconds.",
                 math.ceil(retry_after)) % {"limit": f"{limit:,}", "seconds": math.ceil(retry_after)},
        retry_after=retry_after, limit=limit,
    )


def requests_release(*, n: int = 1, window: int | None = None) -> None:
    """Give back requests counted by ``requests_admit`` that were not stored after all."""
    if window is None:
        window = int(time.time() // HOUR_WINDOW) * HOUR_WINDOW
    if _use_redis():
        _redis().decrby(_key(REQUESTS_SCOPE, window), n)
    else:
        RateCounter.objects.filter(scope=REQUESTS_SCOPE, window=window, count__gte=n).update(count=F("count") - n)


def requests_in_last_hour() -> int:
    now = time.time()
    current = int(now // HOUR_WINDOW) * HOUR_WINDOW
    windows = [current - HOUR_WINDOW * i for i in range(HOUR_WINDOWS)]
    if _use_redis():
        return sum(int(v or 0) for v in _redis().mget([_key(REQUESTS_SCOPE, w) for w in windows]))
    return (RateCounter.objects.filter(scope=REQUESTS_SCOPE, window__in=windows)
            .aggregate(total=Sum("count"))["total"] or 0)


# --- Sends per number per second ----------------------------------------------------------------

def number_take(*, phone_number_id: int, n: int, per_second: float) -> tuple[int, float]:
    """Take up to ``n`` sends from the number's budget for this second.

    Returns how many may go now and, when none may, how long to wait for the next second.
    """
    limit = max(1, int(per_second))
    now = time.time()
    window = int(now)
    scope = f"number:{phone_number_id}"
    if _use_redis():
        client = _redis()
        pipe = client.pipeline()
        pipe.incrby(_key(scope, window), n)
        pipe.expire(_key(scope, window), 5)
        used, _ = pipe.execute()
        used = int(used)
    else:
        _db_add(scope, window, n)
        used = _db_counts(scope, [window])[0]
    granted = max(0, min(n, limit - (used - n)))
    if granted < n:
        if _use_redis():
            client.decrby(_key(scope, window), n - granted)
        else:
            RateCounter.objects.filter(scope=scope, window=window).update(count=F("count") - (n - granted))
    return granted, (0.0 if granted else max(0.01, window + 1 - now))


def counters_trim() -> int:
    """Delete database counters older than two hours."""
    cutoff = int(time.time()) - 2 * 3600
    deleted, _ = RateCounter.objects.filter(window__lt=cutoff).delete()
    return deleted
