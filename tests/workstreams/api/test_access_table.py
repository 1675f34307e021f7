"""Role × action through the REST API: status codes, error codes, and nothing changed when refused."""

import pytest
from rest_framework.test import APIClient

from channels_app.models import Message
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
from workstreams.models import Conversation


def _request(api, world, action, conversation):
    base = f"/api/v1/conversations/{conversation.pk}"
    if action == "read":
        first = api.get(f"{base}/")
        return first if first.status_code != 200 else api.get(f"{base}/messages/")
    if action == "reply":
        return api.post(f"{base}/messages/", {"body": "It ships today."}, format="json")
    if action == "template":
        return api.post(f"{base}/template/", {"template": world.template.pk, "variables": {"1": "Ana"}},
                        format="json")
    if action == "transfer":
        return api.post(f"{base}/transfer/", {"queue": world.billing.pk}, format="json")
    if action == "reassign":
        return api.post(f"{base}/reassign/", {"agent": "tom"}, format="json")
    if action == "force-close":
        return api.post(f"{base}/force-close/", {"reason": "duplicate"}, format="json")
    if action == "retry":
        return api.post(f"{base}/messages/{world.failed.pk}/retry/")
    if action == "attachment":  # the API lists it; the file itself is the console's download (file_url)
        return api.get(f"{base}/messages/")
    if action == "routing":
        return api.get(f"{base}/routing/")
    if action == "note":
        return api.post(f"{base}/notes/", {"body": "Careful: VIP"}, format="json")
    if action == "consult":
        return api.post(f"{base}/consult/", {"agent": "tom"}, format="json")
    if action == "case":
        return api.post(f"{base}/case/", {"title": "Late parcel"}, format="json")
    return api.post(f"{base}/{action}/")  # take, wait, resume, end, close-now


SUCCESS = {"reply": 201, "template": 201, "retry": 201, "note": 201}


@pytest.mark.parametrize(("role", "action", "state", "outcome"), cases())
def test_role_action(access_world, role, action, state, outcome):
    conversation = access_world.conversation(state)
    access_world.failed = failed_message(conversation)
    attachment = stored_attachment(conversation)
    before = snapshot(conversation)
    api = APIClient()
    api.force_authenticate(access_world.users[role])

    response = _request(api, access_world, action, conversation)

    if outcome == OK:
        assert response.status_code == SUCCESS.get(action, 200), response.content
        if action in WRITES:
            assert snapshot(conversation) != before
        if action == "attachment":
            files = [a["file_url"] for m in response.json()["results"] for a in m["attachments"]]
            assert files == [f"http://testserver/console/attachments/{attachment.pk}/"]
        return
    assert snapshot(conversation) == before, "a refused request changed something"
    body = response.json()
    if outcome == HIDDEN:
        assert (response.status_code, body) == (404, {"error": "not_found",
                                                      "detail": "No Conversation matches the given query."})
        return
    kind, code, *status = outcome
    assert (response.status_code, body["error"]) == (status[0] if kind == SERVICE else 403, code), body
    assert body["detail"]  # says why, in words


def test_a_hidden_conversation_answers_like_one_that_does_not_exist(access_world):
    conversation = access_world.conversation("active")
    api = APIClient()
    api.force_authenticate(access_world.users["agent-other-queue"])
    hidden = api.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "hi"}, format="json")
    missing = api.post(f"/api/v1/conversations/{conversation.pk + 1000}/messages/", {"body": "hi"}, format="json")
    assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())


@pytest.mark.parametrize("role", ROLES)
def test_the_conversation_list_holds_only_what_the_role_may_see(access_world, role):
    mine = access_world.conversation("active")  # Ana's, in Support
    api = APIClient()
    api.force_authenticate(access_world.users[role])
    response = api.get("/api/v1/conversations/")
    expected = {"agent-owner": [mine.pk], "supervisor-of-queue": [mine.pk], "admin": [mine.pk]}
    if role in ("staff-without-profile", "non-staff"):
        assert response.status_code == 403
        return
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == expected.get(role, [])


@pytest.mark.parametrize("role", ROLES)
def test_queues_list(access_world, role):
    api = APIClient()
    api.force_authenticate(access_world.users[role])
    response = api.get("/api/v1/queues/")
    expected = QUEUES[role]
    if isinstance(expected, tuple):
        assert (response.status_code, response.json()["error"]) == (403, expected[1])
        return
    assert response.status_code == 200
    assert {q["name"] for q in response.json()["results"]} == expected


@pytest.mark.parametrize(("role", "status"), [("agent-owner", 200), ("agent-same-queue", 200),
                                              ("agent-other-queue", 409), ("supervisor-of-queue", 403),
                                              ("admin", 403), ("staff-without-profile", 403), ("non-staff", 403)])
def test_pick(access_world, role, status):
    conversation = access_world.conversation("open")
    before = snapshot(conversation)
    api = APIClient()
    api.force_authenticate(access_world.users[role])
    response = api.post("/api/v1/agents/me/pick/")
    assert response.status_code == status, response.content
    if status == 200:
        assert response.json()["id"] == conversation.pk
    else:
        assert snapshot(conversation) == before
        assert response.json()["error"] in ("queue_empty", "not_an_agent", "not_staff")


