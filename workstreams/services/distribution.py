"""Who gets a conversation: capacity, skills, affinity, the two assignment methods, offers, and the cycle.

Every path that hands a conversation to an agent — the cycle, an accepted offer, pick, take, replying
to an open conversation, resuming or reviving a waiting one, transfer and reassignment — goes through
``_take`` or ``_try_assign`` and so through the same rule: the agent has a profile, belongs to the
conversation's queue, is present and has the free capacity. Present means Available or Busy for work
handed to the agent, and anything but Offline for work the agent takes themselves.

Offers: in push mode a workstream with ``offers_enabled`` offers each conversation to one agent at a
time; the pending offer holds the agent's capacity. A decline or a timeout offers it to the next agent;
an agent who declined it ``OFFER_MAX_DECLINES`` times is not offered it again, and one who lets
``OFFER_MISSED_LIMIT`` offers in a row time out is set Away and told why.

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
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

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
    Offer,
    OfferState,
    OverflowAction,
    OverflowCondition,
    Presence,
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
    offered = (Offer.objects.filter(agent_id__in=agent_ids, state=OfferState.PENDING).order_by()
               .values("agent_id").annotate(total=Sum("cost")))
    for row in offered:  # a pending offer holds the capacity its conversation will use
        used[row["agent_id"]] += row["total"] or 0
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
    history = _offer_history(conversation)
    if history:
        # Not again to whoever declined it too often; the others, those offered it least first.
        pool = [c for c in pool if history.get(c.profile.user_id, (0, 0))[0] < settings.OFFER_MAX_DECLINES]
        pool.sort(key=lambda c: history.get(c.profile.user_id, (0, 0))[1])
    return pool


def _offer_history(conversation: Conversation) -> dict[int, tuple[int, int]]:
    """Per agent: (declines, offers) of this conversation so far."""
    if conversation.pk is None:
        return {}
    rows = (Offer.objects.filter(conversation_id=conversation.pk).order_by().values("agent_id")
            .annotate(declines=Count("pk", filter=Q(state=OfferState.DECLINED)), offers=Count("pk")))
    return {r["agent_id"]: (r["declines"], r["offers"]) for r in rows}


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


#: Presences in which an agent takes work themselves (pick, take, answer, resume, accept): all but Offline.
SELF_TAKE_PRESENCES = tuple(p for p in Presence.values if p != Presence.OFFLINE)


def _lock_if_fits(conversation: Conversation, profile: AgentProfile, *, now: datetime,
                  presences: tuple[str, ...] = PUSH_PRESENCES) -> tuple[Any, Any]:
    """A savepoint and the agent's locked profile when the conversation still fits them (recounted under the
    lock, in one of ``presences``); ``(None, None)`` with the savepoint rolled back (the lock released) when
    not."""
    sid = transaction.savepoint()
    locked = AgentProfile.objects.select_for_update().get(pk=profile.pk)
    fits = locked.capacity - capacity_used([locked.user_id], now=now).get(locked.user_id, 0) \
        >= conversation_cost(conversation)
    if not fits or locked.presence not in presences:
        transaction.savepoint_rollback(sid)  # releases the agent's lock
        return None, None
    return sid, locked


def _try_assign(conversation: Conversation, profile: AgentProfile, *, now: datetime,
                presences: tuple[str, ...] = PUSH_PRESENCES) -> bool:
    """Within the caller's transaction: lock the agent, recount, assign if it still fits."""
    sid, locked = _lock_if_fits(conversation, profile, now=now, presences=presences)
    if locked is None:
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
    """Queues that are open now (or whose out-of-hours overflow rule says "assign anyway") and have at least
    one agent present for pushed work."""
    staffed = Queue.objects.filter(members__agent_profile__presence__in=PUSH_PRESENCES,
                                   members__is_active=True).distinct()
    anyway = set(Queue.objects.filter(overflow_rules__is_active=True,
                                      overflow_rules__condition=OverflowCondition.OUT_OF_HOURS,
                                      overflow_rules__action=OverflowAction.ASSIGN_ANYWAY)
                 .values_list("pk", flat=True))
    return [q.pk for q in staffed.select_related("operating_hours") if q.pk in anyway or queue_is_open(q, now)]


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
                .exclude(pk__in=Offer.objects.filter(state=OfferState.PENDING).values("conversation_id"))
                .select_related("workstream", "queue", "contact", "phone_number")
                .order_by("-queue__priority", "queued_at", "id")
                .first()
            )
            if conversation is None:
                break
            offering = _offers_on(conversation)
            for candidate in candidates(conversation, now=now):
                if offering:
                    if _try_offer(conversation, candidate.profile, now=now):
                        assigned += 1
                        break
                elif _try_assign(conversation, candidate.profile, now=now):
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


