"""The agent console's pages, their form posts and the two JSON endpoints the pages poll.

Every post calls the same service as the REST API. A refusal shows the service's message: as
JSON (``{"error", "detail", "field"}``, the API's shape) when the page posted with fetch, else on
the page itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from django.contrib import admin
from django.contrib import messages as flash
from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from channels_app.models import Attachment, Message
from channels_app.services.delivery import MAX_MESSAGE_LENGTH
from config.exceptions import ServiceError
from config.inputs import db_count, db_id
from workstreams import services
from workstreams.models import LIVE_STATES, AgentProfile, Conversation, ConversationOutcome, ConversationState, Presence
from workstreams.services import access, composer, distribution, notes, wrapup
from workstreams.services.access import Action
from workstreams.services.routing import routing_lines

from . import selectors
from .forms import ForceCloseForm, ReassignForm, ReplyForm, TemplateForm, TransferForm
from .services import conversation_mark_read

#: Each poll looks this far behind its cursor, so a message whose transaction committed late still shows.
POLL_OVERLAP = timedelta(seconds=60)
#: The earliest poll cursor; an earlier one asks for the same thing (every message).
EARLIEST_CURSOR = datetime(1970, 1, 1, tzinfo=UTC)
#: Attachments shown in the page itself; any other type is downloaded, never rendered from our origin.
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _json_error(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status)


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, template, {"hub_name": admin.site.site_header, **context}, status=status)


def console_view(*, json: bool = False):
    """The console's door, as workstreams.services.access keeps it: an active staff agent (profile and the
    permission to view conversations), a supervisor or an administrator. Anonymous and non-staff users go to
    the admin login; the others are told what is missing."""

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            user = request.user
            roles = access.user_roles(user)
            if not roles.staff:
                if json or _wants_json(request):
                    return _json_error("not_logged_in", _("Your session has ended; reload the page to log in again."),
                                       401)
                return redirect_to_login(request.get_full_path(), reverse("admin:login"))
            refusal = access.access_refusal(roles)
            if refusal is not None:
                if json or _wants_json(request):
                    return JsonResponse(refusal.as_dict(), status=refusal.http_status)
                if refusal.code == "not_an_agent":
                    return _no_profile(request)
                return _forbidden(request, refusal)
            request.roles = roles
            request.agent_profile = AgentProfile.objects.filter(user=user).first()
            try:
                return view(request, *args, **kwargs)
            except access.AccessRefused as exc:
                # A refusal of one conversation (404 or 403), raised by ``_conversation``.
                if exc.http_status == 404 and not (json or _wants_json(request)):
                    raise Http404(exc.message)
                if json or _wants_json(request):
                    return JsonResponse(exc.as_dict(), status=exc.http_status)
                back = reverse("console:conversation", args=[kwargs["pk"]]) if "pk" in kwargs and \
                    request.method == "POST" else ""
                return _forbidden(request, exc, conversation_refused=True, back_url=back)

        return wrapper

    return decorate


def _forbidden(request: HttpRequest, refusal: ServiceError, **context: Any) -> HttpResponse:
    return _page(request, "console/forbidden.html", {"detail": refusal.message, "code": refusal.code, **context},
                 status=refusal.http_status)


def _no_profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    can_fix = user.has_perm("workstreams.add_agentprofile")
    fixers = [] if can_fix else [
        u.get_full_name() or u.get_username()
        for u in get_user_model().objects.with_perm("workstreams.add_agentprofile", backend=access.PERMISSION_BACKEND)
        .order_by("username")[:5]
    ]
    return _page(request, "console/no_profile.html", {
        "can_fix": can_fix, "fixers": fixers,
        # The admin comes back to the console once the profile is saved (AgentProfileAdmin.response_add).
        "fix_url": reverse("admin:workstreams_agentprofile_add") + f"?user={user.pk}&next=/console/",
    }, status=403)


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default


def _conversation(request: HttpRequest, pk: int, action: Action) -> Conversation:
    """The conversation, if the user may ``action`` it; a conversation they may not see is a 404."""
    item = access.conversations_visible_to(request.user, selectors.conversation_for_page(pk)).first()
    if item is None:  # the same answer whether it exists elsewhere or nowhere
        raise access.AccessRefused(_("There is no conversation #%(id)s that you may see.") % {"id": pk},
                                   code="not_found", http_status=404)
    request.access = access.conversation_require(request.user, action, item)  # AccessRefused: 403
    return item


def _conversation_url(conversation: Conversation) -> str:
    return reverse("console:conversation", args=[conversation.pk])


def _refused(request: HttpRequest, exc: ServiceError, *, back: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(exc.as_dict(), status=exc.http_status)
    flash.error(request, exc.message)
    return redirect(back)


def _done(request: HttpRequest, text: str, *, to: str, data: dict[str, Any] | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"ok": True, "detail": text, "redirect": to, **(data or {})})
    flash.success(request, text)
    return redirect(to)


def _act(request: HttpRequest, operation: Callable[[], Any], *, done: str, to: str,
         back: str | None = None) -> HttpResponse:
    """Run one service call: its refusal is shown (going ``back``), its success confirmed (going ``to``)."""
    try:
        operation()
    except ServiceError as exc:
        return _refused(request, exc, back=back or to)
    return _done(request, done, to=to)


# --- Dashboard ---------------------------------------------------------------------------------


def _dashboard_fragment(request: HttpRequest) -> tuple[str, dict[str, Any]]:
    lists = selectors.dashboard_lists(user=request.user, roles=request.roles)
    profile = request.agent_profile
    context = {**lists, "profile": profile, "roles": request.roles,
               "free_capacity": distribution.agent_free_capacity(request.user) if profile else 0,
               "capacity": wrapup.agent_capacity_explained(request.user) if profile else None,
               "wrap_up": wrapup.wrap_up_list(user=request.user) if profile else [],
               "can_add_profile": request.user.has_perm("workstreams.add_agentprofile")}
    return render_to_string("console/_dashboard_lists.html", context, request=request), lists


CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def _signature(html: str) -> str:
    """Changes when what the fragment shows changes (its forms' CSRF tokens are masked afresh each time)."""
    return hashlib.sha256(CSRF_INPUT.sub("", html).encode()).hexdigest()[:16]


@console_view()
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    html, lists = _dashboard_fragment(request)
    return _page(request, "console/dashboard.html", {
        "lists_html": html, "signature": _signature(html), "unread_total": lists["unread_total"],
        "profile": request.agent_profile, "presences": Presence.choices,
    })


@console_view(json=True)
@require_GET
def dashboard_updates(request: HttpRequest) -> JsonResponse:
    html, lists = _dashboard_fragment(request)
    signature = _signature(html)
    items = [{"id": c.pk, "label": c.contact.display_name or c.contact.address, "unread": c.unread,
              "list": name} for name in ("mine", "queued") for c in lists[name]]
    return JsonResponse({"signature": signature, "html": html if signature != request.GET.get("signature") else None,
                         "unread_total": lists["unread_total"], "items": items})


@console_view()
@require_POST
def presence(request: HttpRequest) -> HttpResponse:
    back = reverse("console:dashboard")
    try:
        profile = distribution.agent_presence_set(user=request.user, presence=request.POST.get("presence", ""))
    except ServiceError as exc:
        return _refused(request, exc, back=back)
    return _done(request, _("You are now %(presence)s.") % {"presence": profile.get_presence_display().lower()},
                 to=_safe_next(request, back), data={"presence": profile.presence})


@console_view()
@require_POST
def pick_next(request: HttpRequest) -> HttpResponse:
    try:
        access.agent_work_require(request.user)
        conversation = distribution.conversation_pick_next(user=request.user)
    except ServiceError as exc:
        return _refused(request, exc, back=reverse("console:dashboard"))
    return _done(request, _("You took conversation #%(id)s.") % {"id": conversation.pk},
                 to=_conversation_url(conversation))


# --- Conversation page -------------------------------------------------------------------------


def _conversation_version(conversation: Conversation) -> str:
    return ":".join(str(v) for v in (conversation.state, conversation.agent_id or "", conversation.queue_id or "",
                                     int(conversation.with_bot), int(conversation.resolved)))


def _access(request: HttpRequest, conversation: Conversation) -> access.ConversationAccess:
    known = getattr(request, "access", None)
    if known is None or known.conversation.pk != conversation.pk:
        known = request.access = access.conversation_access(request.user, conversation)
    return known


def _can(request: HttpRequest, conversation: Conversation) -> dict[str, bool]:
    """What the signed-in user may do here, by action name (``can.reply`` …): only those buttons are shown."""
    allowed = _access(request, conversation).allowed
    return {action.value: action in allowed for action in Action}


def _header_context(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    live = conversation.state in LIVE_STATES
    can = _can(request, conversation)
    return {
        "conversation": conversation,
        "can": can,
        "is_mine": conversation.agent_id == request.user.pk,
        "is_live": live,
        "can_take": (can["take"] and conversation.state == ConversationState.OPEN and not conversation.agent_id
                     and not conversation.with_bot),
        "targets": selectors.transfer_targets(conversation, user=request.user)
        if live and (can["transfer"] or can["reassign"]) else None,
        "version": _conversation_version(conversation),
        "outcomes": ConversationOutcome.choices,
        "is_consulting": _access(request, conversation).consult,
    }


def _conversation_context(request: HttpRequest, conversation: Conversation, **extra: Any) -> dict[str, Any]:
    thread = selectors.thread_with_notes(conversation)
    now = timezone.now()
    window = selectors.whatsapp_window(conversation, now=now)
    state = composer.composer_state(conversation, window_closed=window.applies and not window.is_open)
    can = _can(request, conversation)
    return {
        **_header_context(request, conversation),
        "thread": thread,
        "last_id": max((m.pk for m in thread if not getattr(m, "is_note", False)), default=0),
        "last_note_id": max((m.pk for m in thread if getattr(m, "is_note", False)), default=0),
        "cursor": now.isoformat(),
        "window": window,
        "is_closed": conversation.state == ConversationState.CLOSED,
        "composer": state,
        "free_text_disabled": state.disabled,
        "consults": notes.conversation_consults(conversation),
        "consult_candidates": notes.consult_candidates(conversation, user=request.user)
        if can["consult"] and conversation.state != ConversationState.CLOSED else [],
        "cases": list(conversation.contact.cases.order_by("-created_at")[:20]) if can["case"] else [],
        "follow_up": composer.follow_up_allowed(conversation) and can["reply"],
        "text_limit": composer.channel_text_limit(conversation.channel),
        "panel": selectors.contact_panel(conversation, user=request.user),
        "routing": routing_lines(conversation.routing_diagnosis),
        "templates": selectors.whatsapp_templates(conversation),
        "quick_replies": selectors.quick_replies(conversation, user=request.user),
        "attachments_allowed": selectors.agents_may_send_attachments(conversation),
        "max_length": MAX_MESSAGE_LENGTH,
        "reply_form": extra.pop("reply_form", None) or ReplyForm(),
        "read_only_reason": getattr(_access(request, conversation).refusal(Action.REPLY), "message", ""),
        **extra,
    }


@console_view()
@require_GET
def conversation(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.READ)
    context = _conversation_context(request, item)
    conversation_mark_read(user=request.user, conversation=item, last_message_id=context["last_id"])
    return _page(request, "console/conversation.html", context)


def _message_payload(request: HttpRequest, conversation: Conversation, message: Message,
                     can: dict[str, bool]) -> dict[str, Any]:
    context = {"m": message, "conversation": conversation, "can": can}
    return {
        "id": message.pk, "order": message.order_key, "version": message.version,
        "direction": message.direction, "status": message.status,
        "html": render_to_string("console/_message.html", context, request=request),
        "status_html": render_to_string("console/_message_status.html", context, request=request),
        "attachments_html": render_to_string("console/_message_attachments.html", context, request=request),
    }


def _parse_cursor(value: str) -> tuple[datetime | None, str]:
    """The poll's ``since`` cursor (empty: none), or what is wrong with it."""
    if not value:
        return None, ""
    try:
        parsed = parse_datetime(value)
    except ValueError as exc:  # well formed but impossible, e.g. 2024-02-30
        return None, _("since=%(value)r is not a valid date and time: %(error)s.") % {"value": value, "error": exc}
    if parsed is None:
        return None, _("since=%(value)r is not an ISO 8601 date and time such as 2024-05-01T09:30:00+00:00.") % {
            "value": value}
    try:
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        parsed = parsed.astimezone(UTC)
    except (OverflowError, ValueError):  # 0001-01-01T00:00:00+14:00 is before the first representable time
        return None, _("since=%(value)r is outside the dates the hub keeps (1970 to 9999).") % {"value": value}
    if parsed.year >= 9999:
        return None, _("since=%(value)r is outside the dates the hub keeps (1970 to 9999).") % {"value": value}
    # A cursor before any message was written means "everything"; leave room for the poll's overlap.
    return max(parsed, EARLIEST_CURSOR), ""


@console_view(json=True)
@require_GET
def conversation_updates(request: HttpRequest, pk: int) -> JsonResponse:
    """New and changed messages since the page's cursor, and the conversation's state when it changed."""
    item = _conversation(request, pk, Action.READ)
    now = timezone.now()
    after = db_count(request.GET.get("after", "")) or 0
    since, problem = _parse_cursor(request.GET.get("since") or "")
    if problem:
        return JsonResponse({"error": "since_invalid", "detail": problem, "field": "since"}, status=400)
    watched = tuple(i for v in request.GET.get("pending", "").split(",")[:50] if (i := db_id(v)) is not None)
    changes = selectors.thread_changes(item, after=after, since=since - POLL_OVERLAP if since else None,
                                       watched=watched)
    notes_after = db_id(request.GET.get("notes_after", "")) or 0
    new_notes = selectors.thread_notes(item, after=notes_after)
    newest = max([after, *(m.pk for m in changes)])
    if request.GET.get("seen") == "1":
        conversation_mark_read(user=request.user, conversation=item, last_message_id=newest)
    window = selectors.whatsapp_window(item, now=now)
    version = _conversation_version(item)
    can = _can(request, item)
    composer_now = composer.composer_state(item, window_closed=window.applies and not window.is_open)
    state: dict[str, Any] = {
        "version": version, "state": item.state, "closed": item.state == ConversationState.CLOSED,
        "composer": {"disabled": composer_now.disabled, "reason": composer_now.reason, "code": composer_now.code},
        "window": {"applies": window.applies, "open": window.is_open,
                   "html": render_to_string("console/_window.html", {"window": window, "conversation": item,
                                                                     "is_closed": item.state ==
                                                                     ConversationState.CLOSED})},
    }
    if request.GET.get("version") != version:
        state["header_html"] = render_to_string("console/_conversation_header.html",
                                                _header_context(request, item), request=request)
    return JsonResponse({"cursor": now.isoformat(), "last_id": newest, "conversation": state,
                         "messages": [_message_payload(request, item, m, can) for m in changes],
                         "notes": [{"id": n.pk, "order": n.order_key,
                                    "html": render_to_string("console/_note.html", {"m": n}, request=request)}
                                   for n in new_notes],
                         "last_note_id": max([notes_after, *(n.pk for n in new_notes)])})


def _form_error(form) -> str:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        return f"{label}: {errors[0]}" if label else str(errors[0])
    return _("Check the form.")


@console_view()
@require_POST
def reply(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.REPLY)
    form = ReplyForm(request.POST)
    try:
        if not form.is_valid():
            raise ServiceError(_form_error(form), code="invalid", field=next(iter(form.errors), None))
        message = services.conversation_reply(conversation=item, author=request.user,
                                              body=form.cleaned_data["body"],
                                              media_urls=tuple(form.cleaned_data["media_urls"]))
    except ServiceError as exc:
        if _wants_json(request):
            return JsonResponse(exc.as_dict(), status=exc.http_status)
        context = _conversation_context(request, item, reply_form=form, reply_error=exc.message)
        return _page(request, "console/conversation.html", context, status=exc.http_status)
    if _wants_json(request):
        return JsonResponse({"ok": True, "message": {"id": message.pk, "encoding": message.encoding,
                                                     "segments": message.segments}}, status=201)
    return redirect(_conversation_url(item) + "#composer")


@console_view()
@require_POST
def send_template(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.REPLY)
    form = TemplateForm(request.POST)
    try:
        if not form.is_valid():
            raise ServiceError(_form_error(form), code="invalid", field="template")
        template = form.cleaned_data["template"]
        variables = form.variables({k[len(f"t{template.pk}_"):]: v for k, v in request.POST.items()
                                    if k.startswith(f"t{template.pk}_")})
        message = services.conversation_send_template(conversation=item, author=request.user, template=template,
                                                      variables=variables)
    except ServiceError as exc:
        if _wants_json(request):
            return JsonResponse(exc.as_dict(), status=exc.http_status)
        context = _conversation_context(request, item, template_error=exc.message)
        return _page(request, "console/conversation.html", context, status=exc.http_status)
    if _wants_json(request):
        return JsonResponse({"ok": True, "message": {"id": message.pk}}, status=201)
    return redirect(_conversation_url(item) + "#composer")


@console_view()
@require_POST
def retry(request: HttpRequest, pk: int, message_id: int) -> HttpResponse:
    item = _conversation(request, pk, Action.RETRY)
    message = get_object_or_404(Message, pk=message_id, conversation_link__conversation=item)
    return _act(request, lambda: services.conversation_message_retry(conversation=item, message=message),
                done=_("The message is queued again."), to=_conversation_url(item))


@console_view()
@require_POST
def take(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.TAKE)
    return _act(request, lambda: distribution.conversation_take(conversation=item, user=request.user),
                done=_("You took conversation #%(id)s.") % {"id": item.pk}, to=_conversation_url(item),
                back=_safe_next(request, reverse("console:dashboard")))


@console_view()
@require_POST
def wait(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.WAIT)
    return _act(request, lambda: services.conversation_wait(conversation=item, user=request.user),
                done=_("Conversation #%(id)s is waiting; your capacity is free for other work.") % {"id": item.pk},
                to=_conversation_url(item))


@console_view()
@require_POST
def resume(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.RESUME)
    return _act(request, lambda: services.conversation_resume(conversation=item, user=request.user),
                done=_("You resumed conversation #%(id)s.") % {"id": item.pk}, to=_conversation_url(item))


@console_view()
@require_POST
def transfer(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.TRANSFER)
    form = TransferForm(request.POST)
    back = _conversation_url(item)
    if not form.is_valid():
        return _refused(request, ServiceError(_form_error(form), code="invalid", field="target"), back=back)
    queue, agent = form.cleaned_data["queue"], form.cleaned_data["agent"]
    try:
        distribution.conversation_transfer(conversation=item, by=request.user, queue=queue, agent=agent)
    except ServiceError as exc:
        return _refused(request, exc, back=back)
    target = queue.name if queue else (agent.get_full_name() or agent.get_username())
    to = back if agent is not None and agent.pk == request.user.pk else reverse("console:dashboard")
    return _done(request, _("Conversation #%(id)s transferred to %(target)s.") % {"id": item.pk, "target": target},
                 to=to)


@console_view()
@require_POST
def reassign(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.REASSIGN)
    form = ReassignForm(request.POST)
    back = _conversation_url(item)
    if not form.is_valid():
        return _refused(request, ServiceError(_form_error(form), code="invalid", field="agent"), back=back)
    agent = form.cleaned_data["agent"]
    name = agent.get_full_name() or agent.get_username()
    return _act(request, lambda: distribution.conversation_reassign(conversation=item, by=request.user, agent=agent),
                done=_("Conversation #%(id)s reassigned to %(agent)s.") % {"id": item.pk, "agent": name}, to=back)


@console_view()
@require_POST
def force_close(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.FORCE_CLOSE)
    form = ForceCloseForm(request.POST)
    back = _conversation_url(item)
    if not form.is_valid():
        return _refused(request, ServiceError(_form_error(form), code="invalid", field="reason"), back=back)
    return _act(request, lambda: services.conversation_force_close(conversation=item, by=request.user,
                                                                   reason=form.cleaned_data["reason"]),
                done=_("Conversation #%(id)s is closed.") % {"id": item.pk}, to=back)


@console_view()
@require_GET
def attachment(request: HttpRequest, pk: int) -> HttpResponse:
    """A stored customer attachment, for those who may read its conversation (customer files are not public)."""
    visible = access.conversations_visible_to(request.user)
    item = get_object_or_404(Attachment.objects.filter(message__conversation_link__conversation__in=visible), pk=pk)
    if not item.file:
        raise Http404(_("This attachment was not stored."))
    inline = item.content_type in INLINE_TYPES
    name = item.file.name.rsplit("/", 1)[-1]
    response = FileResponse(item.file.open("rb"), as_attachment=not inline, filename=name,
                            content_type=item.content_type if inline else "application/octet-stream")
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response
