"""The console's offers poll (on every page), accept and decline, with and without JavaScript."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from workstreams.models import Offer, OfferState, RoutingRule
from workstreams.services import assignment_cycle

JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def offering(workstream, support_queue):
    workstream.offers_enabled = True
    workstream.save()
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    return support_queue


@pytest.fixture
def ana(client, make_agent, offering):
    user = make_agent("ana", queues=[offering], first_name="Ana")
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation", "change_conversation"]))
    client.force_login(user)
    return user


def test_the_poll_lists_the_offer_and_counts_it_in_the_title(client, ana, workstream, receive, sandbox_account):
    workstream.capacity_per_conversation = 100  # room for one: the second waits, unread, in Ana's queue
    workstream.save()
    receive(sandbox_account, "Where is my parcel?", name="Maria")
    receive(sandbox_account, "hello", sender="+15550000002")
    assert assignment_cycle() == 1
    data = client.get(reverse("console:offers")).json()
    [offer] = data["offers"]
    assert (offer["customer"], offer["preview"]) == ("Maria", "Where is my parcel?")
    assert 0 < offer["expires_in"] <= 60 and offer["timeout"] == 60
    assert (data["unread_total"], data["title_count"]) == (1, 2)  # the waiting one's message, and the offer
    assert data["notice"] == "" and data["presence"] == "available"


def test_accepting_with_javascript_answers_where_to_go(client, ana, receive, sandbox_account):
    conversation = receive(sandbox_account, "hi")
    assignment_cycle()
    offer = Offer.objects.get(conversation=conversation, state=OfferState.PENDING)
    response = client.post(reverse("console:offer-accept", args=[offer.pk]), **JSON)
    assert response.status_code == 200
    assert response.json()["redirect"] == reverse("console:conversation", args=[conversation.pk])
    again = client.post(reverse("console:offer-accept", args=[offer.pk]), **JSON)
    assert again.status_code == 409 and "already answered" in again.json()["detail"]


def test_declining_without_javascript_returns_to_the_dashboard(client, ana, receive, sandbox_account):
    conversation = receive(sandbox_account, "hi")
    assignment_cycle()
    offer = Offer.objects.get(conversation=conversation, state=OfferState.PENDING)
    response = client.post(reverse("console:offer-decline", args=[offer.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("console:dashboard")
    assert Offer.objects.get(pk=offer.pk).state == OfferState.DECLINED


def test_someone_elses_offer_is_not_found(client, ana, receive, sandbox_account, make_agent, offering):
    Offer.objects.create(conversation=receive(sandbox_account, "hi"), agent=make_agent("bob", queues=[offering]),
                         cost=25, expires_at="2999-01-01T00:00:00Z")
    offer = Offer.objects.get(agent__username="bob")
    response = client.post(reverse("console:offer-accept", args=[offer.pk]), **JSON)
    assert response.status_code == 404


def test_every_console_page_of_an_agent_carries_the_offers(client, ana):
    html = client.get(reverse("console:dashboard")).content.decode()
    assert 'id="offers"' in html and "console/offers.js" in html
    assert "Desktop notification and sound on a new offer or message" in html
