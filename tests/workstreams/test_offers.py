"""Offers in push mode: accept, decline (next agent; not again after N declines), timeout, Away after K missed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.exceptions import ServiceError
from workstreams.models import AgentProfile, Conversation, ConversationState, Offer, OfferState, RoutingRule
from workstreams.services import agent_presence_set, assignment_cycle, conversation_take
from workstreams.services.distribution import (
    capacity_used,
    offer_accept,
    offer_decline,
    offers_expire_due,
    offers_pending_for,
)


@pytest.fixture
def offering(workstream, support_queue):
    workstream.offers_enabled = True
    workstream.offer_timeout = 60
    workstream.save()
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    return support_queue


def pending(conversation):
    return Offer.objects.get(conversation=conversation, state=OfferState.PENDING)


def time_passes(offer):
    """The offer's time is up (as if its minute had passed)."""
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def test_an_offer_holds_capacity_and_accepting_assigns(offering, receive, sandbox_account, make_agent):
    ana = make_agent("ana", queues=[offering], capacity=50)  # room for one conversation of 50
    first = receive(sandbox_account, "hi", sender="+15550000001")
    receive(sandbox_account, "hi", sender="+15550000002")
    assert assignment_cycle() == 1
    offer = pending(first)
    first.refresh_from_db()
    assert (first.state, first.agent) == (ConversationState.OPEN, None)  # still in the queue until accepted
    assert offer.agent == ana and (offer.expires_at - offer.created_at) == timedelta(seconds=60)
    assert capacity_used([ana.pk])[ana.pk] == 50  # the second is not offered: the offer holds the room
    assert [o.pk for o in offers_pending_for(ana)] == [offer.pk]
    accepted = offer_accept(offer_id=offer.pk, user=ana)
    assert (accepted.state, accepted.agent) == (ConversationState.ACTIVE, ana)
    assert Offer.objects.get(pk=offer.pk).state == OfferState.ACCEPTED
    assert capacity_used([ana.pk])[ana.pk] == 50
    with pytest.raises(ServiceError) as again:
        offer_accept(offer_id=offer.pk, user=ana)
    assert again.value.code == "offer_answered"


def test_a_declined_offer_goes_to_the_next_agent(offering, receive, sandbox_account, make_agent):
    ana = make_agent("ana", queues=[offering])
    bob = make_agent("bob", queues=[offering])
    conversation = receive(sandbox_account, "hi")
    assignment_cycle()
    first = pending(conversation)
    offer_decline(offer_id=first.pk, user=first.agent)
    assignment_cycle()
    second = pending(conversation)
    assert {first.agent, second.agent} == {ana, bob}
    assert Offer.objects.get(pk=first.pk).state == OfferState.DECLINED


def test_after_n_declines_the_agent_is_not_offered_it_again(offering, receive, sandbox_account, make_agent,
                                                            settings):
    settings.OFFER_MAX_DECLINES = 2
    ana = make_agent("ana", queues=[offering])
    conversation = receive(sandbox_account, "hi")
    for _ in range(2):
        assignment_cycle()
        offer_decline(offer_id=pending(conversation).pk, user=ana)
    assert assignment_cycle() == 0
    assert not Offer.objects.filter(conversation=conversation, state=OfferState.PENDING).exists()
    bob = make_agent("bob", queues=[offering])
    assignment_cycle()
    assert pending(conversation).agent == bob


def test_a_timed_out_offer_goes_to_the_next_agent_and_cannot_be_accepted(offering, receive, sandbox_account,
                                                                          make_agent):
    make_agent("ana", queues=[offering])
    make_agent("bob", queues=[offering])
    conversation = receive(sandbox_account, "hi")
    assignment_cycle()
    first = pending(conversation)
    time_passes(first)
    with pytest.raises(ServiceError) as late:
        offer_accept(offer_id=first.pk, user=first.agent)
    assert late.value.code == "offer_answered" and "timed out" in late.value.message
    assert Offer.objects.get(pk=first.pk).state == OfferState.EXPIRED
    assignment_cycle()
    assert pending(conversation).agent != first.agent


def test_missing_k_offers_in_a_row_sets_the_agent_away_and_says_why(offering, receive, sandbox_account,
                                                                     make_agent, settings):
    settings.OFFER_MISSED_LIMIT = 2
    ana = make_agent("ana", queues=[offering])
    conversation = receive(sandbox_account, "hi")
    assignment_cycle()
    time_passes(pending(conversation))
    assert offers_expire_due() == 1
    assert AgentProfile.objects.get(user=ana).presence == "available"  # one missed: still available
    assignment_cycle()
    time_passes(pending(conversation))
    offers_expire_due()
    profile = AgentProfile.objects.get(user=ana)
    assert profile.presence == "away" and "missed 2 offers in a row" in profile.presence_notice
    assert assignment_cycle() == 0  # Away receives no pushed work
    agent_presence_set(user=ana, presence="available")
    profile.refresh_from_db()
    assert (profile.presence_notice, profile.offers_missed) == ("", 0)
    assert assignment_cycle() == 1


def test_answering_resets_the_missed_count(offering, receive, sandbox_account, make_agent, settings):
    settings.OFFER_MISSED_LIMIT = 2
    ana = make_agent("ana", queues=[offering])
    first = receive(sandbox_account, "hi", sender="+15550000001")
    assignment_cycle()
    time_passes(pending(first))
    offers_expire_due()
    assignment_cycle()
    offer_decline(offer_id=pending(first).pk, user=ana)
    assert AgentProfile.objects.get(user=ana).offers_missed == 0


def test_someone_else_taking_it_withdraws_the_offer(offering, receive, sandbox_account, make_agent):
    make_agent("ana", queues=[offering])
    conversation = receive(sandbox_account, "hi")
    assignment_cycle()
    offer = pending(conversation)
    bob = make_agent("bob", queues=[offering])
    conversation_take(conversation=conversation, user=bob)
    assert Offer.objects.get(pk=offer.pk).state == OfferState.WITHDRAWN
    with pytest.raises(ServiceError, match="withdrawn"):
        offer_accept(offer_id=offer.pk, user=offer.agent)
    assert capacity_used([offer.agent_id]).get(offer.agent_id, 0) == 0


def test_an_agent_cannot_answer_someone_elses_offer(offering, receive, sandbox_account, make_agent):
    make_agent("ana", queues=[offering])
    eve = make_agent("eve", queues=[])
    conversation = receive(sandbox_account, "hi")
    assignment_cycle()
    with pytest.raises(ServiceError) as refused:
        offer_accept(offer_id=pending(conversation).pk, user=eve)
    assert refused.value.http_status == 404


def test_offers_off_assigns_at_once_as_before(routed_without_offers, receive, sandbox_account, make_agent):
    ana = make_agent("ana", queues=[routed_without_offers])
    conversation = receive(sandbox_account, "hi")
    assert assignment_cycle() == 1
    assert Conversation.objects.get(pk=conversation.pk).agent == ana
    assert not Offer.objects.exists()


@pytest.fixture
def routed_without_offers(workstream, support_queue):
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    return support_queue


def test_going_away_withdraws_the_agents_pending_offers(offering, receive, sandbox_account, make_agent):
    ana = make_agent("ana", queues=[offering])
    conversation = receive(sandbox_account, "hi")
    assignment_cycle()
    offer = pending(conversation)
    agent_presence_set(user=ana, presence="away")
    assert Offer.objects.get(pk=offer.pk).state == OfferState.WITHDRAWN
    assert capacity_used([ana.pk]).get(ana.pk, 0) == 0
