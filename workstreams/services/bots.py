"""Bots get a conversation before any agent.

The rule bot answers keywords and patterns in the conversation's language; an escalation
word (by default "agent") or a rule marked to escalate hands the conversation to routing
and the agents. The HTTP bot POSTs each customer message, signed, to a configured URL and
expects ``{"reply": "...", "escalate": false}``; a timeout, an error or an unreadable answer
escalates, so a customer is never stranded with a bot that does not answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass

import requests
from django.db import transaction
from django.utils import timezone

from channels_app.models import Message, MessageKind
from channels_app.services.delivery import message_queue
from config.exceptions import ServiceError
from workstreams.models import Bot, BotKind, BotRuleMatch, Conversation, ConversationMessage, WorkstreamNumber

from .automated import conversation_languages

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BotDecision:
    reply: str = ""
    escalate: bool = False
    reason: str = ""


def _answer(answers: dict, languages: list[str]) -> str:
    if not isinstance(answers, dict) or not answers:
        return ""
    lowered = {str(k).lower(): str(v) for k, v in answers.items()}
    for lang in languages:
        if lang in lowered:
            return lowered[lang]
    return next(iter(lowered.values()))


def rule_bot_decide(bot: Bot, body: str, languages: list[str]) -> BotDecision:
    text = (body or "").strip()
    words = re.findall(r"[\w']+", text.upper())
    if text.upper().strip(" .!?") in bot.escalation_words() or (len(words) == 1 and words[0] in
                                                               bot.escalation_words()):
        return BotDecision(escalate=True, reason=f"customer asked for an agent ({text!r})")
    for rule in bot.rules.all():
        if rule.match == BotRuleMatch.KEYWORD:
            matched = rule.pattern.strip().upper() in words
        else:
            try:
                matched = re.search(rule.pattern, text, re.IGNORECASE) is not None
            except re.error as exc:
                logger.warning("bot %s rule %s has a bad pattern: %s", bot.pk, rule.pk, exc)
                continue
        if matched:
            return BotDecision(reply=_answer(rule.answers, languages), escalate=rule.escalate,
                               reason=f"rule {rule.get_match_display().lower()} {rule.pattern!r}")
    if bot.unmatched_escalates:
        return BotDecision(escalate=True, reason="no bot rule matched")
    return BotDecision(reply=bot.fallback_answer, reason="no bot rule matched; fallback answer")


def http_bot_payload(conversation: Conversation, message: Message, languages: list[str]) -> bytes:
    return json.dumps({
        "conversation": {"id": conversation.pk, "channel": conversation.channel,
                         "language": languages[0] if languages else ""},
        "contact": {"address": conversation.contact.address, "name": conversation.contact.display_name},
        "message": {"id": message.pk, "body": message.body, "received_at": message.created_at.isoformat()},
    }, separators=(",", ":")).encode()


def http_bot_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def http_bot_decide(bot: Bot, conversation: Conversation, message: Message, languages: list[str]) -> BotDecision:
    body = http_bot_payload(conversation, message, languages)
    headers = {"Content-Type": "application/json"}
    if bot.secret:
        headers["X-Hub-Signature"] = http_bot_signature(bot.secret, body)
    try:
        response = requests.post(bot.url, data=body, headers=headers, timeout=bot.timeout_seconds)
    except requests.Timeout:
        return BotDecision(escalate=True, reason=f"bot did not answer within {bot.timeout_seconds:g} s")
    except requests.RequestException as exc:
        return BotDecision(escalate=True, reason=f"bot unreachable: {exc.__class__.__name__}")
    if response.status_code != 200:
        return BotDecision(escalate=True, reason=f"bot answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        return BotDecision(escalate=True, reason="bot answer is not JSON")
    if not isinstance(data, dict):
        return BotDecision(escalate=True, reason="bot answer is not a JSON object")
    reply = data.get("reply") or ""
    if not isinstance(reply, str):
        return BotDecision(escalate=True, reason="bot reply is not text")
    return BotDecision(reply=reply, escalate=bool(data.get("escalate")), reason="bot answered")


def bot_handle(*, conversation_id: int, message_id: int) -> str:
    """Let the conversation's bot answer one customer message (called by a task, outside any transaction)."""
    conversation = (Conversation.objects.select_related("workstream__bot", "contact", "phone_number", "queue")
                    .filter(pk=conversation_id).first())
    message = Message.objects.filter(pk=message_id).first()
    if conversation is None or message is None or not conversation.with_bot:
        return "skipped"
    bot = conversation.workstream.bot if conversation.workstream else None
    if bot is None:
        decision = BotDecision(escalate=True, reason="the workstream no longer has a bot")
    else:
        config = WorkstreamNumber.objects.filter(phone_number_id=conversation.phone_number_id).first()
        languages = conversation_languages(conversation, config)
        if bot.kind == BotKind.HTTP:
            decision = http_bot_decide(bot, conversation, message, languages)
        else:
            decision = rule_bot_decide(bot, message.body, languages)
    with transaction.atomic():
        locked = Conversation.objects.select_for_update(of=("self",)).get(pk=conversation.pk)
        if not locked.with_bot:
            return "skipped: already escalated"
        if decision.reply:
            try:
                with transaction.atomic():
                    reply = message_queue(phone_number=conversation.phone_number, contact=conversation.contact,
                                          body=decision.reply, kind=MessageKind.BOT)
                    ConversationMessage.objects.create(conversation=locked, message=reply)
                    locked.last_message_at = timezone.now()
                    locked.save(update_fields=["last_message_at", "updated_at"])
            except ServiceError as exc:
                decision = BotDecision(escalate=True, reason=f"bot reply refused: {exc.message}")
        if decision.escalate:
            bot_escalate(conversation=locked, message=message, reason=decision.reason)
            return f"escalated: {decision.reason}"
    return "answered"


def bot_escalate(*, conversation: Conversation, message: Message, reason: str) -> None:
    """Hand the conversation from the bot to routing and the agents (inside the caller's transaction)."""
    from .distribution import assignment_cycle_enqueue
    from .routing import conversation_route

    conversation.with_bot = False
    conversation_route(conversation=conversation, message=message)
    conversation.routing_diagnosis = {**conversation.routing_diagnosis, "escalated": reason}
    conversation.queued_at = timezone.now()
    conversation.save()
    skills = getattr(conversation, "_routing_skills", [])
    conversation.required_skills.set(skills)
    from .conversations import after_queued

    after_queued(conversation)
    assignment_cycle_enqueue()
