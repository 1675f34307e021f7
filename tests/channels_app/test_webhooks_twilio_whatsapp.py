"""Twilio webhooks in the shapes Twilio sends since WhatsApp usernames, Messaging Services and signing keys:
one table of cases — payload, how it is signed, the answer, and what the customer and the team then see.

Payloads follow Twilio's own webhook samples (form fields and their order as Twilio posts them); signatures
are made with the official ``twilio`` package's ``RequestValidator``, HMAC-SHA1 and HMAC-SHA256.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from django.conf import settings
from twilio.request_validator import RequestValidator

from channels_app.models import (
    AddressKind,
    Contact,
    ContactAddress,
    Direction,
    EventState,
    InboundEvent,
    Message,
    MessageStatus,
)
from channels_app.services import NumberSpec, account_create
from config import metrics
from tests.conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from workstreams.models import Conversation

BSUID = "US.13491208655302741918"
SERVICE = "MG" + "9" * 32
KEY_1, SECRET_1 = "webhooks_sharedkey_01", "first-signing-secret-0123456789"
KEY_2, SECRET_2 = "webhooks_sharedkey_02", "second-signing-secret-987654321"
SID = "SM" + "7" * 32

# Twilio's inbound WhatsApp sample: a customer who still shows their number, with the user ID beside it.
WA_PHONE = {
    "SmsMessageSid": SID, "NumMedia": "0", "ProfileName": "Ana", "MessageType": "text", "SmsSid": SID,
    "WaId": "15551234567", "SmsStatus": "received", "Body": "Hi, where is my order?", "To": "whatsapp:+14155238886",
    "NumSegments": "1", "ReferralNumMedia": "0", "MessageSid": SID, "AccountSid": TWILIO_ACCOUNT_SID,
    "From": "whatsapp:+15551234567", "ExternalUserId": f"whatsapp:{BSUID}", "ApiVersion": "2010-04-01",
}
# A customer known by a username only: From and ExternalUserId both carry the user ID; no WaId.
WA_USERNAME = {**{k: v for k, v in WA_PHONE.items() if k != "WaId"}, "From": f"whatsapp:{BSUID}",
               "ProfileName": "ana.travels"}
WA_BUTTON = {**WA_PHONE, "MessageType": "interactive", "Body": "Track my order", "ButtonText": "Track my order",
             "ButtonPayload": "track_order:1001"}
# An SMS to a short code of a Messaging Service (A2P traffic): Twilio names the service.
SMS_SERVICE = {
    "ToCountry": "US", "SmsMessageSid": SID, "NumMedia": "0", "SmsSid": SID, "SmsStatus": "received",
    "Body": "STATUS 1001", "To": "44222", "MessagingServiceSid": SERVICE, "NumSegments": "1", "MessageSid": SID,
    "AccountSid": TWILIO_ACCOUNT_SID, "From": "+15551234567", "ApiVersion": "2010-04-01", "FromCountry": "US",
}
OUT_SID = "SM" + "5" * 32


def status_params(status, **extra):
    """Twilio's status callback sample, sent for a message of a Messaging Service."""
    return {"SmsSid": OUT_SID, "SmsStatus": status, "MessageStatus": status, "To": "whatsapp:+15551234567",
            "MessagingServiceSid": SERVICE, "MessageSid": OUT_SID, "AccountSid": TWILIO_ACCOUNT_SID,
            "From": "whatsapp:+14155238886", "ApiVersion": "2010-04-01", "ChannelPrefix": "whatsapp", **extra}


@dataclass(frozen=True)
class Signing:
    """How a case's webhook is signed: the secret, the algorithm, and the settings header (None: no header)."""

    secret: str = TWILIO_AUTH_TOKEN
    algorithm: str = "HMAC_SHA1"
    settings_header: str | None = None


AUTH_TOKEN_SHA1 = Signing()
KEY_SHA256 = Signing(SECRET_1, "HMAC_SHA256", f"key={KEY_1},algorithm=HMAC_SHA256")
KEY_SHA1 = Signing(SECRET_1, "HMAC_SHA1", f"key={KEY_1},algorithm=HMAC_SHA1")
SECOND_KEY_SHA256 = Signing(SECRET_2, "HMAC_SHA256", f"key={KEY_2},algorithm=HMAC_SHA256")
UNKNOWN_KEY = Signing(SECRET_1, "HMAC_SHA256", "key=webhooks_sharedkey_retired,algorithm=HMAC_SHA256")
WRONG_SECRET = Signing("not-the-secret", "HMAC_SHA256", f"key={KEY_1},algorithm=HMAC_SHA256")
AUTH_TOKEN_UNDER_KEY_HEADER = Signing(TWILIO_AUTH_TOKEN, "HMAC_SHA256", f"key={KEY_1},algorithm=HMAC_SHA256")
UNKNOWN_ALGORITHM = Signing(SECRET_1, "HMAC_SHA1", f"key={KEY_1},algorithm=HMAC_MD5")


