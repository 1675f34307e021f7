"""The emulated Azure Communication Services: HMAC checking over HTTPS, repeatable sends, Event Grid deliveries
with the subscription handshake in both schemas, STOP blocking, number listing and failure injection."""

import json
from email.utils import formatdate

import pytest
import requests

from devtools.emulator.signing import acs_sign_request
from tests.conftest import ACS_ACCESS_KEY, ACS_NUMBER
from tests.devtools.emulator.conftest import ACS_RESOURCE

SEND = "/sms?api-version=2021-03-07"


def acs_request(http, emulator, tls_files, path=SEND, payload=None, *, key=ACS_ACCESS_KEY, tamper=None, date=None,
                method="POST"):
    body = json.dumps(payload).encode() if payload is not None else b""
    host = emulator.tls_url.split("://", 1)[1]
    headers = acs_sign_request(access_key=key, method=method, path_and_query=path, host=host, body=body, date=date)
    if payload is not None:
        headers["Content-Type"] = "application/json"
    return http.request(method, emulator.tls_url + path, data=tamper if tamper is not None else body,
                        headers=headers, verify=str(tls_files[0]), timeout=5)


def sms(to="+15551234567", request_id="6f9619ff-8b86-d011-b42d-00c04fc964ff", first_sent="Tue, 01 Dec 2026 09:30:05 GMT",
        report=True, tag="42", text="Your parcel ships today"):
    return {"from": ACS_NUMBER, "message": text,
            "smsRecipients": [{"to": to, "repeatabilityRequestId": request_id, "repeatabilityFirstSent": first_sent}],
            "smsSendOptions": {"enableDeliveryReport": report, "tag": tag}}


def test_a_signed_send_is_accepted_and_its_delivery_report_arrives_through_event_grid(
        http, emulator, tls_files, receiver):
    state = emulator.subscribe_acs(ACS_RESOURCE, receiver.url + "/events")
    assert state["validated"] and len(receiver.validations) == 1  # the validation event was answered first
    response = acs_request(http, emulator, tls_files, payload=sms())
    assert response.status_code == 202, response.text
    [item] = response.json()["value"]
    assert item["successful"] and item["httpStatusCode"] == 202 and item["messageId"].startswith("Outgoing_")
    assert emulator.wait_idle(5)
    [delivery] = receiver.wait_for(1)
    assert delivery.headers["aeg-event-type"] == "Notification"
    [event] = json.loads(delivery.body)
    assert event["eventType"] == "Microsoft.Communication.SMSDeliveryReportReceived"
    assert (event["data"]["messageId"], event["data"]["deliveryStatus"], event["data"]["Tag"]) == (
        item["messageId"], "Delivered", "42")


def test_a_repeated_request_gets_the_first_answer_and_is_delivered_once(http, emulator, tls_files, receiver):
    emulator.subscribe_acs(ACS_RESOURCE, receiver.url + "/events")
    first = acs_request(http, emulator, tls_files, payload=sms()).json()["value"][0]
    again = acs_request(http, emulator, tls_files, payload=sms()).json()["value"][0]
    assert again == first
    other = acs_request(http, emulator, tls_files, payload=sms(request_id="7f9619ff-8b86-d011-b42d-00c04fc964ff"))
    assert other.json()["value"][0]["messageId"] != first["messageId"]
    assert emulator.wait_idle(5)
    assert len(emulator.messages(provider="acs", direction="outbound-api")) == 2
    assert len(receiver.wait_for(2)) == 2 and emulator.stats()["counters"]["acs.repeated"] == 1


@pytest.mark.parametrize(("change", "says"), [
    ({"key": "d3Jvbmcta2V5"}, "Denied by the resource provider"),
    ({"tamper": b'{"from": "+18005550100"}'}, "x-ms-content-sha256 does not match"),
    ({"date": formatdate(0, usegmt=True)}, "outside the allowed window"),
])
def test_requests_that_fail_the_hmac_check_get_401(http, emulator, tls_files, change, says):
    response = acs_request(http, emulator, tls_files, payload=sms(), **change)
    assert response.status_code == 401 and says in response.json()["error"]["message"]
    assert not emulator.messages(provider="acs")


def test_an_unsigned_request_gets_401(http, emulator, tls_files):
    response = http.post(emulator.tls_url + SEND, json=sms(), verify=str(tls_files[0]), timeout=5)
    assert response.status_code == 401


@pytest.mark.parametrize(("payload", "status", "says"), [
    ({**sms(), "from": "+18005550199"}, 400, "not a number of this resource"),
    ({**sms(), "smsRecipients": []}, 400, "1 to 100 recipients"),
    ({**sms(), "message": ""}, 400, "message is required"),
])
def test_malformed_sends_are_refused(http, emulator, tls_files, payload, status, says):
    response = acs_request(http, emulator, tls_files, payload=payload)
    assert response.status_code == status and says in response.json()["error"]["message"]


