"""Azure Communication Services webhooks (Event Grid), table-driven: the status code and the rows each
request leaves — in the Event Grid schema and in the CloudEvents 1.0 schema."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from channels_app.models import ChannelLog, ConsentRecord, Direction, EventState, InboundEvent, Message
from tests.conftest import ACS_ENDPOINT, ACS_NUMBER
from workstreams.models import Conversation

SEND_URL = f"{ACS_ENDPOINT}/sms?api-version=2021-03-07"
TOPIC = "/subscriptions/0000/resourceGroups/support/providers/microsoft.communication/communicationservices/contoso"


def received(message_id="Incoming_1", text="Where is my parcel?", sender="15551234567"):
    """An SMSReceived event as Event Grid delivers it (numbers without +, as in Microsoft's sample)."""
    return {"id": message_id, "topic": TOPIC, "subject": f"/phonenumber/{ACS_NUMBER[1:]}",
            "eventType": "Microsoft.Communication.SMSReceived", "dataVersion": "1.0", "metadataVersion": "1",
            "eventTime": "2026-12-01T09:00:00Z",
            "data": {"messageId": message_id, "from": sender, "to": ACS_NUMBER[1:], "message": text,
                     "receivedTimestamp": "2026-12-01T09:00:00Z", "segmentCount": 1}}


def report(message_id="Outgoing_1", status="Delivered", detail="No error.", tag=None):
    data = {"messageId": message_id, "from": ACS_NUMBER[1:], "to": "+15551234567", "deliveryStatus": status,
            "deliveryStatusDetails": detail, "receivedTimestamp": "2026-12-01T09:01:00Z",
            "deliveryAttempts": [{"timestamp": "2026-12-01T09:00:59Z", "segmentsSucceeded": 1, "segmentsFailed": 0}]}
    if tag is not None:
        data["Tag"] = tag
    return {"id": message_id, "topic": TOPIC, "subject": f"/phonenumber/{ACS_NUMBER[1:]}", "data": data,
            "eventType": "Microsoft.Communication.SMSDeliveryReportReceived", "dataVersion": "1.0",
            "metadataVersion": "1", "eventTime": "2026-12-01T09:01:00Z"}


def cloud(event):
    """The same event in the CloudEvents 1.0 schema."""
    return {"id": event["id"], "source": TOPIC, "subject": event["subject"], "type": event["eventType"],
            "time": event["eventTime"], "specversion": "1.0", "datacontenttype": "application/json",
            "data": event["data"]}


VALIDATION = [{"id": "2d1781af", "topic": TOPIC, "subject": "", "eventType":
               "Microsoft.EventGrid.SubscriptionValidationEvent", "eventTime": "2026-12-01T08:00:00Z",
               "metadataVersion": "1", "dataVersion": "1",
               "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
                        "validationUrl": "https://rp-eastus2.eventgrid.azure.net:553/eventsubscriptions/x/validate"}}]


