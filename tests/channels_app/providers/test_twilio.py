from urllib.parse import parse_qs

import pytest
import requests
from twilio.request_validator import RequestValidator

from channels_app.providers import OutgoingMessage, ProviderError, WebhookPayloadError, WebhookRequest, get_provider
from channels_app.providers.twilio import compute_signature, url_variants
from tests.conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN

API = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}"

VECTOR_PARAMS = {"CallSid": ["CA1234567890ABCDE"], "Digits": ["1234"], "From": ["+14158675309"],
                 "To": ["+18005551212"], "Caller": ["+14158675309"]}


def test_signature_reproduces_twilios_own_vectors():
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert compute_signature("12345", url, VECTOR_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert compute_signature("12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                             VECTOR_PARAMS) == "kvajT1Ptam85bY51eRf/AJRuM3w="
    duplicate = {"Sid": ["CA123"], "SidAccount": ["AC123"], "Digits": ["5678", "1234", "1234"]}
    assert compute_signature("12345", url, duplicate) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    ("url", "variants"),
    [
        ("https://hub.example/webhooks/x/", ["https://hub.example/webhooks/x/", "https://hub.example:443/webhooks/x/"]),
        ("https://hub.example:443/w?a=1", ["https://hub.example:443/w?a=1", "https://hub.example/w?a=1"]),
        ("http://127.0.0.1:8000/w", ["http://127.0.0.1:8000/w", "http://127.0.0.1/w"]),
        ("http://hub.example/w", ["http://hub.example/w", "http://hub.example:80/w"]),
    ],
)
def test_url_variants_try_with_and_without_port(url, variants):
    assert url_variants(url) == variants


def _webhook(params, url="https://hub.example/webhooks/twilio/tok/inbound/", signed_url=None, token=TWILIO_AUTH_TOKEN):
    flat = {k: v[0] for k, v in params.items()}
    signature = RequestValidator(token).compute_signature(signed_url or url, flat)
    return WebhookRequest(method="POST", url=url, headers={"x-twilio-signature": signature}, body=b"",
                          params=params)


INBOUND = {"MessageSid": ["SM" + "1" * 32], "AccountSid": [TWILIO_ACCOUNT_SID], "From": ["whatsapp:+15551234567"],
           "To": ["whatsapp:+14155238886"], "Body": ["Hi there"], "NumMedia": ["1"], "ProfileName": ["Ana"],
           "MediaUrl0": [f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages/MM1/Media/ME1"],
           "MediaContentType0": ["image/jpeg"]}


def test_verify_accepts_signatures_made_by_the_official_validator(twilio_whatsapp_account):
    provider = get_provider(twilio_whatsapp_account)
    assert provider.verify_webhook(_webhook(INBOUND))
    # Twilio may sign with the default port even though the URL we know has none (and vice versa).
    assert provider.verify_webhook(_webhook(INBOUND, signed_url="https://hub.example:443/webhooks/twilio/tok/inbound/"))


def test_verify_rejects_wrong_token_tampering_and_missing_signature(twilio_whatsapp_account):
    provider = get_provider(twilio_whatsapp_account)
    assert not provider.verify_webhook(_webhook(INBOUND, token="not-the-token"))
    good = _webhook(INBOUND)
    tampered = WebhookRequest(good.method, good.url, good.headers, b"", {**INBOUND, "Body": ["Hi therf"]})
    assert not provider.verify_webhook(tampered)
    assert not provider.verify_webhook(WebhookRequest(good.method, good.url, {}, b"", INBOUND))
    other_host = WebhookRequest(good.method, "https://evil.example/webhooks/twilio/tok/inbound/", good.headers, b"",
                                INBOUND)
    assert not provider.verify_webhook(other_host)


def test_parse_inbound_whatsapp_with_media(twilio_whatsapp_account):
    message = get_provider(twilio_whatsapp_account).parse_inbound(_webhook(INBOUND))
    assert message.channel == "whatsapp"
    assert (message.from_address, message.to_address, message.body, message.profile_name) == (
        "+15551234567", "+14155238886", "Hi there", "Ana")
    assert [(m.url, m.content_type) for m in message.media] == [(INBOUND["MediaUrl0"][0], "image/jpeg")]


def test_parse_inbound_names_what_is_missing(twilio_sms_account):
    provider = get_provider(twilio_sms_account)
    with pytest.raises(WebhookPayloadError, match="MessageSid, From"):
        provider.parse_inbound(_webhook({"To": ["+14155550100"]}))
    with pytest.raises(WebhookPayloadError, match="MediaUrl0 is missing"):
        provider.parse_inbound(_webhook({**INBOUND, "MediaUrl0": [""]}))


@pytest.mark.parametrize(
    ("twilio_status", "ours"),
    [("sent", "sent"), ("delivered", "delivered"), ("read", "read"), ("undelivered", "undelivered"),
     ("failed", "failed")],
)
def test_parse_status(twilio_sms_account, twilio_status, ours):
    params = {"MessageSid": ["SM" + "2" * 32], "MessageStatus": [twilio_status], "ErrorCode": ["30003"]}
    update = get_provider(twilio_sms_account).parse_status(_webhook(params))
    assert update.status == ours
    assert update.error_code == "30003"


def test_send_whatsapp_uses_prefixed_addresses_and_status_callback(twilio_whatsapp_account, mocked_http):
    mocked_http.post(f"{API}/Messages.json", status=201,
                     json={"sid": "SM" + "3" * 32, "status": "queued", "num_segments": "1"})
    result = get_provider(twilio_whatsapp_account).send(OutgoingMessage(
        to="+15551234567", from_="+14155238886", channel="whatsapp", body="Hello",
        media_urls=("https://hub.example/m/1.png",), status_callback="https://hub.example/s/"))
    assert result.provider_message_id == "SM" + "3" * 32
    request = mocked_http.calls[0].request
    assert parse_qs(request.body) == {"To": ["whatsapp:+15551234567"], "From": ["whatsapp:+14155238886"],
                                      "Body": ["Hello"], "MediaUrl": ["https://hub.example/m/1.png"],
                                      "StatusCallback": ["https://hub.example/s/"]}
    assert request.headers["Authorization"].startswith("Basic ")


def test_send_template_uses_content_sid_not_body(twilio_whatsapp_account, mocked_http):
    mocked_http.post(f"{API}/Messages.json", status=201, json={"sid": "SM" + "4" * 32, "status": "queued"})
    get_provider(twilio_whatsapp_account).send(OutgoingMessage(
        to="+15551234567", from_="+14155238886", channel="whatsapp", body="ignored",
        content_sid="HX" + "a" * 32, content_variables={"1": "Ana"}))
    fields = parse_qs(mocked_http.calls[0].request.body)
    assert fields["ContentSid"] == ["HX" + "a" * 32]
    assert fields["ContentVariables"] == ['{"1":"Ana"}']
    assert "Body" not in fields


def test_send_refusal_is_permanent_with_twilios_code(twilio_sms_account, mocked_http):
    mocked_http.post(f"{API}/Messages.json", status=400,
                     json={"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400})
    with pytest.raises(ProviderError) as err:
        get_provider(twilio_sms_account).send(OutgoingMessage(to="+15551234567", from_="+14155550100",
                                                              channel="sms", body="x"))
    assert (err.value.retryable, err.value.code) == (False, "21211")


def test_send_429_is_retryable(twilio_sms_account, mocked_http):
    mocked_http.post(f"{API}/Messages.json", status=429, json={"code": 20429, "message": "Too Many Requests"})
    with pytest.raises(ProviderError) as err:
        get_provider(twilio_sms_account).send(OutgoingMessage(to="+15551234567", from_="+14155550100",
                                                              channel="sms", body="x"))
    assert err.value.retryable and err.value.code == "20429"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"sid": TWILIO_ACCOUNT_SID, "status": "active", "friendly_name": "Support"}, ("valid", "")),
        (200, {"sid": TWILIO_ACCOUNT_SID, "status": "suspended"}, ("invalid", "account_suspended")),
        (200, {"sid": TWILIO_ACCOUNT_SID, "status": "closed"}, ("invalid", "account_closed")),
        (401, {"code": 20003, "message": "Authenticate", "status": 401}, ("invalid", "20003")),
        (500, {"code": 20500, "message": "Internal Server Error"}, ("error", "20500")),
    ],
)
def test_validate_maps_answers(twilio_sms_account, mocked_http, status, body, expected):
    mocked_http.get(f"{API}.json", status=status, json=body)
    result = get_provider(twilio_sms_account).validate_credentials()
    assert (result.status, result.code) == expected


