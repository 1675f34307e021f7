"""Queue overflow: what a queue does with a conversation it cannot serve well.

Each queue has ordered overflow rules, each a condition — more conversations waiting than a
work-item limit, waiting longer than a threshold, outside the queue's operating hours — and an
action: transfer to another queue, end the conversation with an automated message, or assign
anyway (keep it in the queue; outside hours, agents get it even though the queue is closed).

Rules are checked when a conversation is routed to a queue (a new conversation, a bot's
escalation, a transfer, a revived waiting conversation) and by the periodic assignment cycle;
the first rule whose condition holds acts. A transfer may land in a queue that overflows
again, up to ``MAX_HOPS`` moves per check, so two queues pointing at each other cannot loop.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.models import MessageKind
from channels_app.services.delivery import message_queue
from config.exceptions import ServiceError
from workstreams.models import (
    Conversation,
    ConversationState,
    Offer,
    OfferState,
    OverflowAction,
    OverflowCondition,
    OverflowRule,
    Queue,
)

from .automated import render
from .hours import queue_is_open
from .thread import conversation_messages_append

logger = logging.getLogger(__name__)

#: At most this many overflow transfers per check of one conversation.
MAX_HOPS = 5


def _waiting(queue_id: int):
    return Conversation.objects.filter(queue_id=queue_id, state=ConversationState.OPEN, agent__isnull=True,
                                       with_bot=False)


def _holds(rule: OverflowRule, conversation: Conversation, now: datetime) -> bool:
    if rule.condition == OverflowCondition.WAIT_TIME:
        return bool(rule.wait_threshold and conversation.queued_at
                    and now - conversation.queued_at > rule.wait_threshold)
    if rule.condition == OverflowCondition.OUT_OF_HOURS:
        return not queue_is_open(conversation.queue, now)
    if rule.condition == OverflowCondition.WORK_ITEM_LIMIT:
        # The conversations waiting ahead of this one: at the limit, this one is beyond it.
        ahead = _waiting(conversation.queue_id).exclude(pk=conversation.pk)
        if conversation.queued_at:
            ahead = ahead.filter(queued_at__lte=conversation.queued_at)
        return bool(rule.work_item_limit) and ahead.count() >= rule.work_item_limit
    return False


def overflow_rule_for(*, conversation: Conversation, now: datetime | None = None) -> OverflowRule | None:
    """The first active overflow rule of the conversation's queue whose condition holds now (None: none)."""
    if conversation.queue_id is None:
        return None
    now = now or timezone.now()
    for rule in conversation.queue.overflow_rules.filter(is_active=True).select_related("target_queue"):
        if _holds(rule, conversation, now):
            return rule
    return None


