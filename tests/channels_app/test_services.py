from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.utils import timezone

from channels_app.models import ChannelLog, Message, MessagingAccount, PhoneNumber
from channels_app.providers import sandbox
from channels_app.services import (
    NumberSpec,
    account_create,
    account_send_test_message,
    account_set_credentials,
    account_update,
    account_validate,
    channel_log_trim,
    number_add,
)
from config.exceptions import ServiceError
from tests.conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN

TWILIO_ACCOUNT_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}.json"


@pytest.mark.django_db
def test_telesign_cannot_carry_whatsapp():
    with pytest.raises(ServiceError) as err:
        account_create(name="x", channel="whatsapp", provider="telesign",
                       credentials={"customer_id": "c", "api_key": "a2V5"})
    assert err.value.field == "channel"
    assert "TeleSign carries SMS only" in err.value.message
    assert not MessagingAccount.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("provider", "credentials", "field"),
    [
        ("telesign", {"customer_id": "c"}, "api_key"),
        ("telesign", {"api_key": "a2V5"}, "customer_id"),
        ("twilio", {"account_sid": TWILIO_ACCOUNT_SID}, "auth_token"),
        ("twilio", {"account_sid": TWILIO_ACCOUNT_SID, "auth_token": "t", "api_key": "k"}, "api_key"),
    ],
)
def test_missing_or_foreign_credentials_name_the_field(provider, credentials, field):
    with pytest.raises(ServiceError) as err:
        account_create(name="x", channel="sms", provider=provider, credentials=credentials)
    assert err.value.field == field


@pytest.mark.django_db
def test_a_bad_number_saves_nothing():
    with pytest.raises(ServiceError) as err:
        account_create(name="x", channel="sms", provider="sandbox",
                       numbers=[NumberSpec("+14155550100", "long_code"), NumberSpec("+1 415", "long_code")])
    assert err.value.field == "number"
    assert not MessagingAccount.objects.exists()
    assert not PhoneNumber.objects.exists()


def test_a_number_is_unique_per_provider(twilio_sms_account):
    with pytest.raises(ServiceError) as err:
        account_create(name="Second", channel="sms", provider="twilio",
                       credentials={"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN},
                       numbers=[NumberSpec("+14155550100", "long_code")])
    assert "already configured on Twilio account 'Twilio SMS'" in err.value.message
    # The same digits on another provider are another number.
    account_create(name="Sandbox", channel="sms", provider="sandbox", numbers=[NumberSpec("+14155550100", "long_code")])


def test_whatsapp_numbers_need_a_name(twilio_whatsapp_account):
    with pytest.raises(ServiceError) as err:
        number_add(account=twilio_whatsapp_account, number="+14155550101")
    assert err.value.field == "name"


def test_changing_credentials_needs_the_permission(twilio_sms_account, django_user_model):
    clerk = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    with pytest.raises(ServiceError) as err:
        account_set_credentials(account=twilio_sms_account, user=clerk, credentials={"auth_token": "new"})
    assert err.value.http_status == 403
    assert MessagingAccount.objects.get(pk=twilio_sms_account.pk).credential("auth_token") == TWILIO_AUTH_TOKEN
    # Renaming needs no such permission.
    account_update(account=twilio_sms_account, user=clerk, name="Renamed")
    assert MessagingAccount.objects.get(pk=twilio_sms_account.pk).name == "Renamed"

    clerk.user_permissions.add(Permission.objects.get(codename="manage_credentials"))
    clerk = django_user_model.objects.get(pk=clerk.pk)
    account_set_credentials(account=twilio_sms_account, user=clerk, credentials={"auth_token": "new"})
    assert MessagingAccount.objects.get(pk=twilio_sms_account.pk).credential("auth_token") == "new"


def test_changing_credentials_resets_the_validation_state(twilio_sms_account, mocked_http):
    mocked_http.get(TWILIO_ACCOUNT_URL, json={"status": "active", "sid": TWILIO_ACCOUNT_SID})
    account_validate(account=twilio_sms_account)
    assert twilio_sms_account.validation_status == "valid"
    before = twilio_sms_account.credentials_updated_at
    account_set_credentials(account=twilio_sms_account, credentials={"auth_token": "rotated"})
    fresh = MessagingAccount.objects.get(pk=twilio_sms_account.pk)
    assert (fresh.validation_status, fresh.validated_at) == ("unknown", None)
    assert fresh.credentials_updated_at > before


def test_validation_records_the_providers_code(twilio_sms_account, mocked_http):
    mocked_http.get(TWILIO_ACCOUNT_URL, status=401, json={"code": 20003, "message": "Authenticate"})
    result = account_validate(account=twilio_sms_account)
    assert not result.valid
    fresh = MessagingAccount.objects.get(pk=twilio_sms_account.pk)
    assert (fresh.validation_status, fresh.validation_code, fresh.validation_message) == (
        "invalid", "20003", "Authenticate")
    assert fresh.validated_at is not None


def test_test_message_through_the_sandbox(sandbox_account):
    result = account_send_test_message(account=sandbox_account, to="+14155550123", text="ping")
    assert sandbox.outbox == [
        {"id": result.provider_message_id, "account": "Sandbox SMS", "channel": "sms", "from": "+15005550006",
         "to": "+14155550123", "body": "ping", "media_urls": [], "content_sid": None, "content_variables": None}
    ]
    assert ChannelLog.objects.filter(account=sandbox_account, kind="send").count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"to": "555", "text": "x"}, "to"), ({"to": "+14155550123", "text": " "}, "text"),
     ({"to": "+14155550123", "text": "x" * 1601}, "text"),
     ({"to": "+14155550123", "text": "x", "from_number": "+19999999999"}, "from_number")],
)
def test_test_message_refusals(sandbox_account, kwargs, field):
    with pytest.raises(ServiceError) as err:
        account_send_test_message(account=sandbox_account, **kwargs)
    assert err.value.field == field
    assert sandbox.outbox == []


