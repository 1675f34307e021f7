"""The emulator's signatures reproduce the providers' published vectors and their official SDKs."""

import pytest
from telesign.rest import RestClient
from telesign.util import verify_telesign_callback_signature
from twilio.request_validator import RequestValidator

from devtools.emulator.signing import (
    basic_auth_header,
    telesign_callback_headers,
    telesign_callback_signature,
    telesign_sign_request,
    telesign_string_to_sign,
    twilio_signature,
)
from tests.conftest import TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID

SDK_KEY = "EXAMPLE----TE8sTgg45yusumoN6BYsBVkh+yRJ5czgsnCehZaOYldPJdmFh6NeX8kunZ2zU1YWaUw/0wV6xfw=="
DATE = "Wed, 14 Dec 2016 18:20:12 GMT"
NONCE = "A1592C6F-E384-4CDB-BC42-C3AB970369E9"


@pytest.mark.parametrize(("method", "body", "expected"), [
    ("POST", "test=param", "2xVlmbrxLjYrrPun3G3WMNG6Jon4yKcTeOoK9DjXJ/Q="),
    ("POST", "test=%CF%BF", "h8d4I0RTxErbxYXuzCOtNqb/f0w3Ck8e5SEkGNj01+8="),
    ("GET", "", "aUm7I+9GKl3ww7PNeeJntCT0iS7b+EmRKEE4LnRzChQ="),
])
def test_telesign_request_signature_matches_the_sdk_test_vectors(method, body, expected):
    headers = telesign_sign_request(customer_id=TELESIGN_CUSTOMER_ID, api_key=SDK_KEY, method=method,
                                    resource="/v1/resource", body=body, date=DATE, nonce=NONCE)
    assert headers["Authorization"] == f"TSA {TELESIGN_CUSTOMER_ID}:{expected}"
    sdk = RestClient.generate_telesign_headers(TELESIGN_CUSTOMER_ID, SDK_KEY, method, "/v1/resource", body,
                                               date_rfc2616=DATE, nonce=NONCE)
    assert headers["Authorization"] == sdk["Authorization"]


def test_x_ts_date_variant_leaves_the_date_line_empty_and_signs_the_sorted_headers():
    text = telesign_string_to_sign(method="POST", content_type="application/x-www-form-urlencoded", date="",
                                   xts_headers={"x-ts-nonce": NONCE, "X-TS-Date": DATE,
                                                "x-ts-auth-method": "HMAC-SHA256"},
                                   body="a=1", resource="/v1/messaging")
    assert text == ("POST\napplication/x-www-form-urlencoded\n\nx-ts-auth-method:HMAC-SHA256\n"
                    f"x-ts-date:{DATE}\nx-ts-nonce:{NONCE}\na=1\n/v1/messaging")
    headers = telesign_sign_request(customer_id="C", api_key=TELESIGN_API_KEY, method="POST", resource="/v1/messaging",
                                    body="a=1", date=DATE, nonce=NONCE, use_x_ts_date=True)
    assert headers["x-ts-date"] == DATE and "Date" not in headers


def test_telesign_callback_signature_vector_and_official_verifier():
    body = ('{"reference_id":"0123456789ABCDEF0123456789ABCDEF","status":{"code":200,"description":'
            '"Delivered to handset","updated_on":"2016-10-21T14:05:36.181346Z"}}')
    assert telesign_callback_signature(TELESIGN_API_KEY, body.encode()) == "+8qfYakzHJ86LkH//Mc131G65S4rzLEJ1OdkICc9jqI="
    headers = telesign_callback_headers(TELESIGN_CUSTOMER_ID, TELESIGN_API_KEY, body.encode())
    assert headers["Authorization"] == headers["X-TS-Authorization"]
    bare = headers["Authorization"].split(" ", 1)[1].split(":", 1)[1]
    assert verify_telesign_callback_signature(TELESIGN_API_KEY, bare, body)


def test_twilio_signature_matches_the_sdk_vectors():
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309", "To": "+18005551212",
              "Caller": "+14158675309"}
    assert twilio_signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert twilio_signature("12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                            params) == "kvajT1Ptam85bY51eRf/AJRuM3w="
    duplicate = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]
    assert twilio_signature("12345", url, duplicate) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    assert RequestValidator("12345").validate(url, params, twilio_signature("12345", url, params))


def test_basic_auth_header():
    assert basic_auth_header("user", "pa:ss") == "Basic dXNlcjpwYTpzcw=="
