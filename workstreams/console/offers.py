"""The console's offers and unread count, on every page: one small JSON poll, and accept / decline.

The poll also times out the offers whose time is up (any agent's), so a declined or missed
conversation reaches the next agent within a poll even between the periodic cycles.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from channels_app.models import Direction, Message
from config.exceptions import ServiceError
from workstreams.models import Conversation, ConversationMessage, ConversationRead, ConversationState, Offer
from workstreams.services import distribution

from .views import _done, _refused, console_view

PREVIEW_LENGTH = 140


def unread_total(user: Any, *, offered: set[int] = frozenset()) -> int:
    """Customer messages the agent has not seen in their conversations and in those waiting in their queues
    (the dashboard's count; conversations offered to them are counted as their offer instead)."""
    last_read = (ConversationRead.objects.filter(user=user, conversation=OuterRef("conversation"))
                 .values("last_message_id")[:1])
    reachable = Conversation.objects.filter(
        Q(agent=user, state__in=[ConversationState.ACTIVE, ConversationState.WAITING])
        | Q(state=ConversationState.OPEN, agent__isnull=True, with_bot=False, queue__members=user)
    ).exclude(pk__in=offered).values("pk")
    return (ConversationMessage.objects.filter(conversation__in=reachable, message__direction=Direction.INBOUND)
            .annotate(seen=Coalesce(Subquery(last_read, output_field=IntegerField()), Value(0)))
            .filter(message_id__gt=F("seen")).aggregate(n=Count("pk"))["n"])


def _previews(conversation_ids: set[int]) -> dict[int, str]:
    """The customer's latest message in each conversation, shortened (one query for all)."""
    if not conversation_ids:
        return {}
    latest = (Message.objects.filter(conversation_link__conversation=OuterRef("pk"), direction=Direction.INBOUND)
              .order_by("-created_at", "-id").values("body")[:1])
    rows = Conversation.objects.filter(pk__in=conversation_ids).annotate(preview=Subquery(latest))
    return {pk: (body or "") if len(body or "") <= PREVIEW_LENGTH else body[:PREVIEW_LENGTH - 1] + "…"
            for pk, body in rows.values_list("pk", "preview")}


def _offer_payload(offer: Offer, now, preview: str) -> dict[str, Any]:
    conversation = offer.conversation
    contact = conversation.contact
    return {
        "id": offer.pk,
        "conversation": conversation.pk,
        "customer": contact.display_name or contact.address,
        "address": contact.address,
        "channel": conversation.get_channel_display(),
        "queue": conversation.queue.name if conversation.queue_id else "",
        "preview": preview,
        "expires_in": max(0.0, (offer.expires_at - now).total_seconds()),
        "timeout": max(1.0, (offer.expires_at - offer.created_at).total_seconds()),
        "accept_url": reverse("console:offer-accept", args=[offer.pk]),
        "decline_url": reverse("console:offer-decline", args=[offer.pk]),
    }


@console_view(json=True)
@require_GET
def offers_poll(request: HttpRequest) -> JsonResponse:
    """The signed-in agent's pending offers, the unread count for the tab title, and why the hub changed their
    presence (when it did)."""
    distribution.offers_expire_due()
    now = timezone.now()
    offers = distribution.offers_pending_for(request.user) if request.agent_profile else []
    profile = request.agent_profile
    if profile is not None:
        profile.refresh_from_db(fields=["presence", "presence_notice"])
    offered = {o.conversation_id for o in offers}
    unread = unread_total(request.user, offered=offered)
    previews = _previews(offered)
    return JsonResponse({
        "offers": [_offer_payload(o, now, previews.get(o.conversation_id, "")) for o in offers],
        "unread_total": unread,
        "title_count": unread + len(offers),
        "presence": profile.presence if profile else "",
        "notice": profile.presence_notice if profile else "",
    })


@console_view()
@require_POST
def offer_accept(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        conversation = distribution.offer_accept(offer_id=pk, user=request.user)
    except ServiceError as exc:
        return _refused(request, exc, back=reverse("console:dashboard"))
    return _done(request, _("You accepted conversation #%(id)s.") % {"id": conversation.pk},
                 to=reverse("console:conversation", args=[conversation.pk]))


@console_view()
@require_POST
def offer_decline(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        offer = distribution.offer_decline(offer_id=pk, user=request.user)
    except ServiceError as exc:
        return _refused(request, exc, back=reverse("console:dashboard"))
    return _done(request, _("You declined conversation #%(id)s; it goes to the next agent.")
                 % {"id": offer.conversation_id}, to=reverse("console:dashboard"))
