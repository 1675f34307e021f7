"""The test message obeys the rules a reply obeys — through the admin action, the API and the command alike."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from channels_app.models import Channel, ConsentState, Direction, Message, MessageStatus
from channels_app.policy import NumberPolicy
from channels_app.providers import sandbox
from channels_app.services import NumberSpec, account_create
from channels_app.services.consent import consent_record
from channels_app.services.inbound import contact_for

CUSTOMER = "+14155550123"


def no_agent_attachments(phone_number):
    """A number policy (``HUB_NUMBER_POLICY``) under which agents may not send attachments."""
    return NumberPolicy(agents_may_send_attachments=False)


@pytest.fixture
def whatsapp_sandbox(db):
    return account_create(name="Sandbox WhatsApp", channel=Channel.WHATSAPP, provider="sandbox",
                          numbers=[NumberSpec(number="+15005550007", name="Support WhatsApp")])


# --- The three ways in: each answers (sent?, the rule's code or "", the field at fault, the text shown) ----------

def via_admin(client, account, *, text, media_urls=()):
    response = client.post(reverse("admin:channels_app_messagingaccount_send_test_message", args=[account.pk]),
                           {"to": CUSTOMER, "text": text, "media_urls": "\n".join(media_urls)})
    if response.status_code == 302:
        return True, "", "", ""
    errors = response.context["form"].errors
    [(field, [shown])] = errors.items()
    return False, None, field, shown


def via_api(client, account, *, text, media_urls=()):
    response = client.post(f"/api/v1/accounts/{account.pk}/test-message/",
                           {"to": CUSTOMER, "text": text, "media_urls": list(media_urls)}, format="json")
    if response.status_code == 200:
        return True, "", "", ""
    body = response.json()
    return False, body["error"], body["field"], body["detail"]


def via_command(client, account, *, text, media_urls=()):
    args = ["--account", account.name, "--to", CUSTOMER, "--text", text]
    for url in media_urls:
        args += ["--media-url", url]
    try:
        call_command("send_test_message", *args, stdout=StringIO())
    except CommandError as exc:
        option, _, shown = str(exc).partition(": ")
        return False, None, option, shown
    return True, "", "", ""


FIELDS = {  # what each way in calls the input at fault
    via_admin: {"to": "to", "text": "text", "media_urls": "media_urls"},
    via_api: {"to": "to", "text": "text", "media_urls": "media_urls"},
    via_command: {"to": "--to", "text": "--text", "media_urls": "--media-url"},
}


@pytest.fixture(params=[via_admin, via_api, via_command], ids=["admin", "api", "command"])
def send(request, admin_client, admin_user):
    way = request.param
    client = admin_client
    if way is via_api:
        client = APIClient()
        client.force_authenticate(admin_user)

    def _send(account, **kw):
        sent, code, field, shown = way(client, account, **kw)
        return sent, code, field, shown, FIELDS[way]

    return _send


def _customer_wrote(account, *, ago):
    phone = account.numbers.get()
    message = Message.objects.create(account=account, phone_number=phone, contact=contact_for(CUSTOMER),
                                     provider=account.provider, channel=phone.channel, direction=Direction.INBOUND,
                                     body="hi", status=MessageStatus.RECEIVED, provider_message_id=f"in-{ago}")
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - ago)


def _assert_refused(result, *, code, field, says):
    sent, got_code, got_field, shown, fields = result
    assert not sent
    assert got_code in (None, code)  # the admin and the command show the text, the API names the rule too
    assert got_field == fields[field]
    assert says in shown
    assert sandbox.outbox == []


# --- The rules ------------------------------------------------------------------------------------------

def test_whatsapp_free_text_to_a_customer_who_never_wrote_is_refused(send, whatsapp_sandbox):
    _assert_refused(send(whatsapp_sandbox, text="Hello"), code="whatsapp_window_closed", field="to",
                    says="24-hour window is not open")
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()


def test_whatsapp_free_text_after_the_window_closed_is_refused_and_inside_it_goes(send, whatsapp_sandbox):
    _customer_wrote(whatsapp_sandbox, ago=timedelta(hours=25))
    _assert_refused(send(whatsapp_sandbox, text="Hello"), code="whatsapp_window_closed", field="to",
                    says="24-hour window closed at")

    _customer_wrote(whatsapp_sandbox, ago=timedelta(hours=23))
    sent, *_ = send(whatsapp_sandbox, text="Hello")
    assert sent and [m["to"] for m in sandbox.outbox] == [CUSTOMER]


def test_a_customer_who_opted_out_is_not_written_to(send, sandbox_account):
    consent_record(contact=contact_for(CUSTOMER), phone_number=sandbox_account.numbers.get(),
                   state=ConsentState.OPTED_OUT, source="keyword")
    _assert_refused(send(sandbox_account, text="Hello"), code="opted_out", field="to",
                    says=f"{CUSTOMER} has opted out of messages from +15005550006")


@pytest.mark.parametrize(("text", "says"), [("x" * 1601, "The message is 1601 characters; the limit is 1600."),
                                            ("   ", "The message is empty.")], ids=["too-long", "blank"])
def test_the_length_rule(send, sandbox_account, text, says):
    _assert_refused(send(sandbox_account, text=text), code="body_too_long" if text.strip() else "body_required",
                    field="text", says=says)


def test_exactly_1600_characters_go(send, sandbox_account):
    sent, *_ = send(sandbox_account, text="x" * 1600)
    assert sent and len(sandbox.outbox[0]["body"]) == 1600


def test_more_than_ten_attachments_are_refused_and_ten_go(send, sandbox_account):
    urls = [f"https://files.example/{i}.jpg" for i in range(11)]
    _assert_refused(send(sandbox_account, text="Files", media_urls=urls), code="too_many_attachments",
                    field="media_urls", says="The message has 11 attachments; at most 10")

    sent, *_ = send(sandbox_account, text="Files", media_urls=urls[:10])
    assert sent and sandbox.outbox[0]["media_urls"] == urls[:10]


def test_an_attachment_that_is_not_a_web_link_is_refused(send, sandbox_account):
    sent, _, field, shown, fields = send(sandbox_account, text="Files", media_urls=["file:///etc/passwd"])
    # The form and the serializer see it first (the API names the list item); the command meets the rule.
    assert not sent and field.startswith(fields["media_urls"])
    assert "valid URL" in shown or "is not a web link" in shown
    assert sandbox.outbox == []


def test_attachments_where_agents_may_not_send_them_are_refused(send, sandbox_account, settings):
    settings.HUB_NUMBER_POLICY = "tests.channels_app.test_test_messages.no_agent_attachments"
    _assert_refused(send(sandbox_account, text="Files", media_urls=["https://files.example/a.jpg"]),
                    code="attachments_not_allowed", field="media_urls",
                    says="Agents may not send attachments on +15005550006.")
    sent, *_ = send(sandbox_account, text="No files")  # text alone still goes
    assert sent


def test_attachments_through_a_provider_that_carries_text_only_are_refused(send, telesign_account, mocked_http):
    _assert_refused(send(telesign_account, text="Files", media_urls=["https://files.example/a.jpg"]),
                    code="attachments_not_supported", field="media_urls", says="its provider carries text only")
    assert len(mocked_http.calls) == 0


def test_a_sent_test_message_is_stored_and_its_delivery_report_finds_it(send, sandbox_account):
    from channels_app.providers import StatusUpdate
    from channels_app.services.delivery import StatusApplied, message_status_apply

    sent, *_ = send(sandbox_account, text="Hello")
    assert sent
    message = Message.objects.get(direction=Direction.OUTBOUND)
    assert (message.kind, message.status, message.provider_message_id, message.contact.address) == (
        "test", "sent", sandbox.outbox[0]["id"], CUSTOMER)
    assert message_status_apply(account_id=sandbox_account.pk,
                                update=StatusUpdate(message.provider_message_id, "delivered")) == StatusApplied.MOVED
    assert Message.objects.get(pk=message.pk).status == "delivered"
