"""The inbox: conversations by tab (mine, unassigned in my queues, waiting, wrap-up, recently closed), filtered
by channel, number, queue and state, and searched over message text and the customer's name and number.

Search uses PostgreSQL full-text search where the database is PostgreSQL (``to_tsvector('simple', body)``,
served by the GIN index of migration 0009; the words as typed, ``websearch_to_tsquery`` syntax: quotes for
a phrase, ``-word`` to exclude) and a plain case-insensitive substring match elsewhere (SQLite). Every list
is cut to what ``workstreams.services.access`` lets the user see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_app.models import Channel, Contact, Direction, Message, PhoneNumber
from config.exceptions import ServiceError
from workstreams.models import Conversation, ConversationState

from .access import conversations_visible_to, queues_visible_to, user_roles

#: How far back "recently closed" looks.
RECENTLY_CLOSED = timedelta(days=30)
SEARCH_MAX_LENGTH = 200


class Tab(StrEnum):
    MINE = "mine"
    UNASSIGNED = "unassigned"
    WAITING = "waiting"
    WRAP_UP = "wrap_up"
    CLOSED = "closed"
    ALL = "all"


TAB_LABELS = {
    Tab.MINE: gettext_lazy("Mine"),
    Tab.UNASSIGNED: gettext_lazy("Unassigned in my queues"),
    Tab.WAITING: gettext_lazy("Waiting"),
    Tab.WRAP_UP: gettext_lazy("Wrap-up"),
    Tab.CLOSED: gettext_lazy("Recently closed"),
    Tab.ALL: gettext_lazy("All I can see"),
}


@dataclass(frozen=True)
class InboxFilters:
    tab: Tab = Tab.MINE
    channel: str = ""
    number: int | None = None
    queue: int | None = None
    state: str = ""
    query: str = ""


def _int_or_none(value: str, name: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise ServiceError(_("%(name)s=%(value)r is not an id (a whole number).") % {"name": name, "value": value},
                           code="invalid", field=name)
    return int(value)


def inbox_filters_parse(params: Any) -> InboxFilters:
    """The inbox's query parameters as filters, or the ServiceError naming the bad one."""
    tab = params.get("tab") or Tab.MINE
    if tab not in Tab.__members__.values():
        raise ServiceError(_("tab=%(value)r is not a tab; use one of: %(choices)s.")
                           % {"value": tab, "choices": ", ".join(Tab)}, code="invalid", field="tab")
    channel = params.get("channel") or ""
    if channel and channel not in Channel.values:
        raise ServiceError(_("channel=%(value)r is not a channel; use one of: %(choices)s.")
                           % {"value": channel, "choices": ", ".join(Channel.values)}, code="invalid",
                           field="channel")
    state = params.get("state") or ""
    if state and state not in ConversationState.values:
        raise ServiceError(_("state=%(value)r is not a state; use one of: %(choices)s.")
                           % {"value": state, "choices": ", ".join(ConversationState.values)}, code="invalid",
                           field="state")
    query = (params.get("q") or "").strip()
    if len(query) > SEARCH_MAX_LENGTH:
        raise ServiceError(_("The search is %(length)d characters; at most %(limit)d.")
                           % {"length": len(query), "limit": SEARCH_MAX_LENGTH}, code="invalid", field="q")
    if "\x00" in query:
        raise ServiceError(_("The search contains a NUL character; remove it."), code="invalid", field="q")
    return InboxFilters(tab=Tab(tab), channel=channel, number=_int_or_none(params.get("number") or "", "number"),
                        queue=_int_or_none(params.get("queue") or "", "queue"), state=state, query=query)


def full_text_search_available() -> bool:
    return connection.vendor == "postgresql"


def messages_matching(query: str) -> QuerySet[Message]:
    """Messages whose text matches ``query``: full-text on PostgreSQL, a substring elsewhere."""
    if full_text_search_available():
        table = Message._meta.db_table
        # The query is a bound parameter; the table name is the model's own.
        sql = (f"SELECT id FROM {table} WHERE to_tsvector('simple'::regconfig, COALESCE(body, '')) "  # noqa: S608
               "@@ websearch_to_tsquery('simple'::regconfig, %s)")
        ids = RawSQL(sql, (query,))  # noqa: S611
        return Message.objects.filter(pk__in=ids)
    return Message.objects.filter(body__icontains=query)


