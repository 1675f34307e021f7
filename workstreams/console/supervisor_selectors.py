"""Reads for the supervisor view: each supervised queue's live figures (waiting, active, oldest wait, service
level), each of its agents' presence and load against capacity with their current conversations, and the
live conversations a supervisor may reassign, transfer or force-close.

Scope is workstreams.services.access's: an administrator sees every queue and agent; a supervisor the queues
they supervise, the queues their supervised workstreams route to, and the members of those queues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, DateTimeField, ExpressionWrapper, F, Min, Q, QuerySet
from django.utils import timezone

from workstreams.models import (
    LIVE_STATES,
    AgentProfile,
    Conversation,
    ConversationState,
    Presence,
    Queue,
    RoutingRule,
    Workstream,
)
from workstreams.services.access import Roles, conversations_supervised_by, conversations_visible_to, user_roles
from workstreams.services.distribution import capacity_used

from .selectors import ago_label, duration_label

#: The service level counts the conversations that entered a queue this long ago or later.
SERVICE_LEVEL_PERIOD = timedelta(hours=24)
#: States in which a conversation holds an agent's attention (wrap-up may still use capacity).
CURRENT_STATES = (ConversationState.ACTIVE, ConversationState.WAITING, ConversationState.WRAP_UP)
LIST_LIMIT = 100  # live conversations listed (the queue figures count them all)


def service_level_target() -> timedelta:
    return timedelta(seconds=settings.SERVICE_LEVEL_SECONDS)


def supervised_queues(user: Any, roles: Roles | None = None) -> QuerySet[Queue]:
    """The queues on ``user``'s supervisor board (all of them for an administrator)."""
    roles = roles or user_roles(user)
    if roles.admin:
        return Queue.objects.all()
    if not (roles.staff and roles.supervisor):
        return Queue.objects.none()
    workstreams = Workstream.supervisors.through.objects.filter(user_id=user.pk).values("workstream_id")
    routed = RoutingRule.objects.filter(workstream_id__in=workstreams).values("queue_id")
    direct = Queue.supervisors.through.objects.filter(user_id=user.pk).values("queue_id")
    return Queue.objects.filter(Q(pk__in=direct) | Q(pk__in=routed))


@dataclass
class QueueFigures:
    queue: Queue
    waiting: int
    active: int
    oldest: datetime | None
    oldest_label: str
    answered_in_time: int
    counted: int
    agents_online: int
    agents_total: int

    @property
    def service_level(self) -> int | None:
        """Percent of the counted conversations an agent took within the target (None: nothing counted yet)."""
        return round(100 * self.answered_in_time / self.counted) if self.counted else None


@dataclass
class AgentFigures:
    profile: AgentProfile
    used: int
    current: list[Conversation] = field(default_factory=list)
    hidden: int = 0  # current conversations outside what the supervisor may see

    @property
    def capacity(self) -> int:
        return self.profile.capacity

    @property
    def load_percent(self) -> int:
        return min(100, round(100 * self.used / self.capacity)) if self.capacity else 100

    @property
    def full(self) -> bool:
        return self.used >= self.capacity


@dataclass
class Board:
    queues: list[QueueFigures]
    agents: list[AgentFigures]
    conversations: list[Conversation]
    transfer_queues: list[Queue]
    reassign_agents: list[AgentProfile]
    target: timedelta
    now: datetime

    @property
    def waiting_total(self) -> int:
        return sum(q.waiting for q in self.queues)


