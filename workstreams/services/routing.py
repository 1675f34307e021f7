"""Routing rules: in order, the first rule whose conditions all hold chooses the queue.

No match, or a rule that fails to evaluate (a broken regular expression, a condition naming
a queue that does not exist), sends the conversation to the workstream's fallback queue,
and the diagnosis says why. The diagnosis is stored on the conversation.
"""

from __future__ import annotations

import re
from typing import Any

import phonenumbers

from channels_app.models import Message
from channels_app.services.consent import consent_state
from workstreams.models import ConditionField, ConditionOperator, Conversation, Queue, RoutingCondition, Workstream

from .hours import queue_is_open


class RuleError(Exception):
    pass


def default_queue() -> Queue:
    queue = Queue.objects.filter(is_default=True).first()
    if queue is None:
        queue, _ = Queue.objects.get_or_create(name="Default queue", defaults={"is_default": True})
    return queue


def _country(address: str) -> str:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(address, None)) or ""
    except phonenumbers.NumberParseException:
        return ""


def _subject(condition: RoutingCondition, conversation: Conversation, message: Message) -> Any:
    contact, phone = conversation.contact, conversation.phone_number
    field = condition.field
    if field == ConditionField.CONTACT_PHONE:
        return contact.address
    if field == ConditionField.CONTACT_COUNTRY:
        return _country(contact.address)
    if field == ConditionField.CONTACT_LOCALE:
        return contact.locale
    if field == ConditionField.CONTACT_NAME:
        return contact.display_name
    if field == ConditionField.CONTACT_CONSENT:
        return consent_state(contact=contact, phone_number=phone)
    if field == ConditionField.CHANNEL_NUMBER:
        return phone.e164
    if field == ConditionField.CHANNEL_PROVIDER:
        return phone.provider
    if field == ConditionField.CHANNEL_TYPE:
        return phone.channel
    if field == ConditionField.MESSAGE_TEXT:
        return message.body
    if field in (ConditionField.QUEUE_OPEN, ConditionField.QUEUE_CLOSED):
        queue = Queue.objects.filter(name__iexact=condition.value.strip()).select_related("operating_hours").first()
        if queue is None:
            raise RuleError(f"no queue named {condition.value!r}")
        is_open = queue_is_open(queue)
        return is_open if field == ConditionField.QUEUE_OPEN else not is_open
    raise RuleError(f"unknown field {field!r}")


def condition_holds(condition: RoutingCondition, conversation: Conversation, message: Message) -> tuple[bool, str]:
    """Whether the condition holds, and a sentence saying why."""
    subject = _subject(condition, conversation, message)
    label = condition.get_field_display()
    if isinstance(subject, bool):
        return subject, f"{label}: {'yes' if subject else 'no'}"
    text = str(subject or "")
    value = condition.value.strip()
    low, val = text.lower(), value.lower()
    op = condition.operator
    if op == ConditionOperator.EQUALS:
        result = low == val
    elif op == ConditionOperator.NOT_EQUALS:
        result = low != val
    elif op == ConditionOperator.CONTAINS:
        result = val in low
    elif op == ConditionOperator.STARTS_WITH:
        result = low.startswith(val)
    elif op == ConditionOperator.IN:
        result = low in {v.strip().lower() for v in value.split(",") if v.strip()}
    elif op == ConditionOperator.KEYWORD:
        result = val in re.findall(r"[\w']+", low)
    elif op == ConditionOperator.REGEX:
        try:
            result = re.search(value, text, re.IGNORECASE) is not None
        except re.error as exc:
            raise RuleError(f"bad regular expression {value!r}: {exc}") from None
    else:
        raise RuleError(f"operator {condition.get_operator_display()!r} does not apply to {label}")
    shown = text if len(text) <= 60 else text[:57] + "…"
    return result, f"{label} {shown!r} {'' if result else 'not '}{condition.get_operator_display()} {value!r}"


def conversation_route(*, conversation: Conversation, message: Message) -> None:
    """Choose the conversation's queue (and required skills, set after save by the caller) and record why."""
    workstream: Workstream | None = conversation.workstream
    evaluated: list[dict[str, Any]] = []
    conversation._routing_skills = []  # applied once the conversation has a primary key
    if workstream is not None:
        rules = workstream.rules.filter(is_active=True).select_related("queue").prefetch_related(
            "conditions", "required_skills")
        for rule in rules:
            reasons: list[str] = []
            try:
                matched = True
                for condition in rule.conditions.all():
                    holds, why = condition_holds(condition, conversation, message)
                    reasons.append(why)
                    if not holds:
                        matched = False
                        break
            except RuleError as exc:
                evaluated.append({"rule": rule.name, "matched": False, "error": str(exc), "why": reasons})
                fallback = workstream.fallback_queue or default_queue()
                conversation.queue = fallback
                conversation.routing_diagnosis = {
                    "queue": fallback.name, "rule": None, "evaluated": evaluated,
                    "reason": f"rule '{rule.name}' could not be evaluated ({exc}); fallback queue",
                }
                return
            evaluated.append({"rule": rule.name, "matched": matched, "why": reasons})
            if matched:
                conversation.queue = rule.queue
                conversation._routing_skills = list(rule.required_skills.all())
                conversation.routing_diagnosis = {
                    "queue": rule.queue.name, "rule": rule.name, "evaluated": evaluated,
                    "reason": f"rule '{rule.name}' matched: " + ("; ".join(reasons) or "it has no conditions"),
                    "skills": [s.name for s in conversation._routing_skills],
                }
                return
    fallback = (workstream.fallback_queue if workstream else None) or default_queue()
    conversation.queue = fallback
    why = "no routing rule matched" if evaluated else (
        "the workstream has no routing rules" if workstream else "the number is in no workstream")
    conversation.routing_diagnosis = {"queue": fallback.name, "rule": None, "evaluated": evaluated,
                                      "reason": f"{why}; fallback queue"}
