"""Contacts with several addresses: where replies go, what SMS refuses, and how the team sees them."""

from __future__ import annotations

import pytest
from django.utils import timezone

from channels_app.models import Channel, Contact, ContactAddress
from channels_app.services.contacts import ContactDetails, contact_for_sender, contact_reply_address, contacts_for
from channels_app.services.delivery import message_check
from channels_app.services.rules import Draft
from config.exceptions import ServiceError
from workstreams.models import Conversation

BSUID = "US.13491208655302741918"


def test_an_sms_to_a_customer_known_only_by_a_whatsapp_user_id_is_refused_with_the_reason(twilio_sms_account):
    contact, _ = contact_for_sender(address=f"whatsapp:{BSUID}", display_name="ana.travels")
    with pytest.raises(ServiceError) as refused:
        message_check(draft=Draft(phone_number=twilio_sms_account.numbers.get(), contact=contact, body="hi"))
    assert refused.value.code == "no_phone_number"
    assert "No phone number is known for ana.travels" in refused.value.message
    assert contact_reply_address(contact, channel=Channel.SMS) is None


def test_whatsapp_replies_follow_the_address_last_written_from_and_sms_uses_the_phone(db):
    contact, _ = contact_for_sender(address="whatsapp:+15551234567", linked=f"whatsapp:{BSUID}")
    assert contact_reply_address(contact, channel=Channel.WHATSAPP) == "+15551234567"
    contact_for_sender(address=f"whatsapp:{BSUID}", when=timezone.now() + timezone.timedelta(seconds=5))
    contact.refresh_from_db()
    assert contact_reply_address(contact, channel=Channel.WHATSAPP) == BSUID
    assert contact_reply_address(contact, channel=Channel.SMS) == "+15551234567"


def test_a_sender_that_is_neither_a_number_nor_a_user_id_is_a_clear_error(db):
    from channels_app.providers import WebhookPayloadError

    with pytest.raises(WebhookPayloadError, match="neither a phone number nor a WhatsApp user ID"):
        contact_for_sender(address="whatsapp:somebody")


def test_contacts_for_finds_a_contact_by_any_of_its_addresses(db):
    contact, _ = contact_for_sender(address="+15551234567", linked=BSUID)
    assert contacts_for({BSUID: ContactDetails()})[BSUID].pk == contact.pk
    assert Contact.objects.count() == 1 and ContactAddress.objects.count() == 2


def test_two_contacts_that_cannot_be_merged_stay_apart_and_nothing_is_lost(twilio_whatsapp_account, caplog):
    phone = twilio_whatsapp_account.numbers.get()
    by_phone, _ = contact_for_sender(address="+15551234567")
    by_id, _ = contact_for_sender(address=BSUID)
    Conversation.objects.create(contact=by_phone, phone_number=phone, channel="whatsapp")
    Conversation.objects.create(contact=by_id, phone_number=phone, channel="whatsapp")
    contact, address = contact_for_sender(address="+15551234567", linked=BSUID)
    assert (contact.pk, address) == (by_phone.pk, "+15551234567")
    assert Contact.objects.count() == 2 and Conversation.objects.count() == 2
    assert "could not be merged" in caplog.text


def test_the_admin_says_when_no_phone_number_is_known(admin_client, db):
    contact_for_sender(address=BSUID, display_name="ana.travels")
    text = admin_client.get("/admin/channels_app/contact/").content.decode()
    assert "ana.travels" in text and "None known (WhatsApp username)" in text
    page = admin_client.get(f"/admin/channels_app/contact/{Contact.objects.get().pk}/change/").content.decode()
    assert "WhatsApp user ID" in page and BSUID in page
