"""Failed sign-ins are throttled: the admin's login form (the console's too) per address and per username,
API tokens per address; the counts are shared between processes and honour a trusted proxy only."""

import runpy
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.cache.backends.filebased import FileBasedCache
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.throttling import TokenFailureThrottle, client_ip

ROOT = Path(__file__).resolve().parents[2]
LOGIN = "/admin/login/?next=/console/"  # where the console sends anyone not signed in


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("ana", password="right-password", is_staff=True)


def sign_in(client, username, password, ip="203.0.113.5"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def limit(settings):
    settings.AXES_FAILURE_LIMIT = 3
    return 3


def test_a_username_is_locked_after_the_limit_from_any_address(client, staff, limit):
    for n in range(limit - 1):
        assert sign_in(client, "ana", "wrong", ip=f"198.51.100.{n}").status_code == 200  # the form, again
    locked = sign_in(client, "ana", "wrong", ip="198.51.100.99")
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert locked["Retry-After"] == str(15 * 60)
    # The right password from a fresh address does not get in while the lockout lasts.
    assert sign_in(client, "ana", "right-password", ip="192.0.2.1").status_code == 429
    assert not signed_in(client)


def test_an_address_is_locked_after_the_limit_whatever_the_usernames(client, staff, limit):
    for n in range(limit):
        sign_in(client, f"guess{n}", "wrong", ip="198.51.100.7")
    assert sign_in(client, "ana", "right-password", ip="198.51.100.7").status_code == 429
    assert not signed_in(client)
    # Someone else, elsewhere, is not affected.
    assert sign_in(client, "ana", "right-password", ip="192.0.2.1").status_code == 302
    assert signed_in(client)


def test_a_lockout_ends_after_the_cool_off_and_a_success_clears_the_count(client, staff, limit):
    for n in range(limit - 1):
        sign_in(client, "ana", "wrong", ip=f"198.51.100.{n}")
    assert sign_in(client, "ana", "right-password").status_code == 302  # under the limit: in, count cleared
    client.logout()
    for n in range(limit - 1):
        sign_in(client, "ana", "wrong", ip=f"198.51.100.{n}")
    assert sign_in(client, "ana", "right-password").status_code == 302
    client.logout()
    for n in range(limit):
        sign_in(client, "ana", "wrong", ip=f"198.51.100.{n}")
    assert sign_in(client, "ana", "right-password").status_code == 429
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert sign_in(client, "ana", "right-password").status_code == 302
        assert signed_in(client)


# --- API tokens ----------------------------------------------------------------------------------


@pytest.fixture
def token_rate(settings):
    settings.API_TOKEN_FAILURE_RATE = "5/min"
    return 5


def api_get(token, ip="203.0.113.9", **headers):
    client = APIClient()
    return client.get("/api/v1/queues/", HTTP_AUTHORIZATION=f"Token {token}", REMOTE_ADDR=ip, **headers)


def test_bad_tokens_from_an_address_are_throttled(db, staff, token_rate):
    good = Token.objects.create(user=staff).key
    for _ in range(token_rate):
        response = api_get("0" * 40)
        assert (response.status_code, response.json()["error"]) == (401, "authentication_failed")
    throttled = api_get("0" * 40)
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "throttled"
    assert throttled.json()["detail"].startswith("Too many requests with an invalid API token from this address. "
                                                 "Expected available in ")
    assert 1 <= int(throttled["Retry-After"]) <= 60
    # Even a valid token waits from that address (a guess that hits is not tested while throttled) …
    assert api_get(good).status_code == 429
    # … while other addresses are not affected, and the address may try again after the window.
    assert api_get(good, ip="192.0.2.44").status_code == 403  # Ana is staff but no agent: a real answer
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert api_get(good).status_code == 403


def test_requests_without_a_token_are_not_counted(db, token_rate):
    for _ in range(token_rate + 3):
        assert APIClient().get("/api/v1/queues/", REMOTE_ADDR="203.0.113.10").status_code == 401


def test_without_a_rate_nothing_is_throttled(db, settings):
    settings.API_TOKEN_FAILURE_RATE = ""
    for _ in range(25):
        assert api_get("1" * 40).status_code == 401


def test_the_counts_are_shared_by_processes_through_the_file_store(tmp_path, rf, settings, token_rate):
    request = rf.get("/api/v1/queues/", REMOTE_ADDR="203.0.113.20")
    first = TokenFailureThrottle()
    first.cache = FileBasedCache(str(tmp_path), {})  # one web process …
    for _ in range(token_rate):
        first.record_failure(request)
    second = TokenFailureThrottle()
    second.cache = FileBasedCache(str(tmp_path), {})  # … and another, on the same machine
    assert second.wait_if_blocked(request) is not None
    assert second.wait_if_blocked(rf.get("/", REMOTE_ADDR="203.0.113.21")) is None


@pytest.mark.parametrize(("redis_url", "backend"), [
    ("", "django.core.cache.backends.filebased.FileBasedCache"),
    ("redis://127.0.0.1:6379/9", "config.cache.RedisCache"),
])
def test_the_throttle_store_is_shared_by_default(monkeypatch, redis_url, backend):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    configured = runpy.run_path(str(ROOT / "config" / "settings.py"))
    assert configured["CACHES"]["throttle"]["BACKEND"] == backend
    assert configured["CACHES"]["default"] != configured["CACHES"]["throttle"]


# --- The client address --------------------------------------------------------------------------


@pytest.mark.parametrize(("trust", "forwarded", "remote", "expected"), [
    (False, "198.51.100.1", "10.0.0.2", "10.0.0.2"),  # not behind a trusted proxy: the header is ignored
    (True, "198.51.100.1", "10.0.0.2", "198.51.100.1"),
    (True, "1.2.3.4, 198.51.100.1", "10.0.0.2", "198.51.100.1"),  # the client's own entries are not believed
    (True, "", "10.0.0.2", "10.0.0.2"),
    (True, "not-an-address", "10.0.0.2", "10.0.0.2"),
    (True, " 2001:db8::1 ", "10.0.0.2", "2001:db8::1"),
    (False, "", "", None),  # a unix socket: no address at all
])
def test_client_ip(settings, trust, forwarded, remote, expected):
    settings.TRUST_PROXY_HEADERS = trust
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=remote)
    assert client_ip(request) == expected


