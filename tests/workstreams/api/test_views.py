from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from channels_app.models import ConsentState, Message
from channels_app.providers import sandbox
from channels_app.services.consent import consent_record
from workstreams.models import Queue, Workstream, WorkstreamNumber
from workstreams.services import conversation_close


@pytest.fixture
def agent(make_agent):
    """A staff agent in the default queue (where conversations on numbers in no workstream wait)."""
    user = make_agent("agent", queues=[Queue.objects.get(is_default=True)])
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation", "change_conversation"]))
    return user


@pytest.fixture
def api(agent):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=agent).key}")
    return client


def test_listing_needs_authentication_and_permission(client, db, django_user_model):
    assert APIClient().get("/api/v1/conversations/").status_code == 401
    nobody = django_user_model.objects.create_user("nobody")
    unprivileged = APIClient()
    unprivileged.force_authenticate(nobody)
    assert unprivileged.get("/api/v1/conversations/").status_code == 403


def test_list_filters(admin_user, sandbox_account, twilio_sms_account, receive):
    api = APIClient()
    api.force_authenticate(admin_user)  # sees every conversation: the filters alone decide
    a = receive(sandbox_account, sender="+15551234567")
    b = receive(twilio_sms_account, sender="+15557654321")
    conversation_close(conversation=b)
    ids = lambda r: [c["id"] for c in r.json()["results"]]  # noqa: E731
    assert ids(api.get("/api/v1/conversations/?state=open")) == [a.pk]
    assert ids(api.get("/api/v1/conversations/?number=%2B14155550100")) == [b.pk]
    assert ids(api.get("/api/v1/conversations/?contact=%2B15551234567")) == [a.pk]
    assert sorted(ids(api.get("/api/v1/conversations/?state=open,closed"))) == sorted([a.pk, b.pk])


def test_a_username_customer_is_found_by_any_address_and_shown_without_a_phone(admin_user, twilio_whatsapp_account,
                                                                              receive):
    from channels_app.services.contacts import contact_for_sender

    api = APIClient()
    api.force_authenticate(admin_user)
    by_id = receive(twilio_whatsapp_account, sender="US.13491208655302741918", name="ana.travels")
    listed = api.get("/api/v1/conversations/?contact=US.13491208655302741918").json()["results"]
    assert [c["contact"] for c in listed] == [{"id": by_id.contact_id, "address": "US.13491208655302741918",
                                               "phone": None, "name": "ana.travels"}]
    contact_for_sender(address="+15551234567", linked="US.13491208655302741918")  # now the number is known
    listed = api.get("/api/v1/conversations/?contact=US.13491208655302741918").json()["results"]
    assert [(c["id"], c["contact"]["phone"]) for c in listed] == [(by_id.pk, "+15551234567")]
    assert [c["id"] for c in api.get("/api/v1/conversations/?contact=%2B15551234567").json()["results"]] == [by_id.pk]


def test_reply_then_read_the_thread(api, agent, sandbox_account, receive, django_capture_on_commit_callbacks):
    conversation = receive(sandbox_account, "Where is my parcel?")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "It ships today"},
                            format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["encoding"], response.json()["segments"]) == ("GSM-7", 1)
    assert sandbox.outbox[-1]["body"] == "It ships today"
    thread = api.get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["results"]
    assert [(m["direction"], m["body"], m["status"]) for m in thread] == [
        ("inbound", "Where is my parcel?", "received"), ("outbound", "It ships today", "sent")]
    assert thread[1]["author"] == "agent"


def test_refusals_name_the_rule(api, sandbox_account, twilio_whatsapp_account, receive):
    conversation = receive(sandbox_account)
    assert api.post(f"/api/v1/conversations/{conversation.pk}/take/").status_code == 200

    too_long = api.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "x" * 1601}, format="json")
    assert too_long.status_code == 400
    assert too_long.json()["error"] == "body_too_long" and "1601 characters" in too_long.json()["detail"]

    consent_record(contact=conversation.contact, phone_number=conversation.phone_number,
                   state=ConsentState.OPTED_OUT, source="keyword")
    opted_out = api.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "hi"}, format="json")
    assert (opted_out.status_code, opted_out.json()["error"]) == (409, "opted_out")

    conversation_close(conversation=conversation)
    closed = api.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "hi"}, format="json")
    assert (closed.status_code, closed.json()["error"]) == (409, "conversation_closed")

    wa = receive(twilio_whatsapp_account)
    Message.objects.filter(conversation_link__conversation=wa).update(created_at=timezone.now() - timedelta(hours=25))
    outside = api.post(f"/api/v1/conversations/{wa.pk}/messages/", {"body": "hi"}, format="json")
    assert (outside.status_code, outside.json()["error"]) == (409, "whatsapp_window_closed")
    assert "only an approved template" in outside.json()["detail"]
    assert Message.objects.filter(direction="outbound").count() == 0