def post(client, account, params, *, kind="inbound", signing=AUTH_TOKEN_SHA1):
    path = f"/webhooks/twilio/{account.webhook_token}/{kind}/"
    url = settings.PUBLIC_BASE_URL + path
    algorithm = signing.algorithm if signing.algorithm in ("HMAC_SHA1", "HMAC_SHA256") else "HMAC_SHA1"
    headers = {"HTTP_X_TWILIO_SIGNATURE": RequestValidator(signing.secret).compute_signature(url, params,
                                                                                            algorithm=algorithm)}
    if signing.settings_header is not None:
        headers["HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS"] = signing.settings_header
    return client.post(path, data=urlencode(params), content_type="application/x-www-form-urlencoded", **headers)


@pytest.fixture
def whatsapp(db):
    return account_create(
        name="Twilio WhatsApp", channel="whatsapp", provider="twilio",
        credentials={"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN,
                     "signing_key_sid": KEY_1, "signing_key_secret": SECRET_1,
                     "signing_key_sid_2": KEY_2, "signing_key_secret_2": SECRET_2},
        numbers=[NumberSpec(number="+14155238886", name="Support")])


@pytest.fixture
def service_sms(db):
    """An SMS account whose only "number" is a Messaging Service: its short code and pool numbers."""
    return account_create(
        name="Twilio A2P", channel="sms", provider="twilio",
        credentials={"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN},
        numbers=[NumberSpec(number=SERVICE, number_type="service", description="US campaign")])


@pytest.fixture
def sent_reply(whatsapp):
    """An agent's reply already accepted by Twilio (sent), waiting for its status callbacks."""
    phone = whatsapp.numbers.get()
    contact = Contact.objects.create(address="+15551234567")
    Message.objects.create(account=whatsapp, phone_number=phone, contact=contact, provider="twilio",
                           channel="whatsapp", direction=Direction.INBOUND, body="hi", status=MessageStatus.RECEIVED,
                           provider_message_id="SM" + "6" * 32)
    return Message.objects.create(account=whatsapp, phone_number=phone, contact=contact, provider="twilio",
                                  channel="whatsapp", direction=Direction.OUTBOUND, body="On its way",
                                  status=MessageStatus.SENT, provider_message_id=OUT_SID, attempts=1,
                                  address="+15551234567")


def only_inbound() -> Message:
    return Message.objects.get(direction=Direction.INBOUND)


def username_only(db_state):
    message = only_inbound()
    contact = message.contact
    assert (contact.address, contact.display_name, contact.has_phone) == (BSUID, "ana.travels", False)
    assert list(contact.addresses.values_list("kind", "value")) == [(AddressKind.WHATSAPP_ID, BSUID)]
    assert message.address == BSUID and message.body == "Hi, where is my order?"
    assert Conversation.objects.get().contact == contact


def phone_and_user_id(db_state):
    contact = only_inbound().contact
    assert contact.address == "+15551234567" and Contact.objects.count() == 1
    assert sorted(contact.addresses.values_list("kind", "value")) == [
        (AddressKind.PHONE, "+15551234567"), (AddressKind.WHATSAPP_ID, BSUID)]
    assert only_inbound().address == "+15551234567"


def malformed_user_id(db_state):
    message = only_inbound()
    assert message.body == "Hi, where is my order?"
    assert list(message.contact.addresses.values_list("value", flat=True)) == ["+15551234567"]
    assert "ExternalUserId 'whatsapp:not a user id!' is not a WhatsApp user ID; ignored" in db_state["log"]


def button_reply(db_state):
    message = only_inbound()
    assert (message.body, message.button_payload) == ("Track my order", "track_order:1001")


def service_short_code(db_state):
    message = only_inbound()
    assert message.phone_number.number == SERVICE and message.body == "STATUS 1001"
    assert Conversation.objects.get().phone_number.number == SERVICE


def delivered(db_state):
    reply = Message.objects.get(direction=Direction.OUTBOUND)
    assert reply.status == MessageStatus.DELIVERED and reply.delivered_at is not None


def retried_after_63018(db_state):
    reply = Message.objects.get(direction=Direction.OUTBOUND)
    assert reply.status == MessageStatus.QUEUED and reply.error_code == "63018"
    assert reply.next_attempt_at is not None and reply.provider_message_id is None
    assert "sent again" in reply.error_message


def stored(db_state):
    assert InboundEvent.objects.get().state == EventState.PROCESSED
    assert Message.objects.filter(direction=Direction.INBOUND).count() == 1


def nothing_stored(db_state):
    assert not InboundEvent.objects.exists() and not Message.objects.exists()


@dataclass
class Case:
    name: str
    account: str  # the fixture: "whatsapp", "service_sms" or "sent_reply" (the WhatsApp account with a reply)
    params: dict
    expect: Callable[[dict], None]
    status: int = 200
    kind: str = "inbound"
    signing: Signing = AUTH_TOKEN_SHA1
    extra: dict = field(default_factory=dict)


CASES = [
    Case("username-only sender", "whatsapp", WA_USERNAME, username_only),
    Case("phone From with ExternalUserId", "whatsapp", WA_PHONE, phone_and_user_id),
    Case("malformed ExternalUserId", "whatsapp", {**WA_PHONE, "ExternalUserId": "whatsapp:not a user id!"},
         malformed_user_id),
    Case("button reply", "whatsapp", WA_BUTTON, button_reply),
    Case("short code via a Messaging Service", "service_sms", SMS_SERVICE, service_short_code),
    Case("status callback with MessagingServiceSid", "sent_reply",
         status_params("delivered", EventType="DELIVERED", ChannelToAddress="+15551234567"), delivered,
         kind="status"),
    Case("63018 failed status", "sent_reply", status_params("failed", ErrorCode="63018"), retried_after_63018,
         kind="status"),
    Case("SHA-256 signed with a signing key", "whatsapp", WA_PHONE, stored, signing=KEY_SHA256),
    Case("SHA-1 signed with a signing key", "whatsapp", WA_PHONE, stored, signing=KEY_SHA1),
    Case("SHA-256 signed with the second key (rotation)", "whatsapp", WA_PHONE, stored, signing=SECOND_KEY_SHA256),
    Case("SHA-1 with the Auth Token", "whatsapp", WA_PHONE, stored),
    Case("wrong key", "whatsapp", WA_PHONE, nothing_stored, status=403, signing=UNKNOWN_KEY),
    Case("right key id, wrong secret", "whatsapp", WA_PHONE, nothing_stored, status=403, signing=WRONG_SECRET),
    Case("Auth Token under a key's settings header", "whatsapp", WA_PHONE, nothing_stored, status=403,
         signing=AUTH_TOKEN_UNDER_KEY_HEADER),
    Case("unsupported algorithm", "whatsapp", WA_PHONE, nothing_stored, status=403, signing=UNKNOWN_ALGORITHM),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_twilio_webhook(case, client, request, caplog, django_capture_on_commit_callbacks):
    account = request.getfixturevalue(case.account)
    if case.account == "sent_reply":
        account = account.account
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        response = post(client, account, case.params, kind=case.kind, signing=case.signing)
    assert response.status_code == case.status, response.content
    case.expect({"log": caplog.text})


def test_a_username_customer_who_later_shows_their_number_stays_one_contact(client, whatsapp,
                                                                           django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp, WA_USERNAME)
        post(client, whatsapp, {**WA_PHONE, "MessageSid": "SM" + "8" * 32, "SmsSid": "SM" + "8" * 32,
                                "SmsMessageSid": "SM" + "8" * 32, "Body": "It's me again"})
    contact = Contact.objects.get()
    assert contact.address == "+15551234567"  # the phone number, once known, is how the team sees them
    assert sorted(contact.addresses.values_list("value", flat=True)) == ["+15551234567", BSUID]
    assert list(contact.messages.values_list("body", flat=True)) == ["Hi, where is my order?", "It's me again"]
    assert Conversation.objects.count() == 1


def test_an_sms_contact_and_a_whatsapp_username_contact_are_merged_when_linked(client, whatsapp,
                                                                              django_capture_on_commit_callbacks):
    sms = account_create(name="Twilio SMS", channel="sms", provider="twilio",
                         credentials={"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN},
                         numbers=[NumberSpec(number="+14155550100", number_type="long_code")])
    sms_params = {k: v for k, v in SMS_SERVICE.items() if k != "MessagingServiceSid"}
    with django_capture_on_commit_callbacks(execute=True):
        post(client, sms, {**sms_params, "To": "+14155550100", "MessageSid": "SM" + "1" * 32})
        post(client, whatsapp, WA_USERNAME)
    assert Contact.objects.count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp, {**WA_PHONE, "MessageSid": "SM" + "8" * 32, "Body": "Linked now"})
    contact = Contact.objects.get()
    assert contact.address == "+15551234567" and contact.display_name == "Ana"
    assert contact.messages.count() == 3 and Conversation.objects.filter(contact=contact).count() == 2


def test_a_message_to_a_number_of_the_accounts_messaging_service_reaches_the_account(
        db, client, django_capture_on_commit_callbacks):
    account = account_create(
        name="Twilio pool", channel="sms", provider="twilio",
        credentials={"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN,
                     "messaging_service_sid": SERVICE},
        numbers=[NumberSpec(number="+14155550100", number_type="long_code")])
    with django_capture_on_commit_callbacks(execute=True):
        post(client, account, {**SMS_SERVICE, "To": "+14155550177"})  # a pool number the hub was never told of
    assert only_inbound().phone_number.number == "+14155550100"


def test_a_message_the_hub_cannot_place_is_kept_as_a_failed_event_with_its_reason(
        client, service_sms, caplog, django_capture_on_commit_callbacks):
    before = metrics.INBOUND_FAILED.labels("twilio", "inbound", "invalid_payload")._value.get()
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        response = post(client, service_sms, {**SMS_SERVICE, "MessagingServiceSid": "MG" + "3" * 32})
    assert response.status_code == 200  # Twilio does not retry: the event is what is kept
    event = InboundEvent.objects.get()
    assert event.state == EventState.FAILED
    assert "44222" in event.error and "is not a number of account 'Twilio A2P'" in event.error
    assert metrics.INBOUND_FAILED.labels("twilio", "inbound", "invalid_payload")._value.get() == before + 1
    assert f"inbound event {event.pk} failed (invalid_payload)" in caplog.text
    assert not Message.objects.exists()


def test_a_reply_goes_to_the_address_the_customer_last_wrote_from(client, whatsapp, mocked_http,
                                                                   django_capture_on_commit_callbacks):
    from channels_app.services.delivery import message_queue

    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp, WA_PHONE)
        post(client, whatsapp, {**WA_USERNAME, "MessageSid": "SM" + "8" * 32})
    contact = Contact.objects.get()
    assert ContactAddress.objects.filter(contact=contact).count() == 2
    mocked_http.post(f"{settings.TWILIO_API_URL}/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json",
                     json={"sid": OUT_SID, "status": "queued"}, status=201)
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_queue(phone_number=whatsapp.numbers.get(), contact=contact, body="Here it is")
    sent = dict(pair.split("=", 1) for pair in mocked_http.calls[-1].request.body.split("&"))
    assert sent["To"] == "whatsapp%3AUS.13491208655302741918"
    reply.refresh_from_db()
    assert (reply.status, reply.address) == (MessageStatus.SENT, BSUID)


def test_a_username_customer_can_opt_out_and_the_window_and_consent_apply_to_them(
        client, whatsapp, django_capture_on_commit_callbacks):
    import time_machine
    from django.utils import timezone

    from channels_app.models import ConsentState
    from channels_app.services.consent import consent_state
    from channels_app.services.delivery import message_queue
    from config.exceptions import ServiceError

    phone = whatsapp.numbers.get()
    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp, WA_USERNAME)
    contact = Contact.objects.get()
    with time_machine.travel(timezone.now() + timezone.timedelta(hours=25)), \
            pytest.raises(ServiceError) as closed:
        message_queue(phone_number=phone, contact=contact, body="Still there?")
    assert closed.value.code == "whatsapp_window_closed"
    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp, {**WA_USERNAME, "MessageSid": "SM" + "2" * 32, "Body": "STOP"})
    assert consent_state(contact=contact, phone_number=phone) == ConsentState.OPTED_OUT
    with pytest.raises(ServiceError) as refused:
        message_queue(phone_number=phone, contact=contact, body="One more thing")
    assert refused.value.code == "opted_out"


def test_a_failed_event_is_processed_once_the_account_is_fixed_from_the_admin(
        admin_client, client, service_sms, django_capture_on_commit_callbacks):
    from channels_app.services import number_add

    other = "MG" + "3" * 32
    with django_capture_on_commit_callbacks(execute=True):
        post(client, service_sms, {**SMS_SERVICE, "MessagingServiceSid": other})
    event = InboundEvent.objects.get()
    assert event.state == EventState.FAILED
    listed = admin_client.get("/admin/channels_app/inboundevent/?state__exact=failed").content.decode()
    assert SID in listed and "44222 (a sender of" in listed
    page = admin_client.get(f"/admin/channels_app/inboundevent/{event.pk}/change/").content.decode()
    assert "is not a number of account" in page
    number_add(account=service_sms, number=other, number_type="service")  # the missing service, added
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post("/admin/channels_app/inboundevent/", {"action": "reprocess", "_selected_action": [event.pk]})
    event.refresh_from_db()
    assert event.state == EventState.PROCESSED and only_inbound().phone_number.number == other
