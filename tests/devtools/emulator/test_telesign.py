"""TeleSign's SMS API as the emulator serves it: authentication, field checks, status, callbacks."""

import base64
import json
import re
from email.utils import formatdate
from time import time
from urllib.parse import urlencode

import pytest
from telesign.util import verify_telesign_callback_signature

from devtools.emulator.signing import basic_auth_header, telesign_sign_request
from tests.conftest import TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID
from tests.devtools.emulator.conftest import telesign_send

OTHER_KEY = base64.b64encode(b"another-key-entirely-0123456789").decode()


def _body(**fields):
    return urlencode({"phone_number": "15551234567", "message": "hi", "message_type": "ARN", **fields})


def _error(response, http_status, code):
    assert response.status_code == http_status, response.text
    data = response.json()
    assert data["status"]["code"] == code
    assert set(data) >= {"reference_id", "status"} and data["reference_id"] is None
    assert set(data["status"]) == {"code", "description", "updated_on"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", data["status"]["updated_on"])
    return data


def test_send_answers_200_with_a_reference_id_and_status_290(http, emulator):
    response = telesign_send(http, emulator, external_id="order-17")
    assert response.status_code == 200
    data = response.json()
    assert re.fullmatch(r"[0-9A-F]{32}", data["reference_id"])
    assert data["status"]["code"] == 290 and data["status"]["description"] == "Message in progress"
    assert data["external_id"] == "order-17"
    assert telesign_send(http, emulator).json()["external_id"] is None


def test_basic_auth_and_the_x_ts_date_variant_are_accepted(http, emulator):
    body = _body()
    basic = {"Authorization": basic_auth_header(TELESIGN_CUSTOMER_ID, TELESIGN_API_KEY),
             "Content-Type": "application/x-www-form-urlencoded"}
    assert http.post(emulator.url + "/v1/messaging", data=body, headers=basic).status_code == 200
    signed = telesign_sign_request(customer_id=TELESIGN_CUSTOMER_ID, api_key=TELESIGN_API_KEY, method="POST",
                                   resource="/v1/messaging", body=body, use_x_ts_date=True)
    assert http.post(emulator.url + "/v1/messaging", data=body, headers=signed).status_code == 200


def _signed(body, **overrides):
    headers = telesign_sign_request(customer_id=TELESIGN_CUSTOMER_ID, api_key=TELESIGN_API_KEY, method="POST",
                                    resource="/v1/messaging", body=body)
    return {**headers, **overrides}


@pytest.mark.parametrize(("headers", "code"), [
    (lambda b: {"Content-Type": "application/x-www-form-urlencoded"}, 10009),
    (lambda b: _signed(b, Authorization="TSA no-colon-here"), 10028),
    (lambda b: _signed(b, Authorization="Bearer abc"), 10028),
    (lambda b: {"Authorization": "Basic !!!not-base64"}, 10028),
    (lambda b: _signed(b, Authorization=_signed(b)["Authorization"].replace(TELESIGN_CUSTOMER_ID, "0000-UNKNOWN")),
     10015),
    (lambda b: {"Authorization": basic_auth_header("0000-UNKNOWN", TELESIGN_API_KEY)}, 10015),
    (lambda b: {"Authorization": basic_auth_header(TELESIGN_CUSTOMER_ID, OTHER_KEY)}, 10022),
    (lambda b: telesign_sign_request(customer_id=TELESIGN_CUSTOMER_ID, api_key=OTHER_KEY, method="POST",
                                     resource="/v1/messaging", body=b), 10008),
    (lambda b: _signed(b, **{"x-ts-auth-method": "HMAC-SHA1"}), 10006),
    (lambda b: {k: v for k, v in _signed(b).items() if k != "Date"}, 10007),
    (lambda b: _signed(b, Date="yesterday-ish"), 10005),
    (lambda b: telesign_sign_request(customer_id=TELESIGN_CUSTOMER_ID, api_key=TELESIGN_API_KEY, method="POST",
                                     resource="/v1/messaging", body=b, date=formatdate(time() - 16 * 60, usegmt=True)),
     10004),
    (lambda b: telesign_sign_request(customer_id=TELESIGN_CUSTOMER_ID, api_key=TELESIGN_API_KEY, method="POST",
                                     resource="/v1/messaging", body=b, date=formatdate(time() + 16 * 60, usegmt=True)),
     10004),
    (lambda b: {k: v for k, v in _signed(b).items() if k != "x-ts-nonce"}, 10003),
], ids=["missing", "tsa-no-colon", "other-scheme", "basic-garbage", "unknown-customer-tsa", "unknown-customer-basic",
        "basic-wrong-key", "bad-signature", "auth-method", "no-date", "bad-date", "date-too-old", "date-in-future",
        "no-nonce"])
def test_authentication_failures_answer_401_with_telesigns_code(http, emulator, headers, code):
    body = _body()
    response = http.post(emulator.url + "/v1/messaging", data=body, headers=headers(body))
    _error(response, 401, code)
    assert emulator.messages(provider="telesign") == []


def test_bad_signature_reports_the_string_to_sign_and_a_tampered_body_is_refused(http, emulator):
    body = _body()
    response = http.post(emulator.url + "/v1/messaging", data=_body(message="changed"), headers=_signed(body))
    data = _error(response, 401, 10008)
    assert data["signature_string"].startswith("POST\napplication/x-www-form-urlencoded\n")
    assert data["signature_string"].endswith("message=changed&message_type=ARN\n/v1/messaging")


def test_a_nonce_is_accepted_once(http, emulator):
    body = _body()
    headers = _signed(body)
    assert http.post(emulator.url + "/v1/messaging", data=body, headers=headers).status_code == 200
    _error(http.post(emulator.url + "/v1/messaging", data=body, headers=headers), 401, 10002)


def test_a_suspended_customer_is_refused(http, emulator):
    emulator.add_telesign_account(TELESIGN_CUSTOMER_ID, TELESIGN_API_KEY, status="suspended")
    _error(telesign_send(http, emulator), 401, 10010)


@pytest.mark.parametrize(("fields", "code"), [
    ({"phone_number": None}, 12000),
    ({"phone_number": ""}, 12000),
    ({"phone_number": "+15551234567"}, 11000),
    ({"phone_number": "1555-123"}, 11000),
    ({"phone_number": "123"}, 11000),
    ({"message": None}, 12009),
    ({"message": "x" * 1601}, 11009),
    ({"message_type": None}, 12017),
    ({"message_type": "SPAM"}, 11017),
    ({"account_lifecycle_event": "login"}, 11003),
    ({"sender_id": "X" * 21}, 11013),
    ({"external_id": "x" * 101}, 11016),
    ({"originating_ip": "999.1.1.1"}, 11010),
    ({"callback_url": "not a url"}, 11004),
    ({"dlt_template_id": "1" * 41}, 11034),
])
def test_field_errors_answer_400_with_telesigns_code(http, emulator, fields, code):
    _error(telesign_send(http, emulator, **fields), 400, code)


def test_a_1600_character_message_is_accepted(http, emulator):
    assert telesign_send(http, emulator, message="x" * 1600).status_code == 200


def _status(http, emulator, reference_id, api_key=TELESIGN_API_KEY):
    resource = f"/v1/messaging/{reference_id}"
    headers = telesign_sign_request(customer_id=TELESIGN_CUSTOMER_ID, api_key=api_key, method="GET",
                                    resource=resource)
    return http.get(emulator.url + resource, headers=headers)


def test_status_lookup(http, emulator):
    reference_id = telesign_send(http, emulator, external_id="e1").json()["reference_id"]
    assert emulator.wait_idle(5)
    response = _status(http, emulator, reference_id)
    assert response.status_code == 200
    data = response.json()
    assert data["reference_id"] == reference_id and data["external_id"] == "e1"
    assert data["status"]["code"] == 200 and data["status"]["description"] == "Delivered to handset"
    not_found = _status(http, emulator, "0" * 32)
    assert not_found.status_code == 404 and not_found.json()["status"]["code"] == 10017
    bad = _status(http, emulator, "not-a-reference")
    assert bad.status_code == 400 and bad.json()["status"]["code"] == 11011
    _error(_status(http, emulator, reference_id, api_key=OTHER_KEY), 401, 10008)


def _verify(received):
    authorization = received.headers["Authorization"]
    assert received.headers["X-TS-Authorization"] == authorization
    scheme, _, credentials = authorization.partition(" ")
    customer_id, _, signature = credentials.partition(":")
    assert scheme == "TSA" and customer_id == TELESIGN_CUSTOMER_ID
    assert verify_telesign_callback_signature(TELESIGN_API_KEY, signature, received.body.decode())
    return json.loads(received.body)


def test_delivery_report_goes_to_the_messages_callback_url_signed(http, emulator, receiver):
    response = telesign_send(http, emulator, callback_url=receiver.url + "/dr?x=1", external_id="order-9")
    reference_id = response.json()["reference_id"]
    received = receiver.wait_for(1)[0]
    assert received.path == "/dr?x=1"
    assert received.headers["Content-Type"] == "application/json"
    report = _verify(received)
    assert report["reference_id"] == reference_id and report["sub_resource"] == "sms"
    assert report["status"]["code"] == 200 and report["status"]["description"] == "Delivered to handset"
    assert report["external_id"] == "order-9" and report["errors"] == []
    assert emulator.wait_idle(5)
    [callback] = emulator.callbacks(provider="telesign")
    assert callback["http_status"] == 200 and callback["ok"] and callback["kind"] == "delivery_report"
    [message] = emulator.messages(provider="telesign")
    assert message["status"] == "delivered" and message["status_code"] == 200


def test_delivery_report_falls_back_to_the_customers_callback_url(http, emulator, receiver):
    emulator.set_telesign_callback_url(TELESIGN_CUSTOMER_ID, receiver.url + "/customer")
    emulator.configure(undeliverable_numbers=["+15550000001"])
    telesign_send(http, emulator, phone_number="15550000001")
    report = _verify(receiver.wait_for(1)[0])
    assert receiver.received[0].path == "/customer"
    assert report["status"]["code"] == 207


def test_a_refused_callback_is_retried_after_the_configured_waits(http, emulator, receiver):
    emulator.configure(telesign_callback_retry_ms=[10, 10])
    receiver.status_for["/dr"] = 500
    telesign_send(http, emulator, callback_url=receiver.url + "/dr")
    receiver.wait_for(3)
    assert emulator.wait_idle(5)
    attempts = emulator.callbacks(provider="telesign")
    assert [c["attempt"] for c in attempts] == [1, 2, 3] and not any(c["ok"] for c in attempts)
    assert {c["http_status"] for c in attempts} == {500}


def test_inbound_sms_is_posted_as_mo_sms_and_stop_is_reported_not_enforced(http, emulator, receiver):
    emulator.set_telesign_callback_url(TELESIGN_CUSTOMER_ID, receiver.url + "/ts")
    result = emulator.inject_inbound(provider="telesign", from_="+15551234567", to="14252306549", body="Stop")
    assert result["delivery"]["http_status"] == 200
    payload = _verify(receiver.received[0])
    assert payload["sub_resource"] == "mo_sms" and re.fullmatch(r"[0-9A-F]{32}", payload["reference_id"])
    assert payload["user_response"] == {"phone_number": "15551234567", "sender_id": "14252306549",
                                        "mo_message": "Stop", "action": "stop", "keyword": "stop"}
    assert payload["status"]["code"] == 1500
    assert http.get(emulator.url + "/_emulator/optouts").json()["telesign"] == [
        {"customer_id": TELESIGN_CUSTOMER_ID, "sender_id": "14252306549", "phone_number": "15551234567"}]
    # TeleSign leaves the opt-out list to the customer: sending still works.
    assert telesign_send(http, emulator).status_code == 200
