"""Who gets a conversation: capacity, skills, affinity, the two assignment methods, and the cycle.

Safety under concurrency: the cycle claims one open conversation at a time with
``SELECT … FOR UPDATE SKIP LOCKED`` (two cycles never take the same one), then locks the
chosen agent's profile row and recounts that agent's capacity under the lock before
assigning (two cycles never overfill one agent). A candidate that no longer fits is
released (its savepoint rolled back) before the next is tried, so a cycle holds at most
one agent lock and cycles cannot deadlock on each other.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config import metrics
from config.exceptions import ConflictError, ServiceError
from workstreams.models import (
    PUSH_PRESENCES,
    AgentProfile,
    AssignmentMethod,
    AutomatedMessageKind,
    Conversation,
    ConversationState,
    DistributionMode,
    Queue,
    SkillMatching,
    WrapUpCapacity,
)

from .hours import queue_is_open

logger = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def conversation_cost(conversation: Conversation) -> int:
    ws = conversation.workstream
    return ws.capacity_per_conversation if ws else settings.DEFAULT_CONVERSATION_CAPACITY


def capacity_used(agent_ids: list[int], *, now: datetime | None = None) -> dict[int, int]:
    """Capacity units in use per agent: active conversations, and wrap-up as each workstream says."""
    now = now or timezone.now()
    used: dict[int, int] = defaultdict(int)
    rows = (Conversation.objects.filter(agent_id__in=agent_ids,
                                        state__in=[ConversationState.ACTIVE, ConversationState.WRAP_UP])
            .values_list("agent_id", "state", "ended_at", "workstream__capacity_per_conversation",
                         "workstream__wrap_up_capacity", "workstream__wrap_up_time"))
    for agent_id, state, ended_at, cost, wrap_policy, wrap_time in rows:
        cost = cost if cost is not None else settings.DEFAULT_CONVERSATION_CAPACITY
        if state == ConversationState.ACTIVE:
            used[agent_id] += cost
            continue
        policy = wrap_policy or WrapUpCapacity.FOR_TIME
        if policy == WrapUpCapacity.ALWAYS:
            used[agent_id] += cost
        elif policy == WrapUpCapacity.FOR_TIME:
            wrap_time = wrap_time if wrap_time is not None else settings.DEFAULT_WRAP_UP_TIME
            if ended_at and ended_at + wrap_time > now:
                used[agent_id] += cost
    return dict(used)


def agent_free_capacity(user: Any) -> int:
    profile = AgentProfile.objects.filter(user=user).first()
    if profile is None:
        return 0
    return profile.capacity - capacity_used([user.pk]).get(user.pk, 0)


@dataclass
class Candidate:
    profile: AgentProfile
    free: int
    skill_score: tuple[int, int]


def _skill_score(profile: AgentProfile, required: dict[int, int]) -> tuple[int, int]:
    have = {s.skill_id: s.proficiency for s in profile.skills.all()}
    matched = [sid for sid in required if sid in have]
    return len(matched), sum(have[sid] for sid in matched)


def candidates(conversation: Conversation, *, now: datetime | None = None) -> list[Candidate]:
    """Agents who could take the conversation now, best first."""
    queue = conversation.queue
    if queue is None:
        return []
    cost = conversation_cost(conversation)
    profiles = list(AgentProfile.objects.filter(user__in=queue.members.all(), user__is_active=True,
                                                presence__in=PUSH_PRESENCES)
                    .select_related("user").prefetch_related("skills"))
    used = capacity_used([p.user_id for p in profiles], now=now)
    required = {s.pk: 1 for s in conversation.required_skills.all()}
    pool = []
    for profile in profiles:
        free = profile.capacity - used.get(profile.user_id, 0)
        if free < cost:
            continue
        score = _skill_score(profile, required) if required else (0, 0)
        pool.append(Candidate(profile, free, score))
    if required and queue.skill_matching == SkillMatching.EXACT:
        pool = [c for c in pool if c.skill_score[0] == len(required)]

    def order(c: Candidate):
        last = c.profile.last_assigned_at or EPOCH
        method_key = (-c.free, last) if queue.assignment_method == AssignmentMethod.HIGHEST_CAPACITY else (last,)
        skill_key = (-c.skill_score[0], -c.skill_score[1]) if required else ()
        return (*skill_key, *method_key, c.profile.pk)

    pool.sort(key=order)
    previous = _previous_agent_id(conversation)
    if previous:
        pool.sort(key=lambda c: c.profile.user_id != previous)  # stable: the previous agent first
    return pool


def _previous_agent_id(conversation: Conversation) -> int | None:
    ws = conversation.workstream
    if ws is not None and not ws.keep_same_agent:
        return None
    if ws is None and not settings.DEFAULT_KEEP_SAME_AGENT:
        return None
    return (Conversation.objects.filter(contact_id=conversation.contact_id,
                                        phone_number_id=conversation.phone_number_id, agent__isnull=False)
            .exclude(pk=conversation.pk)
            .order_by("-created_at").values_list("agent_id", flat=True).first())


def _try_assign(conversation: Conversation, profile: AgentProfile, *, now: datetime, pushed: bool) -> bool:
    """Within the caller's transaction: lock the agent, recount, assign if it still fits."""
    sid = transaction.savepoint()
    locked = AgentProfile.objects.select_for_update().get(pk=profile.pk)
    fits = locked.capacity - capacity_used([locked.user_id], now=now).get(locked.user_id, 0) \
        >= conversation_cost(conversation)
    if not fits or (pushed and locked.presence not in PUSH_PRESENCES):
        transaction.savepoint_rollback(sid)  # releases the agent's lock
        return False
    metrics.conversation_assigned(conversation_id=conversation.pk, agent_id=locked.user_id,
                                  queue=conversation.queue.name if conversation.queue_id else "",
                                  waited_seconds=(now - conversation.queued_at).total_seconds()
                                  if conversation.queued_at else None)
    conversation.agent_id = locked.user_id
    conversation.state = ConversationState.ACTIVE
    conversation.assigned_at = now
    conversation.first_assigned_at = conversation.first_assigned_at or now
    conversation.first_queued_at = conversation.first_queued_at or conversation.queued_at or now
    conversation.save(update_fields=["agent", "state", "assigned_at", "first_assigned_at", "first_queued_at",
                                     "updated_at"])
    locked.last_assigned_at = now
    locked.save(update_fields=["last_assigned_at"])
    transaction.savepoint_commit(sid)
    return True


