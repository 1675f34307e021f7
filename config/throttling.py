"""Throttling of failed sign-ins: the admin's (and so the console's) login form, and API tokens.

- **Login form**: django-axes counts failures in the database, per client address and per username
  (either one reaching ``LOGIN_FAILURE_LIMIT`` locks it out for ``LOGIN_LOCKOUT_MINUTES``, each new failure
  during a lockout starting it again). Database rows are shared by every process, so the limit holds on the
  embedded default and behind several gunicorn workers alike.
- **API tokens**: a request whose ``Authorization: Token …`` is unknown counts against its client address;
  past ``API_TOKEN_FAILURE_RATE`` the address gets 429 with ``Retry-After`` for a while, even with a valid
  token. DRF's throttle history lives in the ``throttle`` cache: Redis when ``REDIS_URL`` is set (shared by
  all processes and machines), else files under ``HUB_VAR_DIR`` (shared by the processes of one machine).

The client address is ``REMOTE_ADDR``; with ``TRUST_PROXY_HEADERS`` it is the last address in
``X-Forwarded-For``, the one the proxy in front of the hub saw (earlier entries come from the client and
could be forged to dodge the limit).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.throttling import SimpleRateThrottle


def _address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The address a request came from, as far as this deployment can tell (see the module's docstring);
    None when there is none that is an IP address (a unix socket, a header that is not an address)."""
    if getattr(settings, "TRUST_PROXY_HEADERS", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1]
        if _address(forwarded):
            return _address(forwarded)
    return _address(request.META.get("REMOTE_ADDR") or "")


#: Longer than any username Django accepts (150), shorter than the 255 characters django-axes stores.
LOGIN_USERNAME_MAX = 150


def login_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The username a sign-in attempt is counted under, as django-axes stores it: whatever was typed, cut to
    what a username can be and without NUL characters (the admin's form does not bound its length, and a
    longer value would not fit the attempts table)."""
    field = settings.AXES_USERNAME_FORM_FIELD
    value = credentials.get(field) if credentials else request.POST.get(field)
    if value is None:
        return None
    return str(value).replace("\x00", "")[:LOGIN_USERNAME_MAX]


def login_locked_out(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """django-axes' answer to a locked-out sign-in: a page saying why and for how long, 429 with Retry-After."""
    from django.contrib import admin

    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    response = render(request, "admin/locked_out.html", {
        **admin.site.each_context(request), "minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT,
        "title": _("Too many failed sign-ins"),
    }, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


class TokenFailureThrottle(SimpleRateThrottle):
    """Failed API token checks per client address (``API_TOKEN_FAILURE_RATE``, e.g. ``20/min``)."""

    scope = "token_failure"

    def __init__(self) -> None:
        self.cache = caches["throttle"]  # looked up now: tests and settings may swap it
        super().__init__()

    def get_rate(self) -> str | None:
        return settings.API_TOKEN_FAILURE_RATE or None

    def get_cache_key(self, request, view=None) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}

    def _history(self, request) -> list[float]:
        self.key = self.get_cache_key(request)
        self.now = self.timer()
        return [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]

    def wait_if_blocked(self, request) -> float | None:
        """Seconds until this address may try again, or None when it may try now."""
        if self.rate is None:
            return None
        self.history = self._history(request)
        if len(self.history) < self.num_requests:
            return None
        return max(1.0, self.duration - (self.now - self.history[-1]))

    def record_failure(self, request) -> None:
        if self.rate is None:
            return
        history = self._history(request)
        history.insert(0, self.now)
        self.cache.set(self.key, history[: self.num_requests + 1], self.duration)


class ThrottledTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, refusing an address that keeps sending unknown tokens (429)."""

    def authenticate(self, request):
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() != self.keyword.lower().encode():
            return None  # no token offered: nothing to count
        throttle = TokenFailureThrottle()
        wait = throttle.wait_if_blocked(request)
        if wait is not None:
            # DRF adds "Expected available in N seconds." (and Retry-After).
            raise exceptions.Throttled(wait=wait, detail=_("Too many requests with an invalid API token from this "
                                                           "address."))
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            throttle.record_failure(request)
            raise
