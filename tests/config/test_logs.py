"""Log lines (config/logs.py): JSON lines with LOG_FORMAT=json, plain text by default, each with the ids of what it
concerns; the request id travels from a web request into the tasks it queues; secrets never appear."""

import io
import json
import logging
import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from twilio.request_validator import RequestValidator

from channels_app.models import Channel
from channels_app.providers import get_provider
from channels_app.services import NumberSpec, account_create, account_update, delivery
from channels_app.services.inbound import contact_for
from config import logs
from config.celery import app as celery_app
from tests.conftest import (
    TELESIGN_API_KEY,
    TELESIGN_CUSTOMER_ID,
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
)

MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"


@pytest.fixture
def captured():
    """Every line the root logger writes, as LOG_FORMAT=json writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonLinesFormatter())
    handler.addFilter(logs.ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_bound_ids(captured):
    with logs.log_bound(request_id="r-1", account_id=3, message_id=7):
        logging.getLogger("hub.test").warning("sending %s", "now")
    [line] = lines(captured)
    assert line["message"] == "sending now" and line["level"] == "WARNING" and line["logger"] == "hub.test"
    assert (line["request_id"], line["account_id"], line["message_id"]) == ("r-1", 3, 7)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])
    assert "conversation_id" not in line


def test_plain_text_puts_the_ids_after_the_message_and_before_a_traceback():
    record = logging.LogRecord("hub.test", logging.ERROR, __file__, 1, "it broke", None, None)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    with logs.log_bound(event_id=12, request_id="abc"):
        logs.ContextFilter().filter(record)
    text = logs.PlainFormatter().format(record)
    first, _, rest = text.partition("\n")
    assert first.endswith("ERROR hub.test it broke [request_id=abc event_id=12]")
    assert rest.startswith("Traceback") and "ValueError: boom" in rest


def test_an_unknown_id_name_is_a_mistake():
    with pytest.raises(TypeError, match="unknown log ids: msg_id"):
        logs.log_bind(msg_id=1)


def test_log_format_must_be_plain_or_json():
    assert logs.logging_config(level="INFO", fmt="json")["handlers"]["console"]["formatter"] == "json"
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT must be 'plain' or 'json', not 'xml'"):
        logs.logging_config(level="INFO", fmt="xml")


def _wsgi_get(path: str, **headers: str) -> dict[str, str]:
    """GET ``path`` through the hub's WSGI application (config.wsgi); the response headers."""
    from wsgiref.util import setup_testing_defaults

    from config.wsgi import application

    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "SERVER_NAME": "127.0.0.1", "HTTP_HOST": "127.0.0.1",
               **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}}
    setup_testing_defaults(environ)
    seen = {}

    def start_response(status, response_headers, exc_info=None):
        seen.update(response_headers)
        seen["status"] = status

    b"".join(application(environ, start_response))
    return seen


def test_a_web_request_gets_an_id_sent_back_and_a_sane_caller_id_is_kept(db):
    given = _wsgi_get("/healthz", **{"X-Request-ID": "caller-42"})
    assert given["status"].startswith("200") and given["X-Request-ID"] == "caller-42"
    fresh = _wsgi_get("/healthz", **{"X-Request-ID": "no spaces or\nnewlines"})
    assert fresh["X-Request-ID"] != "no spaces or\nnewlines" and len(fresh["X-Request-ID"]) == 32
    webhook = _wsgi_get("/webhooks/twilio/unknown/inbound/")  # the lean webhook handler gets one too
    assert len(webhook["X-Request-ID"]) == 32 and logs.log_context() == {}


def test_the_request_id_travels_with_a_task_and_the_task_binds_its_argument_ids():
    headers = {}
    with logs.log_bound(request_id="web-1", message_id=99):
        logs._on_publish(headers=headers)
    assert headers == {logs.HEADER: "web-1"}  # only the request id: the task binds its own ids

    task = celery_app.tasks["channels_app.tasks.message_send_task"]
    task.push_request(id="task-1", hub_request_id="web-1", is_eager=False)
    token = logs.context_start()
    try:
        logs._on_prerun(task_id="task-1", task=task, args=(5,), kwargs={})
        assert logs.log_context() == {"request_id": "web-1", "task_id": "task-1", "message_id": 5}
        logs._on_postrun(task_id="task-1", task=task)
        assert logs.log_context() == {}
    finally:
        task.pop_request()
        logs.context_end(token)
    # Sent by beat: no header, so the task's own id follows what it does.
    task.push_request(id="task-2", is_eager=False)
    try:
        logs._on_prerun(task_id="task-2", task=task, args=(), kwargs={"message_id": 6})
        assert logs.log_context()["request_id"] == "task-2"
        logs._on_postrun(task_id="task-2", task=task)
    finally:
        task.pop_request()


