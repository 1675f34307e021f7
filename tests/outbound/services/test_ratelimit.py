from unittest import mock

import pytest

from outbound.models import RateCounter
from outbound.services import ratelimit


@pytest.fixture
def clock():
    with mock.patch("outbound.services.ratelimit.time") as fake:
        fake.time.return_value = 5000.25
        yield fake


def test_a_number_gets_at_most_its_rate_per_second_across_callers(db, clock):
    assert ratelimit.number_take(phone_number_id=7, n=3, per_second=5) == (3, 0.0)
    assert ratelimit.number_take(phone_number_id=7, n=3, per_second=5) == (2, 0.0)
    granted, wait = ratelimit.number_take(phone_number_id=7, n=1, per_second=5)
    assert (granted, wait) == (0, pytest.approx(0.75))
    assert ratelimit.number_take(phone_number_id=8, n=1, per_second=5) == (1, 0.0)  # another number
    clock.time.return_value = 5001.0
    assert ratelimit.number_take(phone_number_id=7, n=9, per_second=5) == (5, 0.0)


def test_refused_requests_are_not_counted(db, clock, settings):
    settings.OUTBOUND_MAX_REQUESTS_PER_HOUR = 1
    ratelimit.requests_admit()
    with pytest.raises(ratelimit.RateLimited):
        ratelimit.requests_admit()
    assert ratelimit.requests_in_last_hour() == 1


def test_old_database_counters_are_trimmed(db, settings):
    settings.OUTBOUND_RATE_BACKEND = "database"
    RateCounter.objects.create(scope="requests", window=60, count=3)
    ratelimit.requests_admit()
    assert ratelimit.counters_trim() == 1
    assert ratelimit.requests_in_last_hour() == 1
