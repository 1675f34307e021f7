"""What workstreams does with a message channels_app received (the ``HUB_INBOUND_HANDLERS`` seam),
and its answer to the ``HUB_NUMBER_POLICY`` question."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from channels_app.models import AttachmentState, Message, PhoneNumber
from channels_app.policy import NumberPolicy
from channels_app.services.consent import HELP, OPT_OUT

from .models import AutomatedMessageKind, Conversation, ConversationMessage, ConversationState, WorkstreamNumber
from .services.automated import automated_send
from .services.conversations import after_queued
from .services.distribution import assignment_cycle_enqueue
from .services.routing import conversation_route


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


def _open(message: Message) -> Conversation:
    config = (WorkstreamNumber.objects.select_related("workstream__bot")
              .filter(phone_number_id=message.phone_number_id).first())
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
        conversation_route(conversation=conversation, message=message)
    try:
        with transaction.atomic():
            conversation.save()
    except IntegrityError:  # another worker opened it a moment ago
        return _live_conversation(message)
    if getattr(conversation, "_routing_skills", None):
        conversation.required_skills.set(conversation._routing_skills)
    conversation._is_new = True
    return conversation


def inbound_message_handle(*, message: Message, keyword: str | None = None) -> Conversation:
    """Attach the message to the customer's live conversation on that number, or open one.

    A conversation in wrap-up was resolved by its agent: it is closed and the message opens
    a new one. A closed conversation never reopens.
    """
    now = timezone.now()
    conversation = _live_conversation(message)
    if conversation is not None and conversation.state == ConversationState.WRAP_UP:
        conversation.state = ConversationState.CLOSED
        conversation.closed_at = now
        conversation.save(update_fields=["state", "closed_at", "updated_at"])
        conversation = None
    if conversation is None:
        conversation = _open(message)
    elif conversation.state == ConversationState.WAITING:
        # The customer wrote again: back to the agent who had it, or to the queue.
        conversation.state = ConversationState.ACTIVE if conversation.agent_id else ConversationState.OPEN
    ConversationMessage.objects.create(conversation=conversation, message=message)
    conversation.last_message_at = now
    conversation.last_inbound_at = now
    conversation.save()
    _automated_for(conversation, message, keyword)
    if conversation.with_bot and not keyword:
        from .tasks import bot_handle_task

        ids = (conversation.pk, message.pk)
        transaction.on_commit(lambda: bot_handle_task.apply_async(args=ids, queue="replies"))
    elif getattr(conversation, "_is_new", False):
        after_queued(conversation)
        assignment_cycle_enqueue()
    return conversation


def _automated_for(conversation: Conversation, message: Message, keyword: str | None) -> None:
    if getattr(conversation, "_is_new", False):
        automated_send(conversation=conversation, kind=AutomatedMessageKind.GREETING)
    if keyword == OPT_OUT and getattr(message, "consent_changed", True):  # one confirmation, not one per STOP
        automated_send(conversation=conversation, kind=AutomatedMessageKind.OPTED_OUT)
    elif keyword == HELP:
        automated_send(conversation=conversation, kind=AutomatedMessageKind.HELP)
    refused = getattr(message, "refused_attachments", None)  # known when channels_app just stored them
    if refused if refused is not None else message.attachments.filter(state=AttachmentState.REFUSED).exists():
        automated_send(conversation=conversation, kind=AutomatedMessageKind.ATTACHMENT_NOT_ALLOWED)


def inbound_messages_handle(*, messages: list[Message]) -> None:
    """Many messages at once (the batch path): those joining an open or active conversation are linked with
    two statements; the rest — a new conversation, one in wrap-up, waiting or with a bot — go through
    ``inbound_message_handle`` one by one, in order."""
    if not messages:
        return
    pairs = {(m.contact_id, m.phone_number_id) for m in messages}
    live = {
        (c.contact_id, c.phone_number_id): c
        for c in Conversation.objects.select_for_update(of=("self",))
        .filter(contact_id__in={p[0] for p in pairs}, phone_number_id__in={p[1] for p in pairs})
        .exclude(state=ConversationState.CLOSED).only("id", "contact_id", "phone_number_id", "state", "with_bot")
    }
    links: list[ConversationMessage] = []
    for message in messages:
        key = (message.contact_id, message.phone_number_id)
        conversation = live.get(key)
        if conversation is not None and conversation.state in (ConversationState.OPEN, ConversationState.ACTIVE) \
                and not conversation.with_bot:
            links.append(ConversationMessage(conversation_id=conversation.pk, message=message))
            continue
        conversation = inbound_message_handle(message=message)
        live[key] = conversation
    if links:
        ConversationMessage.objects.bulk_create(links)
        now = timezone.now()
        Conversation.objects.filter(pk__in={link.conversation_id for link in links}).update(
            last_message_at=now, last_inbound_at=now, updated_at=now)


inbound_message_handle.many = inbound_messages_handle
