"""Who may see and do what with conversations: the one place that decides, for the agent console, the REST
API, attachment downloads, the queues list and the admin's conversation pages.

Roles (one user may hold several; what they may do is the union):

- **Agent**: an active staff user with an agent profile and the permission to view conversations (and the
  permission to change them, to act). Sees the conversations assigned to them, the open conversations of
  their queues and — read only — the other conversations of the customers they are serving (a
  conversation with them active, waiting or in wrap-up). Acts (reply, template, take, transfer, wait,
  resume, end, retry, note, consult, case) on the conversations assigned to them and on the open ones of
  their queues. An agent invited to consult on a conversation reads it and adds notes, nothing more.
- **Supervisor**: an active staff user with *Can supervise conversations* (the *Supervisors* group has it),
  listed as a supervisor on queues or workstreams. Sees every conversation of those, and monitors,
  transfers, reassigns, force-closes, adds notes, consults and links cases on them.
- **Administrator**: an active staff superuser, or a staff user with *Can see and act on every
  conversation*. Sees and does everything.

Refusals: a conversation the user may not see at all does not exist for them (404, the same answer as an
id that exists nowhere); one they may see but not act on in that way is a 403 that says why. The rules of
the work itself (a closed conversation takes no reply, capacity, the 24-hour window…) stay in the services.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet, Value
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from config.exceptions import ServiceError
from workstreams.models import AgentProfile, Conversation, ConversationConsult, ConversationState, Queue, Workstream


class AccessRefused(ServiceError):
    """The user may not see (404) or do (403) this; raised by this module only."""


VIEW_PERMISSION = "workstreams.view_conversation"
CHANGE_PERMISSION = "workstreams.change_conversation"
SUPERVISE_PERMISSION = "workstreams.supervise_conversation"
ADMIN_PERMISSION = "workstreams.manage_all_conversations"
#: The backend that holds permissions (the other one only throttles sign-ins), for ``User.objects.with_perm``.
PERMISSION_BACKEND = "django.contrib.auth.backends.ModelBackend"

#: A customer is being served by the agent of a conversation in one of these states.
SERVING_STATES = (ConversationState.ACTIVE, ConversationState.WAITING, ConversationState.WRAP_UP)


class Action(StrEnum):
    READ = "read"  # the conversation, its thread, routing diagnosis and attachments
    REPLY = "reply"  # free text or an approved template
    TAKE = "take"
    TRANSFER = "transfer"  # to a queue, or handed to an agent
    REASSIGN = "reassign"  # a supervisor gives it to an agent, whoever holds it
    WAIT = "wait"
    RESUME = "resume"
    END = "end"
    FORCE_CLOSE = "force_close"
    RETRY = "retry"
    NOTE = "note"  # an internal note: never sent to the customer
    CONSULT = "consult"  # invite another agent to read and add notes
    CASE = "case"  # link the conversation to a support case


#: What an agent may do to a conversation assigned to them or open in one of their queues.
AGENT_ACTIONS = frozenset({Action.READ, Action.REPLY, Action.TAKE, Action.TRANSFER, Action.WAIT, Action.RESUME,
                           Action.END, Action.RETRY, Action.NOTE, Action.CONSULT, Action.CASE})
#: What a supervisor may do to every conversation of the queues and workstreams they supervise.
SUPERVISOR_ACTIONS = frozenset({Action.READ, Action.TRANSFER, Action.REASSIGN, Action.FORCE_CLOSE, Action.NOTE,
                                Action.CONSULT, Action.CASE})
#: What an agent invited to consult may do: read the conversation and add internal notes (no capacity is taken).
CONSULT_ACTIONS = frozenset({Action.READ, Action.NOTE})

#: Each action as the refusals name it ("… but not %(action)s it", "… can %(action)s conversation #4").
VERBS = {
    Action.READ: pgettext_lazy("refused action", "read"),
    Action.REPLY: pgettext_lazy("refused action", "reply in"),
    Action.TAKE: pgettext_lazy("refused action", "take"),
    Action.TRANSFER: pgettext_lazy("refused action", "transfer"),
    Action.REASSIGN: pgettext_lazy("refused action", "reassign"),
    Action.WAIT: pgettext_lazy("refused action", "set to waiting"),
    Action.RESUME: pgettext_lazy("refused action", "resume"),
    Action.END: pgettext_lazy("refused action", "end"),
    Action.FORCE_CLOSE: pgettext_lazy("refused action", "force-close"),
    Action.RETRY: pgettext_lazy("refused action", "retry messages in"),
    Action.NOTE: pgettext_lazy("refused action", "add notes to"),
    Action.CONSULT: pgettext_lazy("refused action", "invite others to"),
    Action.CASE: pgettext_lazy("refused action", "link a case to"),
}


@dataclass(frozen=True)
class Roles:
    """What one user is, as far as conversations go."""

    user: Any
    staff: bool  # active and staff: the door to the console and the conversation API
    admin: bool
    supervisor: bool
    has_profile: bool
    agent: bool  # an agent profile and the view permission
    agent_acts: bool  # ... and the change permission

    @property
    def any(self) -> bool:
        return self.staff and (self.admin or self.supervisor or self.agent)


def user_roles(user: Any) -> Roles:
    if not (user is not None and user.is_authenticated and user.is_active):
        return Roles(user, staff=False, admin=False, supervisor=False, has_profile=False, agent=False,
                     agent_acts=False)
    staff = bool(user.is_staff)
    has_profile = AgentProfile.objects.filter(user_id=user.pk).exists()
    agent = staff and has_profile and user.has_perm(VIEW_PERMISSION)
    return Roles(
        user, staff=staff,
        admin=staff and (user.is_superuser or user.has_perm(ADMIN_PERMISSION)),
        supervisor=staff and user.has_perm(SUPERVISE_PERMISSION),
        has_profile=has_profile, agent=agent, agent_acts=agent and user.has_perm(CHANGE_PERMISSION),
    )


# --- Refusals of the whole door ------------------------------------------------------------------

PERMISSION_HINT = gettext_lazy("an administrator can grant it in the admin under Users (or through a group).")


def _not_an_agent(user: Any) -> AccessRefused:
    return AccessRefused(_("%(user)s has no agent profile; an administrator can add one under Workstreams → Agent "
                           "profiles.") % {"user": user.get_username()},
                         code="not_an_agent", field="agent", http_status=403)


def access_refusal(roles: Roles) -> AccessRefused | None:
    """Why this user may not work with conversations at all (console and API alike), or None."""
    user = roles.user
    if not roles.staff:
        return AccessRefused(_("%(user)s is not an active staff user; the agent console and the conversation API "
                               "are for staff. An administrator can tick “Staff status” on the user in the admin.")
                             % {"user": user.get_username()}, code="not_staff", http_status=403)
    if roles.admin or roles.supervisor:
        return None
    if not roles.has_profile:
        return _not_an_agent(user)
    if not roles.agent:
        return AccessRefused(_("You need the permission to view conversations to use the agent console; %(hint)s")
                             % {"hint": PERMISSION_HINT}, code="permission_denied", http_status=403)
    return None


def access_require(user: Any) -> Roles:
    roles = user_roles(user)
    refusal = access_refusal(roles)
    if refusal is not None:
        raise refusal
    return roles


def agent_work_require(user: Any) -> Roles:
    """Taking work for oneself (pick the next conversation): an agent with the change permission."""
    roles = access_require(user)
    if not roles.has_profile:
        raise _not_an_agent(user)
    if not roles.agent_acts:
        raise AccessRefused(_("You need the permissions to view and change conversations to take work; %(hint)s")
                            % {"hint": PERMISSION_HINT}, code="permission_denied", http_status=403)
    return roles


# --- Scopes, as SQL ------------------------------------------------------------------------------


def _member_queue_ids(user: Any) -> QuerySet:
    return Queue.members.through.objects.filter(user_id=user.pk).values("queue_id")


def _scopes(roles: Roles) -> dict[str, Q | None]:
    """Each reason a conversation is in the user's reach, as a filter (None: that reason does not apply)."""
    pk = roles.user.pk
    scopes: dict[str, Q | None] = {"work": None, "history": None, "supervised": None, "consult": None}
    if roles.agent:
        scopes["work"] = Q(agent_id=pk) | Q(state=ConversationState.OPEN, queue_id__in=_member_queue_ids(roles.user))
        serving = Conversation.objects.filter(agent_id=pk, state__in=SERVING_STATES).values("contact_id")
        scopes["history"] = Q(contact_id__in=serving)
        # A consult lasts while the conversation does: once it is closed, the invited agent's access ends.
        scopes["consult"] = Q(pk__in=ConversationConsult.objects.filter(agent_id=pk, ended_at__isnull=True)
                              .values("conversation_id")) & ~Q(state=ConversationState.CLOSED)
    if roles.supervisor:
        scopes["supervised"] = (
            Q(queue_id__in=Queue.supervisors.through.objects.filter(user_id=pk).values("queue_id"))
            | Q(workstream_id__in=Workstream.supervisors.through.objects.filter(user_id=pk).values("workstream_id"))
        )
    return scopes


