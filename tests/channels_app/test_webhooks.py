"""Webhook endpoints, table-driven per provider: status code and the rows each request leaves."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from django.conf import settings
from twilio.request_validator import RequestValidator

from channels_app.models import (
    Attachment,
    ChannelLog,
    Direction,
    InboundEvent,
    Message,
    MessageStatus,
    MessagingAccount,
)
from channels_app.providers.sandbox import sign as sandbox_sign
from channels_app.providers.telesign import callback_signature
from tests.conftest import TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from workstreams.models import Conversation

SID = "SM" + "0" * 31 + "1"
MEDIA_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages/{SID}/Media/ME1"


# --- request builders ----------------------------------------------------------------------------------------

def twilio_post(client, account, params, *, kind="inbound", token=None, signature=None, sign_with=None,
                tamper=None, method="post"):
    path = f"/webhooks/twilio/{account.webhook_token if token is None else token}/{kind}/"
    url = settings.PUBLIC_BASE_URL + path
    sig = signature if signature is not None else RequestValidator(sign_with or TWILIO_AUTH_TOKEN).compute_signature(
        url, params)
    sent = {**params, **(tamper or {})}
    headers = {"HTTP_X_TWILIO_SIGNATURE": sig} if sig else {}
    return getattr(client, method)(path, data=urlencode(sent), content_type="application/x-www-form-urlencoded",
                                   **headers)


def telesign_post(client, account, payload, *, token=None, signature=None, tamper=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    sig = callback_signature(TELESIGN_API_KEY, body) if signature is None else signature
    sent = body.replace(*tamper) if tamper else body
    headers = {"HTTP_AUTHORIZATION": f"TSA {TELESIGN_CUSTOMER_ID}:{sig}"} if sig else {}
    return client.post(f"/webhooks/telesign/{account.webhook_token if token is None else token}/", data=sent,
                       content_type="application/json", **headers)


def sandbox_post(client, account, payload, *, kind="inbound", signature=None):
    body = json.dumps(payload).encode()
    sig = sandbox_sign(account.webhook_token, body) if signature is None else signature
    return client.post(f"/webhooks/sandbox/{account.webhook_token}/{kind}/", data=body,
                       content_type="application/json", HTTP_X_SANDBOX_SIGNATURE=sig)


TWILIO_SMS = {"MessageSid": SID, "SmsSid": SID, "AccountSid": TWILIO_ACCOUNT_SID, "From": "+15551234567",
              "To": "+14155550100", "Body": "My parcel is late", "NumMedia": "0", "NumSegments": "1",
              "SmsStatus": "received", "ApiVersion": "2010-04-01"}
TWILIO_WA = {**TWILIO_SMS, "From": "whatsapp:+15551234567", "To": "whatsapp:+14155238886", "ProfileName": "Ana",
             "WaId": "15551234567"}
TELESIGN_MO = {"reference_id": "0143D53D86A2030BE20025B600000002", "sub_resource": "mo_sms", "errors": [],
               "status": {"code": 1500, "description": "Delivered to customer"},
               "user_response": {"phone_number": "15551234567", "sender_id": "14252306549",
                                 "mo_message": "Where is my order?"}}


@dataclass
class Case:
    name: str
    send: object  # callable(client, account) -> response
    status: int
    events: int
    messages: int
    logs_refused: int = 0
    detail: str = ""
    extra: dict = field(default_factory=dict)


TWILIO_CASES = [
    Case("valid", lambda c, a: twilio_post(c, a, TWILIO_SMS), 200, 1, 1),
    Case("bad signature", lambda c, a: twilio_post(c, a, TWILIO_SMS, sign_with="wrong-token"), 403, 0, 0, 1,
         "bad signature"),
    Case("missing signature", lambda c, a: twilio_post(c, a, TWILIO_SMS, signature=""), 403, 0, 0, 1,
         "missing signature"),
    Case("tampered body", lambda c, a: twilio_post(c, a, TWILIO_SMS, tamper={"Body": "Refund me now"}), 403, 0, 0, 1),
    Case("duplicate delivery", lambda c, a: [twilio_post(c, a, TWILIO_SMS) for _ in range(2)][-1], 200, 1, 1),
    Case("missing fields", lambda c, a: twilio_post(c, a, {k: v for k, v in TWILIO_SMS.items() if k != "From"}),
         400, 0, 0, detail="missing fields: From"),
    Case("unknown token", lambda c, a: twilio_post(c, a, TWILIO_SMS, token="no-such-token"), 404, 0, 0),
    Case("wrong method", lambda c, a: c.get(f"/webhooks/twilio/{a.webhook_token}/inbound/"), 405, 0, 0),
    Case("not our number", lambda c, a: twilio_post(c, a, {**TWILIO_SMS, "To": "+14155550199"}), 200, 1, 0),
]


@pytest.mark.parametrize("case", TWILIO_CASES, ids=lambda c: c.name)
def test_twilio_inbound(case, client, twilio_sms_account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = case.send(client, twilio_sms_account)
    assert response.status_code == case.status, response.content
    assert InboundEvent.objects.count() == case.events
    assert Message.objects.filter(direction=Direction.INBOUND).count() == case.messages
    assert ChannelLog.objects.filter(kind="webhook", status_code=403).count() == case.logs_refused
    if case.detail:
        assert case.detail in response.json()["detail"]
    if case.status == 200:
        assert response["Content-Type"].startswith("text/xml")
        assert response.content.decode().endswith("<Response/>")


def test_twilio_inbound_opens_a_conversation(client, twilio_sms_account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        twilio_post(client, twilio_sms_account, TWILIO_SMS)
    message = Message.objects.get()
    assert (message.body, message.contact.address, message.phone_number.number) == (
        "My parcel is late", "+15551234567", "+14155550100")
    conversation = Conversation.objects.get()
    assert conversation.state == "open" and conversation.queue.is_default
    assert list(conversation.entries.values_list("message_id", flat=True)) == [message.pk]


def test_an_event_for_a_number_not_on_the_account_is_kept_and_marked_failed(
        client, twilio_sms_account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        twilio_post(client, twilio_sms_account, {**TWILIO_SMS, "To": "+14155550199"})
    event = InboundEvent.objects.get()
    assert event.state == "failed"
    assert "+14155550199 is not a number of account 'Twilio SMS'" in event.error


def test_inactive_account_answers_404(client, twilio_sms_account):
    MessagingAccount.objects.filter(pk=twilio_sms_account.pk).update(is_active=False)
    assert twilio_post(client, twilio_sms_account, TWILIO_SMS).status_code == 404
    assert not InboundEvent.objects.exists()


def test_signature_behind_a_proxy_uses_the_public_url(client, twilio_sms_account, settings):
    settings.PUBLIC_BASE_URL = "https://hub.example.com"
    # Signed for the public URL, received on the internal host: accepted.
    response = twilio_post(client, twilio_sms_account, TWILIO_SMS)
    assert response.status_code == 200
    # Signed for the internal URL that Twilio never called: refused.
    path = f"/webhooks/twilio/{twilio_sms_account.webhook_token}/inbound/"
    internal = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature("http://testserver" + path,
                                                                     {**TWILIO_SMS, "MessageSid": "SM2"})
    response = client.post(path, data=urlencode({**TWILIO_SMS, "MessageSid": "SM2"}),
                           content_type="application/x-www-form-urlencoded", HTTP_X_TWILIO_SIGNATURE=internal)
    assert response.status_code == 403


def test_signature_with_the_default_port_is_accepted(client, twilio_sms_account, settings):
    settings.PUBLIC_BASE_URL = "https://hub.example.com"
    path = f"/webhooks/twilio/{twilio_sms_account.webhook_token}/inbound/"
    sig = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature("https://hub.example.com:443" + path, TWILIO_SMS)
    response = client.post(path, data=urlencode(TWILIO_SMS), content_type="application/x-www-form-urlencoded",
                           HTTP_X_TWILIO_SIGNATURE=sig)
    assert response.status_code == 200


def test_forwarded_headers_are_honoured_when_trusted(client, twilio_sms_account, settings):
    settings.PUBLIC_BASE_URL = "https://wrong.example.com"
    settings.USE_X_FORWARDED_HOST = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["hub.example.com", "testserver"]
    path = f"/webhooks/twilio/{twilio_sms_account.webhook_token}/inbound/"
    sig = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature("https://hub.example.com" + path, TWILIO_SMS)
    response = client.post(path, data=urlencode(TWILIO_SMS), content_type="application/x-www-form-urlencoded",
                           HTTP_X_TWILIO_SIGNATURE=sig, HTTP_X_FORWARDED_HOST="hub.example.com",
                           HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200


def test_twilio_whatsapp_with_media(client, twilio_whatsapp_account, mocked_http,
                                    django_capture_on_commit_callbacks):
    mocked_http.get(MEDIA_URL, body=b"\x89PNG...", content_type="image/png")
    params = {**TWILIO_WA, "NumMedia": "1", "MediaUrl0": MEDIA_URL, "MediaContentType0": "image/png"}
    with django_capture_on_commit_callbacks(execute=True):
        assert twilio_post(client, twilio_whatsapp_account, params).status_code == 200
    message = Message.objects.get()
    assert message.channel == "whatsapp"
    assert message.contact.display_name == "Ana"
    attachment = Attachment.objects.get()
    assert (attachment.state, attachment.size, attachment.content_type) == ("stored", 7, "image/png")
    assert attachment.file.read() == b"\x89PNG..."
    # Twilio protects media with HTTP auth: the account's credentials were sent.
    assert mocked_http.calls[0].request.headers["Authorization"].startswith("Basic ")


def test_twilio_status_callback_moves_the_message_forward(client, twilio_sms_account, mocked_http,
                                                          django_capture_on_commit_callbacks):
    from channels_app.services.delivery import message_queue
    from channels_app.services.inbound import contact_for

    mocked_http.post(f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json", status=201,
                     json={"sid": "SM" + "9" * 32, "status": "queued"})
    with django_capture_on_commit_callbacks(execute=True):
        message = message_queue(phone_number=twilio_sms_account.numbers.get(),
                                contact=contact_for("+15551234567"), body="Hello")
    status = {"MessageSid": "SM" + "9" * 32, "MessageStatus": "delivered", "AccountSid": TWILIO_ACCOUNT_SID,
              "From": "+14155550100", "To": "+15551234567"}
    path = f"/webhooks/twilio/{twilio_sms_account.webhook_token}/status/?message={message.pk}"
    url = settings.PUBLIC_BASE_URL + path
    sig = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(url, status)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(path, data=urlencode(status), content_type="application/x-www-form-urlencoded",
                               HTTP_X_TWILIO_SIGNATURE=sig)
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED and message.delivered_at


TELESIGN_CASES = [
    Case("valid", lambda c, a: telesign_post(c, a, TELESIGN_MO), 200, 1, 1),
    Case("bad signature", lambda c, a: telesign_post(c, a, TELESIGN_MO, signature="AAAA"), 403, 0, 0, 1),
    Case("missing signature", lambda c, a: telesign_post(c, a, TELESIGN_MO, signature=""), 403, 0, 0, 1,
         "missing signature"),
    Case("tampered body", lambda c, a: telesign_post(c, a, TELESIGN_MO, tamper=(b"order", b"refund")), 403, 0, 0, 1),
    Case("duplicate delivery", lambda c, a: [telesign_post(c, a, TELESIGN_MO) for _ in range(3)][-1], 200, 1, 1),
    Case("missing fields", lambda c, a: telesign_post(c, a, {**TELESIGN_MO, "user_response": {"sender_id": "1"}}),
         400, 0, 0, detail="user_response.phone_number"),
    Case("not JSON", lambda c, a: telesign_post(c, a, None, raw=b"phone=1"), 400, 0, 0, detail="not valid JSON"),
    Case("unknown sub_resource", lambda c, a: telesign_post(c, a, {**TELESIGN_MO, "sub_resource": "voice"}), 400, 0,
         0, detail="sub_resource"),
    Case("unknown token", lambda c, a: telesign_post(c, a, TELESIGN_MO, token="nope"), 404, 0, 0),
    Case("wrong method", lambda c, a: c.put(f"/webhooks/telesign/{a.webhook_token}/"), 405, 0, 0),
]


@pytest.mark.parametrize("case", TELESIGN_CASES, ids=lambda c: c.name)
def test_telesign_callback(case, client, telesign_account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = case.send(client, telesign_account)
    assert response.status_code == case.status, response.content
    assert InboundEvent.objects.count() == case.events
    assert Message.objects.filter(direction=Direction.INBOUND).count() == case.messages
    assert ChannelLog.objects.filter(kind="webhook", status_code=403).count() == case.logs_refused
    if case.detail:
        assert case.detail in response.json()["detail"]


def test_telesign_delivery_report_on_the_same_url(client, telesign_account, mocked_http,
                                                  django_capture_on_commit_callbacks):
    from channels_app.services.delivery import message_queue
    from channels_app.services.inbound import contact_for

    mocked_http.post("https://rest-ww.telesign.com/v1/messaging",
                     json={"reference_id": "F" * 32, "status": {"code": 290}})
    with django_capture_on_commit_callbacks(execute=True):
        message = message_queue(phone_number=telesign_account.numbers.get(), contact=contact_for("+15551234567"),
                                body="Your order shipped")
    report = {"reference_id": "F" * 32, "sub_resource": "sms", "external_id": str(message.pk),
              "status": {"code": 200, "description": "Delivered to handset"}}
    with django_capture_on_commit_callbacks(execute=True):
        assert telesign_post(client, telesign_account, report).status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"
    assert InboundEvent.objects.get().kind == "status"


def test_sandbox_inbound_and_refusal(client, sandbox_account, django_capture_on_commit_callbacks):
    payload = {"message_id": "sb-1", "from": "+15551234567", "to": "+15005550006", "body": "hi"}
    assert sandbox_post(client, sandbox_account, payload, signature="nope").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        assert sandbox_post(client, sandbox_account, payload).status_code == 200
    assert Message.objects.get().body == "hi"


def test_a_deactivated_account_stops_answering_once_rechecked(client, twilio_sms_account, monkeypatch):
    from channels_app.services import inbound

    assert twilio_post(client, twilio_sms_account, TWILIO_SMS).status_code == 200
    MessagingAccount.objects.filter(pk=twilio_sms_account.pk).update(is_active=False)
    monkeypatch.setattr(inbound, "WEBHOOK_ACCOUNT_RECHECK_SECONDS", 0)  # the recheck interval has passed
    assert twilio_post(client, twilio_sms_account, {**TWILIO_SMS, "MessageSid": "SM2"}).status_code == 404


def test_a_webhook_is_accepted_and_kept_when_processing_cannot_be_queued(client, twilio_sms_account, monkeypatch,
                                                                         django_capture_on_commit_callbacks):
    from channels_app import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    from django.core.cache import cache

    monkeypatch.setattr(tasks.inbound_event_process_task, "apply_async", broker_down)
    monkeypatch.setattr(tasks.inbound_drain_task, "apply_async", broker_down)
    monkeypatch.setattr(cache, "add", broker_down)  # with Redis, the drain slot is taken there first
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = twilio_post(client, twilio_sms_account, {"MessageSid": SID, "From": "+15551234567",
                                                            "To": "+14155550100", "Body": "anyone there?"})
    assert response.status_code == 200 and len(queued) == 1
    event = InboundEvent.objects.get()
    assert (event.event_key, event.state) == (SID, "pending")  # the sweep will process it