def test_an_agent_reads_the_history_of_a_customer_they_serve_but_acts_only_on_their_own(access_world):
    earlier = access_world.conversation("active")
    # An earlier conversation of the same customer, now closed, that Tom handled in Billing.
    Conversation.objects.filter(pk=earlier.pk).update(state="closed", agent=access_world.tom,
                                                      queue=access_world.billing)
    current = access_world.conversation("active")  # Ana's
    ana = APIClient()
    ana.force_authenticate(access_world.users["agent-owner"])
    assert ana.get(f"/api/v1/conversations/{earlier.pk}/messages/").status_code == 200
    before = snapshot(earlier)
    refused = ana.post(f"/api/v1/conversations/{earlier.pk}/transfer/", {"queue": access_world.support.pk},
                       format="json")
    assert (refused.status_code, refused.json()["error"]) == (403, "not_your_conversation")
    assert refused.json()["detail"].startswith(f"You may read conversation #{earlier.pk} but not transfer it (it "
                                               "is assigned to Tom)")
    assert snapshot(earlier) == before
    assert sorted(c["id"] for c in ana.get("/api/v1/conversations/").json()["results"]) == \
        sorted([earlier.pk, current.pk])
    # Once Ana no longer serves the customer, their history is out of her reach again.
    Conversation.objects.filter(pk=current.pk).update(state="closed")
    assert ana.get(f"/api/v1/conversations/{earlier.pk}/").status_code == 404
    assert ana.get(f"/api/v1/conversations/{current.pk}/").status_code == 200  # assigned to her: hers to read


def test_token_clients_get_the_same_answers(access_world):
    from rest_framework.authtoken.models import Token

    conversation = access_world.conversation("active")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=access_world.users['non-staff']).key}")
    response = api.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "hi"}, format="json")
    assert (response.status_code, response.json()["error"]) == (403, "not_staff")
    assert "Staff status" in response.json()["detail"]
    assert not Message.objects.filter(conversation_link__conversation=conversation, direction="outbound").exists()


def test_supervisor_actions_are_recorded(access_world):
    conversation = access_world.conversation("active")
    api = APIClient()
    api.force_authenticate(access_world.users["supervisor-of-queue"])
    moved = api.post(f"/api/v1/conversations/{conversation.pk}/reassign/", {"agent": "tom"}, format="json")
    assert moved.status_code == 200 and moved.json()["agent"] == "tom" and moved.json()["state"] == "active"
    again = api.post(f"/api/v1/conversations/{conversation.pk}/reassign/", {"agent": "tom"}, format="json")
    assert (again.status_code, again.json()["error"]) == (409, "already_assigned")
    nobody = api.post(f"/api/v1/conversations/{conversation.pk}/reassign/", {"agent": "stan"}, format="json")
    assert (nobody.status_code, nobody.json()["error"]) == (403, "not_an_agent")  # no agent profile to give it to
    closed = api.post(f"/api/v1/conversations/{conversation.pk}/force-close/", {"reason": "spam"}, format="json")
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    diagnosis = closed.json()["routing_diagnosis"]
    assert diagnosis["transfers"][-1] | {"at": None} == {"at": None, "by": "sue", "to_agent": "tom",
                                                         "reassigned": True, "from_agent": "ana"}
    assert diagnosis["closed"] == "force-closed by sue: spam"
    twice = api.post(f"/api/v1/conversations/{conversation.pk}/force-close/")
    assert (twice.status_code, twice.json()["error"]) == (409, "conversation_closed")
    # Still within the supervisor's reach after closing: it is still in Support.
    assert api.get(f"/api/v1/conversations/{conversation.pk}/").status_code == 200
    too_long = api.post(f"/api/v1/conversations/{conversation.pk}/force-close/", {"reason": "x" * 301},
                        format="json")
    assert too_long.status_code == 400 and too_long.json()["field"] == "reason"


@pytest.mark.parametrize("body", [{"reason": "a\u0000b"}, {"reason": ["x"]}, {"reason": {"x": 1}}])
def test_force_close_refuses_a_reason_it_cannot_keep(access_world, body):
    conversation = access_world.conversation("active")
    api = APIClient()
    api.force_authenticate(access_world.users["admin"])
    before = snapshot(conversation)
    response = api.post(f"/api/v1/conversations/{conversation.pk}/force-close/", body, format="json")
    assert response.status_code == 400 and response.json()["field"] == "reason"
    assert snapshot(conversation) == before


@pytest.mark.parametrize("body", [{}, {"agent": 17}, {"agent": ["tom"]}, {"agent": "nobody"}])
def test_reassign_refuses_a_target_that_is_not_an_agent_name(access_world, body):
    conversation = access_world.conversation("active")
    api = APIClient()
    api.force_authenticate(access_world.users["supervisor-of-queue"])
    before = snapshot(conversation)
    response = api.post(f"/api/v1/conversations/{conversation.pk}/reassign/", body, format="json")
    assert response.status_code == 400 and response.json()["field"] == "agent"
    assert snapshot(conversation) == before


def test_a_workstream_supervisor_sees_its_conversations_in_any_queue(access_world, django_user_model):
    from tests.workstreams.conftest import supervisors_group

    lead = django_user_model.objects.create_user("lead", is_staff=True)
    lead.groups.add(supervisors_group())
    access_world.workstream.supervisors.add(lead)
    conversation = access_world.conversation("active")
    api = APIClient()
    api.force_authenticate(lead)
    assert api.post(f"/api/v1/conversations/{conversation.pk}/transfer/", {"queue": access_world.billing.pk},
                    format="json").status_code == 200
    assert api.get(f"/api/v1/conversations/{conversation.pk}/routing/").json()["queue"] == "Billing"
    # Without the permission the assignment alone gives nothing.
    lead.groups.clear()
    lead = django_user_model.objects.get(pk=lead.pk)
    api.force_authenticate(lead)
    assert api.get(f"/api/v1/conversations/{conversation.pk}/").status_code == 403
    assert api.get("/api/v1/conversations/").json()["error"] == "not_an_agent"