def _visible(roles: Roles) -> Q | None:
    """None: nothing is visible."""
    found = [q for q in _scopes(roles).values() if q is not None]
    if not found:
        return None
    combined = found[0]
    for q in found[1:]:
        combined |= q
    return combined


def conversations_visible_to(user: Any, queryset: QuerySet[Conversation] | None = None) -> QuerySet[Conversation]:
    """The conversations ``user`` may see, as a filter on ``queryset`` (default: all conversations)."""
    queryset = Conversation.objects.all() if queryset is None else queryset
    roles = user_roles(user)
    if not roles.any:
        return queryset.none()
    if roles.admin:
        return queryset
    visible = _visible(roles)
    return queryset.filter(visible) if visible is not None else queryset.none()


def conversations_supervised_by(user: Any, queryset: QuerySet[Conversation] | None = None) -> QuerySet[Conversation]:
    """The conversations of the queues and workstreams ``user`` supervises (none for a non-supervisor)."""
    queryset = Conversation.objects.all() if queryset is None else queryset
    roles = user_roles(user)
    supervised = _scopes(roles)["supervised"] if roles.staff else None
    return queryset.filter(supervised) if supervised is not None else queryset.none()


def queues_visible_to(user: Any, queryset: QuerySet[Queue] | None = None) -> QuerySet[Queue]:
    """Queues the user belongs to or supervises; all of them for an administrator."""
    queryset = Queue.objects.all() if queryset is None else queryset
    roles = user_roles(user)
    if not roles.any:
        return queryset.none()
    if roles.admin:
        return queryset
    reach = Q(pk__in=_member_queue_ids(user)) if roles.agent else Q(pk__in=[])
    if roles.supervisor:
        reach |= Q(pk__in=Queue.supervisors.through.objects.filter(user_id=user.pk).values("queue_id"))
    return queryset.filter(reach)


