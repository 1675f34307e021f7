"""Twilio's Messaging API as the emulator serves it: auth, field checks, opt-outs, the WhatsApp window,
the Message JSON, status callbacks and inbound webhooks with media."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from twilio.request_validator import RequestValidator

from devtools.emulator.server import PLACEHOLDER_PNG
from tests.conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from tests.devtools.emulator.conftest import MESSAGES_PATH, twilio_send

OURS, CUSTOMER = "+14155550100", "+15551234567"
WA_OURS, WA_CUSTOMER = "whatsapp:+14155238886", "whatsapp:+15551234567"
RFC2822 = r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000"
AUTH_ERROR = {"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003",
              "status": 401}


def _refused(response, status, code):
    assert response.status_code == status, response.text
    data = response.json()
    assert data["code"] == code and data["status"] == status
    assert data["more_info"] == f"https://www.twilio.com/docs/errors/{code}" and data["message"]
    return data


def test_send_answers_201_with_twilios_message_json(http, emulator):
    response = twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="Your parcel ships today")
    assert response.status_code == 201
    data = response.json()
    assert re.fullmatch(r"SM[0-9a-f]{32}", data["sid"])
    assert data == {
        "account_sid": TWILIO_ACCOUNT_SID, "api_version": "2010-04-01", "body": "Your parcel ships today",
        "date_created": data["date_created"], "date_sent": None, "date_updated": data["date_updated"],
        "direction": "outbound-api", "error_code": None, "error_message": None, "from": OURS,
        "messaging_service_sid": None, "num_media": "0", "num_segments": "1", "price": None, "price_unit": "USD",
        "sid": data["sid"], "status": "queued",
        "subresource_uris": {"media": f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages/{data['sid']}/Media.json"},
        "to": CUSTOMER, "uri": f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages/{data['sid']}.json",
    }
    assert re.fullmatch(RFC2822, data["date_created"])


@pytest.mark.parametrize(("body", "segments"), [("a" * 160, "1"), ("a" * 161, "2"), ("€" * 80, "1"),
                                                ("é" * 161, "2"), ("ж" * 70, "1"), ("ж" * 71, "2")])
def test_num_segments_counts_gsm7_and_ucs2(http, emulator, body, segments):
    assert twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body=body).json()["num_segments"] == segments


def test_media_and_messaging_service_sends(http, emulator):
    mms = twilio_send(http, emulator, To=CUSTOMER, From=OURS, MediaUrl=["https://example.com/a.png",
                                                                       "https://example.com/b.png"]).json()
    assert mms["sid"].startswith("MM") and mms["num_media"] == "2"
    emulator.add_twilio_service(TWILIO_ACCOUNT_SID, "MG" + "1" * 32, [OURS])
    service = twilio_send(http, emulator, To=CUSTOMER, MessagingServiceSid="MG" + "1" * 32, Body="hi").json()
    assert service["status"] == "accepted" and service["from"] is None
    assert service["messaging_service_sid"] == "MG" + "1" * 32


@pytest.mark.parametrize(("service", "code"), [("MG123", 21705), ("MG" + "2" * 32, 21701)],
                         ids=["not-a-sid", "not-the-accounts"])
def test_a_messaging_service_the_account_does_not_have_is_refused(http, emulator, service, code):
    response = twilio_send(http, emulator, To=CUSTOMER, MessagingServiceSid=service, Body="hi")
    assert response.status_code == 400 and response.json()["code"] == code


@pytest.mark.parametrize("auth", [None, (TWILIO_ACCOUNT_SID, "wrong"), ("AC" + "b" * 32, TWILIO_AUTH_TOKEN)],
                         ids=["missing", "wrong-token", "unknown-sid"])
def test_bad_credentials_answer_401_20003(http, emulator, auth):
    response = twilio_send(http, emulator, auth=auth, To=CUSTOMER, From=OURS, Body="hi")
    assert response.status_code == 401 and response.json() == AUTH_ERROR
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Twilio API"'


def test_credentials_of_another_account_than_the_path_are_refused(http, emulator):
    emulator.add_twilio_account("AC" + "c" * 32, "other-token")
    response = http.post(emulator.url + MESSAGES_PATH, data={"To": CUSTOMER, "From": OURS, "Body": "hi"},
                         auth=("AC" + "c" * 32, "other-token"))
    assert response.status_code == 401 and response.json() == AUTH_ERROR


@pytest.mark.parametrize(("fields", "code"), [
    ({"From": OURS, "Body": "hi"}, 21604),
    ({"To": CUSTOMER, "Body": "hi"}, 21603),
    ({"To": "5551234", "From": OURS, "Body": "hi"}, 21211),
    ({"To": "+1555abc", "From": OURS, "Body": "hi"}, 21211),
    ({"To": OURS, "From": OURS, "Body": "hi"}, 21211),
    ({"To": CUSTOMER, "From": "+1-bad", "Body": "hi"}, 21212),
    ({"To": WA_CUSTOMER, "From": OURS, "Body": "hi"}, 21910),
    ({"To": CUSTOMER, "From": OURS}, 21602),
    ({"To": CUSTOMER, "From": OURS, "Body": ""}, 21602),
    ({"To": CUSTOMER, "From": OURS, "Body": "x" * 1601}, 21617),
    ({"To": CUSTOMER, "From": OURS, "Body": "hi", "ContentVariables": '{"1":"Ana"}'}, 21654),
    ({"To": CUSTOMER, "From": OURS, "Body": "hi", "StatusCallback": "not a url"}, 21609),
])
def test_field_errors_answer_400_with_twilios_code(http, emulator, fields, code):
    _refused(twilio_send(http, emulator, **fields), 400, code)
    assert emulator.messages() == []


def test_from_must_be_one_of_the_accounts_numbers_when_they_are_known(http, emulator):
    emulator.add_twilio_account(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, numbers=[OURS])
    assert twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi").status_code == 201
    _refused(twilio_send(http, emulator, To=CUSTOMER, From="+14155550199", Body="hi"), 400, 21606)


def test_short_codes_and_alphanumeric_senders_are_valid_from(http, emulator):
    assert twilio_send(http, emulator, To=CUSTOMER, From="55555", Body="hi").status_code == 201
    assert twilio_send(http, emulator, To=CUSTOMER, From="Parcels", Body="hi").status_code == 201


def test_stop_opts_the_customer_out_until_start(http, emulator, receiver):
    emulator.set_twilio_inbound_url(OURS, receiver.url + "/in")
    emulator.inject_inbound(provider="twilio", from_=CUSTOMER, to=OURS, body="STOP please")
    assert twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi").status_code == 201
    emulator.inject_inbound(provider="twilio", from_=CUSTOMER, to=OURS, body=" stop ")
    data = _refused(twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi"), 400, 21610)
    assert data["message"] == "Attempt to send to unsubscribed recipient"
    # Another of our numbers may still write; the STOP was still forwarded to the hub.
    assert twilio_send(http, emulator, To=CUSTOMER, From="+14155550101", Body="hi").status_code == 201
    assert [r.form["Body"] for r in receiver.received] == ["STOP please", " stop "]
    emulator.inject_inbound(provider="twilio", from_=CUSTOMER, to=OURS, body="Start")
    assert twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi").status_code == 201


def test_whatsapp_free_text_outside_the_window_fails_with_63016_like_twilio(http, emulator, receiver):
    callback = receiver.url + "/status"
    response = twilio_send(http, emulator, To=WA_CUSTOMER, From=WA_OURS, Body="hi", StatusCallback=callback)
    assert response.status_code == 201 and response.json()["status"] == "queued"
    assert emulator.wait_idle(5)
    [failed] = [r.form for r in receiver.received]
    assert failed["MessageStatus"] == "failed" and failed["ErrorCode"] == "63016"
    assert failed["ChannelPrefix"] == "whatsapp"
    message = emulator.messages()[0]
    assert message["status"] == "failed" and message["error_code"] == 63016
    # An approved template (ContentSid) may be sent outside the window.
    template = twilio_send(http, emulator, To=WA_CUSTOMER, From=WA_OURS, ContentSid="HX" + "0" * 32,
                           ContentVariables='{"1":"Ana"}')
    assert template.status_code == 201
    assert emulator.wait_idle(5)
    assert emulator.messages()[-1]["status"] == "delivered"


def test_whatsapp_window_opens_with_an_inbound_message_and_closes_after_24_hours(http, emulator, receiver):
    emulator.set_twilio_inbound_url(WA_OURS, receiver.url + "/in")
    emulator.inject_inbound(provider="twilio", from_=WA_CUSTOMER, to=WA_OURS, body="hello")
    twilio_send(http, emulator, To=WA_CUSTOMER, From=WA_OURS, Body="hi")
    emulator.configure(clock_offset_s=25 * 3600, whatsapp_window="reject")
    _refused(twilio_send(http, emulator, To=WA_CUSTOMER, From=WA_OURS, Body="hi"), 400, 63016)
    emulator.configure(whatsapp_window="off")
    assert twilio_send(http, emulator, To=WA_CUSTOMER, From=WA_OURS, Body="hi").status_code == 201
    assert emulator.wait_idle(5)
    assert [m["status"] for m in emulator.messages(direction="outbound-api")] == ["delivered", "delivered"]


def test_status_callbacks_are_signed_over_the_full_url_and_arrive_in_order(http, emulator, receiver):
    callback = receiver.url + "/webhooks/twilio/tok/status/?message=42"
    sid = twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi", StatusCallback=callback).json()["sid"]
    receiver.wait_for(2)
    assert emulator.wait_idle(5)
    validator = RequestValidator(TWILIO_AUTH_TOKEN)
    statuses = []
    for received in receiver.received:
        assert received.path == "/webhooks/twilio/tok/status/?message=42"
        assert received.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert validator.validate(callback, received.form, received.headers["X-Twilio-Signature"])
        form = received.form
        assert {"MessageSid": sid, "SmsSid": sid, "AccountSid": TWILIO_ACCOUNT_SID, "From": OURS, "To": CUSTOMER,
                "ApiVersion": "2010-04-01"}.items() <= form.items()
        assert "ErrorCode" not in form and "ChannelPrefix" not in form
        statuses.append(form["MessageStatus"])
    assert statuses == ["sent", "delivered"]
    assert re.fullmatch(r"\d{10}", receiver.received[1].form["RawDlrDoneDate"])
    fetched = http.get(f"{emulator.url}/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages/{sid}.json",
                       auth=(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)).json()
    assert fetched["status"] == "delivered" and re.fullmatch(RFC2822, fetched["date_sent"])
    assert [c["http_status"] for c in emulator.callbacks()] == [200, 200]


def test_whatsapp_read_receipts_and_undelivered_messages(http, emulator, receiver):
    emulator.configure(whatsapp_read=True, whatsapp_window="off", undeliverable_numbers=["+15550000009"])
    twilio_send(http, emulator, To=WA_CUSTOMER, From=WA_OURS, Body="hi", StatusCallback=receiver.url + "/wa")
    twilio_send(http, emulator, To="+15550000009", From=OURS, Body="hi", StatusCallback=receiver.url + "/sms")
    receiver.wait_for(5)
    assert emulator.wait_idle(5)
    wa = [r.form for r in receiver.received if r.path == "/wa"]
    assert [f["MessageStatus"] for f in wa] == ["sent", "delivered", "read"]
    assert all(f["ChannelPrefix"] == "whatsapp" and f["To"] == WA_CUSTOMER for f in wa)
    assert [f.get("EventType") for f in wa] == [None, "DELIVERED", "READ"]
    sms = [r.form for r in receiver.received if r.path == "/sms"]
    assert [(f["MessageStatus"], f.get("ErrorCode")) for f in sms] == [("sent", None), ("undelivered", "30003")]


def test_account_fetch_and_suspension(http, emulator):
    url = f"{emulator.url}/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}.json"
    auth = (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
    data = http.get(url, auth=auth).json()
    assert data["sid"] == TWILIO_ACCOUNT_SID and data["status"] == "active" and data["type"] == "Full"
    assert data["uri"] == f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}.json" and data["friendly_name"]
    assert http.get(url, auth=(TWILIO_ACCOUNT_SID, "nope")).status_code == 401
    http.post(emulator.url + "/_emulator/accounts", json={"provider": "twilio", "sid": TWILIO_ACCOUNT_SID,
                                                          "status": "suspended"}).raise_for_status()
    assert http.get(url, auth=auth).json()["status"] == "suspended"
    assert twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi").json() == AUTH_ERROR
    emulator.add_twilio_account(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, status="closed")
    assert http.get(url, auth=auth).status_code == 401


def test_message_fetch_and_list(http, emulator):
    auth = (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
    sids = [twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body=f"m{i}").json()["sid"] for i in range(3)]
    base = f"{emulator.url}/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}"
    missing = http.get(f"{base}/Messages/SM{'0' * 32}.json", auth=auth)
    _refused(missing, 404, 20404)
    listing = http.get(f"{base}/Messages.json", params={"PageSize": 2}, auth=auth).json()
    assert [m["sid"] for m in listing["messages"]] == sids[::-1][:2] and listing["page_size"] == 2
    _refused(http.get(f"{emulator.url}/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Calls.json", auth=auth), 404, 20404)


def test_inbound_whatsapp_with_media_is_signed_and_its_media_needs_the_accounts_credentials(http, emulator, receiver):
    inbound_url = receiver.url + "/webhooks/twilio/tok/inbound/"
    emulator.set_twilio_inbound_url(WA_OURS, inbound_url)
    result = emulator.inject_inbound(provider="twilio", from_="+15551234567", to="+14155238886", channel="whatsapp",
                                     body="Here is the photo", profile_name="Ana",
                                     media=["image/png", {"content_type": "text/plain", "text": "receipt"}])
    assert result["delivery"]["http_status"] == 200 and result["delivery"]["ok"]
    [received] = receiver.received
    form = received.form
    assert RequestValidator(TWILIO_AUTH_TOKEN).validate(inbound_url, form, received.headers["X-Twilio-Signature"])
    assert re.fullmatch(r"MM[0-9a-f]{32}", form["MessageSid"]) and form["SmsSid"] == form["MessageSid"]
    assert {"AccountSid": TWILIO_ACCOUNT_SID, "From": WA_CUSTOMER, "To": WA_OURS, "Body": "Here is the photo",
            "NumMedia": "2", "ProfileName": "Ana", "WaId": "15551234567", "SmsStatus": "received",
            "ApiVersion": "2010-04-01", "MediaContentType0": "image/png",
            "MediaContentType1": "text/plain"}.items() <= form.items()
    media_url = form["MediaUrl0"]
    assert urlsplit(media_url).path.startswith(f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages/"
                                               f"{form['MessageSid']}/Media/ME")
    assert http.get(media_url).status_code == 401
    redirect = http.get(media_url, auth=(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN), allow_redirects=False)
    assert redirect.status_code == 307
    signed = http.get(redirect.headers["Location"])
    assert signed.content == PLACEHOLDER_PNG and signed.headers["Content-Type"] == "image/png"
    emulator.configure(media_redirect=False)
    direct = http.get(form["MediaUrl1"], auth=(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN), allow_redirects=False)
    assert direct.status_code == 200 and direct.content == b"receipt"


def test_inbound_sms_params(emulator, receiver):
    emulator.set_twilio_inbound_url(OURS, receiver.url + "/in", account=TWILIO_ACCOUNT_SID)
    emulator.inject_inbound(provider="twilio", from_=CUSTOMER, to=OURS, body="Where is my parcel?")
    form = parse_qs(receiver.received[0].body.decode())
    assert form["From"] == [CUSTOMER] and form["To"] == [OURS] and form["NumMedia"] == ["0"]
    assert "ProfileName" not in form and "WaId" not in form


BSUID = "US.13491208655302741918"


@pytest.mark.parametrize(
    ("spec", "expected", "absent"),
    [
        ({"from_": f"whatsapp:{BSUID}"}, {"From": f"whatsapp:{BSUID}", "ExternalUserId": f"whatsapp:{BSUID}"},
         ["WaId"]),
        ({"from_": WA_CUSTOMER, "external_user_id": BSUID},
         {"From": WA_CUSTOMER, "ExternalUserId": f"whatsapp:{BSUID}", "WaId": "15551234567"}, []),
        ({"from_": WA_CUSTOMER, "button_text": "Track my order", "button_payload": "track:1"},
         {"ButtonText": "Track my order", "ButtonPayload": "track:1", "MessageType": "button"}, ["ExternalUserId"]),
    ],
    ids=["username-only", "phone-with-user-id", "button-tap"],
)
def test_inbound_whatsapp_usernames_and_buttons(emulator, receiver, spec, expected, absent):
    emulator.set_twilio_inbound_url(WA_OURS, receiver.url + "/in")
    emulator.inject_inbound(provider="twilio", to=WA_OURS, body="hi", **spec)
    form = {k: v[0] for k, v in parse_qs(receiver.received[0].body.decode()).items()}
    assert expected.items() <= form.items()
    assert not set(absent) & set(form)


def test_a_whatsapp_user_id_is_a_valid_recipient_and_its_window_opens_when_it_writes(http, emulator, receiver):
    emulator.configure(whatsapp_window="reject")
    emulator.set_twilio_inbound_url(WA_OURS, receiver.url + "/in")
    assert twilio_send(http, emulator, To=f"whatsapp:{BSUID}", From=WA_OURS, Body="hi").json()["code"] == 63016
    emulator.inject_inbound(provider="twilio", from_=f"whatsapp:{BSUID}", to=WA_OURS, body="hello")
    sent = twilio_send(http, emulator, To=f"whatsapp:{BSUID}", From=WA_OURS, Body="hi")
    assert sent.status_code == 201 and sent.json()["to"] == f"whatsapp:{BSUID}"


def test_a_service_send_goes_from_the_pool_and_its_callbacks_name_the_service(http, emulator, receiver):
    service = "MG" + "4" * 32
    emulator.add_twilio_service(TWILIO_ACCOUNT_SID, service, [OURS])
    sent = twilio_send(http, emulator, To=CUSTOMER, MessagingServiceSid=service, Body="hi",
                       StatusCallback=receiver.url + "/status").json()
    assert (sent["status"], sent["from"]) == ("accepted", None)
    assert emulator.wait_idle()
    forms = [{k: v[0] for k, v in parse_qs(r.body.decode()).items()} for r in receiver.received]
    assert forms and all(f["From"] == OURS and f["MessagingServiceSid"] == service for f in forms)
    emulator.set_twilio_inbound_url(OURS, receiver.url + "/in")
    emulator.inject_inbound(provider="twilio", from_=CUSTOMER, to=OURS, body="reply")
    assert parse_qs(receiver.received[-1].body.decode())["MessagingServiceSid"] == [service]


@pytest.mark.parametrize("algorithm", ["HMAC_SHA1", "HMAC_SHA256"])
def test_webhooks_are_signed_with_the_accounts_signing_key(emulator, receiver, algorithm):
    emulator.add_twilio_account(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, signing_key=("key_1", "key-secret", algorithm))
    url = receiver.url + "/in"
    emulator.set_twilio_inbound_url(OURS, url)
    emulator.inject_inbound(provider="twilio", from_=CUSTOMER, to=OURS, body="signed")
    [received] = receiver.received
    assert received.headers["X-Twilio-Webhooks-Signature-Settings"] == f"key=key_1,algorithm={algorithm}"
    form = {k: v[0] for k, v in parse_qs(received.body.decode()).items()}
    assert RequestValidator("key-secret").validate(url, form, received.headers["X-Twilio-Signature"],
                                                   algorithm=algorithm)
    assert not RequestValidator(TWILIO_AUTH_TOKEN).validate(url, form, received.headers["X-Twilio-Signature"])
