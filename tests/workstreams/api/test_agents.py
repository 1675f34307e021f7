import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from workstreams.models import Conversation, Queue, RoutingRule, WhatsAppTemplate, Workstream, WorkstreamNumber


@pytest.fixture
def agent(make_agent, support_queue):
    user = make_agent("ana", queues=[support_queue, Queue.objects.get(is_default=True)], presence="available")
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation", "change_conversation"]))
    return user


@pytest.fixture
def api(agent):
    client = APIClient()
    client.force_authenticate(agent)
    return client


@pytest.fixture
def routed(workstream, support_queue):
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    return support_queue


def test_presence_read_and_change(api):
    assert api.get("/api/v1/agents/me/presence/").json() == {"presence": "available", "capacity": 100,
                                                              "free_capacity": 100}
    response = api.put("/api/v1/agents/me/presence/", {"presence": "away"}, format="json")
    assert response.status_code == 200 and response.json()["presence"] == "away"
    bad = api.put("/api/v1/agents/me/presence/", {"presence": "napping"}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "presence"


def test_a_user_without_an_agent_profile_is_told_so(db, django_user_model):
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("clerk", is_staff=True))
    response = client.get("/api/v1/agents/me/presence/")
    assert response.status_code == 403
    assert response.json()["error"] == "not_an_agent" and "no agent profile" in response.json()["detail"]


def test_pick_next_and_take(api, routed, workstream, receive, sandbox_account):
    workstream.distribution_mode = "pick"
    workstream.save()
    first = receive(sandbox_account, "a", sender="+15550000001")
    second = receive(sandbox_account, "b", sender="+15550000002")
    api.put("/api/v1/agents/me/presence/", {"presence": "offline"}, format="json")
    offline = api.post("/api/v1/agents/me/pick/")
    assert (offline.status_code, offline.json()["error"]) == (409, "agent_not_present")  # Offline takes no work
    api.put("/api/v1/agents/me/presence/", {"presence": "available"}, format="json")
    picked = api.post("/api/v1/agents/me/pick/")
    assert picked.status_code == 200 and picked.json()["id"] == first.pk and picked.json()["agent"] == "ana"
    taken = api.post(f"/api/v1/conversations/{second.pk}/take/")
    assert taken.status_code == 200 and taken.json()["state"] == "active"
    empty = api.post("/api/v1/agents/me/pick/")
    assert (empty.status_code, empty.json()["error"]) == (409, "queue_empty")


def test_transfer_and_routing_diagnosis(api, agent, routed, receive, sandbox_account, make_agent):
    other = Queue.objects.create(name="Escalations")
    other.members.add(agent)  # the conversation stays within reach after moving there
    make_agent("bob", queues=[other])
    conversation = receive(sandbox_account, "hello")
    routing = api.get(f"/api/v1/conversations/{conversation.pk}/routing/").json()
    assert routing["queue"] == "Support" and routing["rule"] == "All"
    moved = api.post(f"/api/v1/conversations/{conversation.pk}/transfer/", {"queue": other.pk}, format="json")
    assert moved.status_code == 200 and moved.json()["queue"] == "Escalations"
    neither = api.post(f"/api/v1/conversations/{conversation.pk}/transfer/", {}, format="json")
    assert (neither.status_code, neither.json()["error"]) == (400, "transfer_target")
    unknown = api.post(f"/api/v1/conversations/{conversation.pk}/transfer/", {"agent": "nobody"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["field"] == "agent"
    to_agent = api.post(f"/api/v1/conversations/{conversation.pk}/transfer/", {"agent": "bob"}, format="json")
    assert to_agent.json()["agent"] == "bob"
    # Now Bob's: out of this agent's reach.
    assert api.get(f"/api/v1/conversations/{conversation.pk}/").status_code == 404


def test_wait_and_resume(api, agent, routed, receive, sandbox_account):
    conversation = receive(sandbox_account, "hello")
    api.post(f"/api/v1/conversations/{conversation.pk}/take/")
    assert api.post(f"/api/v1/conversations/{conversation.pk}/wait/").json()["state"] == "waiting"
    assert api.post(f"/api/v1/conversations/{conversation.pk}/resume/").json()["state"] == "active"
    again = api.post(f"/api/v1/conversations/{conversation.pk}/resume/")
    assert (again.status_code, again.json()["error"]) == (409, "not_waiting")


def test_template_send(api, twilio_whatsapp_account, receive, mocked_http):
    from tests.conftest import TWILIO_ACCOUNT_SID

    ws = Workstream.objects.create(name="WA", channel="whatsapp")
    number = WorkstreamNumber.objects.create(workstream=ws, phone_number=twilio_whatsapp_account.numbers.get())
    template = WhatsAppTemplate.objects.create(number=number, name="hello", text="Hi {{1}}",
                                               content_sid="HX" + "e" * 32)
    mocked_http.post(f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json", status=201,
                     json={"sid": "SM" + "8" * 32, "status": "queued"})
    conversation = receive(twilio_whatsapp_account, "hi")
    response = api.post(f"/api/v1/conversations/{conversation.pk}/template/",
                        {"template": template.pk, "variables": {"1": "Ana"}}, format="json")
    assert response.status_code == 201 and response.json()["body"] == "Hi Ana"
    assert response.json()["kind"] == "template"


def test_queues_with_counts(api, routed, receive, sandbox_account):
    receive(sandbox_account, "hello")
    queues = {q["name"]: q for q in api.get("/api/v1/queues/").json()["results"]}
    assert queues["Support"]["waiting"] == 1
    assert Conversation.objects.count() == 1


def test_offers_listed_accepted_and_declined(api, agent, routed, workstream, receive, sandbox_account):
    from workstreams.services import assignment_cycle

    workstream.offers_enabled = True
    workstream.save()
    first = receive(sandbox_account, "a", sender="+15550000001")
    second = receive(sandbox_account, "b", sender="+15550000002")
    assignment_cycle()
    offers = api.get("/api/v1/agents/me/offers/").json()
    assert [o["conversation"] for o in offers] == [first.pk, second.pk] and offers[0]["queue"] == "Support"
    accepted = api.post(f"/api/v1/agents/me/offers/{offers[0]['id']}/accept/")
    assert accepted.status_code == 200 and (accepted.json()["id"], accepted.json()["state"]) == (first.pk, "active")
    declined = api.post(f"/api/v1/agents/me/offers/{offers[1]['id']}/decline/")
    assert declined.status_code == 200 and declined.json()["state"] == "declined"
    again = api.post(f"/api/v1/agents/me/offers/{offers[1]['id']}/accept/")
    assert (again.status_code, again.json()["error"]) == (409, "offer_answered")
    assert api.post("/api/v1/agents/me/offers/999999/accept/").status_code == 404
