import base64
import json
from urllib.parse import parse_qsl

import pytest
import requests
from telesign.rest import RestClient
from telesign.util import verify_telesign_callback_signature

from channels_app.models import ChannelLog
from channels_app.providers import OutgoingMessage, ProviderError, WebhookPayloadError, WebhookRequest, get_provider
from channels_app.providers.telesign import callback_signature, encode_form, sign_request
from tests.conftest import TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID

# The official SDK's own test vectors (python_telesign tests/test_rest.py).
SDK_KEY = "EXAMPLE----TE8sTgg45yusumoN6BYsBVkh+yRJ5czgsnCehZaOYldPJdmFh6NeX8kunZ2zU1YWaUw/0wV6xfw=="
SDK_CUSTOMER = "FFFFFFFF-EEEE-DDDD-1234-AB1234567890"
SDK_DATE = "Wed, 14 Dec 2016 18:20:12 GMT"
SDK_NONCE = "A1592C6F-E384-4CDB-BC42-C3AB970369E9"
URL = "https://rest-ww.telesign.com/v1/messaging"


@pytest.mark.parametrize(
    ("method", "body", "expected"),
    [
        ("POST", "test=param", "2xVlmbrxLjYrrPun3G3WMNG6Jon4yKcTeOoK9DjXJ/Q="),
        ("POST", "test=%CF%BF", "h8d4I0RTxErbxYXuzCOtNqb/f0w3Ck8e5SEkGNj01+8="),
        ("GET", "", "aUm7I+9GKl3ww7PNeeJntCT0iS7b+EmRKEE4LnRzChQ="),
    ],
)
def test_request_signature_reproduces_sdk_vectors(method, body, expected):
    headers = sign_request(customer_id=SDK_CUSTOMER, api_key=SDK_KEY, method=method, resource="/v1/resource",
                           body=body, date=SDK_DATE, nonce=SDK_NONCE)
    assert headers["Authorization"] == f"TSA {SDK_CUSTOMER}:{expected}"
    assert headers["x-ts-auth-method"] == "HMAC-SHA256"
    assert headers["Content-Type"] == ("application/x-www-form-urlencoded" if method == "POST" else "")


def test_request_signature_matches_the_official_sdk_for_a_real_send_body():
    body = encode_form([("phone_number", "15558675309"), ("message", "Héllo & ✓ 100%"), ("message_type", "ARN")])
    ours = sign_request(customer_id=TELESIGN_CUSTOMER_ID, api_key=TELESIGN_API_KEY, method="POST",
                        resource="/v1/messaging", body=body, date=SDK_DATE, nonce=SDK_NONCE)
    sdk = RestClient.generate_telesign_headers(TELESIGN_CUSTOMER_ID, TELESIGN_API_KEY, "POST", "/v1/messaging",
                                               body, date_rfc2616=SDK_DATE, nonce=SDK_NONCE)
    assert ours["Authorization"] == sdk["Authorization"]


def test_callback_signature_reproduces_the_documented_vector():
    body = (b'{"reference_id":"0123456789ABCDEF0123456789ABCDEF","status":{"code":200,"description":'
            b'"Delivered to handset","updated_on":"2016-10-21T14:05:36.181346Z"}}')
    assert callback_signature(TELESIGN_API_KEY, body) == "+8qfYakzHJ86LkH//Mc131G65S4rzLEJ1OdkICc9jqI="
    assert verify_telesign_callback_signature(TELESIGN_API_KEY, callback_signature(TELESIGN_API_KEY, body),
                                              body.decode())


def _message(**kw):
    defaults = dict(to="+15558675309", from_="14252306549", channel="sms", body="Your case is open")
    defaults.update(kw)
    return OutgoingMessage(**defaults)


def test_send_posts_a_signed_arn_message_and_returns_the_reference_id(telesign_account, mocked_http):
    mocked_http.post(URL, json={"reference_id": "A" * 32, "status": {"code": 290, "description": "Message in progress"}})
    result = get_provider(telesign_account).send(_message(external_id="m-1"))
    assert result.provider_message_id == "A" * 32
    assert result.status == "sent"
    sent = mocked_http.calls[0].request
    fields = dict(parse_qsl(sent.body))
    assert fields == {"phone_number": "15558675309", "message": "Your case is open", "message_type": "ARN",
                      "sender_id": "14252306549", "external_id": "m-1"}
    # The server can recompute the signature from what was actually sent.
    expected = sign_request(customer_id=TELESIGN_CUSTOMER_ID, api_key=TELESIGN_API_KEY, method="POST",
                            resource="/v1/messaging", body=sent.body, date=sent.headers["Date"],
                            nonce=sent.headers["x-ts-nonce"])
    assert sent.headers["Authorization"] == expected["Authorization"]


def test_send_error_401_is_permanent_with_telesigns_code(telesign_account, mocked_http):
    mocked_http.post(URL, status=401, json={"status": {"code": 10022, "description": "Invalid API key"}})
    with pytest.raises(ProviderError) as err:
        get_provider(telesign_account).send(_message())
    assert not err.value.retryable
    assert err.value.code == "10022"
    assert "Invalid API key" in err.value.message


@pytest.mark.parametrize("status", [429, 500, 503])
def test_send_errors_5xx_and_429_are_retryable(telesign_account, mocked_http, status):
    mocked_http.post(URL, status=status, json={"status": {"code": 10000, "description": "System Unavailable"}},
                     headers={"Retry-After": "7"})
    with pytest.raises(ProviderError) as err:
        get_provider(telesign_account).send(_message())
    assert err.value.retryable
    assert err.value.retry_after == 7.0