def _queue_figures(queues: QuerySet[Queue], *, now: datetime) -> list[QueueFigures]:
    target = service_level_target()
    waiting = Q(conversations__state=ConversationState.OPEN, conversations__agent__isnull=True,
                conversations__with_bot=False)
    recent = Q(conversations__queued_at__gte=now - SERVICE_LEVEL_PERIOD, conversations__with_bot=False)
    # Taken by an agent after it last entered the queue, within the target:
    answered = Q(conversations__assigned_at__gte=F("conversations__queued_at"))
    deadline = ExpressionWrapper(F("conversations__queued_at") + target, output_field=DateTimeField())
    in_time = answered & Q(conversations__assigned_at__lte=deadline)
    # Counted once it was answered, or once the target has passed without an answer:
    counted = answered | Q(conversations__queued_at__lte=now - target)
    rows = list(queues.annotate(
        waiting=Count("conversations", filter=waiting),
        active=Count("conversations", filter=Q(conversations__state=ConversationState.ACTIVE)),
        oldest=Min("conversations__queued_at", filter=waiting),
        answered_in_time=Count("conversations", filter=recent & in_time),
        counted=Count("conversations", filter=recent & counted),
    ).order_by("-priority", "name"))
    members = (Queue.members.through.objects.filter(queue_id__in=[q.pk for q in rows], user__is_active=True,
                                                    user__agent_profile__isnull=False)
               .values_list("queue_id", "user__agent_profile__presence"))
    online: dict[int, int] = {}
    total: dict[int, int] = {}
    for queue_id, presence in members:
        total[queue_id] = total.get(queue_id, 0) + 1
        if presence != Presence.OFFLINE:
            online[queue_id] = online.get(queue_id, 0) + 1
    return [QueueFigures(queue=q, waiting=q.waiting, active=q.active, oldest=q.oldest,
                         oldest_label=duration_label((now - q.oldest).total_seconds()) if q.oldest else "",
                         answered_in_time=q.answered_in_time, counted=q.counted,
                         agents_online=online.get(q.pk, 0), agents_total=total.get(q.pk, 0)) for q in rows]


def _listed() -> QuerySet[Conversation]:
    return Conversation.objects.select_related("contact", "queue", "agent", "workstream")


def supervisor_board(*, user: Any, roles: Roles | None = None) -> Board:
    roles = roles or user_roles(user)
    now = timezone.now()
    queues = supervised_queues(user, roles)
    figures = _queue_figures(queues, now=now)
    if roles.admin:
        profiles = AgentProfile.objects.filter(user__is_active=True)
        seen = conversations_visible_to(user, _listed())
    else:
        profiles = AgentProfile.objects.filter(user__is_active=True, user__queues__in=queues).distinct()
        seen = conversations_supervised_by(user, _listed())
    profiles = list(profiles.select_related("user").order_by("user__first_name", "user__last_name",
                                                               "user__username"))
    ids = [p.user_id for p in profiles]
    used = capacity_used(ids, now=now)
    current = list(seen.filter(agent_id__in=ids, state__in=CURRENT_STATES).order_by("assigned_at", "id"))
    held = dict(Conversation.objects.filter(agent_id__in=ids, state__in=CURRENT_STATES).order_by()
                .values("agent_id").annotate(n=Count("pk")).values_list("agent_id", "n"))
    by_agent: dict[int, list[Conversation]] = {}
    for conversation in current:
        conversation.since_label = ago_label(conversation.assigned_at, now)
        by_agent.setdefault(conversation.agent_id, []).append(conversation)
    agents = [AgentFigures(profile=p, used=used.get(p.user_id, 0), current=by_agent.get(p.user_id, []),
                           hidden=held.get(p.user_id, 0) - len(by_agent.get(p.user_id, []))) for p in profiles]
    live = list(seen.filter(state__in=LIVE_STATES)
                .order_by(F("agent_id").asc(nulls_first=True), "-queue__priority", F("queued_at").asc(nulls_last=True),
                          "id")[:LIST_LIMIT])
    for conversation in live:
        conversation.waiting_label = (duration_label((now - conversation.queued_at).total_seconds())
                                      if conversation.queued_at and conversation.state == ConversationState.OPEN
                                      else "")
        conversation.since_label = ago_label(conversation.assigned_at, now) if conversation.agent_id else ""
    return Board(queues=figures, agents=agents, conversations=live,
                 transfer_queues=list(Queue.objects.order_by("-priority", "name")),
                 reassign_agents=profiles, target=service_level_target(), now=now)