def _after_assignment(conversation: Conversation) -> None:
    from .automated import automated_send

    automated_send(conversation=conversation, kind=AutomatedMessageKind.AGENT_ASSIGNED)


def _servable_queue_ids(now: datetime) -> list[int]:
    """Queues that are open now and have at least one agent present for pushed work."""
    staffed = Queue.objects.filter(members__agent_profile__presence__in=PUSH_PRESENCES,
                                   members__is_active=True).distinct()
    return [q.pk for q in staffed.select_related("operating_hours") if queue_is_open(q, now)]


def assignment_cycle(*, limit: int = 500) -> int:
    """Assign open conversations in push mode: higher-priority queues first, oldest first. Returns how many."""
    now = timezone.now()
    open_queues = _servable_queue_ids(now)
    if not open_queues:
        return 0
    passed: set[int] = set()
    assigned = 0
    while assigned + len(passed) < limit:
        with transaction.atomic():
            conversation = (
                Conversation.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(state=ConversationState.OPEN, agent__isnull=True, with_bot=False, queue_id__in=open_queues)
                .exclude(workstream__distribution_mode=DistributionMode.PICK)
                .exclude(pk__in=passed)
                .select_related("workstream", "queue", "contact", "phone_number")
                .order_by("-queue__priority", "queued_at", "id")
                .first()
            )
            if conversation is None:
                break
            for candidate in candidates(conversation, now=now):
                if _try_assign(conversation, candidate.profile, now=now, pushed=True):
                    _after_assignment(conversation)
                    assigned += 1
                    break
            else:
                passed.add(conversation.pk)
    return assigned


