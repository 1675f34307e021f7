"""Erasing a contact: nothing of what they wrote or sent remains anywhere in the database or the media folder,
and every report figure — live or rolled up — is what it was."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.db import models
from django.db.models.functions import Cast

from channels_app.models import (
    Attachment,
    AttachmentState,
    ChannelLog,
    ConsentRecord,
    Contact,
    EventKind,
    InboundEvent,
    Message,
)
from outbound.models import OutboundBatchChunk, OutboundRecipient, OutboundSchedule, TimelineActivity
from privacy.services import contact_erase
from reports.access import ReportScope
from reports.figures import ReportFilters, conversations_report, messages_report, optouts_report, outbound_report
from reports.periods import days_between
from reports.services import reports_rollup
from tests.reports.world import seed_month
from workstreams.models import Case, Conversation

SECRET = "ZEBRA-7731"  # what only this customer ever wrote


def everything_mentioning(text: str) -> list[str]:
    """Every row of every table whose text or JSON columns contain ``text``."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for f in model._meta.concrete_fields:
            if isinstance(f, models.CharField | models.TextField):
                lookup = {f"{f.attname}__contains": text}
                queryset = model.objects.filter(**lookup)
            elif isinstance(f, models.JSONField):
                queryset = model.objects.annotate(_text=Cast(f.attname, models.TextField())).filter(
                    _text__contains=text)
            else:
                continue
            try:
                found += [f"{model._meta.label}.{f.attname} #{pk}" for pk in queryset.values_list("pk", flat=True)]
            except Exception:  # an encrypted column cannot be searched; it holds no customer text
                continue
    return found