def test_what_an_eager_task_binds_stays_inside_it(db):
    from celery import shared_task

    @shared_task(name="tests.logs.binds")
    def binds(message_id: int) -> dict:
        logs.log_bind(conversation_id=4)
        return dict(logs.log_context())

    with logs.log_bound(request_id="outer"):
        inside = binds.delay(8).get()
        assert logs.log_context() == {"request_id": "outer"}
    assert inside["request_id"] == "outer" and inside["message_id"] == 8 and inside["conversation_id"] == 4


def test_redaction_of_what_looks_like_a_credential():
    text = logs.redact_log_text("GET https://user:s3cret-pass@api.example.com/x Authorization: Basic QUMxMjM0NTY3OA== "
                                f"sid {TWILIO_ACCOUNT_SID} header TSA {TELESIGN_CUSTOMER_ID}:c2lnbmF0dXJl")
    assert "s3cret-pass" not in text and "QUMxMjM0NTY3OA==" not in text and TWILIO_ACCOUNT_SID not in text
    assert "c2lnbmF0dXJl" not in text and "https://user:[redacted]@api.example.com/x" in text


def test_secrets_never_appear_in_the_logs(captured, db, client, settings, mocked_http,
                                          django_capture_on_commit_callbacks):
    """The account's credentials and the hub's own keys, through the paths that log: a provider that quotes
    the credentials back, a crash in a send, a refused webhook, a credential change, a failed validation."""
    twilio = account_create(name="Twilio SMS", channel=Channel.SMS, provider="twilio",
                            credentials={"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN},
                            numbers=[NumberSpec(number="+14155550100", number_type="long_code")])
    telesign = account_create(name="TeleSign", channel=Channel.SMS, provider="telesign",
                              credentials={"customer_id": TELESIGN_CUSTOMER_ID, "api_key": TELESIGN_API_KEY},
                              numbers=[NumberSpec(number="14252306549", number_type="geographic")])
    contact = contact_for("+15551234567")
    # 1. Twilio answers 401 quoting the account and the token.
    mocked_http.post(MESSAGES_URL, status=401, json={
        "code": 20003, "message": f"Authenticate: {TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN} is not valid"})
    with django_capture_on_commit_callbacks(execute=True):
        refused = delivery.message_queue(phone_number=twilio.numbers.get(), contact=contact, body="Hi")
    # 2. A bug in the provider module whose exception text holds a secret.
    provider_class = type(get_provider(twilio))

    def crash(self, outgoing):
        raise RuntimeError(f"cannot sign with {TWILIO_AUTH_TOKEN} for {TWILIO_ACCOUNT_SID}")

    original = provider_class.send
    provider_class.send = crash
    try:
        with django_capture_on_commit_callbacks(execute=True):
            delivery.message_queue(phone_number=twilio.numbers.get(), contact=contact, body="Hello again")
    finally:
        provider_class.send = original
    # 3. A webhook with a bad signature, and one signed with the wrong token.
    path = f"/webhooks/twilio/{twilio.webhook_token}/inbound/"
    params = {"MessageSid": "SM" + "1" * 32, "AccountSid": TWILIO_ACCOUNT_SID, "From": "+15551234567",
              "To": "+14155550100", "Body": f"token {TWILIO_AUTH_TOKEN}"}
    client.post(path, data=params, HTTP_X_TWILIO_SIGNATURE="forged")
    client.post(path, data=params, HTTP_X_TWILIO_SIGNATURE=RequestValidator("other").compute_signature(
        settings.PUBLIC_BASE_URL + path, params))
    # 4. Credentials changed; 5. TeleSign validation refused with the key quoted back.
    account_update(account=twilio, credentials={"auth_token": TWILIO_AUTH_TOKEN + "-new"})
    mocked_http.get(re.compile(r"https://rest-ww\.telesign\.com/.*"), status=401,
                    json={"status": {"code": 10033, "description": f"Bad key {TELESIGN_API_KEY}"}})
    from channels_app.services import account_validate

    account_validate(account=telesign)
    logging.getLogger("hub.test").error("database url %s", settings.DATABASES["default"].get("PASSWORD") or "none")
    logging.getLogger("hub.test").error("keys %s %s", settings.SECRET_KEY, settings.FIELD_ENCRYPTION_KEYS[0])

    text = captured.getvalue()
    assert f"message {refused.pk} failed" in text and "crashed" in text and "refused" in text
    for secret in (TWILIO_AUTH_TOKEN, TWILIO_ACCOUNT_SID, TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID,
                   settings.SECRET_KEY, settings.FIELD_ENCRYPTION_KEYS[0]):
        assert secret not in text, f"{secret[:6]}… appears in the logs"
