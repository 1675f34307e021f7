"""Processing inbound events in batches: the fast path for busy accounts.

A worker that picks up one event claims, in the same transaction, up to
``INBOUND_PROCESS_BATCH`` pending inbound events of the same account (``SKIP LOCKED``, so
workers never share one) and handles the plain ones — a text message from a customer to one
of the account's numbers — with a few bulk queries: the duplicates it already has, the
contacts, the messages, and each higher app's handler's ``many`` entry point. Anything unusual (a keyword,
media, an unknown number or sender) goes through ``inbound_event_process``, one by one, as
before. If the batch fails as a whole, every event is processed on its own, so one bad event
never holds up the others and the per-event failure rules apply.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from channels_app.models import (
    ContactAddress,
    Direction,
    EventKind,
    EventState,
    InboundEvent,
    Message,
    MessageStatus,
    MessagingAccount,
)
from channels_app.numbers import to_e164
from channels_app.policy import Received, inbound_handlers
from channels_app.providers import InboundMessage, WebhookPayloadError, get_provider
from config import metrics
from config.db.bulk import bulk_insert
from config.logs import current_request_id

from . import consent
from .contacts import ContactDetails, contacts_for
from .delivery import COPY_FROM
from .inbound import _request_of, inbound_event_process

logger = logging.getLogger(__name__)


def inbound_events_process_batch(*, event_id: int) -> str:
    """Process the event, and other pending inbound events of its account with it. Returns a summary."""
    return inbound_events_take_batch(event_id=event_id)[0]


def inbound_events_take_batch(*, event_id: int) -> tuple[str, int]:
    """``inbound_events_process_batch``, and how many events it took (0: none was left for it to take)."""
    head = InboundEvent.objects.filter(pk=event_id).values("account_id", "kind", "state").first()
    if head is None:
        return "missing", 0
    if head["state"] != EventState.PENDING:
        return f"skipped: already {head['state']}", 0
    if head["kind"] == EventKind.STATUS:
        from .status_batch import status_events_process_batch

        return str(status_events_process_batch(event_id=event_id)), 1
    if head["kind"] != EventKind.INBOUND:
        return inbound_event_process(event_id=event_id), 1
    slow: list[int] = []
    try:
        with transaction.atomic():
            done, slow = _batch(head["account_id"], event_id)
    except Exception:
        logger.exception("batch of inbound events starting at %s failed; processing them one by one", event_id)
        done, slow = 0, list(InboundEvent.objects.filter(
            account_id=head["account_id"], kind=EventKind.INBOUND, state=EventState.PENDING, pk__gte=event_id)
            .order_by("pk").values_list("pk", flat=True)[: settings.INBOUND_PROCESS_BATCH])
    for pk in slow:
        inbound_event_process(event_id=pk)
    return f"processed {done} in a batch, {len(slow)} one by one", done + len(slow)


def _batch(account_id: int, event_id: int) -> tuple[int, list[int]]:
    events = list(
        InboundEvent.objects.select_for_update(skip_locked=True)
        .filter(account_id=account_id, kind=EventKind.INBOUND, state=EventState.PENDING, pk__gte=event_id)
        .order_by("pk")[: settings.INBOUND_PROCESS_BATCH]
    )
    if not events:
        return 0, []
    account = MessagingAccount.objects.get(pk=account_id)
    provider = get_provider(account)
    numbers = {}
    for phone in account.numbers.all():
        numbers[phone.e164] = numbers[phone.number] = phone

    parsed: list[tuple[InboundEvent, InboundMessage]] = []
    senders: dict[int, str] = {}  # event id → the sender's address in E.164, normalized once
    slow: list[int] = []
    for event in events:
        try:
            inbound = provider.parse_inbound(_request_of(event))
        except WebhookPayloadError:
            slow.append(event.pk)  # the one-by-one path records why it failed
            continue
        # A WhatsApp user ID (alone or beside the phone number), a button tap: the one-by-one path links them.
        sender = (not inbound.media and inbound.to_address in numbers and consent.keyword_action(inbound.body) is None
                  and not inbound.user_id and not inbound.button_payload and to_e164(inbound.from_address))
        if sender:
            parsed.append((event, inbound))
            senders[event.pk] = sender
        else:
            slow.append(event.pk)

    known = set(Message.objects.filter(provider=account.provider,
                                       provider_message_id__in=[i.provider_message_id for _, i in parsed])
                .values_list("provider_message_id", flat=True))
    fresh: list[tuple[InboundEvent, InboundMessage]] = []
    duplicates: list[int] = []
    for event, inbound in parsed:
        if inbound.provider_message_id in known:
            duplicates.append(event.pk)
        else:
            known.add(inbound.provider_message_id)
            fresh.append((event, inbound))

    contacts = contacts_for({senders[e.pk]: ContactDetails(display_name=i.profile_name) for e, i in fresh})
    now = timezone.now()
    ContactAddress.objects.filter(value__in={senders[e.pk] for e, _ in fresh}).update(last_inbound_at=now)
    messages = [
        Message(account=account, phone_number=numbers[i.to_address], contact=contacts[senders[e.pk]],
                address=senders[e.pk],
                provider=account.provider, channel=numbers[i.to_address].channel, direction=Direction.INBOUND,
                body=i.body, status=MessageStatus.RECEIVED, provider_message_id=i.provider_message_id,
                status_updated_at=now, request_id=e.request_id or current_request_id())
        for e, i in fresh
    ]
    if len(messages) >= COPY_FROM:
        bulk_insert(Message, messages, ids=True)  # streamed with COPY (PostgreSQL)
    else:
        Message.objects.bulk_create(messages)
    received = [Received(message=message) for message in messages]  # plain: no keyword, no attachments
    for handler in inbound_handlers():
        handler.many(received)
    handled = [e.pk for e, _ in fresh] + duplicates
    InboundEvent.objects.filter(pk__in=handled).update(state=EventState.PROCESSED, processed_at=now, error="",
                                                       attempts=F("attempts") + 1)
    duplicate_ids = set(duplicates)
    metrics.inbound_batch_processed(provider=account.provider, events=[e for e, _ in fresh], messages=messages,
                                    duplicates=[e for e, _ in parsed if e.pk in duplicate_ids])
    return len(handled), slow
