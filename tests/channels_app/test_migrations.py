"""Upgrades keep what was stored: events stored before the content-type column keep theirs."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("channels_app", "0003_inbound_event_lean")]
AFTER = [("channels_app", "0004_inbound_event_content_type")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_an_event_stored_with_headers_keeps_its_content_type_after_the_upgrade():
    apps = migrate(BEFORE)
    Account = apps.get_model("channels_app", "MessagingAccount")
    Event = apps.get_model("channels_app", "InboundEvent")
    account = Account.objects.create(name="Old", channel="sms", provider="twilio", webhook_token="t" * 32)
    Event.objects.create(account=account, kind="inbound", event_key="SM1", url="https://hub/x", body="a=1",
                         headers={"content-type": "application/x-www-form-urlencoded"})
    Event.objects.create(account=account, kind="inbound", event_key="SM2", url="https://hub/x", body="{}")
    try:
        apps = migrate(AFTER)
        Event = apps.get_model("channels_app", "InboundEvent")
        assert dict(Event.objects.values_list("event_key", "content_type")) == {
            "SM1": "application/x-www-form-urlencoded", "SM2": ""}
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


CREDENTIAL_COLUMNS = [("channels_app", "0004_inbound_event_content_type")]
CREDENTIALS_CONFIG = [("channels_app", "0005_account_credentials_config")]


def test_accounts_stored_with_credential_columns_still_send_and_verify_after_the_upgrade(client, mocked_http):
    """Accounts of the release with one column per secret keep sending and verifying webhooks once those
    columns became one encrypted object."""
    import json
    from urllib.parse import urlencode

    from django.conf import settings
    from twilio.request_validator import RequestValidator

    from channels_app.models import InboundEvent, MessagingAccount
    from channels_app.providers import OutgoingMessage, get_provider
    from channels_app.providers.telesign import callback_signature
    from tests.conftest import TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN

    apps = migrate(CREDENTIAL_COLUMNS)
    Account = apps.get_model("channels_app", "MessagingAccount")
    Number = apps.get_model("channels_app", "PhoneNumber")
    telesign = Account.objects.create(name="Old TeleSign", channel="sms", provider="telesign",
                                      customer_id=TELESIGN_CUSTOMER_ID, api_key=TELESIGN_API_KEY)
    twilio = Account.objects.create(name="Old Twilio", channel="sms", provider="twilio",
                                    account_sid=TWILIO_ACCOUNT_SID, auth_token=TWILIO_AUTH_TOKEN)
    sandbox = Account.objects.create(name="Old Sandbox", channel="sms", provider="sandbox")
    Number.objects.create(account=telesign, provider="telesign", channel="sms", number="14252306549",
                          e164="+14252306549", number_type="geographic")
    Number.objects.create(account=twilio, provider="twilio", channel="sms", number="+14155550100",
                          e164="+14155550100", number_type="long_code")
    try:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())  # the whole upgrade
        telesign, twilio, sandbox = (MessagingAccount.objects.get(pk=a.pk) for a in (telesign, twilio, sandbox))
        assert telesign.credentials() == {"customer_id": TELESIGN_CUSTOMER_ID, "api_key": TELESIGN_API_KEY}
        assert twilio.credentials() == {"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN}
        assert sandbox.config == {}

        # They send, signed with the carried-over secrets.
        mocked_http.post("https://rest-ww.telesign.com/v1/messaging",
                         json={"reference_id": "A" * 32, "status": {"code": 290}})
        mocked_http.post(f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json",
                         status=201, json={"sid": "SM" + "1" * 32, "status": "queued"})
        message = OutgoingMessage(to="+15551234567", from_="14252306549", channel="sms", body="still here")
        assert get_provider(telesign).send(message).provider_message_id == "A" * 32
        assert mocked_http.calls[0].request.headers["Authorization"].startswith(f"TSA {TELESIGN_CUSTOMER_ID}:")
        assert get_provider(twilio).send(message).provider_message_id == "SM" + "1" * 32

        # And their webhooks, signed by the provider with the same secrets, are verified and stored.
        body = json.dumps({"reference_id": "B" * 32, "sub_resource": "mo_sms", "user_response": {
            "phone_number": "15551234567", "sender_id": "14252306549", "mo_message": "hi"}}).encode()
        response = client.post(f"/webhooks/telesign/{telesign.webhook_token}/", data=body,
                               content_type="application/json",
                               HTTP_AUTHORIZATION=f"TSA {TELESIGN_CUSTOMER_ID}:"
                                                  f"{callback_signature(TELESIGN_API_KEY, body)}")
        assert response.status_code == 200
        params = {"MessageSid": "SM" + "2" * 32, "From": "+15551234567", "To": "+14155550100", "Body": "hi"}
        path = f"/webhooks/twilio/{twilio.webhook_token}/inbound/"
        response = client.post(path, data=urlencode(params), content_type="application/x-www-form-urlencoded",
                               HTTP_X_TWILIO_SIGNATURE=RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(
                                   settings.PUBLIC_BASE_URL + path, params))
        assert response.status_code == 200
        assert InboundEvent.objects.count() == 2
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_stored_event_bodies_become_bytes_unchanged():
    apps = migrate(CREDENTIALS_CONFIG)
    Account = apps.get_model("channels_app", "MessagingAccount")
    Event = apps.get_model("channels_app", "InboundEvent")
    account = Account.objects.create(name="Old", channel="sms", provider="twilio", webhook_token="u" * 32)
    Event.objects.create(account=account, kind="inbound", event_key="SM1", url="https://hub/x",
                         body="Body=caf%C3%A9&From=%2B1", content_type="application/x-www-form-urlencoded")
    Event.objects.create(account=account, kind="inbound", event_key="SM2", url="https://hub/x",
                         body='{"mo_message": "caf\\u00e9 \\\\ ok", "x": "é"}')
    try:
        apps = migrate([("channels_app", "0006_inbound_event_raw_body")])
        Event = apps.get_model("channels_app", "InboundEvent")
        stored = {key: bytes(body) for key, body in Event.objects.values_list("event_key", "body")}
        assert stored == {"SM1": b"Body=caf%C3%A9&From=%2B1",
                          "SM2": '{"mo_message": "caf\\u00e9 \\\\ ok", "x": "é"}'.encode()}
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


PHONE_ONLY_CONTACTS = [("channels_app", "0007_trace_ids")]


def test_existing_contacts_keep_their_phone_address_and_history_when_contacts_get_several_addresses():
    """The upgrade to contacts with several addresses: every contact keeps its number as its phone address,
    with every message it sent or received; a later message from that number finds the same contact, and a
    reply still goes to the number."""
    apps = migrate(PHONE_ONLY_CONTACTS)
    Account = apps.get_model("channels_app", "MessagingAccount")
    Number = apps.get_model("channels_app", "PhoneNumber")
    OldContact = apps.get_model("channels_app", "Contact")
    OldMessage = apps.get_model("channels_app", "Message")
    account = Account.objects.create(name="Old WhatsApp", channel="whatsapp", provider="twilio",
                                     webhook_token="w" * 32)
    number = Number.objects.create(account=account, provider="twilio", channel="whatsapp", number="+14155238886",
                                   e164="+14155238886", name="Support")
    ana = OldContact.objects.create(address="+15551234567", display_name="Ana")
    bo = OldContact.objects.create(address="+447700900123")
    for n, (contact, direction) in enumerate([(ana, "inbound"), (ana, "outbound"), (bo, "inbound")]):
        OldMessage.objects.create(account=account, phone_number=number, contact=contact, provider="twilio",
                                  channel="whatsapp", direction=direction, body=f"message {n}",
                                  status="received" if direction == "inbound" else "delivered",
                                  provider_message_id=f"SM{n}")
    try:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
        from channels_app.models import AddressKind, Channel, Contact, ContactAddress, Message
        from channels_app.services.contacts import contact_for_sender, contact_reply_address

        assert sorted(ContactAddress.objects.values_list("contact__address", "kind", "value")) == [
            ("+15551234567", AddressKind.PHONE, "+15551234567"), ("+447700900123", AddressKind.PHONE, "+447700900123")]
        ana = Contact.objects.get(address="+15551234567")
        assert (ana.display_name, ana.has_phone) == ("Ana", True)
        assert list(ana.messages.order_by("pk").values_list("body", "address")) == [
            ("message 0", "+15551234567"), ("message 1", "+15551234567")]
        assert ana.addresses.get().last_inbound_at == Message.objects.get(provider_message_id="SM0").created_at
        # The same customer writing again, now with their WhatsApp user ID beside the number: one contact.
        again, address = contact_for_sender(address="whatsapp:+15551234567", linked="whatsapp:US.1349120865530")
        assert (again.pk, address) == (ana.pk, "+15551234567") and Contact.objects.count() == 2
        assert contact_reply_address(again, channel=Channel.WHATSAPP) == "+15551234567"
        assert contact_reply_address(again, channel=Channel.SMS) == "+15551234567"
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