def test_validate_timeout_is_unreachable(twilio_sms_account, mocked_http):
    mocked_http.get(f"{API}.json", body=requests.ReadTimeout("read timed out"))
    result = get_provider(twilio_sms_account).validate_credentials()
    assert result.status == "unreachable"
    assert result.message.startswith("could not reach api.twilio.com: timed out")


SERVICE = "MG" + "2" * 32


@pytest.mark.parametrize(
    ("credentials", "from_", "expected"),
    [
        ({}, SERVICE, {"To": ["+15551234567"], "MessagingServiceSid": [SERVICE]}),
        ({"messaging_service_sid": SERVICE}, "+14155550100",
         {"To": ["+15551234567"], "From": ["+14155550100"], "MessagingServiceSid": [SERVICE]}),
        ({}, "+14155550100", {"To": ["+15551234567"], "From": ["+14155550100"]}),
    ],
    ids=["number-is-a-service", "account-names-a-service", "no-service"],
)
def test_sends_carry_the_messaging_service(twilio_sms_account, mocked_http, credentials, from_, expected):
    from channels_app.services import account_set_credentials

    account_set_credentials(account=twilio_sms_account, credentials=credentials)
    mocked_http.post(f"{API}/Messages.json", status=201, json={"sid": "SM" + "3" * 32, "status": "accepted"})
    get_provider(twilio_sms_account).send(OutgoingMessage(to="+15551234567", from_=from_, channel="sms", body="hi"))
    sent = parse_qs(mocked_http.calls[0].request.body)
    assert {k: v for k, v in sent.items() if k != "Body"} == expected


