"""The agent console's pages, their form posts and the two JSON endpoints the pages poll.

Every post calls the same service as the REST API. A refusal shows the service's message: as
JSON (``{"error", "detail", "field"}``, the API's shape) when the page posted with fetch, else on
the page itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timedelta
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
from workstreams import services
from workstreams.models import LIVE_STATES, AgentProfile, Conversation, ConversationState, Presence
from workstreams.services import distribution
from workstreams.services.routing import routing_lines

from . import selectors
from .forms import ReplyForm, TemplateForm, TransferForm
from .services import conversation_mark_read

VIEW_PERMISSION = "workstreams.view_conversation"
CHANGE_PERMISSION = "workstreams.change_conversation"
#: Each poll looks this far behind its cursor, so a message whose transaction committed late still shows.
POLL_OVERLAP = timedelta(seconds=60)
#: Attachments shown in the page itself; any other type is downloaded, never rendered from our origin.
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _json_error(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status)


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, template, {"hub_name": admin.site.site_header, **context}, status=status)


def console_view(*, permission: str = VIEW_PERMISSION, json: bool = False):
    """Staff only (anonymous → the admin login), with the conversation permissions, and an agent profile."""

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            user = request.user
            if not (user.is_active and user.is_staff):
                if json or _wants_json(request):
                    return _json_error("not_logged_in", "Your session has ended; reload the page to log in again.",
                                       401)
                return redirect_to_login(request.get_full_path(), reverse("admin:login"))
            missing = [p for p in dict.fromkeys([VIEW_PERMISSION, permission]) if not user.has_perm(p)]
            if missing:
                detail = ("You need the permission to view conversations to use the agent console"
                          if VIEW_PERMISSION in missing else
                          "You need the permission to change conversations to answer or act on them") + \
                    "; an administrator can grant it in the admin under Users (or through a group)."
                if json or _wants_json(request):
                    return _json_error("permission_denied", detail, 403)
                return _page(request, "console/forbidden.html", {"detail": detail}, status=403)
            profile = AgentProfile.objects.filter(user=user).first()
            if profile is None:
                if json or _wants_json(request):
                    return _json_error("not_an_agent", f"{user.get_username()} has no agent profile; an "
                                       "administrator can add one under Workstreams → Agent profiles.", 403)
                return _no_profile(request)
            request.agent_profile = profile
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def _no_profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    can_fix = user.has_perm("workstreams.add_agentprofile")
    fixers = [] if can_fix else [
        u.get_full_name() or u.get_username()
        for u in get_user_model().objects.with_perm("workstreams.add_agentprofile").order_by("username")[:5]
    ]
    return _page(request, "console/no_profile.html", {
        "can_fix": can_fix, "fixers": fixers,
        "fix_url": reverse("admin:workstreams_agentprofile_add") + f"?user={user.pk}",
    }, status=403)


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default


def _conversation(pk: int) -> Conversation:
    return get_object_or_404(selectors.conversation_for_page(pk))


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
    lists = selectors.dashboard_lists(user=request.user)
    profile = request.agent_profile
    context = {**lists, "profile": profile, "free_capacity": distribution.agent_free_capacity(request.user)}
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


@console_view(permission=CHANGE_PERMISSION)
@require_POST
def pick_next(request: HttpRequest) -> HttpResponse:
    try:
        conversation = distribution.conversation_pick_next(user=request.user)
    except ServiceError as exc:
        return _refused(request, exc, back=reverse("console:dashboard"))
    return _done(request, _("You took conversation #%(id)s.") % {"id": conversation.pk},
                 to=_conversation_url(conversation))


# --- Conversation page -------------------------------------------------------------------------


def _conversation_version(conversation: Conversation) -> str:
    return ":".join(str(v) for v in (conversation.state, conversation.agent_id or "", conversation.queue_id or "",
                                     int(conversation.with_bot), int(conversation.resolved)))


def _header_context(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    live = conversation.state in LIVE_STATES
    return {
        "conversation": conversation,
        "is_mine": conversation.agent_id == request.user.pk,
        "is_live": live,
        "can_take": (conversation.state == ConversationState.OPEN and not conversation.agent_id
                     and not conversation.with_bot and selectors.is_queue_member(conversation, request.user)),
        "targets": selectors.transfer_targets(conversation, user=request.user) if live else None,
        "version": _conversation_version(conversation),
    }


def _conversation_context(request: HttpRequest, conversation: Conversation, **extra: Any) -> dict[str, Any]:
    thread = selectors.thread(conversation)
    now = timezone.now()
    window = selectors.whatsapp_window(conversation, now=now)
    return {
        **_header_context(request, conversation),
        "thread": thread,
        "last_id": max((m.pk for m in thread), default=0),
        "cursor": now.isoformat(),
        "window": window,
        "is_closed": conversation.state == ConversationState.CLOSED,
        "free_text_disabled": conversation.state == ConversationState.CLOSED or (window.applies
                                                                                 and not window.is_open),
        "panel": selectors.contact_panel(conversation),
        "routing": routing_lines(conversation.routing_diagnosis),
        "templates": selectors.whatsapp_templates(conversation),
        "quick_replies": selectors.quick_replies(conversation, user=request.user),
        "attachments_allowed": selectors.agents_may_send_attachments(conversation),
        "max_length": MAX_MESSAGE_LENGTH,
        "reply_form": extra.pop("reply_form", None) or ReplyForm(),
        **extra,
    }


@console_view()
@require_GET
def conversation(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(pk)
    context = _conversation_context(request, item)
    conversation_mark_read(user=request.user, conversation=item, last_message_id=context["last_id"])
    return _page(request, "console/conversation.html", context)


def _message_payload(request: HttpRequest, conversation: Conversation, message: Message) -> dict[str, Any]:
    context = {"m": message, "conversation": conversation}
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
        return None, f"since={value!r} is not a valid date and time: {exc}."
    if parsed is None:
        return None, f"since={value!r} is not an ISO 8601 date and time such as 2024-05-01T09:30:00+00:00."
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed, ""


@console_view(json=True)
@require_GET
def conversation_updates(request: HttpRequest, pk: int) -> JsonResponse:
    """New and changed messages since the page's cursor, and the conversation's state when it changed."""
    item = _conversation(pk)
    now = timezone.now()
    after = int(request.GET["after"]) if request.GET.get("after", "").isdigit() else 0
    since, problem = _parse_cursor(request.GET.get("since") or "")
    if problem:
        return JsonResponse({"error": "since_invalid", "detail": problem, "field": "since"}, status=400)
    watched = tuple(int(v) for v in request.GET.get("pending", "").split(",")[:50] if v.isdigit())
    changes = selectors.thread_changes(item, after=after, since=since - POLL_OVERLAP if since else None,
                                       watched=watched)
    newest = max([after, *(m.pk for m in changes)])
    if request.GET.get("seen") == "1":
        conversation_mark_read(user=request.user, conversation=item, last_message_id=newest)
    window = selectors.whatsapp_window(item, now=now)
    version = _conversation_version(item)
    state: dict[str, Any] = {
        "version": version, "state": item.state, "closed": item.state == ConversationState.CLOSED,
        "window": {"applies": window.applies, "open": window.is_open,
                   "html": render_to_string("console/_window.html", {"window": window, "conversation": item,
                                                                     "is_closed": item.state ==
                                                                     ConversationState.CLOSED})},
    }
    if request.GET.get("version") != version:
        state["header_html"] = render_to_string("console/_conversation_header.html",
                                                _header_context(request, item), request=request)
    return JsonResponse({"cursor": now.isoformat(), "last_id": newest, "conversation": state,
                         "messages": [_message_payload(request, item, m) for m in changes]})


def _form_error(form) -> str:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        return f"{label}: {errors[0]}" if label else str(errors[0])
    return "Check the form."


@console_view(permission=CHANGE_PERMISSION)
@require_POST
def reply(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(pk)
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


@console_view(permission=CHANGE_PERMISSION)
@require_POST
def send_template(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(pk)
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


@console_view(permission=CHANGE_PERMISSION)
@require_POST
def retry(request: HttpRequest, pk: int, message_id: int) -> HttpResponse:
    item = _conversation(pk)
    message = get_object_or_404(Message, pk=message_id)
    return _act(request, lambda: services.conversation_message_retry(conversation=item, message=message),
                done="The message is queued again.", to=_conversation_url(item))


@console_view(permission=CHANGE_PERMISSION)
@require_POST
def take(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(pk)
    return _act(request, lambda: distribution.conversation_take(conversation=item, user=request.user),
                done=_("You took conversation #%(id)s.") % {"id": item.pk}, to=_conversation_url(item),
                back=_safe_next(request, reverse("console:dashboard")))


@console_view(permission=CHANGE_PERMISSION)
@require_POST
def end(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(pk)
    return _act(request, lambda: services.conversation_end(conversation=item, user=request.user),
                done=f"Conversation #{item.pk} ended and marked resolved.", to=_conversation_url(item))


@console_view(permission=CHANGE_PERMISSION)
@require_POST
def wait(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(pk)
    return _act(request, lambda: services.conversation_wait(conversation=item, user=request.user),
                done=f"Conversation #{item.pk} is waiting; your capacity is free for other work.",
                to=_conversation_url(item))


@console_view(permission=CHANGE_PERMISSION)
@require_POST
def resume(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(pk)
    return _act(request, lambda: services.conversation_resume(conversation=item, user=request.user),
                done=f"You resumed conversation #{item.pk}.", to=_conversation_url(item))


@console_view(permission=CHANGE_PERMISSION)
@require_POST
def transfer(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(pk)
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
    return _done(request, f"Conversation #{item.pk} transferred to {target}.", to=to)


@console_view()
@require_GET
def attachment(request: HttpRequest, pk: int) -> HttpResponse:
    """A stored customer attachment, for signed-in agents only (customer files are not public)."""
    item = get_object_or_404(Attachment.objects.filter(message__conversation_link__isnull=False), pk=pk)
    if not item.file:
        raise Http404("This attachment was not stored.")
    inline = item.content_type in INLINE_TYPES
    name = item.file.name.rsplit("/", 1)[-1]
    response = FileResponse(item.file.open("rb"), as_attachment=not inline, filename=name,
                            content_type=item.content_type if inline else "application/octet-stream")
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response