# --- One conversation --------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationAccess:
    roles: Roles
    conversation: Conversation
    work: bool = False  # assigned to the agent, or open in one of their queues
    history: bool = False  # another conversation of a customer they are serving
    supervised: bool = False
    consult: bool = False  # invited by its agent (or a supervisor) to read it and add notes

    @property
    def visible(self) -> bool:
        return self.roles.any and (self.roles.admin or self.work or self.history or self.supervised or self.consult)

    def allows(self, action: Action) -> bool:
        if not self.visible:
            return False
        if self.roles.admin or action == Action.READ:
            return True
        if self.supervised and action in SUPERVISOR_ACTIONS:
            return True
        if self.consult and action in CONSULT_ACTIONS:
            return True
        return self.work and self.roles.agent_acts and action in AGENT_ACTIONS

    @property
    def allowed(self) -> frozenset[Action]:
        """Every action allowed, e.g. for a page to show only the buttons that work."""
        return frozenset(a for a in Action if self.allows(a))

    def refusal(self, action: Action) -> AccessRefused | None:
        if self.allows(action):
            return None
        conversation = self.conversation
        if not self.visible:
            return AccessRefused(_("There is no conversation #%(id)s that you may see.") % {"id": conversation.pk},
                                 code="not_found", http_status=404)
        verb = VERBS[action]
        if action in (Action.REASSIGN, Action.FORCE_CLOSE):
            return AccessRefused(_("Only a supervisor of this conversation's queue or workstream, or an "
                                   "administrator, can %(action)s conversation #%(id)s.")
                                 % {"action": verb, "id": conversation.pk},
                                 code="supervisors_only", http_status=403)
        if self.work and not self.roles.agent_acts:
            return AccessRefused(_("You need the permission to change conversations to answer or act on them; "
                                   "%(hint)s") % {"hint": PERMISSION_HINT}, code="permission_denied", http_status=403)
        holder = conversation.agent
        held = (_("it is assigned to %(agent)s") % {"agent": holder.get_full_name() or holder.get_username()}
                if holder is not None
                else _("it is %(state)s") % {"state": conversation.get_state_display().lower()})
        if self.consult:
            why = _("an agent invited to consult reads the conversation and adds notes")
        elif self.supervised:
            why = _("supervisors monitor, transfer, reassign and force-close; the rest is for the agent it is "
                    "assigned to")
        else:
            why = _("agents act on the conversations assigned to them and on open conversations of their queues")
        return AccessRefused(_("You may read conversation #%(id)s but not %(action)s it (%(held)s): %(why)s.")
                             % {"id": conversation.pk, "action": verb, "held": held, "why": why},
                             code="not_your_conversation", http_status=403)


def _flag(q: Q | None) -> Any:
    return ExpressionWrapper(q, output_field=BooleanField()) if q is not None else Value(False)


def conversation_access(user: Any, conversation: Conversation) -> ConversationAccess:
    """Everything ``user`` may do with ``conversation``, decided with one query."""
    roles = user_roles(user)
    if not roles.any or roles.admin:
        return ConversationAccess(roles, conversation)
    scopes = _scopes(roles)
    flags = (Conversation.objects.filter(pk=conversation.pk)
             .annotate(**{f"is_{name}": _flag(q) for name, q in scopes.items()})
             .values("is_work", "is_history", "is_supervised", "is_consult").first()) or {}
    return ConversationAccess(roles, conversation, work=bool(flags.get("is_work")),
                              history=bool(flags.get("is_history")), supervised=bool(flags.get("is_supervised")),
                              consult=bool(flags.get("is_consult")))


def conversation_can(user: Any, action: Action | str, conversation: Conversation) -> bool:
    return conversation_access(user, conversation).allows(Action(action))


def conversation_require(user: Any, action: Action | str, conversation: Conversation) -> ConversationAccess:
    """The user's access to the conversation, or the ServiceError (404 or 403) saying why not."""
    access = conversation_access(user, conversation)
    refusal = access.refusal(Action(action))
    if refusal is not None:
        raise refusal
    return access