def test_attachments_where_agents_may_not_send_them(api, sandbox_account, receive):
    workstream = Workstream.objects.create(name="SMS", channel="sms")
    WorkstreamNumber.objects.create(workstream=workstream, phone_number=sandbox_account.numbers.get(),
                                    agents_may_send_attachments=False)
    conversation = receive(sandbox_account)
    response = api.post(f"/api/v1/conversations/{conversation.pk}/messages/",
                        {"body": "see attached", "media_urls": ["https://files.example/a.pdf"]}, format="json")
    assert (response.status_code, response.json()["error"]) == (400, "attachments_not_allowed")


def test_at_most_ten_attachments_per_reply(api, sandbox_account, receive):
    conversation = receive(sandbox_account)
    urls = [f"https://files.example/{i}.pdf" for i in range(11)]
    response = api.post(f"/api/v1/conversations/{conversation.pk}/messages/",
                        {"body": "see attached", "media_urls": urls}, format="json")
    assert (response.status_code, response.json()["error"], response.json()["field"]) == (
        400, "too_many_attachments", "attachments")
    assert response.json()["limit"] == 10
    response = api.post(f"/api/v1/conversations/{conversation.pk}/messages/",
                        {"body": "see attached", "media_urls": urls[:10]}, format="json")
    assert response.status_code == 201
    assert len(response.json()["attachments"]) == 10


def test_end_conversation(api, sandbox_account, receive):
    conversation = receive(sandbox_account)
    api.post(f"/api/v1/conversations/{conversation.pk}/take/")
    response = api.post(f"/api/v1/conversations/{conversation.pk}/end/")
    assert response.status_code == 200 and response.json()["state"] == "wrap_up"
    again = api.post(f"/api/v1/conversations/{conversation.pk}/end/")
    assert (again.status_code, again.json()["error"]) == (409, "conversation_ended")


def test_retry_a_failed_message(api, sandbox_account, receive, django_capture_on_commit_callbacks):
    conversation = receive(sandbox_account)
    with django_capture_on_commit_callbacks(execute=True):
        sent = api.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "hi"}, format="json").json()
    Message.objects.filter(pk=sent["id"]).update(status="failed", error_code="30003")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/conversations/{conversation.pk}/messages/{sent['id']}/retry/")
    assert response.status_code == 201
    assert Message.objects.get(pk=sent["id"]).status == "sent"
    assert len(sandbox.outbox) == 2


def test_stored_attachments_link_to_the_authenticated_download(api, sandbox_account, receive):
    from django.core.files.base import ContentFile

    from channels_app.models import Attachment

    conversation = receive(sandbox_account, "photo")
    message = conversation.entries.get().message
    attachment = Attachment.objects.create(message=message, url="https://x.example/a.png", content_type="image/png",
                                           state="stored")
    attachment.file.save("a.png", ContentFile(b"png"), save=True)
    thread = api.get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["results"]
    assert thread[0]["attachments"][0]["file_url"] == f"http://testserver/console/attachments/{attachment.pk}/"


@pytest.mark.parametrize(
    "link",
    [
        "https://127.0.0.1:8150\\@1.1.1.1/a.pdf",  # read as 127.0.0.1 by the HTTP client, 1.1.1.1 by urlsplit
        "https://files.example@127.0.0.1/a.pdf",
        "https://[2002:7f00:1::]/a.pdf",  # 6to4 form of 127.0.0.1
        "http://169.254.169.254/latest/meta-data/",
        "https://files.example\\.twiliocdn.com/a.pdf",
    ],
)
def test_an_attachment_link_the_hub_must_not_pass_on_is_refused(api, sandbox_account, receive, link):
    conversation = receive(sandbox_account)
    response = api.post(f"/api/v1/conversations/{conversation.pk}/messages/",
                        {"body": "see attached", "media_urls": [link]}, format="json")
    assert response.status_code == 400
    assert Message.objects.filter(direction="outbound").count() == 0
    assert sandbox.outbox == []