CYCLE_FLAG = "assignment-cycle-queued"


def _cycle_flag() -> str:
    from django.db import connection

    return f"{CYCLE_FLAG}:{connection.settings_dict['NAME']}"


def assignment_cycle_enqueue() -> None:
    """Run a cycle in a worker once the current transaction commits.

    With Redis, many triggers at once queue one cycle: a flag says one is queued, and the cycle
    clears it before it starts looking, so whatever commits after that queues the next one.
    """
    from workstreams.tasks import assignment_cycle_task

    def wake() -> None:
        if settings.REDIS_URL:
            from django.core.cache import cache

            if not cache.add(_cycle_flag(), 1, timeout=60):
                return
        assignment_cycle_task.apply_async(queue="replies")

    transaction.on_commit(wake)


def assignment_cycle_started() -> None:
    if settings.REDIS_URL:
        from django.core.cache import cache

        cache.delete(_cycle_flag())


def _require_profile(user: Any) -> AgentProfile:
    profile = AgentProfile.objects.filter(user=user).first()
    if profile is None:
        raise ServiceError(f"{user.get_username()} has no agent profile; an administrator can add one under "
                           "Workstreams → Agent profiles.", code="not_an_agent", field="agent", http_status=403)
    return profile


def _take(conversation: Conversation, user: Any, *, now: datetime) -> Conversation:
    profile = _require_profile(user)
    if not _try_assign(conversation, profile, now=now, pushed=False):
        raise ConflictError(f"{user.get_username()} has no free capacity for this conversation "
                            f"({agent_free_capacity(user)} left, {conversation_cost(conversation)} needed).",
                            code="no_capacity", field="agent")
    _after_assignment(conversation)
    return conversation


@transaction.atomic
def conversation_pick_next(*, user: Any) -> Conversation:
    """Pick mode: the agent takes the next conversation from the queues they belong to."""
    _require_profile(user)
    now = timezone.now()
    conversation = (
        Conversation.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(state=ConversationState.OPEN, agent__isnull=True, with_bot=False, queue__members=user)
        .select_related("workstream", "queue", "contact", "phone_number")
        .order_by("-queue__priority", "queued_at", "id").first()
    )
    if conversation is None:
        raise ConflictError(_("No conversation is waiting in your queues."), code="queue_empty", field="queue")
    return _take(conversation, user, now=now)


@transaction.atomic
def conversation_take(*, conversation: Conversation, user: Any) -> Conversation:
    """Take one particular open conversation from a queue the agent belongs to."""
    locked = (Conversation.objects.select_for_update(of=("self",))
              .select_related("workstream", "queue", "contact", "phone_number").get(pk=conversation.pk))
    if locked.state != ConversationState.OPEN or locked.agent_id:
        raise ConflictError("Someone else has already taken this conversation.", code="already_taken",
                            field="conversation")
    if locked.with_bot:
        raise ConflictError("A bot is still handling this conversation.", code="with_bot", field="conversation")
    if not locked.queue or not locked.queue.members.filter(pk=user.pk).exists():
        raise ServiceError("You are not a member of this conversation's queue.", code="not_in_queue",
                           field="queue", http_status=403)
    return _take(locked, user, now=timezone.now())


def _live_locked(conversation: Conversation, verb: str) -> Conversation:
    locked = (Conversation.objects.select_for_update(of=("self",))
              .select_related("workstream", "queue", "contact", "phone_number", "agent").get(pk=conversation.pk))
    if locked.state not in (ConversationState.OPEN, ConversationState.ACTIVE, ConversationState.WAITING):
        raise ConflictError(f"Conversation #{locked.pk} has ended; it cannot be {verb}.",
                            code="conversation_ended", field="conversation")
    return locked


def _note(by: Any, now: datetime, **fields: Any) -> dict[str, Any]:
    return {"at": now.isoformat(), "by": by.get_username() if getattr(by, "pk", None) else None, **fields}


