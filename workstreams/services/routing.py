"""Routing rules: in order, the first rule whose conditions all hold chooses the queue.

No match, or a rule that fails to evaluate (a broken regular expression, a condition naming
a queue that does not exist), sends the conversation to the workstream's fallback queue,
and the diagnosis says why. ``conversation_route`` decides (a ``RoutingDecision``: the queue,
the skills the rule asks for, and the diagnosis); ``routing_apply`` gives the decision to the
conversation, whose stored diagnosis ``routing_lines`` puts in sentences for the admin and the
console alike.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from channels_app.models import Message, is_whatsapp_user_id
from channels_app.services.consent import consent_state
from workstreams.models import (
    ConditionField,
    ConditionOperator,
    Conversation,
    Queue,
    RoutingCondition,
    RoutingRule,
    Skill,
    Workstream,
)

from .hours import queue_is_open


class RuleError(Exception):
    pass


def default_queue() -> Queue:
    queue = Queue.objects.filter(is_default=True).first()
    if queue is None:
        queue, _ = Queue.objects.get_or_create(name="Default queue", defaults={"is_default": True})
    return queue


def _country(address: str) -> str:
    if is_whatsapp_user_id(address):
        return address[:2]  # a WhatsApp user ID starts with the user's country code
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(address, None)) or ""
    except phonenumbers.NumberParseException:
        return ""


def _subject(condition: RoutingCondition, conversation: Conversation, message: Message) -> Any:
    contact, phone = conversation.contact, conversation.phone_number
    field = condition.field
    if field == ConditionField.CONTACT_PHONE:
        return contact.phone  # empty for a WhatsApp user known by a username only
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
    if field == ConditionField.MESSAGE_BUTTON:
        return message.button_payload
    if field in (ConditionField.QUEUE_OPEN, ConditionField.QUEUE_CLOSED):
        queue = Queue.objects.filter(name__iexact=condition.value.strip()).select_related("operating_hours").first()
        if queue is None:
            raise RuleError(f"no queue named {condition.value!r}")
        is_open = queue_is_open(queue)
        return is_open if field == ConditionField.QUEUE_OPEN else not is_open
    raise RuleError(f"unknown field {field!r}")


def condition_holds(condition: RoutingCondition, conversation: Conversation,
                    message: Message) -> tuple[bool, str, dict[str, Any]]:
    """Whether the condition holds, a sentence saying why (in English, as the API shows it), and the same as
    data (``condition_line`` writes it in the page's language)."""
    subject = _subject(condition, conversation, message)
    with translation.override("en"):
        label = str(condition.get_field_display())
        operator = str(condition.get_operator_display())
    if isinstance(subject, bool):
        return subject, f"{label}: {'yes' if subject else 'no'}", {"field": condition.field, "holds": subject}
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
        raise RuleError(f"operator {operator!r} does not apply to {label}")
    shown = text if len(text) <= 60 else text[:57] + "…"
    note = {"field": condition.field, "subject": shown, "operator": op, "value": value, "holds": result}
    return result, f"{label} {shown!r} {'' if result else 'not '}{operator} {value!r}", note


@dataclass(frozen=True)
class RuleVerdict:
    """One rule as routing tried it."""

    rule: str
    matched: bool
    why: tuple[str, ...] = ()  # a sentence per condition looked at, in order
    error: str = ""  # why the rule could not be evaluated
    notes: tuple[dict[str, Any], ...] = ()  # the same as data, for condition_line

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"rule": self.rule, "matched": self.matched, "why": list(self.why),
                                "notes": list(self.notes)}
        if self.error:
            data["error"] = self.error
        return data


@dataclass(frozen=True)
class RoutingDecision:
    """Where a conversation goes, what it asks of the agent, and why."""

    queue: Queue
    rule: str | None  # the rule that matched (None: the fallback queue)
    reason: str
    evaluated: tuple[RuleVerdict, ...] = ()
    skills: tuple[Skill, ...] = field(default=())
    split: str = ""  # how a percentage split chose the queue
    #: What ``reason`` says, as data for ``routing_lines``: matched, rule_error, no_rule_matched, no_rules,
    #: no_workstream.
    reason_code: str = ""

    def diagnosis(self) -> dict[str, Any]:
        """As stored on the conversation (``routing_diagnosis``)."""
        data: dict[str, Any] = {"queue": self.queue.name, "rule": self.rule,
                                "evaluated": [v.as_json() for v in self.evaluated], "reason": self.reason,
                                "reason_code": self.reason_code}
        if self.rule is not None:
            data["skills"] = [s.name for s in self.skills]
        if self.split:
            data["split"] = self.split
        return data


