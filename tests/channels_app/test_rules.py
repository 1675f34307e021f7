"""The send rules: one table of drafts and what each rule says, and many drafts checked as one."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels_app.models import ConsentState, Contact, Direction, Message, MessageKind, MessageStatus
from channels_app.services.consent import consent_record
from channels_app.services.inbound import contact_for
from channels_app.services.rules import MAX_ATTACHMENTS, Draft, drafts_check

FILES = tuple(f"https://files.example/{i}.jpg" for i in range(MAX_ATTACHMENTS + 1))


@pytest.fixture
def accounts(sandbox_account, twilio_whatsapp_account, telesign_account):
    return {"sms": sandbox_account, "whatsapp": twilio_whatsapp_account, "telesign": telesign_account}


def _wrote(account, contact, *, ago):
    phone = account.numbers.get()
    message = Message.objects.create(account=account, phone_number=phone, contact=contact, provider=account.provider,
                                     channel=phone.channel, direction=Direction.INBOUND, body="hi",
                                     status=MessageStatus.RECEIVED, provider_message_id=f"in-{contact.pk}-{ago}")
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - ago)


def _stopped(account, contact):
    consent_record(contact=contact, phone_number=account.numbers.get(), state=ConsentState.OPTED_OUT, source="keyword")


# (account, how the contact stands, draft fields, the rule's code or None)
CASES = [
    ("sms", None, {"body": "Hello"}, None),
    ("sms", None, {"body": ""}, "body_required"),
    ("sms", None, {"body": " \n "}, "body_required"),
    ("sms", None, {"body": "", "media_urls": FILES[:1]}, None),  # an attachment alone is something to send
    ("sms", None, {"body": "x" * 1600}, None),
    ("sms", None, {"body": "x" * 1601}, "body_too_long"),
    ("sms", "inactive", {"body": "Hello"}, "account_inactive"),
    ("sms", "opted_out", {"body": "Hello"}, "opted_out"),
    ("sms", "opted_out", {"body": "You are unsubscribed.", "kind": MessageKind.OPT_OUT_CONFIRMATION}, None),
    ("sms", "new", {"body": "Hello"}, None),  # never met: opted in
    ("sms", None, {"body": "Files", "media_urls": FILES[:MAX_ATTACHMENTS]}, None),
    ("sms", None, {"body": "Files", "media_urls": FILES}, "too_many_attachments"),
    ("telesign", None, {"body": "Files", "media_urls": FILES[:1]}, "attachments_not_supported"),
    ("sms", None, {"body": "Files", "media_urls": ("file:///etc/passwd",)}, "attachment_url_invalid"),
    ("sms", None, {"body": "Files", "media_urls": ("not a link",)}, "attachment_url_invalid"),
    ("whatsapp", None, {"body": "Hello"}, "whatsapp_window_closed"),  # never wrote
    ("whatsapp", "new", {"body": "Hello"}, "whatsapp_window_closed"),
    ("whatsapp", "wrote 25 h ago", {"body": "Hello"}, "whatsapp_window_closed"),
    ("whatsapp", "wrote 23 h ago", {"body": "Hello"}, None),
    ("whatsapp", None, {"body": "", "content_sid": "HX" + "a" * 32, "kind": MessageKind.TEMPLATE}, None),
    ("whatsapp", "opted_out", {"body": "", "content_sid": "HX" + "a" * 32}, "opted_out"),
    # Rules apply in order: the first one broken is the one named.
    ("whatsapp", "opted_out", {"body": "x" * 1601}, "body_too_long"),
    ("sms", "inactive", {"body": "Hello", "media_urls": FILES}, "account_inactive"),
]


def _draft(accounts, account_key, standing, fields, index):
    account = accounts[account_key]
    if standing == "inactive":
        account.is_active = False
    if standing == "new":
        contact = Contact(address=f"+1555000{index:04d}")
    else:
        contact = contact_for(f"+1555100{index:04d}")
    if standing == "opted_out":
        _stopped(account, contact)
    if standing and standing.startswith("wrote"):
        _wrote(account, contact, ago=timedelta(hours=int(standing.split()[1])))
    phone = account.numbers.get()
    phone.account = account
    return Draft(phone_number=phone, contact=contact, **fields)


@pytest.mark.parametrize(("account", "standing", "fields", "code"), CASES)
def test_each_rule(accounts, account, standing, fields, code):
    [error] = drafts_check([_draft(accounts, account, standing, fields, 0)])
    assert (error.code if error else None) == code


def test_many_drafts_get_what_each_gets_alone_at_the_cost_of_one(accounts):
    drafts = [_draft(accounts, a, s, f, i) for i, (a, s, f, _) in enumerate(CASES) if s != "inactive"]
    alone = [drafts_check([d])[0] for d in drafts]
    with CaptureQueriesContext(connection) as queries:
        together = drafts_check(drafts)
    assert [e.code if e else None for e in together] == [e.code if e else None for e in alone]
    assert [e.message if e else None for e in together] == [e.message if e else None for e in alone]
    # However many drafts: one consent query per number (three), one window query, and the number policy
    # asked once for the one number whose drafts carry attachments.
    assert len(queries) == 5