def _hand_to_agent(locked: Conversation, agent: Any, *, note: dict[str, Any], now: datetime) -> Conversation:
    """Give a live conversation to ``agent`` (capacity permitting), recording ``note`` among its transfers."""
    _require_profile(agent)
    locked.routing_diagnosis = {**(locked.routing_diagnosis or {}),
                                "transfers": [*(locked.routing_diagnosis or {}).get("transfers", []), note]}
    locked.agent = None
    locked.with_bot = False
    locked.save()
    _take(locked, agent, now=now)
    assignment_cycle_enqueue()  # the previous agent's capacity is free again
    return locked


@transaction.atomic
def conversation_transfer(*, conversation: Conversation, by: Any = None, queue: Queue | None = None,
                          agent: Any = None) -> Conversation:
    """Move a live conversation to another queue (it waits there) or straight to an agent."""
    if (queue is None) == (agent is None):
        raise ServiceError("Transfer to a queue or to an agent (one of them).", code="transfer_target",
                           field="queue")
    locked = _live_locked(conversation, "transferred")
    now = timezone.now()
    if queue is not None:
        locked.queue = queue
        locked.agent = None
        locked.state = ConversationState.OPEN
        locked.queued_at = now
        locked.with_bot = False
        locked.routing_diagnosis = {**(locked.routing_diagnosis or {}), "queue": queue.name,
                                    "transfers": [*(locked.routing_diagnosis or {}).get("transfers", []),
                                                  _note(by, now, to_queue=queue.name)]}
        locked.save()
        assignment_cycle_enqueue()
        return locked
    return _hand_to_agent(locked, agent, note=_note(by, now, to_agent=agent.get_username()), now=now)


@transaction.atomic
def conversation_reassign(*, conversation: Conversation, by: Any, agent: Any) -> Conversation:
    """A supervisor gives a live conversation to another agent, whoever holds it now (capacity permitting)."""
    if agent is None:
        raise ServiceError("Choose the agent to reassign the conversation to.", code="reassign_target",
                           field="agent")
    locked = _live_locked(conversation, "reassigned")
    if locked.agent_id == agent.pk and locked.state == ConversationState.ACTIVE:
        raise ConflictError(f"Conversation #{locked.pk} is already assigned to {agent.get_username()}.",
                            code="already_assigned", field="agent")
    now = timezone.now()
    previous = locked.agent.get_username() if locked.agent_id else None
    return _hand_to_agent(locked, agent, note=_note(by, now, to_agent=agent.get_username(), reassigned=True,
                                                    from_agent=previous), now=now)


@transaction.atomic
def agent_presence_set(*, user: Any, presence: str) -> AgentProfile:
    from workstreams.models import Presence

    if presence not in Presence.values:
        raise ServiceError(f"Presence must be one of: {', '.join(Presence.values)}.", code="presence_invalid",
                           field="presence")
    profile = _require_profile(user)
    profile.presence = presence
    profile.presence_changed_at = timezone.now()
    profile.save(update_fields=["presence", "presence_changed_at"])
    if presence in PUSH_PRESENCES:
        assignment_cycle_enqueue()
    return profile


def queue_position(conversation: Conversation) -> int:
    """1 for the next conversation to be served in its queue."""
    if conversation.queue_id is None:
        return 0
    ahead = Conversation.objects.filter(queue_id=conversation.queue_id, state=ConversationState.OPEN,
                                        agent__isnull=True, queued_at__lt=conversation.queued_at or timezone.now())
    return ahead.count() + 1


def agents_reachable(conversation: Conversation) -> tuple[bool, bool]:
    """(some member agent is present for pushed work, some such agent has room for it now)."""
    if conversation.queue is None:
        return False, False
    present = AgentProfile.objects.filter(user__in=conversation.queue.members.all(), presence__in=PUSH_PRESENCES,
                                          user__is_active=True).exists()
    return present, bool(present and candidates(conversation))

