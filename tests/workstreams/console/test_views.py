"""The agent console's views: access, the dashboard, the conversation page, its posts and the JSON polls."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.utils import timezone

from channels_app.models import (
    Attachment,
    AttachmentState,
    ConsentState,
    Direction,
    Message,
    MessageStatus,
)
from channels_app.providers import sandbox
from channels_app.services.consent import consent_record
from channels_app.services.delivery import message_queue
from workstreams.models import (
    AgentProfile,
    Conversation,
    ConversationRead,
    ConversationState,
    DistributionMode,
    Presence,
    Queue,
    QuickReply,
    RoutingRule,
    WhatsAppTemplate,
    Workstream,
    WorkstreamNumber,
)

JSON = {"HTTP_ACCEPT": "application/json"}
CONSOLE_PERMISSIONS = ["view_conversation", "change_conversation"]


@pytest.fixture
def routed(workstream, support_queue):
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    return support_queue


@pytest.fixture
def staff(make_agent):
    """Make a staff agent with the console's permissions, signed in on the given client."""

    def _staff(username="ana", *, queues=(), perms=CONSOLE_PERMISSIONS, first_name=""):
        user = make_agent(username, queues=queues, first_name=first_name)
        user.is_staff = True
        user.save()
        user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
        return user

    return _staff


@pytest.fixture
def agent(staff, routed, client):
    user = staff("ana", queues=[routed], first_name="Ana")
    client.force_login(user)
    return user


def url(name, *args):
    from django.urls import reverse

    return reverse(f"console:{name}", args=args)


# --- Access --------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_the_admin_login(client, db):
    response = client.get(url("dashboard"))
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/console/"


def test_anonymous_poll_gets_json_401(client, db):
    response = client.get(url("dashboard-updates"))
    assert response.status_code == 401
    assert response.json()["error"] == "not_logged_in"


def test_non_staff_users_are_sent_to_the_admin_login(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("customer-care", password="x"))
    response = client.get(url("dashboard"))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_staff_without_the_conversation_permissions_is_told_why(client, staff):
    client.force_login(staff("ana", perms=[]))
    response = client.get(url("dashboard"))
    assert response.status_code == 403
    assert b"permission to view conversations" in response.content


def test_change_permission_is_needed_to_act(client, staff, sandbox_account, receive):
    conversation = receive(sandbox_account, "hello")
    client.force_login(staff("viewer", queues=[conversation.queue], perms=["view_conversation"]))
    page = client.get(url("conversation", conversation.pk))
    assert page.status_code == 200
    assert "You need the permission to change conversations to answer or act on them" in page.content.decode()
    assert 'id="reply-form"' not in page.content.decode()
    response = client.post(url("reply", conversation.pk), {"body": "hi"}, **JSON)
    assert response.status_code == 403
    assert "change conversations" in response.json()["detail"]
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()


def test_an_agent_without_a_profile_gets_a_page_saying_who_can_fix_it(client, django_user_model):
    user = django_user_model.objects.create_user("newcomer", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=CONSOLE_PERMISSIONS))
    django_user_model.objects.create_superuser("boss", password="x", first_name="Bea", last_name="Boss")
    client.force_login(user)
    response = client.get(url("dashboard"))
    assert response.status_code == 403
    text = response.content.decode()
    assert "Your account has no agent profile" in text
    assert "Workstreams → Agent profiles" in text
    assert "Bea Boss" in text  # who can fix it


def test_an_administrator_without_a_profile_oversees_and_becomes_an_agent_without_leaving(client, django_user_model,
                                                                                        sandbox_account, receive):
    conversation = receive(sandbox_account, "hello", name="Maria")
    boss = django_user_model.objects.create_superuser("boss", password="x")
    client.force_login(boss)
    response = client.get(url("dashboard"))
    assert response.status_code == 200
    text = response.content.decode()
    assert f'action="{url("profile-create")}"' in text and "Make me an agent" in text
    assert "All live conversations" in text and url("conversation", conversation.pk) in text
    assert 'name="presence"' not in text  # no profile: no presence, no capacity

    response = client.post(url("profile-create"), follow=True)
    assert response.redirect_chain[-1][0] == url("dashboard")  # back in the console, not in the admin
    assert "Your agent profile is ready: you are available in the default queue." in response.content.decode()
    profile = AgentProfile.objects.get(user=boss)
    assert profile.presence == Presence.AVAILABLE
    assert Queue.objects.get(is_default=True).members.filter(pk=boss.pk).exists()
    assert 'name="presence"' in response.content.decode()


