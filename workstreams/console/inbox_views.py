"""The console's inbox (tabs, filters, search, pages, live updates), the contact page, and the agent tools
on a conversation: internal notes, consulting another agent, the case link, ending with an outcome and a
note, *Close now*, and a template follow-up of a resolved conversation.

The door and the refusals are ``views.console_view``'s and ``workstreams.services.access``'s, as for every
console page; each post calls the same service as the REST API.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from config.exceptions import ServiceError
from config.inputs import db_id
from workstreams.models import Case, ConversationOutcome, WhatsAppTemplate
from workstreams.services import access, composer, inbox, notes, readiness, wrapup
from workstreams.services.access import Action

from . import selectors
from .forms import TemplateForm
from .views import _act, _conversation, _conversation_url, _done, _form_error, _page, _refused, _signature, console_view

PAGE_SIZE = 25


def _inbox_fragment(request: HttpRequest, filters: inbox.InboxFilters, page_number: str) -> tuple[str, dict]:
    queryset = inbox.inbox_conversations(user=request.user, filters=filters,
                                         queryset=selectors.listed(request.user))
    page = Paginator(queryset, PAGE_SIZE).get_page(page_number)
    items = list(page.object_list)
    selectors.label_activity(items)
    params = request.GET.copy()
    for name in ("page", "tab", "signature"):
        params.pop(name, None)
    counts = inbox.inbox_counts(user=request.user)
    context = {"page": page, "items": items, "filters": filters, "query_string": params.urlencode(),
               "tabs": [(tab.value, label, counts.get(tab.value)) for tab, label in inbox.TAB_LABELS.items()],
               "full_text": inbox.full_text_search_available()}
    return render_to_string("console/_inbox_list.html", context, request=request), context


@console_view()
@require_GET
def inbox_page(request: HttpRequest) -> HttpResponse:
    try:
        filters = inbox.inbox_filters_parse(request.GET)
    except ServiceError as exc:
        return _page(request, "console/inbox.html", {"error": exc.message, "filters": inbox.InboxFilters(),
                                                     "choices": inbox.inbox_choices(user=request.user),
                                                     "tabs": inbox.TAB_LABELS, "list_html": ""}, status=400)
    html, context = _inbox_fragment(request, filters, request.GET.get("page") or "1")
    return _page(request, "console/inbox.html", {
        **context, "list_html": html, "signature": _signature(html),
        "choices": inbox.inbox_choices(user=request.user),
    })


@console_view(json=True)
@require_GET
def inbox_updates(request: HttpRequest) -> JsonResponse:
    try:
        filters = inbox.inbox_filters_parse(request.GET)
    except ServiceError as exc:
        return JsonResponse(exc.as_dict(), status=exc.http_status)
    html, context = _inbox_fragment(request, filters, request.GET.get("page") or "1")
    signature = _signature(html)
    return JsonResponse({"signature": signature,
                         "html": html if signature != request.GET.get("signature") else None,
                         "count": context["page"].paginator.count})


@console_view()
@require_GET
def contact_page(request: HttpRequest, pk: int) -> HttpResponse:
    history = inbox.contact_history(user=request.user, contact_id=pk)
    if history is None:
        raise Http404(_("There is no customer #%(id)s whose conversations you may see.") % {"id": pk})
    return _page(request, "console/contact.html", {"history": history, "contact": history.contact})


@console_view()
@require_POST
def profile_create(request: HttpRequest) -> HttpResponse:
    """Create the signed-in user's own agent profile (Available, in the default queue) and come back here."""
    back = reverse("console:dashboard")
    if not request.user.has_perm("workstreams.add_agentprofile"):
        return _refused(request, access.AccessRefused(
            _("You may not create agent profiles; ask an administrator to add yours."), code="permission_denied",
            http_status=403), back=back)
    join = request.user.has_perm("workstreams.change_queue")
    _profile, created = readiness.agent_make_ready(user=request.user, join_default_queue=join)
    text = _("Your agent profile is ready: you are available in the default queue.") if join \
        else _("Your agent profile is ready; an administrator adds you to queues.")
    return _done(request, text if created else _("You already have an agent profile."), to=back)


