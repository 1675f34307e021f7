"""Azure Communication Services: the HMAC request signature, sends, validation and number listing, with the
resource's HTTP API mocked."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
import requests

from channels_app.models import ValidationStatus
from channels_app.providers import OutgoingMessage, ProviderError, get_provider
from channels_app.providers.acs import (
    check_endpoint,
    parse_connection_string,
    repeatability_id,
    sign_request,
    string_to_sign,
)
from tests.conftest import ACS_ACCESS_KEY, ACS_ENDPOINT, ACS_NUMBER

SEND_URL = f"{ACS_ENDPOINT}/sms?api-version=2021-03-07"
NUMBERS_URL = f"{ACS_ENDPOINT}/phoneNumbers?api-version=2022-12-01"
CREATED = datetime(2026, 12, 1, 9, 30, 5, tzinfo=UTC)


def outgoing(**overrides):
    values = {"to": "+15551234567", "from_": ACS_NUMBER, "channel": "sms", "body": "Your parcel ships today",
              "external_id": "42", "first_sent_at": CREATED}
    return OutgoingMessage(**{**values, **overrides})


def accepted(message_id="Outgoing_1"):
    return {"value": [{"to": "+15551234567", "messageId": message_id, "httpStatusCode": 202,
                       "repeatabilityResult": "accepted", "successful": True}]}


# --- signing ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path_and_query", "signature"), [
    ("/", "88MDmJhUR3m5QhFxb8ztShsSwlGrg7g/6XPnWf7QEO4="),
    ("/testPath", "RoCrHjw7fb9fpHSbqvRUY2xa8RBS0YvI1cxI1x8AS38="),
    ("/testPath?testQuery=yes", "il99+rd6V5O136roX/zVePCNle78HmvC4B7tu9zRH3I="),
])
def test_the_signature_reproduces_microsofts_published_vectors(path_and_query, signature):
    """The vectors of the Communication SDK's own HMAC tests: key "pw==", a GET with no body at a fixed date."""
    headers = sign_request(access_key="pw==", method="GET", path_and_query=path_and_query,
                           host="contoso.communicationservices.azure.com", date="Wed, 13 Apr 2022 18:09:12 GMT")
    assert headers["Authorization"] == f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}"
    assert headers["x-ms-content-sha256"] == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # SHA-256 of nothing
    assert headers["x-ms-date"] == "Wed, 13 Apr 2022 18:09:12 GMT"


def test_the_tutorials_string_to_sign_is_verb_path_and_the_three_signed_headers():
    text = string_to_sign(method="post", path_and_query="/sms?api-version=2021-03-07", date="D", host="h:1",
                          body_hash="X")
    assert text == "POST\n/sms?api-version=2021-03-07\nD;h:1;X"


def test_a_send_is_signed_over_its_exact_body_and_host(acs_account, mocked_http):
    mocked_http.post(SEND_URL, status=202, json=accepted())
    get_provider(acs_account).send(outgoing())
    sent = mocked_http.calls[0].request
    assert sent.headers["x-ms-content-sha256"] == base64.b64encode(hashlib.sha256(sent.body).digest()).decode()
    expected = string_to_sign(method="POST", path_and_query="/sms?api-version=2021-03-07",
                              date=sent.headers["x-ms-date"], host="contoso-sms.communication.azure.com",
                              body_hash=sent.headers["x-ms-content-sha256"])
    signature = base64.b64encode(hmac.new(base64.b64decode(ACS_ACCESS_KEY), expected.encode(),
                                          hashlib.sha256).digest()).decode()
    assert sent.headers["Authorization"].endswith("&Signature=" + signature)


# --- send -----------------------------------------------------------------------------------------------------

def test_send_asks_for_delivery_reports_and_keeps_one_repeatability_id_per_message(acs_account, mocked_http):
    mocked_http.post(SEND_URL, status=202, json=accepted())
    provider = get_provider(acs_account)
    result = provider.send(outgoing())
    provider.send(outgoing())  # the same message again: a resend after an unknown outcome
    first, again = (json.loads(call.request.body) for call in mocked_http.calls)
    assert result.provider_message_id == "Outgoing_1" and result.status == "sent"
    assert first == {
        "from": ACS_NUMBER, "message": "Your parcel ships today",
        "smsRecipients": [{"to": "+15551234567", "repeatabilityRequestId": repeatability_id(acs_account.webhook_token,
                                                                                            "42"),
                           "repeatabilityFirstSent": "Tue, 01 Dec 2026 09:30:05 GMT"}],
        "smsSendOptions": {"enableDeliveryReport": True, "tag": "42"},
    }
    assert again == first  # ACS recognises the repeat and does not deliver it twice
    other = json.loads(provider.send(outgoing(external_id="43")) and mocked_http.calls[2].request.body)
    assert other["smsRecipients"][0]["repeatabilityRequestId"] != first["smsRecipients"][0]["repeatabilityRequestId"]