def test_a_user_who_may_not_add_profiles_cannot_make_one_from_the_console(client, django_user_model):
    user = django_user_model.objects.create_user("sam", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename="supervise_conversation"))
    client.force_login(user)
    response = client.post(url("profile-create"), HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert "ask an administrator" in response.json()["detail"]
    assert not AgentProfile.objects.filter(user=user).exists()


def test_the_admin_links_to_the_console(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", password="x"))
    page = client.get("/admin/").content.decode()
    assert page.count('href="/console/"') >= 2  # the header's user links and the index module
    assert "Agent console" in page
    assert 'id="recent-actions-module"' in page  # Django's own blocks are kept
    assert 'href="/console/"' in client.get("/admin/workstreams/queue/").content.decode()


# --- Dashboard -----------------------------------------------------------------------------------


def test_dashboard_lists_my_conversations_the_queue_and_counts(client, agent, routed, sandbox_account, receive):
    mine = receive(sandbox_account, "Where is my parcel?", sender="+15550000001", name="Maria")
    Conversation.objects.filter(pk=mine.pk).update(agent=agent, state=ConversationState.ACTIVE)
    receive(sandbox_account, "Can I change my address?", sender="+15550000002", name="Jon")
    other = Queue.objects.create(name="Billing")
    elsewhere = receive(sandbox_account, "not yours", sender="+15550000003")
    Conversation.objects.filter(pk=elsewhere.pk).update(queue=other)

    response = client.get(url("dashboard"))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Maria" in text and "Where is my parcel?" in text
    assert "Jon" in text and url("take", Conversation.objects.get(contact__address="+15550000002").pk) in text
    assert "not yours" not in text
    assert "<strong>1</strong> waiting · 1 active" in text  # the Support queue's counts
    assert 'name="presence"' in text and 'value="available" selected' in text


def test_presence_switch(client, agent):
    response = client.post(url("presence"), {"presence": "dnd"})
    assert response.status_code == 302
    agent.agent_profile.refresh_from_db()
    assert agent.agent_profile.presence == "dnd"
    refused = client.post(url("presence"), {"presence": "asleep"}, **JSON)
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("Presence must be one of")


def test_dashboard_poll_returns_html_only_when_something_changed(client, agent, sandbox_account, receive):
    first = client.get(url("dashboard-updates")).json()
    assert first["html"] and first["items"] == []
    same = client.get(url("dashboard-updates"), {"signature": first["signature"]}).json()
    assert same["html"] is None
    conversation = receive(sandbox_account, "Hello?", name="Maria")
    changed = client.get(url("dashboard-updates"), {"signature": first["signature"]}).json()
    assert "Maria" in changed["html"]
    assert changed["items"] == [{"id": conversation.pk, "label": "Maria", "unread": 1, "list": "queued"}]
    assert changed["unread_total"] == 1


def test_unread_markers_follow_what_the_agent_has_seen(client, agent, sandbox_account, receive):
    conversation = receive(sandbox_account, "one", name="Maria")
    receive(sandbox_account, "two", name="Maria")
    Conversation.objects.filter(pk=conversation.pk).update(agent=agent, state=ConversationState.ACTIVE)
    assert 'aria-label="2 unread"' in client.get(url("dashboard")).content.decode()

    client.get(url("conversation", conversation.pk))  # opening the conversation reads it
    assert "unread" not in client.get(url("dashboard-updates")).json()["html"].replace("is-unread", "")
    read = ConversationRead.objects.get(user=agent, conversation=conversation)
    assert read.last_message_id == Message.objects.latest("id").pk

    receive(sandbox_account, "three", name="Maria")
    assert client.get(url("dashboard-updates")).json()["unread_total"] == 1
    # A poll from a page the agent is not looking at leaves it unread; a visible one reads it.
    client.get(url("conversation-updates", conversation.pk), {"after": read.last_message_id, "seen": "0"})
    assert client.get(url("dashboard-updates")).json()["unread_total"] == 1
    client.get(url("conversation-updates", conversation.pk), {"after": read.last_message_id, "seen": "1"})
    assert client.get(url("dashboard-updates")).json()["unread_total"] == 0


def test_read_markers_never_move_backwards(agent, sandbox_account, receive):
    from workstreams.console.services import conversation_mark_read

    conversation = receive(sandbox_account, "one")
    conversation_mark_read(user=agent, conversation=conversation, last_message_id=50)
    conversation_mark_read(user=agent, conversation=conversation, last_message_id=10)
    assert ConversationRead.objects.get(user=agent, conversation=conversation).last_message_id == 50


# --- Conversation page -------------------------------------------------------------------------


def test_conversation_page_shows_thread_contact_routing_and_statuses(client, agent, sandbox_account, receive):
    conversation = receive(sandbox_account, "My parcel is late", name="Maria")
    Conversation.objects.filter(pk=conversation.pk).update(agent=agent, state=ConversationState.ACTIVE)
    failed = message_queue(phone_number=conversation.phone_number, contact=conversation.contact, body="Sorry!",
                           author=agent)
    Message.objects.filter(pk=failed.pk).update(status=MessageStatus.FAILED, error_code="30003",
                                                error_message="Unreachable destination handset")
    auto = message_queue(phone_number=conversation.phone_number, contact=conversation.contact, body="Thanks for waiting",
                         kind="automated")
    from workstreams.models import ConversationMessage

    ConversationMessage.objects.create(conversation=conversation, message=failed)
    ConversationMessage.objects.create(conversation=conversation, message=auto)
    earlier = Conversation.objects.create(contact=conversation.contact, phone_number=conversation.phone_number,
                                          channel="sms", state=ConversationState.CLOSED)

    text = client.get(url("conversation", conversation.pk)).content.decode()
    assert "My parcel is late" in text
    assert "Error 30003: Unreachable destination handset" in text
    assert url("retry", conversation.pk, failed.pk) in text
    assert "Automated message" in text and "Thanks for waiting" in text
    assert "+15551234567" in text and "Opted in" in text
    assert url("conversation", earlier.pk) in text
    assert "Support: rule “All” matched: it has no conditions" in text
    assert 'data-limit="1600"' in text
    assert "End conversation" in text


def test_opted_out_consent_is_shown(client, agent, sandbox_account, receive):
    conversation = receive(sandbox_account, "hi")
    consent_record(contact=conversation.contact, phone_number=conversation.phone_number,
                   state=ConsentState.OPTED_OUT, source="keyword")
    assert "Opted out" in client.get(url("conversation", conversation.pk)).content.decode()


def test_reply_is_sent_through_the_service(client, agent, sandbox_account, receive,
                                           django_capture_on_commit_callbacks):
    conversation = receive(sandbox_account, "hello")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("reply", conversation.pk), {"body": "Line one\r\nLine two"}, **JSON)
    assert response.status_code == 201, response.content
    assert response.json()["message"]["segments"] == 1
    assert sandbox.outbox[-1]["body"] == "Line one\nLine two"
    conversation.refresh_from_db()
    assert (conversation.state, conversation.agent) == (ConversationState.ACTIVE, agent)  # answering takes it


def test_a_reply_over_the_limit_is_refused_with_the_services_message(client, agent, sandbox_account, receive):
    conversation = receive(sandbox_account, "hello")
    response = client.post(url("reply", conversation.pk), {"body": "a" * 1601}, **JSON)
    assert response.status_code == 400
    assert response.json() == {"error": "body_too_long", "detail": "The message is 1601 characters; the limit is "
                                "1600.", "field": "body", "limit": 1600}
    # Without JavaScript: the page comes back with the message and the draft.
    page = client.post(url("reply", conversation.pk), {"body": "b" * 1601})
    assert page.status_code == 400
    text = page.content.decode()
    assert "The message is 1601 characters; the limit is 1600." in text
    assert "b" * 1601 in text
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()


def test_a_reply_to_a_closed_conversation_is_refused(client, agent, sandbox_account, receive):
    conversation = receive(sandbox_account, "hello")
    Conversation.objects.filter(pk=conversation.pk).update(state=ConversationState.CLOSED, agent=agent)
    response = client.post(url("reply", conversation.pk), {"body": "hi"}, **JSON)
    assert response.status_code == 409
    assert response.json()["detail"] == f"Conversation #{conversation.pk} is closed; nothing more can be sent in it."


def test_attachment_links_follow_the_numbers_policy(client, agent, workstream, sandbox_account, receive):
    conversation = receive(sandbox_account, "hello")
    assert 'name="media_urls"' in client.get(url("conversation", conversation.pk)).content.decode()
    bad = client.post(url("reply", conversation.pk), {"body": "x", "media_urls": "not a link"}, **JSON)
    assert bad.status_code == 400 and "is not a web link" in bad.json()["detail"]
    eleven = "\n".join(f"https://example.com/{i}.pdf" for i in range(11))
    many = client.post(url("reply", conversation.pk), {"body": "x", "media_urls": eleven}, **JSON)
    assert (many.status_code, many.json()["error"]) == (400, "too_many_attachments")
    assert many.json()["detail"] == "The message has 11 attachments; at most 10 can be sent in one message."
    WorkstreamNumber.objects.filter(workstream=workstream).update(agents_may_send_attachments=False)
    assert 'name="media_urls"' not in client.get(url("conversation", conversation.pk)).content.decode()
    refused = client.post(url("reply", conversation.pk), {"body": "x", "media_urls": "https://example.com/a.pdf"},
                          **JSON)
    assert refused.status_code == 400
    assert refused.json()["detail"] == "Agents may not send attachments on +15005550006."


@pytest.fixture
def whatsapp(twilio_whatsapp_account, support_queue):
    ws = Workstream.objects.create(name="WhatsApp support", channel="whatsapp")
    number = WorkstreamNumber.objects.create(workstream=ws, phone_number=twilio_whatsapp_account.numbers.get())
    RoutingRule.objects.create(workstream=ws, name="All", queue=support_queue)
    template = WhatsAppTemplate.objects.create(number=number, name="order_update", language="en",
                                               text="Hi {{1}}, your order {{2}} has shipped.",
                                               content_sid="HX" + "b" * 32)
    return twilio_whatsapp_account, template


def test_outside_the_whatsapp_window_only_the_template_picker_can_send(client, agent, whatsapp, receive,
                                                                        mocked_http):
    account, template = whatsapp
    conversation = receive(account, "hello")
    Message.objects.filter(direction=Direction.INBOUND).update(created_at=timezone.now() - timedelta(hours=25))

    text = client.get(url("conversation", conversation.pk)).content.decode()
    assert "The 24-hour WhatsApp window closed" in text
    assert 'placeholder="Write a reply…" disabled' in text
    assert "order_update (en)" in text and f'name="t{template.pk}_var_1"' in text

    refused = client.post(url("reply", conversation.pk), {"body": "hi"}, **JSON)
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("The WhatsApp 24-hour window closed at")

    sent = client.post(url("template", conversation.pk), {"template": template.pk, f"t{template.pk}_var_1": "Maria",
                                                          f"t{template.pk}_var_2": "A-17"}, **JSON)
    assert sent.status_code == 201, sent.content
    message = Message.objects.get(pk=sent.json()["message"]["id"])
    assert (message.kind, message.body, message.content_variables) == (
        "template", "Hi Maria, your order A-17 has shipped.", {"1": "Maria", "2": "A-17"})


def test_inside_the_window_the_page_says_when_it_closes(client, agent, whatsapp, receive):
    account, _ = whatsapp
    conversation = receive(account, "hello")
    text = client.get(url("conversation", conversation.pk)).content.decode()
    assert "WhatsApp window open until" in text
    assert 'placeholder="Write a reply…">' in text


def test_quick_replies_are_filled_in_for_the_conversation(client, agent, sandbox_account, receive):
    QuickReply.objects.create(title="Greeting", text="Hi {CustomerName}, this is {AgentName}.", language="en")
    QuickReply.objects.create(title="Saudação", text="Olá {CustomerName}!", language="pt")
    QuickReply.objects.create(title="Old", text="gone", is_active=False)
    conversation = receive(sandbox_account, "hello", name="Maria")
    text = client.get(url("conversation", conversation.pk)).content.decode()
    assert '"text": "Hi Maria, this is Ana."' in text
    assert '"text": "Ol\\u00e1 Maria!"' in text
    assert text.index("Hi Maria") < text.index("Maria!")  # the conversation's language first
    assert "gone" not in text


# --- The conversation poll -----------------------------------------------------------------------


def test_poll_returns_new_messages_and_status_changes(client, agent, sandbox_account, receive):
    conversation = receive(sandbox_account, "first")
    page = client.get(url("conversation", conversation.pk))
    last_id, cursor = page.context["last_id"], page.context["cursor"]
    version = page.context["version"]

    nothing = client.get(url("conversation-updates", conversation.pk),
                         {"after": last_id, "since": cursor, "version": version}).json()
    assert [m["id"] for m in nothing["messages"]] == [last_id]  # within the overlap: the page skips it by version
    assert "header_html" not in nothing["conversation"]

    reply = message_queue(phone_number=conversation.phone_number, contact=conversation.contact, body="hi there")
    from workstreams.models import ConversationMessage

    ConversationMessage.objects.create(conversation=conversation, message=reply)
    data = client.get(url("conversation-updates", conversation.pk),
                      {"after": last_id, "since": cursor, "version": version}).json()
    item = next(m for m in data["messages"] if m["id"] == reply.pk)
    assert "hi there" in item["html"] and "Queued" in item["status_html"]
    assert data["last_id"] == reply.pk

    Message.objects.filter(pk=reply.pk).update(status=MessageStatus.FAILED, error_code="30008",
                                               error_message="Unknown error", status_updated_at=timezone.now())
    later = client.get(url("conversation-updates", conversation.pk),
                       {"after": data["last_id"], "since": data["cursor"], "version": version}).json()
    changed = next(m for m in later["messages"] if m["id"] == reply.pk)
    assert changed["version"] != item["version"]
    assert "Error 30008: Unknown error" in changed["status_html"] and "Retry" in changed["status_html"]


@pytest.mark.parametrize(("since", "words"), [("2024-02-30T00:00", "not a valid date and time"),
                                              ("yesterday", "not an ISO 8601 date and time")])
def test_poll_with_a_bad_cursor_is_a_400_saying_why(client, agent, sandbox_account, receive, since, words):
    conversation = receive(sandbox_account, "first")
    response = client.get(url("conversation-updates", conversation.pk), {"after": "0", "since": since})
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["field"]) == ("since_invalid", "since")
    assert words in body["detail"] and since in body["detail"]


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00-14:00", "0001-01-01T00:00:00+00:00", "1900-01-01T00:00"])
def test_a_cursor_from_before_any_message_gives_every_message(client, agent, sandbox_account, receive, since):
    conversation = receive(sandbox_account, "first")
    response = client.get(url("conversation-updates", conversation.pk), {"after": "0", "since": since})
    assert response.status_code == 200
    messages = response.json()["messages"]
    assert len(messages) == 1 and "first" in messages[0]["html"]


