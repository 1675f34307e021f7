"""The WSGI application: provider webhooks go through a lean middleware stack, everything else
through the full one."""

from __future__ import annotations

import io
import sys
from urllib.parse import urlencode

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from twilio.request_validator import RequestValidator

from channels_app.models import InboundEvent
from tests.conftest import TWILIO_AUTH_TOKEN


@pytest.fixture
def wsgi_app():
    """config.wsgi.application, called in-process inside the test's transaction (as Django's test
    client does, the per-request connection clean-up is switched off)."""
    from config.wsgi import application

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield application
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def call(app, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "testserver",
               "SERVER_PORT": "80", "HTTP_HOST": "testserver", "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
               "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_TYPE": "application/x-www-form-urlencoded",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()})
    started = {}

    def start_response(status, response_headers, exc_info=None):
        started.update(status=int(status.split()[0]), headers=dict(response_headers))

    response = app(environ, start_response)
    content = b"".join(response)
    response.close()
    return started["status"], started["headers"], content


def test_a_signed_webhook_is_stored_without_session_csrf_or_frame_headers(wsgi_app, twilio_sms_account, settings):
    settings.PUBLIC_BASE_URL = "https://hub.example.com"
    path = f"/webhooks/twilio/{twilio_sms_account.webhook_token}/inbound/"
    params = {"MessageSid": "SM" + "7" * 32, "From": "+15551234567", "To": "+14155550100", "Body": "hello"}
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(settings.PUBLIC_BASE_URL + path, params)

    status, headers, content = call(wsgi_app, "POST", path, urlencode(params).encode(),
                                    {"X-Twilio-Signature": signature})

    assert status == 200 and b"<Response/>" in content
    assert InboundEvent.objects.get().event_key == params["MessageSid"]
    assert "X-Frame-Options" not in headers and "Set-Cookie" not in headers and "Vary" not in headers
    # The security middleware still runs on webhooks.
    assert headers.get("X-Content-Type-Options") == "nosniff"


def test_a_webhook_with_a_bad_signature_is_still_refused(wsgi_app, twilio_sms_account):
    path = f"/webhooks/twilio/{twilio_sms_account.webhook_token}/inbound/"
    status, _, content = call(wsgi_app, "POST", path, b"MessageSid=SM1", {"X-Twilio-Signature": "forged"})
    assert status == 403 and b"bad signature" in content
    assert not InboundEvent.objects.exists()


def test_other_pages_keep_the_full_middleware_stack(wsgi_app, db):
    status, headers, _ = call(wsgi_app, "GET", "/admin/login/")
    assert status == 200
    assert headers["X-Frame-Options"] == "DENY"
    assert "csrftoken=" in headers.get("Set-Cookie", "")
