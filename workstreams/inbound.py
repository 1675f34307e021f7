"""What workstreams does with a message channels_app received (the ``HUB_INBOUND_HANDLERS`` seam),
and its answer to the ``HUB_NUMBER_POLICY`` question."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from channels_app.models import Message, PhoneNumber
from channels_app.policy import InboundHandler, NumberPolicy, Received
from channels_app.services.consent import Keyword

from .models import (
    AutomatedMessage,
    AutomatedMessageKind,
    Conversation,
    ConversationState,
    OverflowAction,
    OverflowRule,
    WorkstreamNumber,
)
from .services.automated import automated_send
from .services.conversations import QUEUE_MESSAGES, after_queued
from .services.distribution import assignment_cycle_enqueue, conversation_revive
from .services.overflow import conversation_overflow
from .services.routing import conversation_route, conversations_route, routing_apply
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



def _conversation_for(message: Message, config: WorkstreamNumber | None) -> Conversation:
    """A new, unsaved conversation for a customer's first message on a number: its bot first when the number's
    workstream has one (``with_bot``), else queued now and waiting to be routed."""
    workstream = config.workstream if config else None
    now = timezone.now()
    conversation = Conversation(contact=message.contact, phone_number=message.phone_number, workstream=workstream,
                                channel=message.channel, state=ConversationState.OPEN, queued_at=now,
                                language=message.contact.locale or (config.language if config else ""))
    if workstream is not None and workstream.bot_id:
        conversation.with_bot = True
        conversation.routing_diagnosis = {"bot": workstream.bot.name,
                                          "reason": f"bot '{workstream.bot.name}' answers first"}
    else:
        conversation.first_queued_at = now
    return conversation

def _open(message: Message) -> tuple[Conversation, bool]:
    """A new conversation for the message, routed (or with its bot first); and whether this call opened it."""
    config = (WorkstreamNumber.objects.select_related("workstream__bot")
              .filter(phone_number_id=message.phone_number_id).first())
    conversation = _conversation_for(message, config)
    decision = None
    if not conversation.with_bot:
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
    bot is linked with the others in two statements. A customer's first plain messages, where no
    conversation is live, open their conversations together (``_open_many``: routed, their numbers'
    settings read once for the batch). The rest — one in wrap-up or waiting, with a bot, a keyword,
    a queue with overflow rules — go through ``inbound_message_handle`` one by one, in order.
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
        opened = _open_many(received, live)
        links: list[tuple[Conversation, Message]] = []
        conversations: list[Conversation] = []
        queued = False
        for item in received:
            key = (item.message.contact_id, item.message.phone_number_id)
            new = opened.pop(key, None)
            if new is not None:
                conversation = live[key] = new[0]
                links.append((conversation, item.message))
                queued = _after_open(conversation, item, new[1]) or queued
                conversations.append(conversation)
                continue
            conversation = live.get(key)
            plain = item.keyword is None and not item.refused_attachments
            if plain and conversation is not None and not conversation.with_bot \
                    and conversation.state in (ConversationState.OPEN, ConversationState.ACTIVE):
                links.append((conversation, item.message))
            else:
                conversation = live[key] = inbound_message_handle(received=item)
            conversations.append(conversation)
        conversation_messages_append(links=links)
        if queued:
            assignment_cycle_enqueue()
        return conversations


@dataclass(frozen=True)
class _Notes:
    """What a number's settings ask of a conversation just opened on it (read once per batch)."""

    greeting: bool = False  # the number has an enabled greeting
    queue_messages: bool = False  # … an enabled out-of-hours, no-agent or in-queue message


def _open_many(received: Sequence[Received], live: dict[tuple[int, int], Conversation]
               ) -> dict[tuple[int, int], tuple[Conversation, _Notes]]:
    """Open, with a few queries for the whole batch, the conversation of each customer and number whose
    messages in the batch are all plain and who has no live conversation: as ``_open`` would, one by one.

    A queue with overflow rules is left to ``inbound_message_handle``, as is every conversation when one
    of them was opened by another worker a moment ago. Returns the conversations opened, with what their
    numbers' settings ask of them, by (contact id, phone number id).
    """
    items: dict[tuple[int, int], Received] = {}
    unusual: set[tuple[int, int]] = set()
    for item in received:
        key = (item.message.contact_id, item.message.phone_number_id)
        if item.keyword is not None or item.refused_attachments:
            unusual.add(key)
        elif key not in live:
            items.setdefault(key, item)
    for key in unusual:
        items.pop(key, None)
    if not items:
        return {}
    phone_ids = {key[1] for key in items}
    configs = {c.phone_number_id: c for c in WorkstreamNumber.objects.select_related(
        "workstream__bot", "workstream__fallback_queue").filter(phone_number_id__in=phone_ids)}
    notes: dict[int, _Notes] = {}
    if configs:
        kinds: dict[int, set[str]] = {}
        for phone_id, kind in (AutomatedMessage.objects.filter(
                number__phone_number_id__in=list(configs), enabled=True,
                kind__in=[AutomatedMessageKind.GREETING, *QUEUE_MESSAGES])
                .values_list("number__phone_number_id", "kind").distinct()):
            kinds.setdefault(phone_id, set()).add(kind)
        notes = {pid: _Notes(greeting=AutomatedMessageKind.GREETING in k, queue_messages=bool(k & set(QUEUE_MESSAGES)))
                 for pid, k in kinds.items()}
    conversations: dict[tuple[int, int], Conversation] = {}
    routed: list[tuple[Conversation, Message]] = []
    skills: dict[tuple[int, int], tuple] = {}
    for key, item in items.items():
        message = item.message
        conversation = _conversation_for(message, configs.get(message.phone_number_id))
        if not conversation.with_bot:
            routed.append((conversation, message))
        conversations[key] = conversation
    decisions = conversations_route(pairs=routed)
    for (conversation, message), decision in zip(routed, decisions, strict=True):
        routing_apply(conversation=conversation, decision=decision)
        skills[(message.contact_id, message.phone_number_id)] = decision.skills
    overflowing = set(OverflowRule.objects.filter(
        queue_id__in={d.queue.pk for d in decisions}, is_active=True).values_list("queue_id", flat=True)) \
        if decisions else set()
    conversations = {k: c for k, c in conversations.items() if c.queue_id not in overflowing or c.with_bot}
    if not conversations:
        return {}
    try:
        with transaction.atomic():
            Conversation.objects.bulk_create(list(conversations.values()))
    except IntegrityError:  # another worker opened one of them a moment ago: one by one, as _open does
        return {}
    Conversation.required_skills.through.objects.bulk_create([
        Conversation.required_skills.through(conversation_id=c.pk, skill_id=skill.pk)
        for key, c in conversations.items() for skill in skills.get(key, ())])
    return {key: (c, notes.get(key[1], _Notes())) for key, c in conversations.items()}


def _after_open(conversation: Conversation, received: Received, notes: _Notes) -> bool:
    """What ``inbound_message_handle`` does once it opened a conversation for a plain message, but what the
    number's settings rule out unasked. Returns whether the conversation waits in a queue now."""
    if notes.greeting:
        automated_send(conversation=conversation, kind=AutomatedMessageKind.GREETING)
    if conversation.with_bot:
        from .tasks import bot_handle_task

        ids = (conversation.pk, received.message.pk)
        transaction.on_commit(lambda: bot_handle_task.apply_async(args=ids, queue="replies"))
        return False
    if notes.queue_messages:
        after_queued(conversation)
    return True


conversation_inbound = ConversationInbound()