def test_a_whatsapp_user_id_is_written_to_exactly_as_received(twilio_whatsapp_account, mocked_http):
    mocked_http.post(f"{API}/Messages.json", status=201, json={"sid": "SM" + "3" * 32, "status": "queued"})
    get_provider(twilio_whatsapp_account).send(OutgoingMessage(to="US.ENT.11815799212886844830",
                                                               from_="+14155238886", channel="whatsapp", body="hi"))
    assert parse_qs(mocked_http.calls[0].request.body)["To"] == ["whatsapp:US.ENT.11815799212886844830"]


@pytest.mark.parametrize(("value", "ok"), [(SERVICE, True), ("MG123", False), ("AC" + "2" * 32, False)])
def test_a_messaging_service_number_must_be_an_mg_sid(twilio_sms_account, value, ok):
    from channels_app.services import number_add
    from config.exceptions import ServiceError

    if ok:
        assert number_add(account=twilio_sms_account, number=value, number_type="service").e164 == value
    else:
        with pytest.raises(ServiceError):
            number_add(account=twilio_sms_account, number=value, number_type="service")


def test_signing_key_settings_are_read_as_twilio_writes_them():
    from channels_app.providers.twilio import signature_settings

    assert signature_settings("key=webhooks_sharedkey_1,algorithm=HMAC_SHA256") == ("webhooks_sharedkey_1",
                                                                                     "HMAC_SHA256")
    assert signature_settings(" algorithm=hmac_sha1 , key=k2") == ("k2", "HMAC_SHA1")
    assert signature_settings("key=k3") == ("k3", "HMAC_SHA1")
