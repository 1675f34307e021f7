"""Automated messages: per number, event and language, with placeholders; they obey every sending rule."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import transaction

from channels_app.models import Message, MessageKind
from channels_app.services.delivery import message_queue
from config.exceptions import ServiceError
from workstreams.models import AutomatedMessage, AutomatedMessageKind, Conversation, WorkstreamNumber

from .thread import conversation_messages_append

logger = logging.getLogger(__name__)
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def render(text: str, values: dict[str, str]) -> str:
    """Replace ``{Name}`` placeholders that have a value; leave anything else as written."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def conversation_languages(conversation: Conversation, config: WorkstreamNumber | None) -> list[str]:
    """Languages to try, most specific first: the conversation's, the customer's, the number's default."""
    seen: list[str] = []
    for lang in (conversation.language, conversation.contact.locale, config.language if config else ""):
        for variant in (lang, (lang or "").split("-")[0].split("_")[0]):
            if variant and variant.lower() not in seen:
                seen.append(variant.lower())
    return seen


def automated_message_for(config: WorkstreamNumber, kind: str, languages: list[str]) -> AutomatedMessage | None:
    options = {m.language.lower(): m for m in config.automated_messages.filter(kind=kind, enabled=True)}
    for lang in languages:
        if lang in options:
            return options[lang]
    return None


def automated_send(*, conversation: Conversation, kind: str, extra: dict[str, str] | None = None) -> Message | None:
    """Queue the automated message for this event, if the number has one; a send a rule refuses is logged, not
    raised (an automated message never breaks the flow that triggered it)."""
    from .distribution import queue_position

    config = WorkstreamNumber.objects.filter(phone_number_id=conversation.phone_number_id).first()
    if config is None:
        return None
    template = automated_message_for(config, kind, conversation_languages(conversation, config))
    if template is None:
        return None
    agent = conversation.agent
    values: dict[str, Any] = {
        "CustomerName": conversation.contact.display_name,
        "AgentName": (agent.get_full_name() or agent.get_username()) if agent else "",
        "QueueName": conversation.queue.name if conversation.queue else "",
        "Position": str(queue_position(conversation)) if kind == AutomatedMessageKind.IN_QUEUE else "",
        "ConversationId": str(conversation.pk),
        **(extra or {}),
    }
    whatsapp_template = template.content_sid if conversation.channel == "whatsapp" else ""
    try:
        with transaction.atomic():
            message = message_queue(
                phone_number=conversation.phone_number, contact=conversation.contact,
                body=render(template.text, values), content_sid=whatsapp_template,
                kind=MessageKind.OPT_OUT_CONFIRMATION if kind == AutomatedMessageKind.OPTED_OUT
                else MessageKind.AUTOMATED,
            )
            conversation_messages_append(links=[(conversation, message)])
    except ServiceError as exc:
        logger.info("automated %s message for conversation %s not sent: %s", kind, conversation.pk, exc.message)
        return None
    return message