def _no_profile_text(user: Any) -> str:
    return _("%(user)s has no agent profile; an administrator can add one under Workstreams → Agent "
             "profiles.") % {"user": user.get_username()}


def _require_profile(user: Any) -> AgentProfile:
    profile = AgentProfile.objects.filter(user=user).first()
    if profile is None:
        raise ServiceError(_no_profile_text(user), code="not_an_agent", field="agent", http_status=403)
    return profile


def _agent_name(user: Any) -> str:
    return user.get_full_name() or user.get_username()


def take_refusal(conversation: Conversation, user: Any, *, by_self: bool = False) -> ServiceError | None:
    """Why distribution would not give ``conversation`` to ``user`` now (None: it would).

    Work handed to an agent (the cycle, a revived conversation, a transfer or reassignment by someone else)
    needs them Available or Busy; work they take themselves (pick, take, answering, resuming, accepting an
    offer) needs only that they are not Offline."""
    profile = AgentProfile.objects.filter(user=user).first()
    if profile is None:
        return ServiceError(_no_profile_text(user), code="not_an_agent", field="agent", http_status=403)
    if not user.is_active:
        return ConflictError(_("%(agent)s is deactivated and takes no work.") % {"agent": _agent_name(user)},
                             code="agent_inactive", field="agent")
    queue = conversation.queue
    if queue is not None and not queue.members.filter(pk=user.pk).exists():
        return ServiceError(_("%(agent)s is not a member of the queue %(queue)s, where this conversation waits.")
                            % {"agent": _agent_name(user), "queue": queue.name},
                            code="not_in_queue", field="agent", http_status=403)
    if by_self and profile.presence not in SELF_TAKE_PRESENCES:
        return ConflictError(_("%(agent)s is Offline: set your presence first to take work.")
                             % {"agent": _agent_name(user)}, code="agent_not_present", field="agent")
    if not by_self and profile.presence not in PUSH_PRESENCES:
        return ConflictError(_("%(agent)s is %(presence)s: only Available or Busy agents are given work.")
                             % {"agent": _agent_name(user), "presence": profile.get_presence_display()},
                             code="agent_not_present", field="agent")
    free, cost = agent_free_capacity(user), conversation_cost(conversation)
    if free < cost:
        return ConflictError(_("%(user)s has no free capacity for this conversation (%(free)s left, %(cost)s "
                               "needed).") % {"user": user.get_username(), "free": free, "cost": cost},
                             code="no_capacity", field="agent")
    return None


def _take(conversation: Conversation, user: Any, *, now: datetime, announce: bool = True,
          by_self: bool = True) -> Conversation:
    """Give the (locked, unassigned) conversation to ``user`` if distribution would; raise why not."""
    refusal = take_refusal(conversation, user, by_self=by_self)
    if refusal is not None:
        raise refusal
    profile = AgentProfile.objects.get(user=user)
    presences = SELF_TAKE_PRESENCES if by_self else PUSH_PRESENCES
    if not _try_assign(conversation, profile, now=now, presences=presences):
        raise take_refusal(conversation, user, by_self=by_self) or ConflictError(
            _("%(user)s cannot take this conversation now; try again.") % {"user": user.get_username()},
            code="no_capacity",
            field="agent")
    offers_withdraw(conversation=conversation, now=now, keep_agent_id=user.pk)
    if announce:
        _after_assignment(conversation)
    return conversation


def conversation_take_by_reply(*, conversation: Conversation, user: Any) -> Conversation:
    """An agent answering an open conversation from its queue takes it, if distribution would give it to them
    (within the caller's transaction, the conversation locked)."""
    return _take(conversation, user, now=timezone.now(), announce=False)


def conversation_revive(*, conversation: Conversation, now: datetime | None = None) -> Conversation:
    """The customer wrote in a waiting conversation (locked by the caller): back to the agent who had it when
    distribution would give it to them, else into its queue, where routing's overflow rules and the cycle
    take over (the agent keeps the first claim through affinity)."""
    now = now or timezone.now()
    agent = conversation.agent
    conversation.state = ConversationState.OPEN
    conversation.agent = None
    conversation.save(update_fields=["state", "agent", "updated_at"])
    if agent is not None and take_refusal(conversation, agent, by_self=False) is None:
        profile = AgentProfile.objects.get(user=agent)
        if _try_assign(conversation, profile, now=now):
            return conversation
    conversation.queued_at = now
    conversation.save(update_fields=["queued_at", "updated_at"])
    from .overflow import conversation_overflow

    conversation_overflow(conversation=conversation, now=now)
    assignment_cycle_enqueue()
    return conversation