@pytest.mark.parametrize("params", [
    {"since": "0001-01-01T00:00:00+14:00"},  # before the first time Python can represent in UTC
    {"since": "9999-12-31T23:59:59-14:00"},
])
def test_a_cursor_outside_the_representable_dates_is_a_400(client, agent, sandbox_account, receive, params):
    conversation = receive(sandbox_account, "first")
    response = client.get(url("conversation-updates", conversation.pk), {"after": "0", **params})
    assert response.status_code == 400 and response.json()["field"] == "since"


@pytest.mark.parametrize("params", [
    {"after": "99999999999999999999"}, {"after": "²"}, {"pending": "99999999999999999999,²,1"},
    {"after": "9223372036854775808"}, {"since": "2024-01-01T00:00\x00"},
])
def test_poll_parameters_past_what_a_column_holds_are_no_500(client, agent, sandbox_account, receive, params):
    conversation = receive(sandbox_account, "first")
    params = {k: v.replace("\\x00", "\x00") for k, v in params.items()}
    response = client.get(url("conversation-updates", conversation.pk), params)
    assert response.status_code in (200, 400)


def test_poll_takes_a_cursor_without_a_time_zone(client, agent, sandbox_account, receive):
    conversation = receive(sandbox_account, "first")
    response = client.get(url("conversation-updates", conversation.pk), {"after": "0", "since": "2024-02-29T00:00"})
    assert response.status_code == 200


