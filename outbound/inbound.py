"""A customer's reply to an outbound message (the ``HUB_INBOUND_HANDLERS`` seam).

The reply is an ordinary inbound conversation (the workstreams handler routes and assigns it);
this handler only links it to the outbound message it answers.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from channels_app.models import Direction, Message, MessageKind, MessageStatus

from .models import OutboundRecipient, OutboundReply


def outbound_reply_link(*, message: Message, keyword: str | None = None) -> OutboundReply | None:
    """Link ``message`` to the most recent outbound message sent to its sender from the same number within
    OUTBOUND_REPLY_WINDOW_DAYS (failed sends excepted). Running it again changes nothing."""
    if message.direction != Direction.INBOUND:
        return None
    existing = OutboundReply.objects.filter(reply=message).first()
    if existing is not None:
        return existing
    since = message.created_at - timedelta(days=settings.OUTBOUND_REPLY_WINDOW_DAYS)
    answered = (Message.objects
                .filter(contact_id=message.contact_id, phone_number_id=message.phone_number_id,
                        direction=Direction.OUTBOUND, kind=MessageKind.OUTBOUND,
                        created_at__gte=since, created_at__lte=message.created_at)
                .exclude(status__in=[MessageStatus.FAILED, MessageStatus.UNDELIVERED])
                .order_by("-created_at", "-id").first())
    if answered is None:
        return None
    recipient = OutboundRecipient.objects.filter(message=answered).first()
    return OutboundReply.objects.create(reply=message, outbound_message=answered, recipient=recipient)


def outbound_reply_link_many(*, messages: list[Message]) -> None:
    """The batch path: link many fresh inbound messages with three queries."""
    inbound = [m for m in messages if m.direction == Direction.INBOUND]
    if not inbound:
        return
    earliest = min(m.created_at for m in inbound) - timedelta(days=settings.OUTBOUND_REPLY_WINDOW_DAYS)
    candidates = (Message.objects
                  .filter(contact_id__in={m.contact_id for m in inbound},
                          phone_number_id__in={m.phone_number_id for m in inbound},
                          direction=Direction.OUTBOUND, kind=MessageKind.OUTBOUND, created_at__gte=earliest)
                  .exclude(status__in=[MessageStatus.FAILED, MessageStatus.UNDELIVERED])
                  .order_by("created_at", "id").only("id", "contact_id", "phone_number_id", "created_at"))
    history: dict[tuple[int, int], list[Message]] = {}
    for sent in candidates:
        history.setdefault((sent.contact_id, sent.phone_number_id), []).append(sent)
    replies = []
    for message in inbound:
        since = message.created_at - timedelta(days=settings.OUTBOUND_REPLY_WINDOW_DAYS)
        options = [s for s in history.get((message.contact_id, message.phone_number_id), [])
                   if since <= s.created_at <= message.created_at]
        if options:
            replies.append((message, options[-1]))
    if not replies:
        return
    recipients = dict(OutboundRecipient.objects.filter(message__in=[a for _, a in replies])
                      .values_list("message_id", "id"))
    OutboundReply.objects.bulk_create([
        OutboundReply(reply=m, outbound_message=a, recipient_id=recipients.get(a.pk)) for m, a in replies
    ], ignore_conflicts=True)


outbound_reply_link.many = outbound_reply_link_many
