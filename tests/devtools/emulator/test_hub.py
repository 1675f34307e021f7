"""The hub's own provider adapters against the emulator, and whole round trips through the hub's webhooks."""

import time

import pytest

from channels_app.models import Attachment, Channel, Direction, InboundEvent, Message, ValidationStatus
from channels_app.providers import OutgoingMessage, ProviderError, get_provider
from channels_app.services.delivery import message_queue
from tests.conftest import TELESIGN_CUSTOMER_ID, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN


@pytest.fixture
def hub_settings(settings, emulator):
    settings.TELESIGN_API_URL = emulator.url
    settings.TWILIO_API_URL = emulator.url
    settings.EGRESS_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the emulator's media, on this machine
    return settings


def _wait(predicate, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# --- adapters --------------------------------------------------------------------------------------------------------

def test_telesign_adapter_validates_and_sends(hub_settings, emulator, telesign_account, receiver):
    provider = get_provider(telesign_account)
    assert provider.validate_credentials().status == ValidationStatus.VALID
    result = provider.send(OutgoingMessage(to="+15551234567", from_="14252306549", channel=Channel.SMS,
                                           body="Your parcel ships today", status_callback=receiver.url + "/cb",
                                           external_id="42"))
    [sent] = emulator.messages(provider="telesign")
    assert result.provider_message_id == sent["id"]
    assert sent["params"] == {"phone_number": ["15551234567"], "message": ["Your parcel ships today"],
                              "message_type": ["ARN"], "sender_id": ["14252306549"], "external_id": ["42"],
                              "callback_url": [receiver.url + "/cb"]}
    telesign_account.config = {**telesign_account.config, "customer_id": "00000000-0000-0000-0000-000000000000"}
    invalid = get_provider(telesign_account).validate_credentials()
    assert invalid.status == ValidationStatus.INVALID and invalid.code == "10015"


def test_twilio_adapter_validates_and_classifies_errors(hub_settings, emulator, twilio_sms_account):
    provider = get_provider(twilio_sms_account)
    assert provider.validate_credentials().status == ValidationStatus.VALID
    message = OutgoingMessage(to="+15551234567", from_="+14155550100", channel=Channel.SMS, body="hi")
    assert provider.send(message).provider_message_id.startswith("SM")

    emulator.configure(fail_429=1.0, retry_after_s=3)
    with pytest.raises(ProviderError) as throttled:
        provider.send(message)
    assert throttled.value.retryable and throttled.value.code == "20429" and throttled.value.retry_after == 3
    emulator.configure(fail_429=0.0, fail_5xx=1.0)
    with pytest.raises(ProviderError) as broken:
        provider.send(message)
    assert broken.value.retryable and broken.value.http_status == 500
    emulator.configure(fail_5xx=0.0, fail_timeout=1.0, timeout_mode="close")
    with pytest.raises(ProviderError) as unreachable:
        provider.send(message)
    assert unreachable.value.retryable and "could not reach 127.0.0.1" in unreachable.value.message
    emulator.configure(fail_timeout=0.0)
    with pytest.raises(ProviderError) as bad_to:
        provider.send(OutgoingMessage(to="+1", from_="+14155550100", channel=Channel.SMS, body="hi"))
    assert not bad_to.value.retryable and bad_to.value.code == "21211"

    emulator.add_twilio_account(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, status="suspended")
    suspended = provider.validate_credentials()
    assert suspended.status == ValidationStatus.INVALID and suspended.code == "account_suspended"
    emulator.add_twilio_account(TWILIO_ACCOUNT_SID, "rotated-token", status="active")
    assert provider.validate_credentials().code == "20003"


# --- round trips through the hub's webhooks (no provider account needed) --------------------------------------------

@pytest.fixture
def live_hub(live_server, hub_settings):
    hub_settings.PUBLIC_BASE_URL = live_server.url
    return live_server


def test_telesign_round_trip(live_hub, emulator, telesign_account):
    emulator.set_telesign_callback_url(TELESIGN_CUSTOMER_ID, telesign_account.callback_urls()["callback"])
    result = emulator.inject_inbound(provider="telesign", from_="15551234567", to="14252306549",
                                     body="Where is my parcel?")
    assert result["delivery"]["http_status"] == 200, result
    inbound = _wait(lambda: Message.objects.filter(direction=Direction.INBOUND).first(), "the inbound message")
    assert inbound.body == "Where is my parcel?" and inbound.provider_message_id == result["reference_id"]

    reply = message_queue(phone_number=inbound.phone_number, contact=inbound.contact, body="It ships today.")
    _wait(lambda: Message.objects.get(pk=reply.pk).status == "delivered", "the delivery report")
    assert emulator.wait_idle(5)
    reply.refresh_from_db()
    [sent] = emulator.messages(provider="telesign", direction="outbound-api")
    assert reply.provider_message_id == sent["id"] and sent["to"] == "15551234567"
    [report] = emulator.callbacks(kind="delivery_report")
    assert report["http_status"] == 200 and f"?message={reply.pk}" in report["url"]


def test_twilio_whatsapp_round_trip_with_media(live_hub, emulator, twilio_whatsapp_account):
    token_urls = twilio_whatsapp_account.callback_urls()
    emulator.set_twilio_inbound_url("whatsapp:+14155238886", token_urls["inbound"])
    emulator.configure(whatsapp_read=True)
    result = emulator.inject_inbound(provider="twilio", from_="whatsapp:+15551234567", to="whatsapp:+14155238886",
                                     body="Photo of the damage", profile_name="Ana", media=["image/png"])
    assert result["delivery"]["http_status"] == 200, result
    assert "<Response/>" in result["delivery"]["response"]
    inbound = _wait(lambda: Message.objects.filter(direction=Direction.INBOUND).first(), "the inbound message")
    assert inbound.channel == Channel.WHATSAPP and inbound.contact.display_name == "Ana"
    attachment = _wait(lambda: Attachment.objects.filter(message=inbound).exclude(state="pending").first(),
                       "the attachment download")
    assert attachment.state == "stored", attachment.error

    reply = message_queue(phone_number=inbound.phone_number, contact=inbound.contact, body="Sorry! A new one ships.")
    _wait(lambda: Message.objects.get(pk=reply.pk).status == "read", "the read receipt")
    assert emulator.wait_idle(5)
    statuses = [c["label"] for c in emulator.callbacks(kind="status")]
    assert statuses == ["sent", "delivered", "read"]
    assert all(c["http_status"] == 200 for c in emulator.callbacks(kind="status"))
    assert InboundEvent.objects.filter(account=twilio_whatsapp_account).count() == 4


# --- Azure Communication Services over the emulator's HTTPS port ---------------------------------------------------

@pytest.fixture
def emulated_acs(db, hub_settings, emulator, tls_files):
    """An ACS account of the hub whose resource endpoint is the emulator's HTTPS port (its certificate trusted)."""
    from channels_app.services import NumberSpec, account_create
    from tests.conftest import ACS_ACCESS_KEY, ACS_NUMBER

    hub_settings.PROVIDER_CA_BUNDLE = str(tls_files[0])
    hub_settings.ACS_ENDPOINT_HOSTS = ["127.0.0.1"]
    return account_create(name="Emulated ACS", channel="sms", provider="acs",
                          credentials={"endpoint": emulator.tls_url, "access_key": ACS_ACCESS_KEY},
                          numbers=[NumberSpec(ACS_NUMBER, "toll_free")])


def test_acs_adapter_validates_sends_once_and_lists_numbers(emulated_acs, emulator):
    from channels_app.services import account_import_numbers, account_remote_numbers

    provider = get_provider(emulated_acs)
    assert provider.validate_credentials().status == ValidationStatus.VALID
    message = OutgoingMessage(to="+15551234567", from_="+18005550100", channel="sms", body="Parcel update",
                              external_id="77")
    first, again = provider.send(message), provider.send(message)  # a resend after an unknown outcome
    assert first.provider_message_id == again.provider_message_id
    [sent] = emulator.messages(provider="acs")
    assert (sent["id"], sent["tag"], sent["body"]) == (first.provider_message_id, "77", "Parcel update")

    listed = account_remote_numbers(account=emulated_acs)
    assert [(n.number, n.number_type, n.usable) for n in listed] == [
        ("+14255550123", "", False), ("+18005550100", "toll_free", True), ("+447400123456", "mobile", True)]
    added = account_import_numbers(account=emulated_acs, numbers=["+447400123456", "+18005550100"])
    assert [(p.number, p.number_type) for p in added] == [("+447400123456", "mobile")]

    emulator.add_acs_resource("contoso-sms", "d3Jvbmcta2V5")  # the key was rotated in Azure
    rotated = get_provider(emulated_acs).validate_credentials()
    assert rotated.status == ValidationStatus.INVALID and rotated.code == "Denied"


def test_acs_round_trip_through_event_grid(live_hub, emulated_acs, emulator):
    state = emulator.subscribe_acs("contoso-sms", emulated_acs.callback_urls()["events"])
    assert state["validated"], state  # the hub answered the subscription's validation event
    result = emulator.inject_inbound(provider="acs", from_="+15551234567", to="+18005550100",
                                     body="Where is my parcel?")
    assert result["delivery"]["http_status"] == 200, result
    inbound = _wait(lambda: Message.objects.filter(direction=Direction.INBOUND).first(), "the inbound message")
    assert (inbound.body, inbound.contact.address) == ("Where is my parcel?", "+15551234567")

    reply = message_queue(phone_number=inbound.phone_number, contact=inbound.contact, body="It ships today.")
    _wait(lambda: Message.objects.get(pk=reply.pk).status == "delivered", "the delivery report")
    assert emulator.wait_idle(5)  # the emulator records the callback once the hub has answered it
    [report] = emulator.callbacks(kind="delivery_report")
    assert report["http_status"] == 200 and report["provider"] == "acs"