def test_test_message_to_an_opted_out_customer_is_refused(sandbox_account):
    from channels_app.services.consent import consent_record
    from channels_app.services.inbound import contact_for

    phone = sandbox_account.numbers.get()
    contact = contact_for("+14155550123")
    consent_record(contact=contact, phone_number=phone, state="opted_out", source="keyword")
    with pytest.raises(ServiceError) as err:
        account_send_test_message(account=sandbox_account, to="+1 415 555 0123", text="ping")
    assert (err.value.code, err.value.http_status) == ("opted_out", 409)
    assert err.value.message == ("+14155550123 has opted out of messages from +15005550006; nothing can be sent "
                                 "until they text START.")
    assert sandbox.outbox == []
    # Opted back in (or never known): the test message goes.
    consent_record(contact=contact, phone_number=phone, state="opted_in", source="keyword")
    account_send_test_message(account=sandbox_account, to="+14155550123", text="ping")
    account_send_test_message(account=sandbox_account, to="+14155550199", text="ping")
    assert len(sandbox.outbox) == 2
    # Stored as test messages, sent, like any other send (their delivery reports find them).
    assert sorted(Message.objects.values_list("contact__address", "kind", "status", "provider_message_id")) == sorted(
        (sent["to"], "test", "sent", sent["id"]) for sent in sandbox.outbox)


def test_test_message_provider_refusal_is_reported(twilio_sms_account, mocked_http):
    mocked_http.post(f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json", status=400,
                     json={"code": 21610, "message": "Attempt to send to unsubscribed recipient"})
    with pytest.raises(ServiceError) as err:
        account_send_test_message(account=twilio_sms_account, to="+14155550123", text="hi")
    assert "21610" in err.value.message and "unsubscribed" in err.value.message
    assert err.value.http_status == 502
    # Failed with the provider's code, not retried; the provider's opt-out code is recorded as for any send.
    message = Message.objects.get(pk=err.value.extra["message_id"])
    assert (message.kind, message.status, message.error_code, message.attempts) == ("test", "failed", "21610", 1)
    assert message.contact.consent_records.get().state == "opted_out"


def test_channel_log_trim_keeps_recent_rows(sandbox_account, settings):
    settings.CHANNEL_LOG_RETENTION_DAYS = 7
    with time_machine.travel(timezone.now() - timedelta(days=8)):
        account_send_test_message(account=sandbox_account, to="+14155550123", text="old")
    account_send_test_message(account=sandbox_account, to="+14155550123", text="new")
    assert channel_log_trim() == 1
    assert [log.request_body.count("new") for log in ChannelLog.objects.all()] == [1]


def test_a_provider_quoting_a_credential_back_never_gets_it_stored(twilio_sms_account, mocked_http):
    mocked_http.get(TWILIO_ACCOUNT_URL, status=404,
                    json={"code": 20404, "message": f"The requested resource /Accounts/{TWILIO_ACCOUNT_SID}.json "
                                                    "was not found"})
    account_validate(account=twilio_sms_account)
    fresh = MessagingAccount.objects.get(pk=twilio_sms_account.pk)
    assert TWILIO_ACCOUNT_SID not in fresh.validation_message
    assert "[redacted]" in fresh.validation_message


@pytest.mark.django_db
def test_foreign_credentials_are_named_by_their_label():
    with pytest.raises(ServiceError, match="do not use Account SID"):
        account_create(name="x", channel="sms", provider="telesign",
                       credentials={"customer_id": "c", "api_key": "a2V5", "account_sid": "AC1"})