def test_poll_follows_attachments_the_page_shows_as_downloading(client, agent, sandbox_account, receive):
    conversation = receive(sandbox_account, "photo")
    message = Message.objects.get(direction=Direction.INBOUND)
    attachment = Attachment.objects.create(message=message, url="https://example.com/p.png",
                                           content_type="image/png", state=AttachmentState.PENDING)
    page = client.get(url("conversation", conversation.pk))
    assert "downloading…" in page.content.decode()
    params = {"after": page.context["last_id"], "version": page.context["version"]}
    assert [m["id"] for m in client.get(url("conversation-updates", conversation.pk), params).json()["messages"]] \
        == [message.pk]
    Attachment.objects.filter(pk=attachment.pk).update(state=AttachmentState.FAILED, error="HTTP 404")
    assert client.get(url("conversation-updates", conversation.pk), params).json()["messages"] == []
    data = client.get(url("conversation-updates", conversation.pk), {**params, "pending": str(message.pk)}).json()
    assert "Attachment download failed: HTTP 404" in data["messages"][0]["attachments_html"]


def test_poll_sends_the_header_when_the_conversation_changed(client, agent, sandbox_account, receive):
    conversation = receive(sandbox_account, "first")
    version = client.get(url("conversation", conversation.pk)).context["version"]
    Conversation.objects.filter(pk=conversation.pk).update(state=ConversationState.ACTIVE, agent=agent)
    data = client.get(url("conversation-updates", conversation.pk), {"version": version}).json()
    assert data["conversation"]["version"] != version
    assert "Active (with an agent)" in data["conversation"]["header_html"]
    assert data["conversation"]["window"] == {"applies": False, "open": True, "html": data["conversation"]["window"]
                                              ["html"]}