def _why(rule: OverflowRule) -> str:
    if rule.condition == OverflowCondition.WAIT_TIME:
        minutes = int(rule.wait_threshold.total_seconds() // 60)
        seconds = int(rule.wait_threshold.total_seconds() % 60)
        return _("waited longer than %(threshold)s") % {
            "threshold": f"{minutes} min {seconds} s" if seconds else f"{minutes} min"}
    if rule.condition == OverflowCondition.WORK_ITEM_LIMIT:
        return _("more than %(limit)s conversations waiting") % {"limit": rule.work_item_limit}
    return _("outside operating hours")


def _record(conversation: Conversation, rule: OverflowRule, now: datetime, **fields: Any) -> None:
    diagnosis = conversation.routing_diagnosis or {}
    entry = {"at": now.isoformat(), "queue": conversation.queue.name, "why": _why(rule), "action": rule.action,
             **fields}
    conversation.routing_diagnosis = {**diagnosis, "overflow": [*diagnosis.get("overflow", []), entry]}


def _end(conversation: Conversation, rule: OverflowRule, now: datetime) -> None:
    from .conversations import conversation_close

    text = render(rule.message, {"CustomerName": conversation.contact.display_name,
                                 "QueueName": conversation.queue.name})
    try:
        with transaction.atomic():
            message = message_queue(phone_number=conversation.phone_number, contact=conversation.contact, body=text,
                                    kind=MessageKind.AUTOMATED)
            conversation_messages_append(links=[(conversation, message)])
    except ServiceError as exc:  # the customer opted out, the window closed …: the conversation still ends
        logger.info("overflow message for conversation %s not sent: %s", conversation.pk, exc.message)
    _record(conversation, rule, now)
    conversation.save(update_fields=["routing_diagnosis", "updated_at"])
    conversation_close(conversation=conversation, reason=_("ended by the overflow rule of %(queue)s (%(why)s)")
                       % {"queue": conversation.queue.name, "why": _why(rule)})


def conversation_overflow(*, conversation: Conversation, now: datetime | None = None) -> str | None:
    """Apply the conversation's queue's overflow rules (inside the caller's transaction, the conversation
    locked or new). Returns the last action taken, or None when no rule acted."""
    if conversation.state != ConversationState.OPEN or conversation.agent_id or conversation.with_bot:
        return None
    now = now or timezone.now()
    last = None
    for _hop in range(MAX_HOPS):
        rule = overflow_rule_for(conversation=conversation, now=now)
        if rule is None:
            return last
        last = rule.action
        if rule.action == OverflowAction.END:
            _end(conversation, rule, now)
            return last
        if rule.action == OverflowAction.ASSIGN_ANYWAY:
            already = any(e.get("queue") == conversation.queue.name and e.get("action") == rule.action
                          for e in (conversation.routing_diagnosis or {}).get("overflow", []))
            if not already:  # said once, not at every cycle
                _record(conversation, rule, now)
                conversation.save(update_fields=["routing_diagnosis", "updated_at"])
            return last
        target: Queue = rule.target_queue
        Offer.objects.filter(conversation_id=conversation.pk, state=OfferState.PENDING).update(
            state=OfferState.WITHDRAWN, answered_at=now)
        _record(conversation, rule, now, to_queue=target.name)
        logger.info("conversation %s overflows from %s to %s (%s)", conversation.pk, conversation.queue.name,
                    target.name, rule.condition)
        conversation.queue = target
        conversation.queued_at = now
        conversation.routing_diagnosis = {**conversation.routing_diagnosis, "queue": target.name}
        conversation.save(update_fields=["queue", "queued_at", "routing_diagnosis", "updated_at"])
    return last


def overflow_cycle(*, limit: int = 500) -> int:
    """The periodic check: every waiting conversation in a queue with overflow rules. Returns how many moved,
    ended or were marked to assign anyway."""
    queue_ids = list(OverflowRule.objects.filter(is_active=True).values_list("queue_id", flat=True).distinct())
    if not queue_ids:
        return 0
    now = timezone.now()
    acted = 0
    ids = list(Conversation.objects.filter(queue_id__in=queue_ids, state=ConversationState.OPEN,
                                           agent__isnull=True, with_bot=False)
               .exclude(pk__in=Offer.objects.filter(state=OfferState.PENDING).values("conversation_id"))
               .order_by("queued_at", "id").values_list("pk", flat=True)[:limit])
    for pk in ids:
        with transaction.atomic():
            conversation = (Conversation.objects.select_for_update(skip_locked=True, of=("self",))
                            .select_related("queue__operating_hours", "contact", "phone_number", "workstream")
                            .filter(pk=pk, state=ConversationState.OPEN, agent__isnull=True).first())
            if conversation is None:
                continue
            before = (conversation.queue_id, conversation.state)
            if conversation_overflow(conversation=conversation, now=now) is not None:
                conversation.refresh_from_db(fields=["queue", "state"])
                if (conversation.queue_id, conversation.state) != before:
                    acted += 1
    if acted:
        from .distribution import assignment_cycle_enqueue

        assignment_cycle_enqueue()
    return acted
