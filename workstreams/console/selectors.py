"""Reads for the console's pages: the dashboard's lists with unread counts, and what the conversation
page shows around the thread (window, contact, templates, quick replies, transfer targets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, F, IntegerField, Min, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels_app.models import AttachmentState, Channel, ConsentState, Direction, Message
from channels_app.policy import number_policy
from channels_app.services.consent import consent_state
from channels_app.services.rules import whatsapp_window_closes_at
from workstreams.models import (
    LIVE_STATES,
    AgentProfile,
    Conversation,
    ConversationMessage,
    ConversationNote,
    ConversationRead,
    ConversationState,
    Queue,
    QuickReply,
    WhatsAppTemplate,
)
from workstreams.selectors import conversation_messages
from workstreams.services.access import (
    Roles,
    conversations_supervised_by,
    conversations_visible_to,
    queues_visible_to,
    user_roles,
)
from workstreams.services.automated import conversation_languages
from workstreams.services.composer import placeholder_fill, placeholder_values, placeholders_unresolved
from workstreams.services.conversations import template_variables

LIST_LIMIT = 100


def _unread(user: Any) -> Coalesce:
    """Customer messages newer than the last one ``user`` has seen in the conversation."""
    last_read = (ConversationRead.objects.filter(user=user, conversation=OuterRef(OuterRef("pk")))
                 .values("last_message_id")[:1])
    newer = (ConversationMessage.objects
             .filter(conversation=OuterRef("pk"), message__direction=Direction.INBOUND,
                     message_id__gt=Coalesce(Subquery(last_read), Value(0)))
             .order_by().values("conversation").annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(newer, output_field=IntegerField()), Value(0))


def _last_body() -> Subquery:
    latest = (Message.objects.filter(conversation_link__conversation=OuterRef("pk"))
              .order_by("-created_at", "-id").values("body")[:1])
    return Subquery(latest)


def _listed(user: Any) -> QuerySet[Conversation]:
    return (Conversation.objects.select_related("contact", "phone_number", "queue", "agent")
            .annotate(unread=_unread(user), last_body=_last_body()))


def listed(user: Any) -> QuerySet[Conversation]:
    """Conversations as the console's lists show them: with ``unread`` (for ``user``) and ``last_body``."""
    return _listed(user)


def label_activity(conversations: list[Conversation], *, now: datetime | None = None) -> None:
    """``activity_label`` and ``waiting_label`` on each, in the page's language."""
    now = now or timezone.now()
    for conversation in conversations:
        conversation.activity_label = ago_label(conversation.last_message_at, now)
        conversation.waiting_label = duration_label((now - conversation.queued_at).total_seconds()) \
            if conversation.queued_at and conversation.state == ConversationState.OPEN else ""