# --- Offers ----------------------------------------------------------------------------------------------


def _offers_on(conversation: Conversation) -> bool:
    ws = conversation.workstream
    return ws is not None and ws.offers_enabled and ws.distribution_mode == DistributionMode.PUSH


def _try_offer(conversation: Conversation, profile: AgentProfile, *, now: datetime) -> Offer | None:
    """Within the caller's transaction (the conversation locked): offer it to the agent if it still fits them."""
    sid, locked = _lock_if_fits(conversation, profile, now=now)
    if locked is None:
        return None
    timeout = conversation.workstream.offer_timeout if conversation.workstream else 60
    offer = Offer.objects.create(conversation=conversation, agent_id=locked.user_id, state=OfferState.PENDING,
                                 cost=conversation_cost(conversation), created_at=now,
                                 expires_at=now + timedelta(seconds=timeout))
    locked.last_assigned_at = now  # round robin turns with offers, accepted or not
    locked.save(update_fields=["last_assigned_at"])
    transaction.savepoint_commit(sid)
    logger.info("conversation %s offered to agent %s for %ss", conversation.pk, locked.user_id, timeout)
    return offer


def offers_withdraw(*, conversation: Conversation, now: datetime | None = None, keep_agent_id: int | None = None
                    ) -> int:
    """The conversation left the queue another way: its pending offer (if any) is withdrawn. An offer to
    ``keep_agent_id`` — who just took it — counts as accepted."""
    now = now or timezone.now()
    pending = Offer.objects.filter(conversation_id=conversation.pk, state=OfferState.PENDING)
    if keep_agent_id is not None:
        pending.filter(agent_id=keep_agent_id).update(state=OfferState.ACCEPTED, answered_at=now)
    return pending.update(state=OfferState.WITHDRAWN, answered_at=now)


def _offers_of_agent_withdraw(agent_id: int) -> None:
    """The agent no longer takes pushed work: their other pending offers go to the next agents."""
    if Offer.objects.filter(agent_id=agent_id, state=OfferState.PENDING).update(
            state=OfferState.WITHDRAWN, answered_at=timezone.now()):
        assignment_cycle_enqueue()


def _offer_for(offer_id: int, user: Any) -> Offer:
    from .access import AccessRefused

    offer = (Offer.objects.select_related("conversation").filter(pk=offer_id, agent_id=getattr(user, "pk", None))
             .first())
    if offer is None:
        raise AccessRefused(_("There is no offer #%(id)s for you.") % {"id": offer_id}, code="not_found",
                            http_status=404)
    return offer


def _answered_refusal(offer: Offer) -> ConflictError:
    if offer.state == OfferState.EXPIRED:
        text = _("This offer timed out; the conversation went to the next agent.")
    elif offer.state == OfferState.WITHDRAWN:
        text = _("This offer was withdrawn: the conversation was taken or moved.")
    else:
        text = _("You have already answered this offer (%(answer)s).") % {"answer": offer.get_state_display()}
    return ConflictError(text, code="offer_answered", field="offer")


def offer_accept(*, offer_id: int, user: Any) -> Conversation:
    """The agent accepts an offer: the conversation is theirs (the rules of ``_take`` still apply)."""
    _offer_for(offer_id, user)
    now = timezone.now()
    with transaction.atomic():
        conversation = (Conversation.objects.select_for_update(of=("self",))
                        .select_related("workstream", "queue", "contact", "phone_number")
                        .get(offers__pk=offer_id))
        offer = Offer.objects.select_for_update().get(pk=offer_id)
        if offer.state == OfferState.PENDING and offer.expires_at <= now:
            _offer_expire(offer, now=now)
        elif offer.state == OfferState.PENDING:
            if conversation.state != ConversationState.OPEN or conversation.agent_id:
                offer.state, offer.answered_at = OfferState.WITHDRAWN, now
                offer.save(update_fields=["state", "answered_at"])
            else:
                offer.state, offer.answered_at = OfferState.ACCEPTED, now  # its capacity is the conversation's now
                offer.save(update_fields=["state", "answered_at"])
                AgentProfile.objects.filter(user=user).update(offers_missed=0)
                _take(conversation, user, now=now)  # a refusal rolls the acceptance back: the offer stays
                return conversation
    raise _answered_refusal(Offer.objects.get(pk=offer_id))


