"""What workstreams does with a message channels_app received (the ``HUB_INBOUND_HANDLERS`` seam),
and its answer to the ``HUB_NUMBER_POLICY`` question."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.utils import timezone

from channels_app.models import Message, PhoneNumber
from channels_app.policy import InboundHandler, NumberPolicy, Received
from channels_app.services.consent import Keyword

from .models import AutomatedMessageKind, Conversation, ConversationState, OverflowAction, WorkstreamNumber
from .services.automated import automated_send
from .services.conversations import after_queued
from .services.distribution import assignment_cycle_enqueue, conversation_revive
from .services.overflow import conversation_overflow
from .services.routing import conversation_route, routing_apply
from .services.thread import conversation_messages_append


def number_policy(phone_number: PhoneNumber) -> NumberPolicy:
    config = WorkstreamNumber.objects.filter(phone_number=phone_number).first()
    if config is None:
        return NumberPolicy()
    return NumberPolicy(
        customers_may_send_attachments=config.customers_may_send_attachments,
        agents_may_send_attachments=config.agents_may_send_attachments,
        answers_help=config.automated_messages.filter(kind=AutomatedMessageKind.HELP, enabled=True).exists(),
    )


def _live_conversation(message: Message) -> Conversation | None:
    return (Conversation.objects.select_for_update(of=("self",))
            .select_related("workstream__bot", "queue", "agent", "contact", "phone_number")
            .filter(contact=message.contact, phone_number=message.phone_number)
            .exclude(state=ConversationState.CLOSED).first())


def _open(message: Message) -> tuple[Conversation, bool]:
    """A new conversation for the message, routed (or with its bot first); and whether this call opened it."""
    config = (WorkstreamNumber.objects.select_related("workstream__bot")
              .filter(phone_number_id=message.phone_number_id).first())
    workstream = config.workstream if config else None
    now = timezone.now()
    conversation = Conversation(contact=message.contact, phone_number=message.phone_number, workstream=workstream,
                                channel=message.channel, state=ConversationState.OPEN, queued_at=now,
                                language=message.contact.locale or (config.language if config else ""))
    decision = None
    if workstream is not None and workstream.bot_id:
        conversation.with_bot = True
        conversation.routing_diagnosis = {"bot": workstream.bot.name,
                                          "reason": f"bot '{workstream.bot.name}' answers first"}
    else:
        conversation.first_queued_at = now
        decision = conversation_route(conversation=conversation, message=message)
        routing_apply(conversation=conversation, decision=decision)
    try:
        with transaction.atomic():
            conversation.save()
    except IntegrityError:  # another worker opened it a moment ago
        return _live_conversation(message), False
    if decision is not None and decision.skills:
        conversation.required_skills.set(decision.skills)
    return conversation, True


def inbound_message_handle(*, received: Received) -> Conversation:
    """Attach the message to the customer's live conversation on that number, or open one.

    A conversation in wrap-up was resolved by its agent: it is closed and the message opens
    a new one. A closed conversation never reopens.
    """
    message, keyword = received.message, received.keyword
    now = timezone.now()
    conversation = _live_conversation(message)
    if conversation is not None and conversation.state == ConversationState.WRAP_UP:
        conversation.state = ConversationState.CLOSED
        conversation.closed_at = now
        conversation.save(update_fields=["state", "closed_at", "updated_at"])
        conversation = None
    opened = False
    if conversation is None:
        conversation, opened = _open(message)
    elif conversation.state == ConversationState.WAITING:
        # The customer wrote again: back to the agent who had it when distribution would give it to them
        # (member, present, with room), else to the queue.
        conversation_revive(conversation=conversation, now=now)
    conversation_messages_append(links=[(conversation, message)], now=now)
    _automated_for(conversation, received, opened=opened)
    if conversation.with_bot and not keyword:
        from .tasks import bot_handle_task

        ids = (conversation.pk, message.pk)
        transaction.on_commit(lambda: bot_handle_task.apply_async(args=ids, queue="replies"))
    elif opened:
        if conversation_overflow(conversation=conversation, now=now) != OverflowAction.END:
            after_queued(conversation)
            assignment_cycle_enqueue()
    return conversation


def _automated_for(conversation: Conversation, received: Received, *, opened: bool) -> None:
    if opened:
        automated_send(conversation=conversation, kind=AutomatedMessageKind.GREETING)
    if received.keyword == Keyword.OPT_OUT and received.consent_changed:  # one confirmation, not one per STOP
        automated_send(conversation=conversation, kind=AutomatedMessageKind.OPTED_OUT)
    elif received.keyword == Keyword.HELP:
        automated_send(conversation=conversation, kind=AutomatedMessageKind.HELP)
    if received.refused_attachments:
        automated_send(conversation=conversation, kind=AutomatedMessageKind.ATTACHMENT_NOT_ALLOWED)


class ConversationInbound(InboundHandler[Conversation]):
    """Every received message joins a conversation.

    A plain message (no keyword, nothing refused) joining an open or active conversation without a
    bot is linked with the others in two statements; the rest — a new conversation, one in wrap-up,
    waiting or with a bot, a keyword — go through ``inbound_message_handle`` one by one, in order.
    """

    def many(self, received: Sequence[Received]) -> list[Conversation]:
        if not received:
            return []
        pairs = {(r.message.contact_id, r.message.phone_number_id) for r in received}
        live = {
            (c.contact_id, c.phone_number_id): c
            for c in Conversation.objects.select_for_update(of=("self",))
            .filter(contact_id__in={p[0] for p in pairs}, phone_number_id__in={p[1] for p in pairs})
            .exclude(state=ConversationState.CLOSED)
            .only("id", "contact_id", "phone_number_id", "state", "with_bot", "agent_id")
        }
        links: list[tuple[Conversation, Message]] = []
        conversations: list[Conversation] = []
        for item in received:
            key = (item.message.contact_id, item.message.phone_number_id)
            conversation = live.get(key)
            plain = item.keyword is None and not item.refused_attachments
            if plain and conversation is not None and not conversation.with_bot \
                    and conversation.state in (ConversationState.OPEN, ConversationState.ACTIVE):
                links.append((conversation, item.message))
            else:
                conversation = live[key] = inbound_message_handle(received=item)
            conversations.append(conversation)
        conversation_messages_append(links=links)
        return conversations


conversation_inbound = ConversationInbound()
