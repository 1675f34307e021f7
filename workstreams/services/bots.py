"""Bots get a conversation before any agent.

The rule bot answers keywords and patterns in the conversation's language; an escalation
word (by default "agent") or a rule marked to escalate hands the conversation to routing
and the agents. The HTTP bot POSTs each customer message, signed, to a configured URL and
expects ``{"reply": "...", "escalate": false}``; a timeout, an error or an unreadable answer
escalates, so a customer is never stranded with a bot that does not answer.

The hub calls a bot URL only when it is https (http with DEBUG on) and its host resolves to
public addresses alone (the outbound-fetch policy, config/egress.py, which also connects to the
address it checked), unless the host is listed in BOT_ALLOWED_HOSTS; redirects are not followed
and at most 64 KiB of the answer is read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.models import Message, MessageKind
from channels_app.services.delivery import message_queue
from config import egress
from config.exceptions import ServiceError
from workstreams.models import Bot, BotKind, BotRuleMatch, Conversation, OverflowAction, WorkstreamNumber

from .automated import conversation_languages
from .thread import conversation_messages_append

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
        "contact": {"address": conversation.contact.address, "phone": conversation.contact.phone,
                    "name": conversation.contact.display_name},
        "message": {"id": message.pk, "body": message.body, "button_payload": message.button_payload,
                    "received_at": message.created_at.isoformat()},
    }, separators=(",", ":")).encode()


def http_bot_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


#: The most of a bot's answer that is read; a longer answer escalates.
BOT_MAX_ANSWER_BYTES = 64 * 1024


_CODES = {"url_scheme": "bot_url_scheme", "url_unresolved": "bot_url_unresolved", "url_internal": "bot_url_internal"}


def bot_url_check(url: str) -> egress.Target:
    """The checked target of a bot URL, or ServiceError on ``url`` saying why the hub must not call it.

    Allowed: https (http only with DEBUG on) to a host whose every address is public or in
    EGRESS_ALLOWED_NETWORKS, or to a host listed in BOT_ALLOWED_HOSTS (a leading dot allows its
    subdomains), which may resolve to internal addresses. The URL is read as the HTTP client reads it
    (config/egress.py) and the host is resolved once: the call goes to the address checked here.
    """
    schemes = ("https", "http") if settings.DEBUG else ("https",)
    try:
        target = egress.parse(url or "", schemes=schemes)
        listed = egress.host_matches(target.host, settings.BOT_ALLOWED_HOSTS)
        return egress.check_url(url, schemes=schemes, internal_hosts_allowed=listed)
    except egress.EgressRefused as exc:
        message = exc.message
        if exc.code == "url_scheme":
            message = _("The bot URL must start with https:// (http:// only when DEBUG is on).")
        elif exc.code == "url_internal":
            message += " " + _("BOT_ALLOWED_HOSTS lists bot hosts that may be internal.")
        raise ServiceError(message, code=_CODES.get(exc.code, "bot_url_invalid"), field="url") from None


def _read_answer(response: requests.Response, deadline: float) -> bytes | None:
    """The answer's body, or None when it is larger than BOT_MAX_ANSWER_BYTES or too slow to arrive."""
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=8192):
        size += len(chunk)
        if size > BOT_MAX_ANSWER_BYTES or time.monotonic() > deadline:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def http_bot_decide(bot: Bot, conversation: Conversation, message: Message, languages: list[str]) -> BotDecision:
    try:
        target = bot_url_check(bot.url)
    except ServiceError as exc:
        return BotDecision(escalate=True, reason=f"bot URL refused: {exc.message}")
    body = http_bot_payload(conversation, message, languages)
    headers = {"Content-Type": "application/json"}
    if bot.secret:
        headers["X-Hub-Signature"] = http_bot_signature(bot.secret, body)
    deadline = time.monotonic() + bot.timeout_seconds
    try:
        with egress.pinned_session(target) as session, session.post(
                target.url, data=body, headers=headers, timeout=bot.timeout_seconds, allow_redirects=False,
                stream=True) as response:
            if response.is_redirect:
                return BotDecision(escalate=True, reason=f"bot answered HTTP {response.status_code} (a redirect; "
                                                         "redirects are not followed)")
            if response.status_code != 200:
                return BotDecision(escalate=True, reason=f"bot answered HTTP {response.status_code}")
            answer = _read_answer(response, deadline)
    except requests.Timeout:
        return BotDecision(escalate=True, reason=f"bot did not answer within {bot.timeout_seconds:g} s")
    except requests.RequestException as exc:
        return BotDecision(escalate=True, reason=f"bot unreachable: {exc.__class__.__name__}")
    if answer is None:
        return BotDecision(escalate=True, reason=f"bot answer is larger than {BOT_MAX_ANSWER_BYTES // 1024} KiB "
                                                 f"or took longer than {bot.timeout_seconds:g} s")
    try:
        data = json.loads(answer)
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
                    conversation_messages_append(links=[(locked, reply)])
            except ServiceError as exc:
                decision = BotDecision(escalate=True, reason=f"bot reply refused: {exc.message}")
        if decision.escalate:
            bot_escalate(conversation=locked, message=message, reason=decision.reason)
            return f"escalated: {decision.reason}"
    return "answered"


def bot_escalate(*, conversation: Conversation, message: Message, reason: str) -> None:
    """Hand the conversation from the bot to routing and the agents (inside the caller's transaction)."""
    from .distribution import assignment_cycle_enqueue
    from .routing import conversation_route, routing_apply

    conversation.with_bot = False
    routing_apply(conversation=conversation, decision=conversation_route(conversation=conversation, message=message))
    conversation.routing_diagnosis = {**conversation.routing_diagnosis, "escalated": reason}
    conversation.queued_at = timezone.now()
    conversation.first_queued_at = conversation.first_queued_at or conversation.queued_at
    conversation.save()
    from .conversations import after_queued
    from .overflow import conversation_overflow

    if conversation_overflow(conversation=conversation) != OverflowAction.END:
        after_queued(conversation)
        assignment_cycle_enqueue()
