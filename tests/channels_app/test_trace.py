"""A message's trace (channels_app/trace.py): its whole story in order, on its admin page and in the API —
the webhook that brought it or the request that created it, every send attempt with its channel-log
exchange, retries, every status callback and where it stands now."""

from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.test import APIClient
from twilio.request_validator import RequestValidator

from channels_app.models import ChannelLog, Message, MessageStatus
from channels_app.services import delivery
from channels_app.trace import message_trace
from config.logs import log_bound
from tests.conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from workstreams.models import AgentProfile
from workstreams.services.conversations import conversation_reply

MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"
SID = "SM" + "7" * 32


def status_callback(client, account, message, status, capture, error_code=""):
    params = {"MessageSid": SID, "MessageStatus": status, "AccountSid": TWILIO_ACCOUNT_SID,
              "From": "+14155550100", "To": "+15551234567"}
    if error_code:
        params["ErrorCode"] = error_code
    path = f"/webhooks/twilio/{account.webhook_token}/status/?message={message.pk}"
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(settings.PUBLIC_BASE_URL + path, params)
    with capture(execute=True):
        response = client.post(path, data=urlencode(params), content_type="application/x-www-form-urlencoded",
                               HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 200


@pytest.fixture
def reply(twilio_sms_account, receive, mocked_http, django_capture_on_commit_callbacks, client):
    """An agent's reply: refused once by Twilio (503), sent on the retry, then delivered by a status callback."""
    conversation = receive(twilio_sms_account, body="Where is my parcel?")
    mocked_http.post(MESSAGES_URL, status=503, json={"code": 20500, "message": "Service unavailable"})
    mocked_http.post(MESSAGES_URL, status=201, json={"sid": SID, "status": "queued"})
    agent = get_user_model().objects.create_user("ana", password="x")
    AgentProfile.objects.create(user=agent, presence="available")  # answering takes it: a present member
    conversation.queue.members.add(agent)
    with log_bound(request_id="req-from-the-console"), django_capture_on_commit_callbacks(execute=True):
        message = conversation_reply(conversation=conversation, author=agent, body="It left this morning.")
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    with log_bound(request_id="task-of-the-retry"):
        assert delivery.message_send(message_id=message.pk) == "sent"
    status_callback(client, twilio_sms_account, message, "sent", django_capture_on_commit_callbacks)
    status_callback(client, twilio_sms_account, message, "delivered", django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    return message, conversation


def test_a_reply_tells_its_whole_story_in_order(reply):
    message, conversation = reply
    entries = message_trace(message=message)
    kinds = [e.kind for e in entries]
    assert kinds == ["created", "conversation", "send", "retry", "send", "status_callback", "status_callback",
                     "outcome"]
    created, joined, first, retry, second, sent, delivered, outcome = entries
    assert created.title == "Created (regular) by ana" and created.request_id == "req-from-the-console"
    assert joined.title == f"Sent in conversation #{conversation.pk}"
    assert first.title.startswith("Send attempt 1: HTTP 503") and first.tone == "error"
    assert "Service unavailable" in first.exchange.response_body and first.request_id == "req-from-the-console"
    assert retry.title == "Retried"
    assert second.title.startswith("Send attempt 2: HTTP 201") and second.request_id == "task-of-the-retry"
    assert "It+left+this+morning" in second.exchange.request_body
    assert (sent.title, delivered.title) == ("Status callback: sent", "Status callback: delivered")
    assert delivered.event.state == "processed" and "MessageStatus=delivered" in delivered.event.body_text
    assert outcome.title == "Now: delivered" and outcome.tone == "ok"
    # The channel log knows which message each exchange sent.
    assert set(ChannelLog.objects.filter(kind="send").values_list("message_id", flat=True)) == {message.pk}


def test_a_failure_says_why_and_what_to_do(twilio_sms_account, receive, mocked_http,
                                           django_capture_on_commit_callbacks, client):
    conversation = receive(twilio_sms_account)
    mocked_http.post(MESSAGES_URL, status=201, json={"sid": SID, "status": "queued"})
    with django_capture_on_commit_callbacks(execute=True):
        message = conversation_reply(conversation=conversation, author=None, body="Hello")
    status_callback(client, twilio_sms_account, message, "undelivered", django_capture_on_commit_callbacks,
                    error_code="30003")
    entries = message_trace(message=Message.objects.get(pk=message.pk))
    assert entries[-2].title == "Status callback: undelivered (error 30003)" and entries[-2].tone == "error"
    assert entries[-1].title.startswith("Now: undelivered — 30003") and "retry it" in entries[-1].detail


def test_an_inbound_message_starts_with_the_webhook_that_brought_it(twilio_sms_account, client,
                                                                    django_capture_on_commit_callbacks):
    params = {"MessageSid": "SM" + "5" * 32, "AccountSid": TWILIO_ACCOUNT_SID, "From": "+15551234567",
              "To": "+14155550100", "Body": "Hi there", "NumMedia": "0"}
    path = f"/webhooks/twilio/{twilio_sms_account.webhook_token}/inbound/"
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(settings.PUBLIC_BASE_URL + path, params)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(path, data=urlencode(params), content_type="application/x-www-form-urlencoded",
                               HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 200
    message = Message.objects.get(provider_message_id="SM" + "5" * 32)
    entries = message_trace(message=message)
    assert [e.kind for e in entries] == ["webhook", "created", "conversation", "outcome"]
    assert entries[0].title == "Webhook from Twilio received" and entries[0].event.state == "processed"
    # The account's id is a secret here: not even the stored webhook shows it.
    assert TWILIO_ACCOUNT_SID not in entries[0].event.body_text and "Body=Hi+there" in entries[0].event.body_text
    assert entries[2].title.startswith("Joined conversation #")


def test_the_admin_page_shows_the_trace(reply, admin_client):
    message, _ = reply
    page = admin_client.get(f"/admin/channels_app/message/{message.pk}/change/").content.decode()
    assert "Trace: the message's whole story" in page
    for text in ("Send attempt 1: HTTP 503", "Retried", "Send attempt 2: HTTP 201", "Status callback: delivered",
                 "Now: delivered", "request req-from-the-console"):
        assert text in page, text
    assert page.index("Send attempt 1") < page.index("Send attempt 2") < page.index("Now: delivered")


def test_the_trace_never_shows_the_accounts_webhook_token(reply, admin_client, db):
    message, _ = reply
    token = message.account.webhook_token
    assert token
    entries = message_trace(message=message)
    shown = " ".join(f"{e.title} {e.detail} {e.event.url if e.event else ''} {e.event.body_text if e.event else ''} "
                     f"{e.exchange.url + e.exchange.request_body + e.exchange.response_body if e.exchange else ''}"
                     for e in entries)
    assert token not in shown
    page = admin_client.get(f"/admin/channels_app/message/{message.pk}/change/").content.decode()
    assert token not in page


@pytest.mark.parametrize(("language", "texts"), [
    ("ja", ("トレース: メッセージの経緯すべて", "送信試行 1: HTTP 503", "再試行", "現在: ")),
    ("pt-br", ("Rastreamento: toda a história da mensagem", "Tentativa de envio 1: HTTP 503", "Agora: ")),
    ("sv", ("Spårning: meddelandets hela historia", "Sändförsök 2: HTTP 201", "Nu: ")),
])
def test_the_trace_reads_in_the_administrators_language(reply, admin_client, language, texts):
    message, _ = reply
    page = admin_client.get(f"/admin/channels_app/message/{message.pk}/change/",
                            HTTP_ACCEPT_LANGUAGE=language).content.decode()
    for text in texts:
        assert text in page, text
    assert "Send attempt" not in page and "Trace: the message" not in page


def test_the_api_gives_the_trace_to_those_who_may_read_messages(reply, db):
    message, _ = reply
    user = get_user_model().objects.create_user("support", password="x")
    api = APIClient()
    api.force_authenticate(user)
    url = f"/api/v1/messages/{message.pk}/trace/"
    assert api.get(url).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_message"))
    user = get_user_model().objects.get(pk=user.pk)
    api.force_authenticate(user)
    body = api.get(url).json()
    assert body["status"] == "delivered"
    assert [e["kind"] for e in body["entries"]][-3:] == ["status_callback", "status_callback", "outcome"]
    attempt = body["entries"][2]
    assert attempt["exchange"]["status_code"] == 503 and attempt["exchange"]["method"] == "POST"
    assert TWILIO_AUTH_TOKEN not in str(body)
    assert api.get("/api/v1/messages/999999/trace/").status_code == 404