def offer_decline(*, offer_id: int, user: Any) -> Offer:
    """The agent declines an offer: it goes to the next agent (after OFFER_MAX_DECLINES declines, never again to
    this one)."""
    _offer_for(offer_id, user)
    now = timezone.now()
    with transaction.atomic():
        offer = Offer.objects.select_for_update().get(pk=offer_id)
        if offer.state == OfferState.PENDING:
            offer.state, offer.answered_at = OfferState.DECLINED, now
            offer.save(update_fields=["state", "answered_at"])
            AgentProfile.objects.filter(user=user).update(offers_missed=0)
            assignment_cycle_enqueue()
            return offer
    raise _answered_refusal(offer)


def _offer_expire(offer: Offer, *, now: datetime) -> None:
    """Within a transaction, the offer locked: it timed out; the agent's missed offers count up, and at
    OFFER_MISSED_LIMIT the agent is set Away and told."""
    offer.state, offer.answered_at = OfferState.EXPIRED, now
    offer.save(update_fields=["state", "answered_at"])
    profile = AgentProfile.objects.select_for_update().filter(user_id=offer.agent_id).first()
    if profile is not None:
        profile.offers_missed += 1
        fields = ["offers_missed"]
        limit = settings.OFFER_MISSED_LIMIT
        if limit and profile.offers_missed >= limit and profile.presence in PUSH_PRESENCES:
            profile.presence = Presence.AWAY
            profile.presence_changed_at = now
            profile.presence_notice = ngettext(
                "You missed %(count)s offer, so your presence was set to Away and no work is offered to you. Set "
                "your presence to Available when you are back.",
                "You missed %(count)s offers in a row, so your presence was set to Away and no work is offered "
                "to you. Set your presence to Available when you are back.",
                profile.offers_missed) % {"count": profile.offers_missed}
            fields += ["presence", "presence_changed_at", "presence_notice"]
            logger.info("agent %s missed %s offers in a row: set away", profile.user_id, profile.offers_missed)
        profile.save(update_fields=fields)
        if profile.presence not in PUSH_PRESENCES:
            _offers_of_agent_withdraw(profile.user_id)
    assignment_cycle_enqueue()