def post(client, account, payload, *, token=None, content_type="application/json", headers=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    return client.generic("POST", f"/webhooks/acs/{account.webhook_token if token is None else token}/events/", body,
                          content_type=content_type, **(headers or {}))


@dataclass
class Case:
    name: str
    send: object  # callable(client, account) -> response
    status: int
    events: int
    messages: int
    answer: dict | None = None
    detail: str = ""
    headers: dict = field(default_factory=dict)


CASES = [
    Case("handshake (Event Grid schema)",
         lambda c, a: post(c, a, VALIDATION, headers={"HTTP_AEG_EVENT_TYPE": "SubscriptionValidation"}), 200, 0, 0,
         answer={"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}),
    Case("handshake (CloudEvents OPTIONS)",
         lambda c, a: c.options(f"/webhooks/acs/{a.webhook_token}/events/",
                                HTTP_WEBHOOK_REQUEST_ORIGIN="eventgrid.azure.net"), 200, 0, 0,
         headers={"WebHook-Allowed-Origin": "eventgrid.azure.net", "WebHook-Allowed-Rate": "*"}),
    Case("OPTIONS without an origin", lambda c, a: c.options(f"/webhooks/acs/{a.webhook_token}/events/"), 400, 0, 0,
         detail="WebHook-Request-Origin"),
    Case("inbound", lambda c, a: post(c, a, [received()]), 200, 1, 1, answer={"status": "accepted"}),
    Case("inbound (CloudEvents)", lambda c, a: post(c, a, cloud(received()),
                                                    content_type="application/cloudevents+json; charset=utf-8"),
         200, 1, 1),
    Case("batch of events", lambda c, a: post(c, a, [received("Incoming_1"), received("Incoming_2", sender="15557654321"),
                                                     received("Incoming_3", text="Thanks")]), 200, 3, 3),
    Case("batch (CloudEvents)", lambda c, a: post(c, a, [cloud(received("Incoming_1")), cloud(received("Incoming_2"))],
                                                  content_type="application/cloudevents-batch+json"), 200, 2, 2),
    Case("duplicate delivery", lambda c, a: [post(c, a, [received()]) for _ in range(3)][-1], 200, 1, 1),
    Case("duplicate inside a batch", lambda c, a: post(c, a, [received(), received()]), 200, 1, 1),
    Case("malformed JSON", lambda c, a: post(c, a, None, raw=b"[{"), 400, 0, 0, detail="not valid JSON"),
    Case("event without data", lambda c, a: post(c, a, [{**received(), "data": None}]), 400, 0, 0,
         detail="missing fields: data"),
    Case("event missing its sender", lambda c, a: post(c, a, [{**received(), "data": {**received()["data"],
                                                                                      "from": ""}}]),
         400, 0, 0, detail="data.from"),
    Case("a malformed event in a batch", lambda c, a: post(c, a, [received(), "not an event"]), 400, 1, 1,
         detail="event 2 is not a JSON object (1 other event of the request stored)"),
    Case("empty batch", lambda c, a: post(c, a, []), 400, 0, 0, detail="no events"),
    Case("events of other types", lambda c, a: post(c, a, [{**received(), "eventType": "Microsoft.Communication."
                                                                                        "ChatMessageReceived"}]),
         200, 0, 0),
    Case("numbers written with spaces", lambda c, a: post(c, a, [received(sender="+1 (555) 123-4567")]), 200, 1, 1),
    Case("unknown token", lambda c, a: post(c, a, [received()], token="no-such-token"), 404, 0, 0),
    Case("wrong method", lambda c, a: c.get(f"/webhooks/acs/{a.webhook_token}/events/"), 405, 0, 0),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_acs_webhook(case, client, acs_account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = case.send(client, acs_account)
    assert response.status_code == case.status, response.content
    assert InboundEvent.objects.count() == case.events
    assert InboundEvent.objects.exclude(state=EventState.PROCESSED).count() == 0
    assert Message.objects.filter(direction=Direction.INBOUND).count() == case.messages
    if case.answer is not None:
        assert response.json() == case.answer
    if case.detail:
        assert case.detail in response.json()["detail"]
    for name, value in case.headers.items():
        assert response[name] == value
    if case.status == 400:
        assert ChannelLog.objects.filter(kind="webhook", status_code=400, is_error=True).exists()


def test_an_inbound_sms_opens_a_conversation(client, acs_account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(client, acs_account, [received()])
    message = Message.objects.get()
    assert (message.body, message.contact.address, message.phone_number.number, message.provider_message_id) == (
        "Where is my parcel?", "+15551234567", ACS_NUMBER, "Incoming_1")
    conversation = Conversation.objects.get()
    assert conversation.state == "open" and list(conversation.entries.values_list("message_id", flat=True)) == [
        message.pk]


def test_the_handshake_is_in_the_channel_log(client, acs_account):
    post(client, acs_account, VALIDATION, headers={"HTTP_AEG_EVENT_TYPE": "SubscriptionValidation"})
    log = ChannelLog.objects.get(kind="webhook")
    assert log.status_code == 200 and not log.is_error and "validation answered" in log.response_body


def _sent(acs_account, mocked_http, django_capture_on_commit_callbacks, message_id="Outgoing_1"):
    from channels_app.services.delivery import message_queue
    from channels_app.services.inbound import contact_for

    mocked_http.post(SEND_URL, status=202, json={"value": [{"to": "+15551234567", "messageId": message_id,
                                                            "httpStatusCode": 202, "successful": True,
                                                            "repeatabilityResult": "accepted"}]})
    with django_capture_on_commit_callbacks(execute=True):
        message = message_queue(phone_number=acs_account.numbers.get(), contact=contact_for("+15551234567"),
                                body="Your parcel ships today")
    message.refresh_from_db()
    assert message.status == "sent" and message.provider_message_id == message_id
    return message


@pytest.mark.parametrize(("payload", "content_type"), [
    (lambda m: [report(tag=str(m.pk))], "application/json"),
    (lambda m: cloud(report(tag=str(m.pk))), "application/cloudevents+json"),
], ids=["event grid", "cloudevents"])
def test_a_delivery_report_marks_the_message_delivered(client, acs_account, mocked_http, payload, content_type,
                                                        django_capture_on_commit_callbacks):
    message = _sent(acs_account, mocked_http, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, acs_account, payload(message), content_type=content_type).status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered" and message.delivered_at
    assert InboundEvent.objects.get().kind == "status"


def test_a_failed_delivery_report_fails_the_message_with_the_detail(client, acs_account, mocked_http,
                                                                      django_capture_on_commit_callbacks):
    message = _sent(acs_account, mocked_http, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, acs_account, [report(status="Failed", detail="Message expired before delivery.")])
    message.refresh_from_db()
    assert (message.status, message.error_code, message.error_message) == (
        "failed", "Failed", "Message expired before delivery.")
    assert not ConsentRecord.objects.exists()


def test_a_blocked_recipient_is_recorded_as_opted_out(client, acs_account, mocked_http,
                                                      django_capture_on_commit_callbacks):
    message = _sent(acs_account, mocked_http, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, acs_account, [report(status="Failed", detail="Sender blocked for given recipient.")])
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", "blocked")
    record = ConsentRecord.objects.get()
    assert (record.contact.address, record.state, record.phone_number.number) == (
        "+15551234567", "opted_out", ACS_NUMBER)


@pytest.mark.parametrize(("word", "state"), [("STOP", "opted_out"), ("Stop.", "opted_out")])
def test_a_relayed_stop_is_recorded_like_any_other(client, acs_account, word, state,
                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(client, acs_account, [received(text=word)])
    assert ConsentRecord.objects.get().state == state
    with django_capture_on_commit_callbacks(execute=True):
        post(client, acs_account, [received("Incoming_2", text="START")])
    assert ConsentRecord.objects.order_by("-id").first().state == "opted_in"


def test_a_delivery_report_that_outruns_the_send_bookkeeping_finds_the_message_by_its_tag(
        client, acs_account, mocked_http, django_capture_on_commit_callbacks):
    message = _sent(acs_account, mocked_http, django_capture_on_commit_callbacks)
    Message.objects.filter(pk=message.pk).update(provider_message_id=None)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, acs_account, [report("Outgoing_1", tag=str(message.pk))])
    message.refresh_from_db()
    assert (message.status, message.provider_message_id) == ("delivered", "Outgoing_1")


def test_a_send_acs_refuses_as_blocked_records_the_opt_out(acs_account, mocked_http, django_capture_on_commit_callbacks):
    from channels_app.services.delivery import message_queue
    from channels_app.services.inbound import contact_for

    mocked_http.post(SEND_URL, status=202, json={"value": [{"to": "+15551234567", "httpStatusCode": 400,
                                                            "successful": False,
                                                            "errorMessage": "Sender blocked for given recipient."}]})
    with django_capture_on_commit_callbacks(execute=True):
        message = message_queue(phone_number=acs_account.numbers.get(), contact=contact_for("+15551234567"),
                                body="Your parcel ships today")
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", "blocked")
    record = ConsentRecord.objects.get()
    assert (record.state, record.source) == ("opted_out", "provider error blocked")