def test_time_labels():
    from workstreams.console.selectors import duration_label

    assert [duration_label(s) for s in (5, 60, 59 * 60, 3600, 3600 + 120, 86400, 3 * 86400)] == [
        "under a minute", "1 min", "59 min", "1 h", "1 h 2 min", "1 day", "3 days"]


# --- Actions -------------------------------------------------------------------------------------


def test_take_in_pick_mode(client, agent, workstream, routed, sandbox_account, receive):
    Workstream.objects.filter(pk=workstream.pk).update(distribution_mode=DistributionMode.PICK)
    conversation = receive(sandbox_account, "hello")
    response = client.post(url("take", conversation.pk))
    assert response.status_code == 302 and response["Location"] == url("conversation", conversation.pk)
    conversation.refresh_from_db()
    assert (conversation.state, conversation.agent) == (ConversationState.ACTIVE, agent)
    # Taking it again: the service's refusal is shown on the page the agent came from.
    again = client.post(url("take", conversation.pk), {"next": url("dashboard")}, follow=True)
    assert "Someone else has already taken this conversation." in again.content.decode()


def test_a_conversation_outside_my_queues_is_not_there_for_me(client, agent, sandbox_account, receive):
    conversation = receive(sandbox_account, "hello")
    Conversation.objects.filter(pk=conversation.pk).update(queue=Queue.objects.create(name="Billing"))
    response = client.post(url("take", conversation.pk), **JSON)
    assert response.status_code == 404
    assert client.get(url("conversation", conversation.pk)).status_code == 404
    conversation.refresh_from_db()
    assert (conversation.state, conversation.agent) == (ConversationState.OPEN, None)


