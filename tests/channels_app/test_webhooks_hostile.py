"""Hostile webhooks, table-driven: whatever a signed (or refused) request carries, it is answered with a
clear status, loses nothing already accepted, leaves its channel-log row, and every admin page shows it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.urls import reverse
from twilio.request_validator import RequestValidator

from channels_app.models import ChannelLog, EventState, InboundEvent, Message
from channels_app.providers.base import NUL_REPLACEMENT
from channels_app.providers.telesign import callback_signature
from tests.conftest import TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID, TWILIO_AUTH_TOKEN

SID = "SM" + "0" * 31 + "7"
TWILIO = {"MessageSid": SID, "From": "+15551234567", "To": "+14155550100", "Body": "x"}
#: Deeper than Python's parser can recurse, also in the first CHANNEL_LOG_MAX_BODY characters a log row keeps.
DEEP = b'{"a":' * 20_000 + b"1" + b"}" * 20_000


def twilio_raw(client, account, body: bytes, *, content_type="application/x-www-form-urlencoded", params=None,
               sign=True):
    """POST ``body`` as it is, signed (the signature covers the decoded ``params``)."""
    path = f"/webhooks/twilio/{account.webhook_token}/inbound/"
    headers = {}
    if sign:
        headers["HTTP_X_TWILIO_SIGNATURE"] = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(
            settings.PUBLIC_BASE_URL + path, params or {})
    return client.generic("POST", path, body, content_type=content_type, **headers)


def telesign_raw(client, account, body: bytes, *, sign=True, content_type="application/json"):
    signature = callback_signature(TELESIGN_API_KEY, body) if sign else "AAAA"
    return client.generic("POST", f"/webhooks/telesign/{account.webhook_token}/", body, content_type=content_type,
                          HTTP_AUTHORIZATION=f"TSA {TELESIGN_CUSTOMER_ID}:{signature}")


def mo(text: str) -> bytes:
    return json.dumps({"reference_id": "0143D53D86A2030BE20025B600000099", "sub_resource": "mo_sms",
                       "user_response": {"phone_number": "15551234567", "sender_id": "14252306549",
                                         "mo_message": text}}).encode()


@dataclass
class Case:
    name: str
    account: str  # fixture name
    send: object  # callable(client, account) -> response
    status: int
    body: str | None = None  # the stored message's text, when one is stored
    detail: str = ""
    logged: int | None = None  # the channel-log row's status code, when the request leaves one


CASES = [
    Case("twilio %00 in a signed message", "twilio_sms_account",
         lambda c, a: twilio_raw(c, a, urlencode({**TWILIO, "Body": "a\x00b"}).encode(),
                                 params={**TWILIO, "Body": "a\x00b"}),
         200, body=f"a{NUL_REPLACEMENT}b"),
    Case("twilio raw NUL byte in a signed body", "twilio_sms_account",
         lambda c, a: twilio_raw(c, a, urlencode(TWILIO).replace("Body=x", "Body=a").encode() + b"\x00b",
                                 params={**TWILIO, "Body": "a\x00b"}),
         200, body=f"a{NUL_REPLACEMENT}b"),
    Case("twilio upper-case Content-Type", "twilio_sms_account",
         lambda c, a: twilio_raw(c, a, urlencode(TWILIO).encode(), params=TWILIO,
                                 content_type="APPLICATION/X-WWW-FORM-URLENCODED; CHARSET=UTF-8"),
         200, body="x"),
    Case("telesign \\u0000 in a signed message", "telesign_account",
         lambda c, a: telesign_raw(c, a, mo("a\x00b")), 200, body=f"a{NUL_REPLACEMENT}b"),
    Case("telesign upper-case Content-Type", "telesign_account",
         lambda c, a: telesign_raw(c, a, mo("hello"), content_type="Application/JSON"), 200, body="hello"),
    Case("telesign raw NUL byte in a signed body", "telesign_account",
         lambda c, a: telesign_raw(c, a, mo("ab").replace(b"ab", b"a\x00b")), 400,
         detail="not valid JSON", logged=400),
    Case("telesign deeply nested signed JSON", "telesign_account",
         lambda c, a: telesign_raw(c, a, DEEP), 400, detail="deeper than 64 levels", logged=400),
    Case("telesign body that is not UTF-8", "telesign_account",
         lambda c, a: telesign_raw(c, a, b"\xff\xfe{}"), 400, detail="not valid UTF-8", logged=400),
    Case("refused: deeply nested JSON", "telesign_account",
         lambda c, a: telesign_raw(c, a, DEEP, sign=False), 403, detail="bad signature", logged=403),
    Case("refused: raw NUL byte", "telesign_account",
         lambda c, a: telesign_raw(c, a, b'{"a":"\x00"}', sign=False), 403, detail="bad signature", logged=403),
    Case("refused: NUL in a form", "twilio_sms_account",
         lambda c, a: twilio_raw(c, a, b"Body=%00&From=\x00", sign=False), 403, detail="missing signature",
         logged=403),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_webhook(case, request, client, admin_client, django_capture_on_commit_callbacks):
    account = request.getfixturevalue(case.account)
    with django_capture_on_commit_callbacks(execute=True):
        response = case.send(client, account)
    assert response.status_code == case.status, response.content
    if case.detail:
        assert case.detail in response.json()["detail"]
    if case.body is not None:
        event = InboundEvent.objects.get()
        assert event.state == EventState.PROCESSED, event.error
        assert Message.objects.get().body == case.body
    else:
        assert not Message.objects.exists()
    if case.logged is not None:
        log = ChannelLog.objects.get(kind="webhook")
        assert log.status_code == case.logged and log.is_error and case.detail in log.error
        page = admin_client.get(reverse("admin:channels_app_channellog_change", args=[log.pk]))
        assert page.status_code == 200
        assert case.detail in page.content.decode()


def test_the_raw_body_is_kept_as_received_and_shown_in_the_admin(client, admin_client, twilio_sms_account,
                                                                 django_capture_on_commit_callbacks):
    raw = urlencode(TWILIO).replace("Body=x", "Body=a").encode() + b"\x00b"
    with django_capture_on_commit_callbacks(execute=True):
        response = twilio_raw(client, twilio_sms_account, raw, params={**TWILIO, "Body": "a\x00b"})
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert bytes(event.body) == raw  # every byte, the NUL included
    page = admin_client.get(reverse("admin:channels_app_inboundevent_change", args=[event.pk]))
    assert page.status_code == 200
    assert "Body=a\\x00b" in page.content.decode()


def test_a_stored_event_with_an_upper_case_content_type_is_processed_again_the_same_way(
        client, twilio_sms_account, django_capture_on_commit_callbacks):
    from channels_app.services.inbound import inbound_event_process

    response = twilio_raw(client, twilio_sms_account, urlencode(TWILIO).encode(), params=TWILIO,
                          content_type="Application/X-WWW-Form-URLEncoded")
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert inbound_event_process(event_id=event.pk).startswith("received")
    assert Message.objects.get().body == "x"


def test_the_channel_log_page_renders_whatever_a_row_holds(admin_client, twilio_sms_account):
    odd = ChannelLog.objects.create(account=twilio_sms_account, kind="webhook", method="POST", url="https://x/\\x00",
                                    request_headers=["not", {"a": "mapping"}], request_body=DEEP.decode(),
                                    response_body='{"unterminated": ', error="refused", is_error=True)
    page = admin_client.get(reverse("admin:channels_app_channellog_change", args=[odd.pk]))
    assert page.status_code == 200
    assert "unterminated" in page.content.decode()
    assert admin_client.get(reverse("admin:channels_app_channellog_changelist")).status_code == 200


@pytest.mark.parametrize("token", ["%00", "a" * 300, "tok%20en", "t\u00f6k"])
def test_a_webhook_url_whose_token_the_hub_never_makes_is_404(client, twilio_sms_account, token):
    response = client.post(f"/webhooks/twilio/{token}/inbound/", data="a=1",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 404


def test_a_form_with_more_fields_than_allowed_is_refused_and_stores_nothing(client, twilio_sms_account, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    params = {**TWILIO, **{f"Extra{i}": "x" for i in range(20)}}
    response = twilio_raw(client, twilio_sms_account, urlencode(params).encode(), params=params)
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()
    # Within the limit, the same webhook is stored.
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 100
    assert twilio_raw(client, twilio_sms_account, urlencode(params).encode(), params=params).status_code == 200
    assert InboundEvent.objects.get().event_key == SID