@pytest.mark.parametrize(("status", "body", "retryable", "opt_out", "code", "says"), [
    (202, {"value": [{"to": "+15551234567", "httpStatusCode": 400, "successful": False,
                      "errorMessage": "Invalid To phone number format."}]}, False, False, "400", "Invalid To"),
    (202, {"value": [{"to": "+15551234567", "httpStatusCode": 400, "successful": False,
                      "errorMessage": "Sender blocked for given recipient."}]}, False, True, "blocked", "blocked"),
    (202, {"value": [{"to": "+15551234567", "httpStatusCode": 503, "successful": False}]}, True, False, "503",
     "unavailable"),
    (202, {"value": [{"to": "+15551234567", "httpStatusCode": 202, "successful": False,
                      "repeatabilityResult": "rejected"}]}, False, False, "202", "too old to be repeated"),
    (401, {"error": {"code": "Denied", "message": "Denied by the resource provider."}}, False, False, "Denied",
     "Denied"),
    (429, {"error": {"code": "TooManyRequests", "message": "Too many requests"}}, True, False, "TooManyRequests",
     "Too many"),
    (500, {}, True, False, "500", "internal error"),
])
def test_send_classifies_acs_errors(acs_account, mocked_http, status, body, retryable, opt_out, code, says):
    mocked_http.post(SEND_URL, status=status, json=body, headers={"Retry-After": "7"})
    with pytest.raises(ProviderError) as refused:
        get_provider(acs_account).send(outgoing())
    error = refused.value
    opted_out = error.code in get_provider(acs_account).opt_out_error_codes
    assert (error.retryable, opted_out, error.code) == (retryable, opt_out, code)
    assert says in error.message
    assert error.retry_after == (7.0 if retryable else None)


def test_send_refuses_attachments(acs_account, mocked_http):
    with pytest.raises(ProviderError, match="no attachments"):
        get_provider(acs_account).send(outgoing(media_urls=("https://hub.example/a.png",)))
    assert not mocked_http.calls


def test_an_unreachable_resource_is_a_retryable_error(acs_account, mocked_http):
    mocked_http.post(SEND_URL, body=requests.ConnectionError("refused"))
    with pytest.raises(ProviderError) as refused:
        get_provider(acs_account).send(outgoing())
    assert refused.value.retryable and "could not reach contoso-sms.communication.azure.com" in refused.value.message


# --- validate and numbers -------------------------------------------------------------------------------------

def test_validate_lists_one_number_and_sends_nothing(acs_account, mocked_http):
    mocked_http.get(NUMBERS_URL + "&top=1", json={"phoneNumbers": []})
    result = get_provider(acs_account).validate_credentials()
    assert result.status == ValidationStatus.VALID
    assert [c.request.method for c in mocked_http.calls] == ["GET"]
    assert mocked_http.calls[0].request.headers["Authorization"].startswith("HMAC-SHA256 SignedHeaders=")


@pytest.mark.parametrize(("status", "outcome"), [(401, ValidationStatus.INVALID), (403, ValidationStatus.INVALID),
                                                 (500, ValidationStatus.ERROR)])
def test_validate_reports_what_acs_answered(acs_account, mocked_http, status, outcome):
    mocked_http.get(NUMBERS_URL + "&top=1", status=status,
                    json={"error": {"code": "Denied", "message": "Denied by the resource provider."}})
    assert get_provider(acs_account).validate_credentials().status == outcome


def test_validate_of_an_unreachable_resource(acs_account, mocked_http):
    mocked_http.get(NUMBERS_URL + "&top=1", body=requests.ConnectionError("no route"))
    assert get_provider(acs_account).validate_credentials().status == ValidationStatus.UNREACHABLE


def test_remote_numbers_follow_next_links_and_say_which_carry_sms(acs_account, mocked_http):
    page2 = f"{ACS_ENDPOINT}/phoneNumbers?skip=2&top=2&api-version=2022-12-01"
    mocked_http.get(NUMBERS_URL, json={"phoneNumbers": [
        {"phoneNumber": "+18005550100", "phoneNumberType": "tollFree", "countryCode": "US",
         "capabilities": {"calling": "none", "sms": "inbound+outbound"}},
        {"phoneNumber": "+447400123456", "phoneNumberType": "mobile", "countryCode": "GB",
         "capabilities": {"calling": "none", "sms": "outbound"}},
    ], "nextLink": page2})
    mocked_http.get(page2, json={"phoneNumbers": [
        {"phoneNumber": "+14255550123", "phoneNumberType": "geographic", "countryCode": "US",
         "capabilities": {"calling": "inbound+outbound", "sms": "none"}},
        {"phoneNumber": "+18005550199", "phoneNumberType": "tollFree", "countryCode": "US",
         "capabilities": {"calling": "none", "sms": "inbound"}},
    ]})
    found = get_provider(acs_account).remote_numbers()
    assert [(n.number, n.number_type, n.usable) for n in found] == [
        ("+18005550100", "toll_free", True), ("+447400123456", "mobile", True), ("+14255550123", "", False),
        ("+18005550199", "toll_free", False)]
    assert found[1].note == "it does not receive SMS"
    assert "not enabled" in found[3].note


# --- credentials ----------------------------------------------------------------------------------------------

def test_connection_strings_are_read_as_the_portal_shows_them():
    assert parse_connection_string("endpoint=https://r.communication.azure.com/;accesskey=cHc=") == {
        "endpoint": "https://r.communication.azure.com/", "access_key": "cHc="}
    assert parse_connection_string("cHc=") is None


@pytest.mark.parametrize(("value", "normalized"), [
    ("https://R.Communication.Azure.com/", "https://r.communication.azure.com"),
    ("https://r.communication.azure.com:443", "https://r.communication.azure.com"),
])
def test_endpoints_are_normalized(value, normalized):
    assert check_endpoint(value) == normalized


@pytest.mark.parametrize("value", ["http://r.communication.azure.com", "https://r.communication.azure.com/x",
                                   "https://evil.example", "https://user@r.communication.azure.com",
                                   "https://r.communication.azure.com\\@evil.example", "https://r.communication.azure.com?x=1"])
def test_endpoints_elsewhere_are_refused(value):
    with pytest.raises(ValueError):
        check_endpoint(value)