def test_behind_a_proxy_a_forged_forwarded_for_does_not_dodge_the_limit(db, settings, token_rate):
    settings.TRUST_PROXY_HEADERS = True
    for n in range(token_rate):
        api_get("0" * 40, ip="10.0.0.2", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 198.51.100.1")
    assert api_get("0" * 40, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.200, 198.51.100.1").status_code == 429
    assert api_get("0" * 40, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 401


@pytest.mark.parametrize(("username", "checked"), [
    ("x" * 5000, True), ("ánä" * 80, True),
    ("ana\x00", False), ("  ", False),  # refused by the form itself: no password was checked, nothing to count
])
def test_any_username_typed_is_answered_without_an_error(client, staff, limit, username, checked):
    for _ in range(limit):
        assert sign_in(client, username, "wrong").status_code in (200, 429)
    assert sign_in(client, "ana", "right-password").status_code == (429 if checked else 302)


def test_other_fields_of_a_failed_sign_in_are_stored_without_an_error(client, staff):
    response = client.post(LOGIN, {"username": "ana", "password": "wrong", "extra": "a\x00b" * 600},
                           REMOTE_ADDR="203.0.113.77", HTTP_USER_AGENT="u" * 1000)
    assert response.status_code == 200
    from axes.models import AccessAttempt

    attempt = AccessAttempt.objects.get(username="ana")
    assert "wrong" not in attempt.post_data  # the password is never stored


def test_a_sign_in_with_a_nul_in_the_query_string_is_refused_before_the_password_is_checked(client, staff):
    from axes.models import AccessAttempt

    response = client.post(LOGIN + "&x=%00", {"username": "ana", "password": "wrong"}, REMOTE_ADDR="203.0.113.77")
    assert response.status_code == 400 and b"NUL" in response.content
    assert not AccessAttempt.objects.exists()
    assert "_auth_user_id" not in client.session
