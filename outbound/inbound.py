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
