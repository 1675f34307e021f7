"""A number whose provider carries no attachments (ACS SMS) takes no attachment settings, and nothing is attached
on it: the workstream asks channels_app what the number carries."""

import pytest
from django.core.exceptions import ValidationError

from channels_app.policy import number_policy
from channels_app.services.delivery import message_queue
from channels_app.services.inbound import contact_for
from config.exceptions import ServiceError
from workstreams.models import Workstream, WorkstreamNumber

pytestmark = pytest.mark.django_db


def test_attachment_settings_are_refused_for_an_acs_number_with_a_clear_message(acs_account):
    workstream = Workstream.objects.create(name="Azure SMS", channel="sms")
    number = WorkstreamNumber(workstream=workstream, phone_number=acs_account.numbers.get(), language="en")
    with pytest.raises(ValidationError) as refused:
        number.full_clean()
    assert refused.value.message_dict == {
        "customers_may_send_attachments": ["Azure Communication Services SMS messages carry no attachments: "
                                           "switch this off for this number."],
        "agents_may_send_attachments": ["Azure Communication Services SMS messages carry no attachments: "
                                        "switch this off for this number."],
    }
    number.customers_may_send_attachments = number.agents_may_send_attachments = False
    number.full_clean()  # with both off it is accepted


def test_other_providers_keep_their_attachment_settings(twilio_sms_account):
    workstream = Workstream.objects.create(name="Twilio SMS", channel="sms")
    WorkstreamNumber(workstream=workstream, phone_number=twilio_sms_account.numbers.get(), language="en").full_clean()


def test_nothing_is_attached_on_an_acs_number_whatever_was_configured(acs_account):
    phone = acs_account.numbers.get()
    workstream = Workstream.objects.create(name="Azure SMS", channel="sms")
    # Saved without the form's check (e.g. before the number's provider was known to carry none).
    WorkstreamNumber.objects.create(workstream=workstream, phone_number=phone, language="en")
    policy = number_policy(phone)
    assert not policy.customers_may_send_attachments and not policy.agents_may_send_attachments
    with pytest.raises(ServiceError, match="cannot send attachments: its provider carries text only"):
        message_queue(phone_number=phone, contact=contact_for("+15551234567"), body="see attached",
                      media_urls=("https://hub.example/a.png",))