def test_a_bad_recipient_fails_alone(http, emulator, tls_files):
    payload = sms()
    payload["smsRecipients"].append({"to": "12", "repeatabilityRequestId": "8f9619ff-8b86-d011-b42d-00c04fc964ff",
                                     "repeatabilityFirstSent": "Tue, 01 Dec 2026 09:30:05 GMT"})
    good, bad = acs_request(http, emulator, tls_files, payload=payload).json()["value"]
    assert good["successful"] and not bad["successful"]
    assert (bad["httpStatusCode"], bad["errorMessage"]) == (400, "Invalid To phone number format.")


@pytest.mark.parametrize("schema", ["eventgrid", "cloudevents"])
def test_stop_blocks_the_sender_as_acs_does_and_is_relayed(http, emulator, tls_files, receiver, schema):
    emulator.subscribe_acs(ACS_RESOURCE, receiver.url + "/events", schema=schema)
    answer = emulator.inject_inbound(provider="acs", from_="+15551234567", to=ACS_NUMBER, body="STOP")
    assert answer["delivery"]["http_status"] == 200
    acs_request(http, emulator, tls_files, payload=sms())
    assert emulator.wait_idle(5)
    stop, report = receiver.wait_for(2)
    stop_event, report_event = (json.loads(r.body) for r in (stop, report))
    if schema == "eventgrid":
        [stop_event], [report_event] = stop_event, report_event
        assert stop_event["eventType"] == "Microsoft.Communication.SMSReceived"
    else:
        assert stop.headers["Content-Type"].startswith("application/cloudevents+json")
        assert stop_event["type"] == "Microsoft.Communication.SMSReceived" and stop_event["specversion"] == "1.0"
        assert receiver.validations == [b"OPTIONS eventgrid.azure.net"]
    assert stop_event["data"]["message"] == "STOP" and stop_event["data"]["from"] == "15551234567"
    assert (report_event["data"]["deliveryStatus"], report_event["data"]["deliveryStatusDetails"]) == (
        "Failed", "Sender blocked for given recipient.")
    emulator.inject_inbound(provider="acs", from_="+15551234567", to=ACS_NUMBER, body="START")
    assert http.get(emulator.url + "/_emulator/optouts", timeout=5).json()["acs"] == []


def test_several_inbound_messages_go_in_one_delivery_when_batching_is_on(emulator, receiver):
    emulator.configure(acs_max_events_per_batch=10)
    emulator.subscribe_acs(ACS_RESOURCE, receiver.url + "/events")
    emulator.inject_inbound(provider="acs", messages=[
        {"from": "+15551234567", "to": ACS_NUMBER, "body": "one"},
        {"from": "+15557654321", "to": ACS_NUMBER, "body": "two"}])
    [delivery] = receiver.wait_for(1)
    assert [e["data"]["message"] for e in json.loads(delivery.body)] == ["one", "two"]


def test_a_subscription_whose_handshake_fails_gets_no_events(http, emulator, receiver):
    response = http.post(emulator.url + "/_emulator/webhooks", timeout=10, json={
        "provider": "acs", "resource": ACS_RESOURCE, "url": receiver.url.replace("127.0.0.1", "127.0.0.2") + "/e"})
    assert response.status_code == 502 and "validation handshake failed" in response.json()["error"]
    inject = http.post(emulator.url + "/_emulator/inbound", timeout=10, json={
        "provider": "acs", "from": "+15551234567", "to": ACS_NUMBER, "body": "hi"})
    assert inject.status_code == 502 and not receiver.received


def test_the_numbers_list_pages_with_next_links(http, emulator, tls_files):
    first = acs_request(http, emulator, tls_files, "/phoneNumbers?api-version=2022-12-01&top=2", method="GET")
    assert first.status_code == 200
    body = first.json()
    assert [n["phoneNumber"] for n in body["phoneNumbers"]] == ["+14255550123", "+18005550100"]
    assert body["phoneNumbers"][1]["capabilities"]["sms"] == "inbound+outbound"
    next_path = body["nextLink"].split(emulator.tls_url, 1)[1]
    second = acs_request(http, emulator, tls_files, next_path, method="GET").json()
    assert [n["phoneNumberType"] for n in second["phoneNumbers"]] == ["mobile"] and "nextLink" not in second


@pytest.mark.parametrize(("setting", "status"), [({"fail_5xx": 1.0}, 500), ({"fail_429": 1.0}, 429)])
def test_failures_can_be_injected(http, emulator, tls_files, setting, status):
    emulator.configure(**setting)
    response = acs_request(http, emulator, tls_files, payload=sms())
    assert response.status_code == status
    if status == 429:
        assert response.headers["Retry-After"] == "1"
    assert not emulator.messages(provider="acs")


def test_the_plain_http_port_serves_acs_too_for_clients_that_allow_it(http, emulator):
    body = json.dumps(sms()).encode()
    host = emulator.url.split("://", 1)[1]
    headers = acs_sign_request(access_key=ACS_ACCESS_KEY, method="POST", path_and_query=SEND, host=host, body=body)
    response = http.post(emulator.url + SEND, data=body, headers={**headers, "Content-Type": "application/json"},
                         timeout=5)
    assert response.status_code == 202


def test_https_needs_the_emulators_certificate(emulator):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(emulator.tls_url + "/_emulator/health", timeout=5)
