"""The console's inbox, contact page and agent tools over HTTP, beside the API's same endpoints: each role
sees in the inbox what it may see in the conversation list, bad filters are a 400 naming the parameter, and a
note shows in the thread's live updates without ever becoming a message."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from channels_app.models import Message
from tests.workstreams.access_table import ROLES
from workstreams.models import ConversationNote


def url(name, *args):
    return reverse(f"console:{name}", args=args)


@pytest.mark.parametrize("role", ROLES)
def test_the_inbox_lists_what_the_api_lists(client, access_world, role):
    conversation = access_world.conversation("active")
    user = access_world.users[role]
    client.force_login(user)
    response = client.get(url("inbox"), {"tab": "all", "q": "parcel"})
    api = APIClient()
    api.force_authenticate(user)
    listed = api.get("/api/v1/conversations/", {"tab": "all", "q": "parcel"})
    if role == "non-staff":
        assert response.status_code == 302 and listed.status_code == 403
        return
    if role == "staff-without-profile":
        assert response.status_code == 403 and listed.status_code == 403
        return
    shown = url("conversation", conversation.pk) in response.content.decode()
    assert response.status_code == 200 and listed.status_code == 200
    assert shown == (role in ("agent-owner", "supervisor-of-queue", "admin"))
    assert [c["id"] for c in listed.json()["results"]] == ([conversation.pk] if shown else [])


def test_bad_inbox_filters_are_a_400_naming_the_parameter(client, access_world):
    client.force_login(access_world.users["agent-owner"])
    page = client.get(url("inbox"), {"tab": "everything"})
    assert page.status_code == 400 and "tab=&#x27;everything&#x27; is not a tab" in page.content.decode()
    updates = client.get(url("inbox-updates"), {"channel": "fax"})
    assert updates.status_code == 400 and updates.json()["field"] == "channel"
    api = APIClient()
    api.force_authenticate(access_world.users["agent-owner"])
    listed = api.get("/api/v1/conversations/", {"tab": "mine", "queue": "x"})
    assert listed.status_code == 400 and listed.json()["field"] == "queue"


def test_the_inbox_updates_only_send_html_when_it_changed(client, access_world):
    access_world.conversation("active")
    client.force_login(access_world.users["agent-owner"])
    first = client.get(url("inbox-updates"), {"tab": "mine"}).json()
    assert first["html"] and first["count"] == 1
    again = client.get(url("inbox-updates"), {"tab": "mine", "signature": first["signature"]}).json()
    assert again["html"] is None and again["signature"] == first["signature"]


def test_the_contact_page_is_there_only_for_those_who_may_see_a_conversation(client, access_world):
    conversation = access_world.conversation("active")
    client.force_login(access_world.users["agent-owner"])
    page = client.get(url("contact", conversation.contact_id))
    assert page.status_code == 200 and url("conversation", conversation.pk) in page.content.decode()
    client.force_login(access_world.users["agent-other-queue"])
    assert client.get(url("contact", conversation.contact_id)).status_code == 404
    assert client.get(url("contact", 999_999)).status_code == 404


def test_a_note_appears_in_the_live_updates_and_is_never_a_message(client, access_world):
    conversation = access_world.conversation("active")
    client.force_login(access_world.users["agent-owner"])
    messages = Message.objects.count()
    added = client.post(url("note", conversation.pk), {"note": "Call after 5pm"}, HTTP_ACCEPT="application/json")
    assert added.status_code == 200 and added.json()["detail"] == "Note added; only agents and supervisors see it."
    updates = client.get(url("conversation-updates", conversation.pk), {"after": 0, "notes_after": 0}).json()
    [note] = updates["notes"]
    assert "Internal note · not sent" in note["html"] and "Call after 5pm" in note["html"]
    assert updates["last_note_id"] == note["id"]
    later = client.get(url("conversation-updates", conversation.pk), {"notes_after": note["id"]}).json()
    assert later["notes"] == []
    assert Message.objects.count() == messages
    empty = client.post(url("note", conversation.pk), {"note": " "}, HTTP_ACCEPT="application/json")
    assert empty.status_code == 400 and empty.json()["error"] == "note_required"
    assert ConversationNote.objects.count() == 1


def test_a_consulted_agent_reads_and_notes_but_cannot_reply(client, access_world):
    conversation = access_world.conversation("active")
    client.force_login(access_world.users["agent-owner"])
    otto = access_world.users["agent-other-queue"]
    invited = client.post(url("consult", conversation.pk), {"agent": otto.pk}, follow=True)
    assert "can now read this conversation and add notes" in invited.content.decode()
    client.force_login(otto)
    page = client.get(url("conversation", conversation.pk))
    assert page.status_code == 200 and 'id="note-form"' in page.content.decode()
    assert 'id="reply-form"' not in page.content.decode()
    assert client.post(url("note", conversation.pk), {"note": "Known issue #42"}).status_code == 302
    refused = client.post(url("reply", conversation.pk), {"body": "Hi"}, HTTP_ACCEPT="application/json")
    assert refused.status_code == 403 and refused.json()["error"] == "not_your_conversation"
    client.post(url("consult-leave", conversation.pk))
    assert client.get(url("conversation", conversation.pk)).status_code == 404


def test_ending_through_the_api_takes_the_outcome_and_note(access_world):
    conversation = access_world.conversation("active")
    api = APIClient()
    api.force_authenticate(access_world.users["agent-owner"])
    bad = api.post(f"/api/v1/conversations/{conversation.pk}/end/", {"outcome": "meh"}, format="json")
    assert bad.status_code == 400
    ended = api.post(f"/api/v1/conversations/{conversation.pk}/end/", {"outcome": "not_resolved",
                                                                       "note": "Needs a manager"}, format="json")
    assert ended.status_code == 200, ended.content
    assert (ended.json()["state"], ended.json()["outcome"], ended.json()["resolved"]) == ("wrap_up",
                                                                                          "not_resolved", False)
    notes = api.get(f"/api/v1/conversations/{conversation.pk}/notes/").json()
    assert [(n["body"], n["is_wrap_up"]) for n in notes] == [("Needs a manager", True)]
    closed = api.post(f"/api/v1/conversations/{conversation.pk}/close-now/")
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