def conversations_search(query: str, queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Of ``queryset``, the conversations with a message matching ``query``, or whose customer's name or number
    contains it."""
    digits = "".join(ch for ch in query if ch.isdigit())
    customer = Q(contact__display_name__icontains=query) | Q(contact__address__icontains=query)
    if len(digits) >= 3:
        customer |= Q(contact__address__contains=digits)
    in_text = Q(pk__in=messages_matching(query).filter(conversation_link__isnull=False)
                .values("conversation_link__conversation_id"))
    return queryset.filter(customer | in_text)


def _tab(filters: InboxFilters, user: Any, queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
    tab = filters.tab
    if tab == Tab.MINE:
        return queryset.filter(agent=user, state__in=[ConversationState.ACTIVE, ConversationState.WAITING])
    if tab == Tab.UNASSIGNED:
        return queryset.filter(state=ConversationState.OPEN, agent__isnull=True, with_bot=False,
                               queue__in=queues_visible_to(user))
    if tab == Tab.WAITING:
        return queryset.filter(state=ConversationState.WAITING)
    if tab == Tab.WRAP_UP:
        return queryset.filter(state=ConversationState.WRAP_UP)
    if tab == Tab.CLOSED:
        return queryset.filter(state=ConversationState.CLOSED, closed_at__gte=timezone.now() - RECENTLY_CLOSED)
    return queryset


def inbox_conversations(*, user: Any, filters: InboxFilters,
                        queryset: QuerySet[Conversation] | None = None) -> QuerySet[Conversation]:
    """The conversations of one tab, filtered and searched, newest activity first; only those ``user`` may see."""
    queryset = conversations_visible_to(user, queryset)
    queryset = _tab(filters, user, queryset)
    if filters.channel:
        queryset = queryset.filter(channel=filters.channel)
    if filters.number is not None:
        queryset = queryset.filter(phone_number_id=filters.number)
    if filters.queue is not None:
        queryset = queryset.filter(queue_id=filters.queue)
    if filters.state:
        queryset = queryset.filter(state=filters.state)
    if filters.query:
        queryset = conversations_search(filters.query, queryset)
    if filters.tab == Tab.UNASSIGNED:
        return queryset.order_by("-queue__priority", "queued_at", "id")
    return queryset.order_by("-last_message_at", "-id")


def inbox_counts(*, user: Any) -> dict[str, int]:
    """How many conversations each tab holds (no filters)."""
    return {tab.value: inbox_conversations(user=user, filters=InboxFilters(tab=tab)).count()
            for tab in Tab if tab != Tab.ALL}


def inbox_choices(*, user: Any) -> dict[str, list[Any]]:
    """What the filters offer: the channels, the numbers and queues of conversations in the user's reach."""
    visible = conversations_visible_to(user)
    roles = user_roles(user)
    numbers = PhoneNumber.objects.all() if roles.admin else \
        PhoneNumber.objects.filter(pk__in=visible.values("phone_number_id"))
    return {"channels": list(Channel.choices), "numbers": list(numbers.order_by("number")),
            "queues": list(queues_visible_to(user).order_by("-priority", "name")),
            "states": list(ConversationState.choices)}


# --- The contact page ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactHistory:
    contact: Contact
    conversations: list[Conversation]
    outbound: list[Message]  # proactive messages sent outside any conversation


def contact_history(*, user: Any, contact_id: int) -> ContactHistory | None:
    """A customer's conversations the user may see, and the proactive messages they were sent; None when the
    user may see none of the customer's conversations (nor administers them all)."""
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is None:
        return None
    conversations = list(conversations_visible_to(user, Conversation.objects.filter(contact=contact))
                         .select_related("phone_number", "queue", "agent", "case").order_by("-created_at", "-id"))
    if not conversations and not user_roles(user).admin:
        return None
    outbound = list(Message.objects.filter(contact=contact, direction=Direction.OUTBOUND,
                                           conversation_link__isnull=True)
                    .select_related("phone_number").order_by("-created_at", "-id")[:100])
    return ContactHistory(contact=contact, conversations=conversations, outbound=outbound)