def split_bucket(*, rule_id: int, contact_id: int | None, phone_number_id: int | None) -> int:
    """0–99, the same for the same rule, customer and number (so re-routing a conversation lands in the same
    queue), spread evenly over customers."""
    digest = hashlib.sha256(f"{rule_id}:{contact_id}:{phone_number_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def split_choose(*, rule: RoutingRule, conversation: Conversation) -> tuple[Queue, str]:
    """The rule's queue, or — when the rule splits over queues by percentage — the split's queue for this
    conversation, with a sentence saying how it was chosen."""
    splits = sorted(rule.splits.all(), key=lambda split: split.pk)  # prefetched by conversation_route
    if not splits:
        return rule.queue, ""
    bucket = split_bucket(rule_id=rule.pk, contact_id=conversation.contact_id,
                          phone_number_id=conversation.phone_number_id)
    total = 0
    for split in splits:
        total += split.percentage
        if bucket < total:
            break
    shares = ", ".join(f"{s.queue.name} {s.percentage}%" for s in splits)
    return split.queue, f"split {shares}: this customer's share {bucket} → {split.queue.name}"


def conversation_route(*, conversation: Conversation, message: Message) -> RoutingDecision:
    """Choose the conversation's queue and required skills, and say why (nothing is changed)."""
    workstream: Workstream | None = conversation.workstream
    evaluated: list[RuleVerdict] = []
    if workstream is not None:
        rules = workstream.rules.filter(is_active=True).select_related("queue").prefetch_related(
            "conditions", "required_skills", "splits__queue")
        for rule in rules:
            reasons: list[str] = []
            notes: list[dict[str, Any]] = []
            try:
                matched = True
                for condition in rule.conditions.all():
                    holds, why, note = condition_holds(condition, conversation, message)
                    reasons.append(why)
                    notes.append(note)
                    if not holds:
                        matched = False
                        break
            except RuleError as exc:
                evaluated.append(RuleVerdict(rule.name, False, tuple(reasons), error=str(exc), notes=tuple(notes)))
                return RoutingDecision(
                    queue=workstream.fallback_queue or default_queue(), rule=None, evaluated=tuple(evaluated),
                    reason=f"rule '{rule.name}' could not be evaluated ({exc}); fallback queue",
                    reason_code="rule_error")
            evaluated.append(RuleVerdict(rule.name, matched, tuple(reasons), notes=tuple(notes)))
            if matched:
                queue, split = split_choose(rule=rule, conversation=conversation)
                return RoutingDecision(
                    queue=queue, rule=rule.name, evaluated=tuple(evaluated),
                    reason=f"rule '{rule.name}' matched: " + ("; ".join(reasons) or "it has no conditions"),
                    skills=tuple(rule.required_skills.all()), split=split, reason_code="matched")
    code = "no_rule_matched" if evaluated else ("no_rules" if workstream else "no_workstream")
    why = {"no_rule_matched": "no routing rule matched", "no_rules": "the workstream has no routing rules",
           "no_workstream": "the number is in no workstream"}[code]
    return RoutingDecision(queue=(workstream.fallback_queue if workstream else None) or default_queue(), rule=None,
                           evaluated=tuple(evaluated), reason=f"{why}; fallback queue", reason_code=code)


def routing_apply(*, conversation: Conversation, decision: RoutingDecision) -> None:
    """Give the conversation the decision's queue and diagnosis, and (once it is saved) its skills.

    The conversation's other diagnosis notes (a bot's escalation, transfers) are kept; the caller
    saves the conversation first when it is new.
    """
    conversation.queue = decision.queue
    notes = {k: v for k, v in (conversation.routing_diagnosis or {}).items()
             if k in ("bot", "escalated", "transfers", "closed", "overflow")}
    conversation.routing_diagnosis = {**notes, **decision.diagnosis()}
    if conversation.pk is not None:
        conversation.required_skills.set(decision.skills)


def _moment(value: Any) -> str:
    """A stored ISO 8601 moment, in the page's language and time zone (as stored when it is not one)."""
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        return str(value or "")
    return date_format(timezone.localtime(parsed) if timezone.is_aware(parsed) else parsed, "DATETIME_FORMAT")


def condition_line(note: dict[str, Any]) -> str:
    """One condition as routing looked at it, in the page's language."""
    try:
        label = ConditionField(note["field"]).label
    except ValueError:
        label = note["field"]
    if "operator" not in note:
        return _("%(field)s: yes") % {"field": label} if note["holds"] else _("%(field)s: no") % {"field": label}
    try:
        operator = ConditionOperator(note["operator"]).label
    except ValueError:
        operator = note["operator"]
    values = {"field": label, "subject": note["subject"], "operator": operator, "value": note["value"]}
    if note["holds"]:
        return _("%(field)s “%(subject)s” — %(operator)s “%(value)s”: yes") % values
    return _("%(field)s “%(subject)s” — %(operator)s “%(value)s”: no") % values


def _reason(d: dict[str, Any]) -> str:
    """Why the conversation went to its queue, in the page's language (as stored, for a diagnosis stored before
    its reasons were kept as data)."""
    code = d.get("reason_code")
    evaluated = d.get("evaluated") or []
    last = evaluated[-1] if evaluated else {}
    if code == "matched":
        notes = last.get("notes") or []
        if not notes:
            return _("rule “%(rule)s” matched: it has no conditions") % {"rule": d.get("rule")}
        return _("rule “%(rule)s” matched: %(why)s") % {"rule": d.get("rule"),
                                                        "why": "; ".join(map(condition_line, notes))}
    if code == "rule_error":
        return _("rule “%(rule)s” could not be evaluated (%(error)s); fallback queue") % {
            "rule": last.get("rule"), "error": last.get("error")}
    if code == "no_rule_matched":
        return _("no routing rule matched; fallback queue")
    if code == "no_rules":
        return _("the workstream has no routing rules; fallback queue")
    if code == "no_workstream":
        return _("the number is in no workstream; fallback queue")
    return d.get("reason") or ""


def routing_lines(diagnosis: dict[str, Any] | None) -> list[str]:
    """A conversation's stored routing diagnosis in sentences, for the admin and the console alike: who
    answered first, the queue and why, each rule tried, the skills asked for, escalations, transfers.

    The sentences are in the page's language, rebuilt from the data routing stored; what a bot or a person
    wrote (an escalation's reason, a closing note) is shown as written.
    """
    d = diagnosis or {}
    lines: list[str] = []
    if d.get("bot"):
        lines.append(_("Bot “%(bot)s” answered first.") % {"bot": d["bot"]})
    if d.get("queue") or d.get("reason"):
        queue = d.get("queue") or _("No queue")
        lines.append(_("%(queue)s: %(reason)s") % {"queue": queue, "reason": _reason(d)} if d.get("reason")
                     else queue)
    for step in d.get("evaluated", []):
        rule = step.get("rule")
        if step.get("matched"):
            line = _("Rule “%(rule)s” matched") % {"rule": rule}
        elif step.get("error"):
            line = _("Rule “%(rule)s” failed: %(error)s") % {"rule": rule, "error": step["error"]}
        else:
            line = _("Rule “%(rule)s” did not match") % {"rule": rule}
        why = "; ".join(map(condition_line, step["notes"])) if step.get("notes") else "; ".join(step.get("why", []))
        lines.append(f"{line} — {why}" if why else line)
    if d.get("split"):
        lines.append(_("Percentage split: %(split)s") % {"split": d["split"]})
    if d.get("skills"):
        lines.append(_("Skills asked for: %(skills)s") % {"skills": ", ".join(d["skills"])})
    if d.get("escalated"):
        lines.append(_("Escalated by the bot: %(reason)s") % {"reason": d["escalated"]})
    for transfer in d.get("transfers", []):
        values = {"target": transfer.get("to_queue") or transfer.get("to_agent"), "by": transfer.get("by"),
                  "at": _moment(transfer.get("at")), "source": transfer.get("from_agent")}
        if transfer.get("reassigned"):
            lines.append(_("Reassigned from %(source)s to %(target)s by %(by)s at %(at)s") % values
                         if values["source"] else _("Reassigned to %(target)s by %(by)s at %(at)s") % values)
        else:
            lines.append(_("Transferred to %(target)s by %(by)s at %(at)s") % values if transfer.get("by")
                         else _("Transferred to %(target)s by the system at %(at)s") % values)
    for step in d.get("overflow", []):
        values = {"queue": step.get("queue"), "why": step.get("why"), "target": step.get("to_queue"),
                  "at": _moment(step.get("at"))}
        if step.get("to_queue"):
            lines.append(_("Overflow from %(queue)s (%(why)s): transferred to %(target)s at %(at)s") % values)
        elif step.get("action") == "end":
            lines.append(_("Overflow from %(queue)s (%(why)s): ended with an automated message at %(at)s") % values)
        else:
            lines.append(_("Overflow in %(queue)s (%(why)s): assigned anyway") % values)
    if d.get("closed"):
        lines.append(_("Closed: %(reason)s") % {"reason": d["closed"]})
    return lines
