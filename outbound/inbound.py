"""A customer's reply to an outbound message (the ``HUB_INBOUND_HANDLERS`` seam).

The reply is an ordinary inbound conversation (the workstreams handler routes and assigns it);
this handler only links it to the outbound message it answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings

from channels_app.models import Direction, Message, MessageKind, MessageStatus
from channels_app.policy import InboundHandler, Received

from .models import OutboundRecipient, OutboundReply


def outbound_replies_link(*, messages: Sequence[Message]) -> list[OutboundReply | None]:
    """Link each inbound message to the most recent outbound message sent to its sender from the same number
    within OUTBOUND_REPLY_WINDOW_DAYS (failed sends excepted); None where there is none. A few queries for
    any number of messages; running it again changes nothing (the links made are returned again)."""
    inbound = [m for m in messages if m.direction == Direction.INBOUND]
    found: dict[int, OutboundReply] = {}
    if inbound:
        found = {r.reply_id: r for r in OutboundReply.objects.filter(reply__in=inbound).select_related(
            "outbound_message", "recipient")}
    fresh = [m for m in inbound if m.pk not in found]
    replies = _answered(fresh)
    if replies:
        recipients = dict(OutboundRecipient.objects.filter(message__in=[a for _, a in replies])
                          .values_list("message_id", "id"))
        OutboundReply.objects.bulk_create([
            OutboundReply(reply=m, outbound_message=a, recipient_id=recipients.get(a.pk)) for m, a in replies
        ], ignore_conflicts=True)  # a concurrent run linked it already: keep that link
        found.update({r.reply_id: r for r in OutboundReply.objects.filter(reply__in=[m for m, _ in replies])
                      .select_related("outbound_message", "recipient")})
    return [found.get(m.pk) for m in messages]


def _answered(messages: list[Message]) -> list[tuple[Message, Message]]:
    """(reply, the outbound message it answers) for those of ``messages`` that answer one (one query)."""
    if not messages:
        return []
    earliest = min(m.created_at for m in messages) - timedelta(days=settings.OUTBOUND_REPLY_WINDOW_DAYS)
    candidates = (Message.objects
                  .filter(contact_id__in={m.contact_id for m in messages},
                          phone_number_id__in={m.phone_number_id for m in messages},
                          direction=Direction.OUTBOUND, kind=MessageKind.OUTBOUND, created_at__gte=earliest)
                  .exclude(status__in=[MessageStatus.FAILED, MessageStatus.UNDELIVERED])
                  .order_by("created_at", "id").only("id", "contact_id", "phone_number_id", "created_at"))
    history: dict[tuple[int, int], list[Message]] = {}
    for sent in candidates:
        history.setdefault((sent.contact_id, sent.phone_number_id), []).append(sent)
    replies = []
    for message in messages:
        since = message.created_at - timedelta(days=settings.OUTBOUND_REPLY_WINDOW_DAYS)
        options = [s for s in history.get((message.contact_id, message.phone_number_id), [])
                   if since <= s.created_at <= message.created_at]
        if options:
            replies.append((message, options[-1]))
    return replies


class ReplyInbound(InboundHandler[OutboundReply | None]):
    """A customer's message that answers an outbound message is linked to it."""

    def many(self, received: Sequence[Received]) -> list[OutboundReply | None]:
        return outbound_replies_link(messages=[r.message for r in received])


reply_inbound = ReplyInbound()