def duration_label(seconds: float) -> str:
    """A short, human length of time: "under a minute", "12 min", "3 h 5 min", "2 days" (in the page's language)."""
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return _("under a minute")
    if minutes < 60:
        return _("%(minutes)d min") % {"minutes": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        if minutes:
            return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
        return _("%(hours)d h") % {"hours": hours}
    days = hours // 24
    return ngettext("%(days)d day", "%(days)d days", days) % {"days": days}


def ago_label(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return ""
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return _("just now")
    return _("%(duration)s ago") % {"duration": duration_label(seconds)}


def dashboard_lists(*, user: Any, roles: Roles | None = None) -> dict[str, Any]:
    """The agent's active and waiting conversations, the open ones in their queues, each queue's counts, and
    the live conversations a supervisor oversees (every live one, for an administrator)."""
    roles = roles or user_roles(user)
    mine = list(_listed(user).filter(agent=user, state__in=[ConversationState.ACTIVE, ConversationState.WAITING])
                .order_by(F("last_message_at").desc(nulls_last=True), "-id")[:LIST_LIMIT])
    queued = list(_listed(user).filter(state=ConversationState.OPEN, agent__isnull=True, with_bot=False,
                                       queue__members=user)
                  .order_by("-queue__priority", "queued_at", "id")[:LIST_LIMIT])
    waiting_filter = Q(conversations__state=ConversationState.OPEN, conversations__agent__isnull=True,
                       conversations__with_bot=False)
    queues = list(queues_visible_to(user).annotate(
        waiting=Count("conversations", filter=waiting_filter),
        active=Count("conversations", filter=Q(conversations__state=ConversationState.ACTIVE)),
        oldest=Min("conversations__queued_at", filter=waiting_filter),
    ).order_by("-priority", "name"))
    now = timezone.now()
    for conversation in (*mine, *queued):
        conversation.activity_label = ago_label(conversation.last_message_at, now)
        conversation.waiting_label = duration_label((now - conversation.queued_at).total_seconds()) \
            if conversation.queued_at else ""
    for queue in queues:
        queue.oldest_label = duration_label((now - queue.oldest).total_seconds()) if queue.oldest else ""
    overseen = (conversations_visible_to(user, _listed(user)) if roles.admin
                else conversations_supervised_by(user, _listed(user)))
    supervised = list(overseen.filter(state__in=LIVE_STATES)
                      .order_by("-queue__priority", F("last_message_at").desc(nulls_last=True), "-id")[:LIST_LIMIT])
    for conversation in supervised:
        conversation.activity_label = ago_label(conversation.last_message_at, now)
    return {"mine": mine, "queued": queued, "queues": queues, "supervised": supervised,
            "unread_total": sum(c.unread for c in mine) + sum(c.unread for c in queued)}


@dataclass(frozen=True)
class Window:
    """The WhatsApp 24-hour session window, for display (the send service enforces it)."""

    applies: bool
    closes_at: datetime | None = None
    is_open: bool = True


def whatsapp_window(conversation: Conversation, *, now: datetime | None = None) -> Window:
    if conversation.channel != Channel.WHATSAPP:
        return Window(applies=False)
    closes_at = whatsapp_window_closes_at(contact=conversation.contact, phone_number=conversation.phone_number)
    return Window(applies=True, closes_at=closes_at, is_open=bool(closes_at and closes_at > (now or timezone.now())))


def order_key(moment: datetime, pk: int) -> str:
    return f"{int(moment.timestamp() * 1_000_000):020d}-{pk:020d}"


def thread_notes(conversation: Conversation, *, after: int = 0) -> list[ConversationNote]:
    """The conversation's internal notes (newer than the note ``after``), with the thread's ordering key."""
    items = list(ConversationNote.objects.filter(conversation=conversation, pk__gt=after).select_related("author"))
    for note in items:
        note.is_note = True
        note.order_key = order_key(note.created_at, note.pk)
    return items


def thread_with_notes(conversation: Conversation) -> list[Any]:
    """Messages and internal notes, in the order they happened."""
    return sorted([*thread(conversation), *thread_notes(conversation)], key=lambda item: item.order_key)


def thread(conversation: Conversation, *, query: Q | None = None) -> list[Message]:
    """The conversation's messages, each with the keys the page's live updates use."""
    messages = conversation_messages(conversation=conversation)
    if query is not None:
        messages = messages.filter(query).distinct()
    items = list(messages)
    for message in items:
        message.order_key = order_key(message.created_at, message.pk)
        stamp = message.status_updated_at.isoformat() if message.status_updated_at else ""
        message.version = "|".join([message.status, stamp, *(a.state for a in message.attachments.all())])
    return items


def thread_changes(conversation: Conversation, *, after: int, since: datetime | None,
                   watched: tuple[int, ...] = ()) -> list[Message]:
    """Messages newer than ``after``, created or changed since ``since``, with a download pending, or
    ``watched`` by the page (it shows a download as pending).

    ``since`` is a cursor the server handed out earlier, already moved back by the caller to cover
    transactions that committed late; the page skips what it already shows.
    """
    query = Q(pk__gt=after) | Q(attachments__state=AttachmentState.PENDING) | Q(pk__in=watched)
    if since is not None:
        query |= Q(created_at__gte=since) | Q(status_updated_at__gte=since)
    return thread(conversation, query=query)


@dataclass
class ContactPanel:
    consent: str
    consent_label: str
    language: str
    earlier: list[Conversation] = field(default_factory=list)


def contact_panel(conversation: Conversation, *, user: Any) -> ContactPanel:
    """The customer beside the thread; of their other conversations, only those ``user`` may see."""
    consent = consent_state(contact=conversation.contact, phone_number=conversation.phone_number)
    others = Conversation.objects.filter(contact=conversation.contact).exclude(pk=conversation.pk)
    earlier = list(conversations_visible_to(user, others)
                   .select_related("phone_number", "agent", "queue").order_by("-created_at", "-id")[:10])
    return ContactPanel(consent=consent, consent_label=ConsentState(consent).label,
                        language=conversation.contact.locale or conversation.language, earlier=earlier)


def whatsapp_templates(conversation: Conversation) -> list[dict[str, Any]]:
    """The approved templates of the conversation's number."""
    if conversation.channel != Channel.WHATSAPP:
        return []
    return [{"id": t.pk, "name": t.name, "language": t.language, "text": t.text,
             "variables": template_variables(t.text)}
            for t in WhatsAppTemplate.objects.filter(number__phone_number_id=conversation.phone_number_id)
            .order_by("name", "language")]


def quick_replies(conversation: Conversation, *, user: Any) -> list[dict[str, Any]]:
    """Active quick replies with their placeholders filled in (fallbacks where there is no value; those with
    neither stay as ``{Name}`` and are listed in ``unresolved``); the conversation's languages first."""
    values = placeholder_values(conversation, user=user)
    languages = conversation_languages(conversation, None)

    def rank(reply: QuickReply) -> tuple[int, str]:
        lang = reply.language.lower()
        if lang in languages:
            return languages.index(lang), reply.title.lower()
        base = lang.split("-")[0].split("_")[0]
        if base in languages:
            return len(languages) + languages.index(base), reply.title.lower()
        return (2 * len(languages) + (0 if not lang else 1)), reply.title.lower()

    replies = sorted(QuickReply.objects.filter(is_active=True), key=rank)
    filled = [(r, placeholder_fill(r.text, values)) for r in replies]
    return [{"id": r.pk, "title": r.title, "language": r.language, "text": text,
             "unresolved": placeholders_unresolved(text)} for r, text in filled]


def transfer_targets(conversation: Conversation, *, user: Any) -> dict[str, list[Any]]:
    """Queues other than the conversation's, and agents other than the one signed in."""
    agents = (AgentProfile.objects.filter(user__is_active=True).exclude(user=user).select_related("user")
              .order_by("user__first_name", "user__last_name", "user__username"))
    queues = Queue.objects.exclude(pk=conversation.queue_id) if conversation.queue_id else Queue.objects.all()
    return {"queues": list(queues.order_by("-priority", "name")), "agents": list(agents)}


def agents_may_send_attachments(conversation: Conversation) -> bool:
    return number_policy(conversation.phone_number).agents_may_send_attachments


def conversation_for_page(pk: int) -> QuerySet[Conversation]:
    return Conversation.objects.select_related("contact", "phone_number__account", "workstream", "queue",
                                               "agent").filter(pk=pk)

