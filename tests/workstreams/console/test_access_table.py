"""Role × action through the agent console: its pages and form posts, answered with the forbidden page (403),
a 404 for a conversation the user may not see, the admin login for non-staff, and nothing changed when refused."""

import pytest
from django.urls import reverse

from tests.workstreams.access_table import (
    HIDDEN,
    OK,
    QUEUES,
    ROLES,
    SERVICE,
    WRITES,
    cases,
    failed_message,
    snapshot,
    stored_attachment,
)


def url(name, *args):
    return reverse(f"console:{name}", args=args)


def _request(client, world, action, conversation, attachment):
    pk = conversation.pk
    if action in ("read", "routing"):
        return client.get(url("conversation", pk))
    if action == "attachment":
        return client.get(url("attachment", attachment.pk))
    if action == "reply":
        return client.post(url("reply", pk), {"body": "It ships today."})
    if action == "template":
        return client.post(url("template", pk), {"template": world.template.pk, f"t{world.template.pk}_var_1": "Ana"})
    if action == "transfer":
        return client.post(url("transfer", pk), {"target": f"queue:{world.billing.pk}"})
    if action == "reassign":
        return client.post(url("reassign", pk), {"agent": world.tom.pk})
    if action == "force-close":
        return client.post(url("force-close", pk), {"reason": "duplicate"})
    if action == "retry":
        return client.post(url("retry", pk, world.failed.pk))
    if action == "note":
        return client.post(url("note", pk), {"note": "Careful: VIP"})
    if action == "consult":
        return client.post(url("consult", pk), {"agent": world.tom.pk})
    if action == "case":
        return client.post(url("case", pk), {"title": "Late parcel"})
    return client.post(url(action, pk))  # take, wait, resume, end, close-now


@pytest.mark.parametrize(("role", "action", "state", "outcome"), cases())
def test_role_action(client, access_world, role, action, state, outcome):
    conversation = access_world.conversation(state)
    access_world.failed = failed_message(conversation)
    attachment = stored_attachment(conversation)
    before = snapshot(conversation)
    client.force_login(access_world.users[role])

    response = _request(client, access_world, action, conversation, attachment)

    if outcome == OK:
        if action in WRITES:
            assert response.status_code == 302 and response["Location"].startswith("/console/"), response
            assert snapshot(conversation) != before
            follow = client.get(response["Location"])
            assert follow.status_code == 200
            assert b'class="flash flash-error' not in follow.content
        else:
            assert response.status_code == 200
            if action == "routing":
                assert "Rule “All” matched" in response.content.decode()
            if action == "attachment":
                assert b"".join(response.streaming_content) == b"\x89PNG parcel"
        return
    if action == "read":
        # Reading leaves a read marker only for those who may read.
        assert snapshot(conversation) == before
    assert snapshot(conversation) == before, "a refused request changed something"
    if outcome == HIDDEN:
        assert response.status_code == 404
        return
    kind, code, *_ = outcome
    if code == "not_staff":
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
        return
    if kind == SERVICE:
        # Access allows it; the service refuses, and the page it goes back to says why.
        assert response.status_code == 302
        page = client.get(response["Location"]).content.decode()
        assert "flash-error" in page
        return
    assert response.status_code == 403
    text = response.content.decode()
    if code == "not_an_agent":
        assert "Your account has no agent profile" in text
    else:
        assert "You may not do that here" in text
        expected = {"not_your_conversation": "You may read conversation", "supervisors_only": "Only a supervisor"}
        assert expected[code] in text


@pytest.mark.parametrize("role", ROLES)
def test_dashboard_queues_and_lists(client, access_world, role):
    conversation = access_world.conversation("active")
    client.force_login(access_world.users[role])
    response = client.get(url("dashboard"))
    expected = QUEUES[role]
    if role == "non-staff":
        assert response.status_code == 302
        return
    if role == "staff-without-profile":
        assert response.status_code == 403 and b"no agent profile" in response.content
        return
    assert response.status_code == 200
    text = response.content.decode()
    for name in ("Support", "Billing", "Default queue"):
        assert (f'<span class="queue-name">{name}</span>' in text) == (name in expected), name
    listed = url("conversation", conversation.pk) in text
    assert listed == (role in ("agent-owner", "supervisor-of-queue", "admin"))


@pytest.mark.parametrize(("role", "buttons"), [
    ("agent-owner", {"wait", "transfer", "end"}),
    ("supervisor-of-queue", {"transfer", "reassign", "force-close"}),
    ("admin", {"transfer", "reassign", "end", "force-close"}),  # "Step away" is for the agent who has it
])
def test_the_conversation_page_shows_only_the_actions_allowed(client, access_world, role, buttons):
    conversation = access_world.conversation("active")
    failed_message(conversation)
    client.force_login(access_world.users[role])
    text = client.get(url("conversation", conversation.pk)).content.decode()
    shown = {name for name in ("take", "resume", "wait", "transfer", "reassign", "end", "force-close")
             if f'data-focus-key="{name}"' in text}
    assert shown == buttons
    assert ('id="reply-form"' in text) == (role != "supervisor-of-queue")
    assert ("js-retry" in text) == (role != "supervisor-of-queue")
    if role == "supervisor-of-queue":
        assert "supervisors monitor, transfer, reassign and force-close" in text  # why there is no reply box


def test_earlier_conversations_beside_the_thread_are_only_those_the_agent_may_see(client, access_world):
    from workstreams.models import Conversation

    earlier = access_world.conversation("active")
    Conversation.objects.filter(pk=earlier.pk).update(state="closed", agent=access_world.tom)
    current = access_world.conversation("active")
    client.force_login(access_world.users["agent-owner"])
    assert url("conversation", earlier.pk) in client.get(url("conversation", current.pk)).content.decode()
    client.force_login(access_world.users["supervisor-elsewhere"])
    access_world.billing.supervisors.add(access_world.users["supervisor-elsewhere"])
    Conversation.objects.filter(pk=current.pk).update(queue=access_world.billing)
    page = client.get(url("conversation", current.pk)).content.decode()
    assert url("conversation", earlier.pk) not in page  # Support's: not theirs to see


def test_json_posts_get_the_api_error_shape(client, access_world):
    conversation = access_world.conversation("active")
    client.force_login(access_world.users["supervisor-of-queue"])
    response = client.post(url("reply", conversation.pk), {"body": "hi"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert response.json()["error"] == "not_your_conversation"
    client.force_login(access_world.users["agent-other-queue"])
    hidden = client.post(url("reply", conversation.pk), {"body": "hi"}, HTTP_ACCEPT="application/json")
    assert (hidden.status_code, hidden.json()["error"]) == (404, "not_found")


def test_a_supervisor_reassigns_and_force_closes_from_the_page(client, access_world):
    conversation = access_world.conversation("active")
    client.force_login(access_world.users["supervisor-of-queue"])
    done = client.post(url("reassign", conversation.pk), {"agent": access_world.tom.pk}, follow=True)
    assert "reassigned to Tom" in done.content.decode()
    assert "Reassigned from ana to tom by sue" in done.content.decode()  # the routing card tells the story
    missing = client.post(url("reassign", conversation.pk), {"agent": ""}, follow=True)
    assert "Choose the agent who gets the conversation." in missing.content.decode()
    closed = client.post(url("force-close", conversation.pk), {"reason": "spam"}, follow=True)
    text = closed.content.decode()
    assert f"Conversation #{conversation.pk} is closed." in text
    assert "Closed: force-closed by sue: spam" in text
    assert 'data-focus-key="force-close"' not in text