def test_pick_next(client, agent, sandbox_account, receive):
    assert "No conversation is waiting" in client.post(url("pick-next"), follow=True).content.decode()
    conversation = receive(sandbox_account, "hello")
    response = client.post(url("pick-next"))
    assert response["Location"] == url("conversation", conversation.pk)


def test_end_then_end_again(client, agent, sandbox_account, receive):
    conversation = receive(sandbox_account, "hello")
    client.post(url("take", conversation.pk))
    response = client.post(url("end", conversation.pk), follow=True)
    assert f"Conversation #{conversation.pk} ended (resolved); it is in wrap-up." in response.content.decode()
    conversation.refresh_from_db()
    assert (conversation.state, conversation.resolved) == (ConversationState.WRAP_UP, True)
    again = client.post(url("end", conversation.pk), follow=True)
    assert f"Conversation #{conversation.pk} has already ended." in again.content.decode()


def test_transfer_to_a_queue_or_an_agent(client, agent, staff, sandbox_account, receive):
    conversation = receive(sandbox_account, "hello")
    billing = Queue.objects.create(name="Billing")
    billing.members.add(agent)  # still open in one of the agent's queues after the transfer
    response = client.post(url("transfer", conversation.pk), {"target": f"queue:{billing.pk}"})
    assert response["Location"] == url("dashboard")
    conversation.refresh_from_db()
    assert conversation.queue == billing
    refused = client.post(url("transfer", conversation.pk), {"target": ""}, **JSON)
    assert refused.json()["detail"] == "Transfer to a queue or to an agent (one of them)."
    bob = staff("bob")
    outside = client.post(url("transfer", conversation.pk), {"target": f"agent:{bob.pk}"}, **JSON)
    assert outside.json()["error"] == "not_in_queue" and "not a member of the queue Billing" in \
        outside.json()["detail"]
    billing.members.add(bob)
    client.post(url("transfer", conversation.pk), {"target": f"agent:{bob.pk}"})
    conversation.refresh_from_db()
    assert (conversation.agent, conversation.state) == (bob, ConversationState.ACTIVE)