def offers_expire_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Time out the pending offers whose time is up (the cycle and the console's polls call this)."""
    now = now or timezone.now()
    expired = 0
    while expired < limit:
        with transaction.atomic():
            offer = (Offer.objects.select_for_update(skip_locked=True)
                     .filter(state=OfferState.PENDING, expires_at__lte=now).order_by("expires_at", "id").first())
            if offer is None:
                break
            _offer_expire(offer, now=now)
            expired += 1
    return expired


def offers_pending_for(user: Any) -> list[Offer]:
    return list(Offer.objects.filter(agent_id=user.pk, state=OfferState.PENDING)
                .select_related("conversation__contact", "conversation__queue", "conversation__phone_number")
                .order_by("expires_at", "id"))


@transaction.atomic
def conversation_pick_next(*, user: Any) -> Conversation:
    """Pick mode: the agent takes the next conversation from the queues they belong to."""
    _require_profile(user)
    now = timezone.now()
    conversation = (
        Conversation.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(state=ConversationState.OPEN, agent__isnull=True, with_bot=False, queue__members=user)
        .exclude(pk__in=Offer.objects.filter(state=OfferState.PENDING).exclude(agent=user)
                 .values("conversation_id"))
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
        raise ConflictError(_("Someone else has already taken this conversation."), code="already_taken",
                            field="conversation")
    if locked.with_bot:
        raise ConflictError(_("A bot is still handling this conversation."), code="with_bot", field="conversation")
    if not locked.queue or not locked.queue.members.filter(pk=user.pk).exists():
        raise ServiceError(_("You are not a member of this conversation's queue."), code="not_in_queue",
                           field="queue", http_status=403)
    return _take(locked, user, now=timezone.now())


def _live_locked(conversation: Conversation, refusal: str) -> Conversation:
    locked = (Conversation.objects.select_for_update(of=("self",))
              .select_related("workstream", "queue", "contact", "phone_number", "agent").get(pk=conversation.pk))
    if locked.state not in (ConversationState.OPEN, ConversationState.ACTIVE, ConversationState.WAITING):
        raise ConflictError(refusal % {"id": locked.pk},
                            code="conversation_ended", field="conversation")
    return locked


def _note(by: Any, now: datetime, **fields: Any) -> dict[str, Any]:
    return {"at": now.isoformat(), "by": by.get_username() if getattr(by, "pk", None) else None, **fields}


def _hand_to_agent(locked: Conversation, agent: Any, *, note: dict[str, Any], now: datetime,
                   by: Any = None) -> Conversation:
    """Give a live conversation to ``agent`` (if distribution would), recording ``note`` among its transfers."""
    _require_profile(agent)
    locked.routing_diagnosis = {**(locked.routing_diagnosis or {}),
                                "transfers": [*(locked.routing_diagnosis or {}).get("transfers", []), note]}
    locked.agent = None
    locked.with_bot = False
    locked.state = ConversationState.OPEN  # not counted as the previous agent's while the target is checked
    locked.save()
    _take(locked, agent, now=now, by_self=getattr(by, "pk", None) == agent.pk)
    assignment_cycle_enqueue()  # the previous agent's capacity is free again
    return locked


@transaction.atomic
def conversation_transfer(*, conversation: Conversation, by: Any = None, queue: Queue | None = None,
                          agent: Any = None) -> Conversation:
    """Move a live conversation to another queue (it waits there) or straight to an agent."""
    if (queue is None) == (agent is None):
        raise ServiceError(_("Transfer to a queue or to an agent (one of them)."), code="transfer_target",
                           field="queue")
    locked = _live_locked(conversation, _("Conversation #%(id)s has ended; it cannot be transferred."))
    now = timezone.now()
    if queue is not None:
        if not queue.members.filter(is_active=True).exists():
            raise ConflictError(_("The queue %(queue)s has no members: nobody would answer the conversation "
                                  "there. Choose another queue or an agent.") % {"queue": queue.name},
                                code="queue_unstaffed", field="queue")
        offers_withdraw(conversation=locked, now=now)
        locked.queue = queue
        locked.agent = None
        locked.state = ConversationState.OPEN
        locked.queued_at = now
        locked.with_bot = False
        locked.routing_diagnosis = {**(locked.routing_diagnosis or {}), "queue": queue.name,
                                    "transfers": [*(locked.routing_diagnosis or {}).get("transfers", []),
                                                  _note(by, now, to_queue=queue.name)]}
        locked.save()
        from .overflow import conversation_overflow

        conversation_overflow(conversation=locked, now=now)
        assignment_cycle_enqueue()
        return locked
    return _hand_to_agent(locked, agent, note=_note(by, now, to_agent=agent.get_username()), now=now, by=by)


@transaction.atomic
def conversation_reassign(*, conversation: Conversation, by: Any, agent: Any) -> Conversation:
    """A supervisor gives a live conversation to another agent, whoever holds it now (capacity permitting)."""
    if agent is None:
        raise ServiceError(_("Choose the agent to reassign the conversation to."), code="reassign_target",
                           field="agent")
    locked = _live_locked(conversation, _("Conversation #%(id)s has ended; it cannot be reassigned."))
    if locked.agent_id == agent.pk and locked.state == ConversationState.ACTIVE:
        raise ConflictError(_("Conversation #%(id)s is already assigned to %(agent)s.")
                            % {"id": locked.pk, "agent": agent.get_username()},
                            code="already_assigned", field="agent")
    now = timezone.now()
    previous = locked.agent.get_username() if locked.agent_id else None
    return _hand_to_agent(locked, agent, note=_note(by, now, to_agent=agent.get_username(), reassigned=True,
                                                    from_agent=previous), now=now, by=by)


@transaction.atomic
def agent_presence_set(*, user: Any, presence: str) -> AgentProfile:
    from workstreams.models import Presence

    if presence not in Presence.values:
        raise ServiceError(_("Presence must be one of: %(choices)s.") % {"choices": ", ".join(Presence.values)},
                           code="presence_invalid",
                           field="presence")
    profile = _require_profile(user)
    profile.presence = presence
    profile.presence_changed_at = timezone.now()
    profile.offers_missed = 0
    profile.presence_notice = ""  # the agent has seen why the hub changed it
    profile.save(update_fields=["presence", "presence_changed_at", "offers_missed", "presence_notice"])
    if presence not in PUSH_PRESENCES:
        _offers_of_agent_withdraw(user.pk)
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