@pytest.fixture
def customer(db, django_user_model, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    world = seed_month(django_user_model, days=3)
    contact = Contact.objects.get(address="+15550000000")  # day 0, Ana's first conversation; opted out that day
    Contact.objects.filter(pk=contact.pk).update(display_name=f"Zoe {SECRET}", locale="en-GB")
    inbound = contact.messages.filter(direction="inbound").get()
    Message.objects.filter(pk=inbound.pk).update(body=f"My code is {SECRET}", provider_message_id="SMin1")
    outgoing = contact.messages.filter(direction="outbound").get()
    Message.objects.filter(pk=outgoing.pk).update(provider_message_id="SMout1", content_variables={"1": SECRET},
                                                  error_message=f"echo {SECRET}")
    attachment = Attachment(message=inbound, url=f"https://api.twilio.com/media/{SECRET}", content_type="image/png",
                            state=AttachmentState.STORED, size=7)
    attachment.file.save("photo.png", ContentFile(f"png {SECRET}".encode()))
    account = world.twilio.account
    InboundEvent.objects.create(account=account, kind=EventKind.INBOUND, event_key="SMin1", url="/x",
                                body=f"Body={SECRET}&From=%2B15550000000".encode(), state="processed")
    InboundEvent.objects.create(account=account, kind=EventKind.STATUS, event_key="SMout1:delivered:", url="/x",
                                body=b"MessageStatus=delivered&To=%2B15550000000", state="processed")
    ChannelLog.objects.create(account=account, kind="send", method="POST", url="https://api.twilio.com/x",
                              request_body=f"Body={SECRET}", message=outgoing)
    conversation = Conversation.objects.get(contact=contact)
    Conversation.objects.filter(pk=conversation.pk).update(routing_diagnosis={
        "queue": "Support", "rule": "All", "evaluated": [{"rule": "All", "why": [f"text '{SECRET}' matched"]}]})
    Case.objects.create(title=f"Refund {SECRET}", contact=contact, description=f"Customer said {SECRET}")
    # The contact in an outbound request too, with a batch list and a schedule naming them.
    recipient = OutboundRecipient.objects.filter(contact__address="+15550000004").get()
    OutboundRecipient.objects.filter(pk=recipient.pk).update(contact=contact, to_address=contact.address,
                                                             customer_name=f"Zoe {SECRET}",
                                                             context_items={"note": SECRET})
    TimelineActivity.objects.create(contact=contact, configuration=world.configuration,
                                    configuration_ref=world.configuration.configuration_id, message=outgoing,
                                    text=f"Sent: {SECRET}", channel="sms", language="en")
    OutboundBatchChunk.objects.create(batch=world.batch, index=0, request=recipient.request, contacts=[
        {"tocontactid": contact.address, "CustomerName": f"Zoe {SECRET}"}, {"tocontactid": "+15550000005"}])
    OutboundSchedule.objects.create(name="Weekly", configuration=world.configuration, kind="once",
                                    contacts_csv=f"tocontactid,channelid,optin,CustomerName\n{contact.address},SMS,"
                                                 f"true,Zoe {SECRET}\n+15550000005,SMS,true,Max\n")
    contact.refresh_from_db()
    return world, contact, attachment


def figures(world) -> list:
    everything = ReportScope(everything=True)
    f = ReportFilters(start=world.first_day, end=world.last_day)
    conversations = conversations_report(f, everything)
    return [conversations["daily"].rows, conversations["times"].rows, messages_report(f, everything)["daily"].rows,
            messages_report(f, everything)["providers"].rows, messages_report(f, everything)["errors"].rows,
            optouts_report(f, everything)["daily"].rows, outbound_report(f, everything)["stages"]]


def test_nothing_of_the_contacts_text_remains(customer, tmp_path, django_capture_on_commit_callbacks):
    _world, contact, attachment = customer
    assert len(everything_mentioning(SECRET)) >= 10  # the test sees what it looks for
    file_path = tmp_path / attachment.file.name
    assert file_path.exists()
    consent_before = list(ConsentRecord.objects.filter(contact=contact).values("state", "source", "created_at"))

    with django_capture_on_commit_callbacks(execute=True):  # the files go once the erasure is committed
        erasure = contact_erase(contact=contact)

    assert everything_mentioning(SECRET) == []
    assert not file_path.exists()
    assert not InboundEvent.objects.filter(event_key__in=["SMin1", "SMout1:delivered:"]).exists()
    assert not ChannelLog.objects.filter(message__contact=contact).exists()
    assert set(Message.objects.filter(contact=contact).values_list("body", flat=True)) == {""}
    assert Attachment.objects.get(pk=attachment.pk).state == AttachmentState.REMOVED
    assert erasure.contact.erased_at is not None and erasure.contact.display_name == ""
    # The number and the consent history stay: the opt-out goes on being honoured.
    assert erasure.contact.address == "+15550000000"
    assert list(ConsentRecord.objects.filter(contact=contact).values("state", "source", "created_at")) \
        == consent_before and consent_before
    # Others' rows are untouched.
    chunk = OutboundBatchChunk.objects.get()
    assert chunk.contacts == [{"tocontactid": "+15550000000", "erased": True}, {"tocontactid": "+15550000005"}]
    assert OutboundSchedule.objects.get().contacts_csv == "tocontactid,channelid,optin,CustomerName\n" \
                                                          "+15550000005,SMS,true,Max\n"
    assert Message.objects.exclude(contact=contact).exclude(body="").exists()


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
def test_erasure_leaves_every_figure_as_it_was(customer, rolled):
    world, contact, _attachment = customer
    if rolled:
        reports_rollup(days=days_between(world.first_day, world.last_day))
    before = figures(world)
    contact_erase(contact=contact)
    assert figures(world) == before
    if rolled:  # and rolling the days up again after the erasure changes nothing either
        reports_rollup(days=days_between(world.first_day, world.last_day))
        assert figures(world) == before


def test_erasing_twice_is_harmless(customer):
    _world, contact, _attachment = customer
    contact_erase(contact=contact)
    again = contact_erase(contact=contact)
    assert again.contact.erased_at is not None