def test_wait_and_resume(client, agent, sandbox_account, receive):
    conversation = receive(sandbox_account, "hello")
    client.post(url("take", conversation.pk))
    client.post(url("wait", conversation.pk))
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.WAITING
    client.post(url("resume", conversation.pk))
    conversation.refresh_from_db()
    assert (conversation.state, conversation.agent) == (ConversationState.ACTIVE, agent)


def test_retry_a_failed_message(client, agent, sandbox_account, receive, django_capture_on_commit_callbacks):
    conversation = receive(sandbox_account, "hello")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url("reply", conversation.pk), {"body": "Sorry for the wait"}, **JSON)
    message = Message.objects.get(direction=Direction.OUTBOUND)
    refused = client.post(url("retry", conversation.pk, message.pk), **JSON)
    assert refused.status_code == 409 and refused.json()["detail"] == "The message is sent, not failed."
    Message.objects.filter(pk=message.pk).update(status=MessageStatus.FAILED, error_code="30003")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("retry", conversation.pk, message.pk), **JSON)
    assert response.status_code == 200, response.content
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and sandbox.outbox[-1]["body"] == "Sorry for the wait"


def test_stored_attachments_are_served_to_agents_only_as_downloads_unless_images(client, agent, sandbox_account,
                                                                                  receive):
    conversation = receive(sandbox_account, "see attached")
    message = Message.objects.get(direction=Direction.INBOUND)
    page = Attachment(message=message, url="https://example.com/x", content_type="text/html",
                      state=AttachmentState.STORED)
    page.file.save("x.html", ContentFile(b"<script>alert(1)</script>"))
    image = Attachment(message=message, url="https://example.com/y", content_type="image/png",
                       state=AttachmentState.STORED)
    image.file.save("y.png", ContentFile(b"\x89PNG"))
    text = client.get(url("conversation", conversation.pk)).content.decode()
    assert f'<img src="{url("attachment", image.pk)}"' in text and f'href="{url("attachment", page.pk)}"' in text

    html = client.get(url("attachment", page.pk))
    assert html["Content-Type"] == "application/octet-stream"
    assert html["Content-Disposition"].startswith("attachment")
    png = client.get(url("attachment", image.pk))
    assert png["Content-Type"] == "image/png" and png["Content-Disposition"].startswith("inline")
    client.logout()
    assert client.get(url("attachment", image.pk)).status_code == 302


def test_a_username_only_customer_shows_their_name_and_that_no_phone_number_is_known(client, agent,
                                                                                    sandbox_account, receive):
    conversation = receive(sandbox_account, "Hi, I hide my number", sender="US.13491208655302741918",
                           name="ana.travels")
    Conversation.objects.filter(pk=conversation.pk).update(agent=agent, state=ConversationState.ACTIVE)
    text = client.get(url("conversation", conversation.pk)).content.decode()
    assert "ana.travels" in text
    assert "No phone number known: the customer writes on WhatsApp with a username." in text
    assert "US.13491208655302741918" in text and 'href="tel:' not in text
