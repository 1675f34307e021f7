"""Offers and overflow in a real browser: an offer accepted from the console; one declined and offered to the
next agent, who accepts it; one timing out (the agent is told and set Away); and a conversation left waiting
too long moved by the periodic cycle to another queue, which the dashboard shows without a reload."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from workstreams.models import (
    AgentProfile,
    Conversation,
    ConversationState,
    DistributionMode,
    Offer,
    OfferState,
    OverflowRule,
    Queue,
)
from workstreams.tasks import assignment_cycle_task

from .conftest import LAPTOP, PASSWORD, customer_writes


def offers_on(workstream):
    workstream.offers_enabled = True
    workstream.offer_timeout = 60
    workstream.save()


def offer_card(page, customer):
    return page.locator("#offers .offer", has_text=customer)


def second_agent(browser, hub, django_user_model, queue, username="bob"):
    """Another agent of ``queue``, signed in on a browser of their own."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(username, password=PASSWORD, first_name=username.title(),
                                                 is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation",
                                                                        "change_conversation"]))
    AgentProfile.objects.create(user=user, presence="available")
    queue.members.add(user)
    context = browser.new_context(viewport=LAPTOP, locale="en-US")
    page = context.new_page()
    page.goto(hub.url + "/console/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(hub.url + "/console/")
    return user, page


def test_an_offer_is_accepted_from_the_console(login, whatsapp_account, whatsapp_workstream, agent):
    offers_on(whatsapp_workstream)
    page = login()
    customer_writes(whatsapp_account, "Where is my parcel?", name="Maria")
    card = offer_card(page, "Maria")
    expect(card).to_contain_text("New conversation offered: Maria")
    expect(card).to_contain_text("Where is my parcel?")
    expect(card.locator(".offer-countdown")).to_have_text(re.compile(r"Answer within 0:[0-5]\d|1:00"))
    expect(page).to_have_title(re.compile(r"^\(1\) "))  # the tab counts the offer
    conversation = Conversation.objects.get(contact__display_name="Maria")
    assert (conversation.state, conversation.agent) == (ConversationState.OPEN, None)  # not Ana's until she says

    card.get_by_role("button", name="Accept").click()
    page.wait_for_url(re.compile(rf"/console/conversations/{conversation.pk}/$"))
    expect(page.locator("#conv-state")).to_have_text("Active (with an agent)")
    conversation.refresh_from_db()
    assert (conversation.state, conversation.agent) == (ConversationState.ACTIVE, agent)
    assert Offer.objects.get(conversation=conversation).state == OfferState.ACCEPTED
    expect(page.locator("#offers .offer")).to_have_count(0)


def test_a_declined_offer_is_offered_to_the_next_agent(login, browser, hub, django_user_model, whatsapp_account,
                                                       whatsapp_workstream, support_queue, agent):
    offers_on(whatsapp_workstream)
    page = login()
    bob, bobs_page = second_agent(browser, hub, django_user_model, support_queue)
    customer_writes(whatsapp_account, "Can I change my order?", name="Jonas")
    conversation = Conversation.objects.get(contact__display_name="Jonas")
    assert Offer.objects.get(conversation=conversation, state=OfferState.PENDING).agent == agent  # Ana first

    offer_card(page, "Jonas").get_by_role("button", name="Decline").click()
    expect(offer_card(page, "Jonas")).to_have_count(0)
    expect(page.locator("#announcer")).to_contain_text("it goes to the next agent")

    bobs_card = offer_card(bobs_page, "Jonas")
    expect(bobs_card).to_contain_text("Can I change my order?")
    bobs_card.get_by_role("button", name="Accept").click()
    expect(bobs_page.locator("#conv-state")).to_have_text("Active (with an agent)")
    conversation.refresh_from_db()
    assert conversation.agent == bob
    assert list(conversation.offers.order_by("id").values_list("agent__username", "state")) == [
        ("ana", OfferState.DECLINED), ("bob", OfferState.ACCEPTED)]
    bobs_page.context.close()


def test_an_offer_that_times_out_goes_on_and_the_agent_is_told(login, settings, whatsapp_account,
                                                               whatsapp_workstream, agent):
    settings.OFFER_MISSED_LIMIT = 1
    offers_on(whatsapp_workstream)
    page = login()
    customer_writes(whatsapp_account, "Hello?", name="Lee")
    card = offer_card(page, "Lee")
    expect(card.locator(".offer-countdown")).to_contain_text("Answer within")
    # The minute passes without an answer.
    Offer.objects.filter(state=OfferState.PENDING).update(expires_at=timezone.now() - timedelta(seconds=1))

    expect(card).to_have_count(0)  # the next poll times it out
    expect(page.locator("#offers-error")).to_contain_text("The offer of Lee is no longer yours")
    notice = page.locator("#offers-notice")
    expect(notice).to_contain_text("You missed 1 offer, so your presence was set to Away")
    expect(page.locator("#presence-select")).to_have_value("away")  # the switch shows what the hub set
    profile = AgentProfile.objects.get(user=agent)
    assert profile.presence == "away"
    offer = Offer.objects.get()
    assert offer.state == OfferState.EXPIRED
    assert Conversation.objects.get(pk=offer.conversation_id).state == ConversationState.OPEN  # still waiting

    page.select_option("#presence-select", "available")  # back: the notice goes, the offer comes again
    expect(notice).to_be_hidden()
    expect(offer_card(page, "Lee")).to_be_visible()


def test_overflow_by_wait_time_moves_a_conversation_to_another_queue(login, whatsapp_account, whatsapp_workstream,
                                                                     support_queue, agent):
    whatsapp_workstream.distribution_mode = DistributionMode.PICK  # it waits in the queue for someone to take it
    whatsapp_workstream.save()
    backup = Queue.objects.create(name="Backup")
    backup.members.add(agent)
    OverflowRule.objects.create(queue=support_queue, condition="wait_time", wait_threshold=timedelta(minutes=2),
                                action="transfer", target_queue=backup)
    page = login()
    customer_writes(whatsapp_account, "Is anyone there?", name="Ines")
    waiting = page.locator("section", has=page.get_by_role("heading", name="Waiting in my queues"))
    row = waiting.locator(".conv-row", has_text="Ines")
    expect(row.locator(".conv-when")).to_contain_text("Support")
    conversation = Conversation.objects.get(contact__display_name="Ines")

    Conversation.objects.filter(pk=conversation.pk).update(queued_at=timezone.now() - timedelta(minutes=3))
    assignment_cycle_task()  # as beat runs it

    expect(row.locator(".conv-when")).to_contain_text("Backup")
    conversation.refresh_from_db()
    assert (conversation.queue, conversation.state) == (backup, ConversationState.OPEN)
    row.get_by_role("link").click()
    expect(page.get_by_text(re.compile(r"Overflow from Support \(waited longer than 2 min\): transferred to "
                                       r"Backup"))).to_be_visible()