# --- Agent tools on a conversation ------------------------------------------------------------


@console_view()
@require_POST
def note_add(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.NOTE)
    try:
        note = notes.conversation_note_add(conversation=item, author=request.user, body=request.POST.get("note", ""))
    except ServiceError as exc:
        return _refused(request, exc, back=_conversation_url(item) + "#notes")
    return _done(request, _("Note added; only agents and supervisors see it."), to=_conversation_url(item),
                 data={"note": note.pk})


@console_view()
@require_POST
def consult_invite(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.CONSULT)
    value = request.POST.get("agent", "")
    agent_id = db_id(value)
    agent = get_user_model().objects.filter(pk=agent_id).first() if agent_id is not None else None
    back = _conversation_url(item)
    try:
        notes.conversation_consult_invite(conversation=item, by=request.user, agent=agent)
    except ServiceError as exc:
        return _refused(request, exc, back=back)
    name = agent.get_full_name() or agent.get_username()
    return _done(request, _("%(name)s can now read this conversation and add notes.") % {"name": name}, to=back)


@console_view()
@require_POST
def consult_leave(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.READ)
    notes.conversation_consult_end(conversation=item, agent=request.user)
    return _done(request, _("You stopped consulting on conversation #%(id)s.") % {"id": item.pk},
                 to=reverse("console:dashboard"))


@console_view()
@require_POST
def case_link(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.CASE)
    value = request.POST.get("case", "")
    back = _conversation_url(item)
    if value == "none":
        notes.conversation_case_unlink(conversation=item, by=request.user)
        return _done(request, _("The case link was removed."), to=back)
    case_id = db_id(value)
    case = Case.objects.filter(pk=case_id).first() if case_id is not None else None
    if case_id is not None and case is None:
        return _refused(request, ServiceError(_("That case no longer exists; reload the page."), code="not_found",
                                              field="case", http_status=404), back=back)
    try:
        linked = notes.conversation_case_link(conversation=item, by=request.user, case=case,
                                              title=request.POST.get("title", ""))
    except ServiceError as exc:
        return _refused(request, exc, back=back)
    return _done(request, _("Linked to case “%(title)s”.") % {"title": linked.title}, to=back)


@console_view()
@require_POST
def end(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.END)
    outcome = request.POST.get("outcome", "")
    label = dict(ConversationOutcome.choices).get(outcome or ConversationOutcome.RESOLVED, outcome)
    return _act(request, lambda: wrapup.conversation_end_with_outcome(conversation=item, user=request.user,
                                                                     outcome=outcome,
                                                                     note=request.POST.get("note", "")),
                done=_("Conversation #%(id)s ended (%(outcome)s); it is in wrap-up.")
                % {"id": item.pk, "outcome": str(label).lower()}, to=_conversation_url(item))


@console_view()
@require_POST
def close_now(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.END)
    return _act(request, lambda: wrapup.conversation_wrap_up_finish(conversation=item, user=request.user),
                done=_("Conversation #%(id)s is closed; its capacity is free.") % {"id": item.pk},
                to=reverse("console:dashboard") if request.POST.get("next") == "dashboard"
                else _conversation_url(item))


@console_view()
@require_POST
def follow_up(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk, Action.REPLY)
    form = TemplateForm(request.POST)
    back = _conversation_url(item)
    try:
        if not form.is_valid():
            raise ServiceError(_form_error(form), code="invalid", field="template")
        template: WhatsAppTemplate = form.cleaned_data["template"]
        variables = form.variables({k[len(f"t{template.pk}_"):]: v for k, v in request.POST.items()
                                    if k.startswith(f"t{template.pk}_")})
        follow, _message = composer.conversation_follow_up(conversation=item, author=request.user,
                                                           template=template, variables=variables)
    except ServiceError as exc:
        return _refused(request, exc, back=back)
    return _done(request, _("Follow-up sent: conversation #%(id)s is open with you.") % {"id": follow.pk},
                 to=_conversation_url(follow))
