"""The inbox's tabs, filters and search (PostgreSQL full-text search, or the substring fallback on SQLite),
always cut to what the user may see; and the contact page's history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from channels_app.models import Direction, Message, MessageKind, MessageStatus
from config.exceptions import ServiceError
from workstreams.models import Conversation, ConversationState, Queue, RoutingRule
from workstreams.services.inbox import (
    InboxFilters,
    Tab,
    contact_history,
    full_text_search_available,
    inbox_conversations,
    inbox_counts,
    inbox_filters_parse,
)


@pytest.fixture
def world(db, make_agent, support_queue, workstream, sandbox_account, receive):
    """Ana in Support with one active conversation, one waiting, one in wrap-up, one recently closed and one
    closed long ago; two open in Support; one open in Billing (not hers)."""
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    ana = make_agent("ana", queues=[support_queue], presence="offline")
    ana.is_staff = True
    ana.save()
    from django.contrib.auth.models import Permission

    ana.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation", "change_conversation"]))
    made = {}
    for key, text, sender in [("active", "Where is my parcel?", "+15550000001"),
                              ("waiting", "I will check the invoice", "+15550000002"),
                              ("wrap_up", "Thanks, solved", "+15550000003"),
                              ("closed", "The refund arrived", "+15550000004"),
                              ("old", "An old refund question", "+15550000005"),
                              ("open1", "Do you ship to Lisbon?", "+15550000006"),
                              ("open2", "Hola, necesito ayuda", "+15550000007"),
                              ("billing", "Refund for my parcel please", "+15550000008")]:
        made[key] = receive(sandbox_account, text, sender=sender, name=f"Customer {key}")
    now = timezone.now()
    Conversation.objects.filter(pk=made["active"].pk).update(agent=ana, state=ConversationState.ACTIVE)
    Conversation.objects.filter(pk=made["waiting"].pk).update(agent=ana, state=ConversationState.WAITING)
    Conversation.objects.filter(pk=made["wrap_up"].pk).update(agent=ana, state=ConversationState.WRAP_UP, ended_at=now)
    Conversation.objects.filter(pk=made["closed"].pk).update(agent=ana, state=ConversationState.CLOSED, closed_at=now)
    Conversation.objects.filter(pk=made["old"].pk).update(agent=ana, state=ConversationState.CLOSED,
                                                          closed_at=now - timedelta(days=45))
    Conversation.objects.filter(pk=made["billing"].pk).update(queue=Queue.objects.create(name="Billing"))
    return ana, {k: v.pk for k, v in made.items()}


def ids(user, **filters):
    return set(inbox_conversations(user=user, filters=InboxFilters(**filters)).values_list("pk", flat=True))


def test_each_tab_holds_what_its_name_says(world):
    ana, c = world
    assert ids(ana, tab=Tab.MINE) == {c["active"], c["waiting"]}
    assert ids(ana, tab=Tab.UNASSIGNED) == {c["open1"], c["open2"]}  # Billing is not her queue
    assert ids(ana, tab=Tab.WAITING) == {c["waiting"]}
    assert ids(ana, tab=Tab.WRAP_UP) == {c["wrap_up"]}
    assert ids(ana, tab=Tab.CLOSED) == {c["closed"]}  # "recently": not the one closed 45 days ago
    assert inbox_counts(user=ana) == {"mine": 2, "unassigned": 2, "waiting": 1, "wrap_up": 1, "closed": 1}


def test_search_finds_message_text_and_customers_but_only_what_the_user_may_see(world):
    ana, c = world
    assert ids(ana, tab=Tab.ALL, query="refund") == {c["closed"], c["old"]}  # not Billing's, which she cannot see
    assert ids(ana, tab=Tab.ALL, query="parcel") == {c["active"]}
    assert ids(ana, tab=Tab.ALL, query="Customer open2") == {c["open2"]}  # the customer's name
    assert ids(ana, tab=Tab.ALL, query="0000006") == {c["open1"]}  # part of the number
    assert ids(ana, tab=Tab.UNASSIGNED, query="lisbon") == {c["open1"]}  # any case
    assert ids(ana, tab=Tab.MINE, query="nothing like this") == set()


def test_search_ignores_proactive_messages_outside_conversations(world, sandbox_account):
    ana, c = world
    phone = sandbox_account.numbers.get()
    conversation = Conversation.objects.get(pk=c["active"])
    Message.objects.create(account=sandbox_account, phone_number=phone, contact=conversation.contact,
                           provider="sandbox", channel=phone.channel, direction=Direction.OUTBOUND,
                           kind=MessageKind.OUTBOUND, body="Your zebra order shipped", status=MessageStatus.SENT)
    assert ids(ana, tab=Tab.ALL, query="zebra") == set()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL full-text search")
def test_on_postgresql_search_is_by_words_with_the_websearch_syntax(world):
    ana, c = world
    assert full_text_search_available()
    assert ids(ana, tab=Tab.ALL, query="refund -old") == {c["closed"]}
    assert ids(ana, tab=Tab.ALL, query='"refund arrived"') == {c["closed"]}
    assert ids(ana, tab=Tab.ALL, query="efun") == set()  # words, not substrings of message text
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'workstreams_message_body_search'")
        assert "gin" in cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the fallback where there is no full-text search")
def test_elsewhere_search_is_a_substring_match(world):
    ana, c = world
    assert not full_text_search_available()
    assert ids(ana, tab=Tab.ALL, query="efun") == {c["closed"], c["old"]}


def test_filters_by_channel_number_queue_and_state(world, sandbox_account, support_queue):
    ana, c = world
    number = sandbox_account.numbers.get()
    assert ids(ana, tab=Tab.ALL, channel="whatsapp") == set()
    assert ids(ana, tab=Tab.ALL, channel="sms", state="waiting") == {c["waiting"]}
    assert ids(ana, tab=Tab.ALL, number=number.pk, queue=support_queue.pk, state="open") == {c["open1"], c["open2"]}


@pytest.mark.parametrize(("params", "field"), [
    ({"tab": "everything"}, "tab"), ({"channel": "fax"}, "channel"), ({"state": "sleeping"}, "state"),
    ({"number": "one"}, "number"), ({"queue": "-1"}, "queue"), ({"q": "x" * 201}, "q"), ({"q": "a\x00b"}, "q"),
])
def test_bad_filters_are_refused_naming_the_parameter(params, field):
    with pytest.raises(ServiceError) as refused:
        inbox_filters_parse(params)
    assert refused.value.field == field


def test_the_contact_page_shows_the_customers_conversations_the_user_may_see(world, make_agent):
    ana, c = world
    closed = Conversation.objects.get(pk=c["closed"])
    history = contact_history(user=ana, contact_id=closed.contact_id)
    assert [x.pk for x in history.conversations] == [closed.pk]
    billing_contact = Conversation.objects.get(pk=c["billing"]).contact_id
    assert contact_history(user=ana, contact_id=billing_contact) is None  # none she may see: no page
    assert contact_history(user=ana, contact_id=999_999) is None
