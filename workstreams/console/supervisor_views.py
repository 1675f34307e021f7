"""The supervisor view: live queues and agents, and the supervisor's actions on live conversations.

The page polls a JSON endpoint, as the dashboard does, and replaces its board when what it shows changed. Its
actions (reassign, transfer, force-close) call the same services, behind the same access checks, as the
conversation page and the REST API; they come back here.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from config.exceptions import ServiceError
from workstreams import services
from workstreams.services import access, distribution
from workstreams.services.access import Action

from .forms import ForceCloseForm, ReassignForm, TransferForm
from .supervisor_selectors import supervisor_board
from .views import _act, _conversation, _done, _forbidden, _form_error, _page, _refused, _signature, console_view


def _supervisors_only(request: HttpRequest) -> access.AccessRefused | None:
    roles = request.roles
    if roles.admin or roles.supervisor:
        return None
    return access.AccessRefused(
        _("The supervisor view is for supervisors and administrators. An administrator adds users to the "
          "Supervisors group in the admin (Users), then names them on queues or workstreams."),
        code="supervisors_only", http_status=403)


def _board_html(request: HttpRequest) -> tuple[str, Any]:
    board = supervisor_board(user=request.user, roles=request.roles)
    html = render_to_string("console/_supervisor_board.html", {"board": board, "roles": request.roles},
                            request=request)
    return html, board


@console_view()
@require_GET
def supervisor(request: HttpRequest) -> HttpResponse:
    refusal = _supervisors_only(request)
    if refusal is not None:
        return _forbidden(request, refusal)
    html, board = _board_html(request)
    return _page(request, "console/supervisor.html", {"board_html": html, "signature": _signature(html),
                                                      "waiting_total": board.waiting_total})


@console_view(json=True)
@require_GET
def supervisor_updates(request: HttpRequest) -> JsonResponse:
    refusal = _supervisors_only(request)
    if refusal is not None:
        return JsonResponse(refusal.as_dict(), status=refusal.http_status)
    html, board = _board_html(request)
    signature = _signature(html)
    return JsonResponse({"signature": signature, "waiting_total": board.waiting_total,
                         "html": html if signature != request.GET.get("signature") else None})


def _back() -> str:
    return reverse("console:supervisor")


@console_view()
@require_POST
def supervisor_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.REASSIGN)
    form = ReassignForm(request.POST)
    if not form.is_valid():
        return _refused(request, ServiceError(_form_error(form), code="invalid", field="agent"), back=_back())
    agent = form.cleaned_data["agent"]
    done = _("Conversation #%(id)s reassigned to %(agent)s.") % {
        "id": item.pk, "agent": agent.get_full_name() or agent.get_username()}
    return _act(request, lambda: distribution.conversation_reassign(conversation=item, by=request.user, agent=agent),
                done=done, to=_back())


@console_view()
@require_POST
def supervisor_transfer(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.TRANSFER)
    form = TransferForm(request.POST)
    if not form.is_valid():
        return _refused(request, ServiceError(_form_error(form), code="invalid", field="target"), back=_back())
    queue, agent = form.cleaned_data["queue"], form.cleaned_data["agent"]
    if queue is None and agent is None:
        return _refused(request, ServiceError(_("Choose the queue to transfer the conversation to."),
                                              code="transfer_target", field="target"), back=_back())
    try:
        distribution.conversation_transfer(conversation=item, by=request.user, queue=queue, agent=agent)
    except ServiceError as exc:
        return _refused(request, exc, back=_back())
    target = queue.name if queue else (agent.get_full_name() or agent.get_username())
    return _done(request, _("Conversation #%(id)s transferred to %(target)s.") % {"id": item.pk, "target": target},
                 to=_back())


@console_view()
@require_POST
def supervisor_force_close(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.FORCE_CLOSE)
    form = ForceCloseForm(request.POST)
    if not form.is_valid():
        return _refused(request, ServiceError(_form_error(form), code="invalid", field="reason"), back=_back())
    return _act(request, lambda: services.conversation_force_close(conversation=item, by=request.user,
                                                                   reason=form.cleaned_data["reason"]),
                done=_("Conversation #%(id)s is closed.") % {"id": item.pk}, to=_back())