def test_send_timeout_is_retryable_and_names_the_host(telesign_account, mocked_http):
    mocked_http.post(URL, body=requests.ConnectTimeout("connect timed out"))
    with pytest.raises(ProviderError) as err:
        get_provider(telesign_account).send(_message())
    assert err.value.retryable
    assert err.value.message.startswith("could not reach rest-ww.telesign.com: timed out")


PROBE = "https://rest-ww.telesign.com/v1/messaging/" + "0" * 32


@pytest.mark.parametrize(
    ("status", "body", "expected_status", "expected_code"),
    [
        (404, {"status": {"code": -10001, "description": "Not found"}}, "valid", ""),
        (400, {"status": {"code": 11011, "description": "Invalid reference_id"}}, "valid", ""),
        (401, {"status": {"code": 10015, "description": "Invalid Customer ID"}}, "invalid", "10015"),
        (503, {"status": {"code": 10000, "description": "System Unavailable"}}, "error", "10000"),
    ],
)
def test_validate_maps_answers(telesign_account, mocked_http, status, body, expected_status, expected_code):
    mocked_http.get(PROBE, status=status, json=body)
    result = get_provider(telesign_account).validate_credentials()
    assert (result.status, result.code) == (expected_status, expected_code)
    assert mocked_http.calls[0].request.headers["Authorization"].startswith(f"TSA {TELESIGN_CUSTOMER_ID}:")


def test_validate_unreachable_says_so(telesign_account, mocked_http):
    mocked_http.get(PROBE, body=requests.ConnectionError("Connection refused"))
    result = get_provider(telesign_account).validate_credentials()
    assert result.status == "unreachable"
    assert result.message == "could not reach rest-ww.telesign.com: Connection refused"


def test_channel_log_records_the_exchange_without_secrets(telesign_account, mocked_http):
    mocked_http.post(URL, json={"reference_id": "B" * 32, "status": {"code": 290}})
    get_provider(telesign_account).send(_message())
    log = ChannelLog.objects.get(account=telesign_account, kind="send")
    assert log.status_code == 200 and log.method == "POST" and not log.is_error
    assert "15558675309" in log.request_body and "B" * 32 in log.response_body
    dump = json.dumps([log.url, log.request_headers, log.request_body, log.response_body, log.error])
    assert TELESIGN_API_KEY not in dump
    assert TELESIGN_CUSTOMER_ID not in dump
    assert log.request_headers["Authorization"] == "[redacted]"


def _callback(account, payload, signature=None, customer_id=TELESIGN_CUSTOMER_ID):
    body = json.dumps(payload).encode()
    sig = signature if signature is not None else callback_signature(TELESIGN_API_KEY, body)
    headers = {"authorization": f"TSA {customer_id}:{sig}", "content-type": "application/json"}
    return WebhookRequest(method="POST", url="https://hub.example/webhooks/telesign/x/", headers=headers,
                          body=body, params={})


MO = {"reference_id": "0143D53D86A2030BE20025B600000002", "status": {"code": 1500}, "sub_resource": "mo_sms",
      "user_response": {"phone_number": "15551234567", "sender_id": "14252306549", "mo_message": "Hello"}}


def test_verify_webhook_accepts_a_good_signature_and_rejects_others(telesign_account):
    provider = get_provider(telesign_account)
    assert provider.verify_webhook(_callback(telesign_account, MO))
    assert not provider.verify_webhook(_callback(telesign_account, MO, signature="AAAA"))
    assert not provider.verify_webhook(_callback(telesign_account, MO, customer_id="someone-else"))
    good = _callback(telesign_account, MO)
    tampered = WebhookRequest(good.method, good.url, good.headers, good.body.replace(b"Hello", b"Hellp"), {})
    assert not provider.verify_webhook(tampered)
    unsigned = WebhookRequest(good.method, good.url, {}, good.body, {})
    assert not provider.verify_webhook(unsigned)


def test_parse_inbound_and_status(telesign_account):
    provider = get_provider(telesign_account)
    inbound = provider.parse_inbound(_callback(telesign_account, MO))
    assert (inbound.provider_message_id, inbound.from_address, inbound.to_address, inbound.body) == (
        "0143D53D86A2030BE20025B600000002", "+15551234567", "+14252306549", "Hello")
    report = {"reference_id": "C" * 32, "sub_resource": "sms",
              "status": {"code": 210, "description": "Temporary phone error"}}
    update = provider.parse_status(_callback(telesign_account, report))
    assert (update.status, update.error_code, update.error_message) == ("failed", "210", "Temporary phone error")
    delivered = provider.parse_status(_callback(telesign_account, {**report, "status": {"code": 200}}))
    assert delivered.status == "delivered"


def test_parse_inbound_names_missing_fields(telesign_account):
    provider = get_provider(telesign_account)
    with pytest.raises(WebhookPayloadError, match="user_response.phone_number"):
        provider.parse_inbound(_callback(telesign_account, {**MO, "user_response": {"sender_id": "1", "mo_message": ""}}))
    bad = WebhookRequest("POST", "u", {}, b"not json", {})
    with pytest.raises(WebhookPayloadError, match="not valid JSON"):
        provider.parse_inbound(bad)


def test_strict_base64_keys_decode_the_same_as_the_sdk():
    assert base64.b64decode(TELESIGN_API_KEY, validate=True)
