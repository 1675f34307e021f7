"""Admin for outbound messaging: templates, configurations (with their ID and a copy button), triggers,
schedules, contact-list uploads with their progress, requests, timeline activities and reply links.

Every change goes through ``outbound.services``. ``ContactTimelineInline`` and ``CaseTimelineInline``
show a contact's or a case's outbound activities; register them on those admins from here, as the
lower apps do not import this one.
"""

from __future__ import annotations

import uuid
import zoneinfo
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from channels_app.models import MessageStatus
from config.admin_display import FieldHelpMixin, natural_time, truncated
from config.exceptions import ServiceError

from . import selectors
from .forms import ContactListForm, LocalizationFormSet, OutboundConfigurationForm, OutboundScheduleForm
from .models import (
    BatchState,
    MessageTemplate,
    OutboundBatch,
    OutboundConfiguration,
    OutboundRecipient,
    OutboundReply,
    OutboundRequest,
    OutboundSchedule,
    OutboundTrigger,
    RecipientState,
    Source,
    TemplateLocalization,
    TimelineActivity,
)
from .services.batches import contact_list_review, outbound_batch_create, outbound_batch_resume
from .services.requests import outbound_request_rerun
from .services.schedules import schedule_delete, schedule_save

MEDIA_JS = ["channels_app/admin.js"]  # copy buttons: <button data-copy-target="input-id">
MEDIA_CSS = {"all": ["outbound/admin.css"]}


def _link(obj: Any, label: Any = None) -> str:
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label if label is not None else obj)


def _progress_bar(counts: dict[str, int], total: int, *, compact: bool = False) -> str:
    """The bar with its counts; ``compact`` (list columns): "n of m done", the counts on hover."""
    return render_to_string("admin/outbound/progress.html", {"counts": counts, "total": total, "compact": compact,
                                                             "done": max(0, counts.get("total", 0)
                                                                         - counts.get("pending", 0))})


# --- Templates -----------------------------------------------------------------------------------

class TemplateLocalizationInline(admin.StackedInline):
    model = TemplateLocalization
    formset = LocalizationFormSet
    extra = 0
    min_num = 1
    fields = ["language", "text", "content_sid", "content_variables"]
    verbose_name = _("localized version")
    verbose_name_plural = _("localized versions (one in the default language is required)")


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "channel", "default_language", "languages", "updated_at"]
    list_filter = ["channel", "default_language"]
    search_fields = ["name", "description", "localizations__text", "localizations__content_sid"]
    inlines = [TemplateLocalizationInline]
    fields = ["name", "channel", "default_language", "description"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[MessageTemplate]:
        return super().get_queryset(request).prefetch_related("localizations")

    @admin.display(description=_("Languages"))
    def languages(self, obj: MessageTemplate) -> str:
        return ", ".join(loc.language for loc in obj.localizations.all())


# --- Configurations ------------------------------------------------------------------------------

class OutboundTriggerInline(admin.TabularInline):
    model = OutboundTrigger
    extra = 0
    fields = ["event", "is_active", "created_at"]
    readonly_fields = ["created_at"]
    verbose_name = _("automated trigger")
    verbose_name_plural = _("automated triggers (send this configuration when an event happens)")


@admin.register(OutboundConfiguration)
class OutboundConfigurationAdmin(admin.ModelAdmin):
    form = OutboundConfigurationForm
    list_display = ["name", "channel_type", "phone_number", "template", "show_in_timeline", "is_active",
                    "configuration_id"]
    list_filter = ["channel_type", "is_active", "show_in_timeline", "template"]
    search_fields = ["name", "template__name", "phone_number__number"]
    list_select_related = ["phone_number", "template"]
    readonly_fields = ["configuration_id_copy", "created_at", "updated_at", "activity"]
    inlines = [OutboundTriggerInline]
    actions = ["send_to_contact_list"]
    change_form_template = "admin/outbound/outboundconfiguration/change_form.html"

    class Media:
        css = MEDIA_CSS
        js = MEDIA_JS

    def get_fieldsets(self, request: HttpRequest, obj: OutboundConfiguration | None = None) -> list:
        main = (None, {"fields": ["name", "show_in_timeline", "channel_type", "phone_number", "template",
                                  "is_active"]})
        if obj is None:
            return [main]
        return [
            (None, {"fields": ["configuration_id_copy"],
                    "description": _("Callers name this configuration by its ID: configuration_id (or "
                                     "msdyn_ocoutboundconfigurationid) in POST /api/v1/outbound/requests/, "
                                     "--configuration in manage.py send_outbound.")}),
            main,
            (_("Activity"), {"fields": ["activity", "created_at", "updated_at"]}),
        ]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        queryset, duplicates = super().get_search_results(request, queryset, search_term)
        try:
            queryset |= self.model.objects.filter(configuration_id=uuid.UUID(search_term.strip()))
        except ValueError:
            pass  # not a configuration ID: the name search above stands
        return queryset, duplicates

    @admin.display(description=_("Configuration ID"))
    def configuration_id_copy(self, obj: OutboundConfiguration | None) -> str:
        if obj is None or obj.pk is None:
            return _("Generated when you save.")
        return render_to_string("admin/outbound/outboundconfiguration/configuration_id.html",
                                {"value": obj.configuration_id})

    @admin.display(description=_("Requests"))
    def activity(self, obj: OutboundConfiguration) -> str:
        count = obj.requests.count()
        url = reverse("admin:outbound_outboundrequest_changelist") + "?" + urlencode(
            {"configuration__id__exact": obj.pk})
        return format_html('<a href="{}">{}</a>', url,
                           ngettext("%(count)s request", "%(count)s requests", count) % {"count": count})

    # --- Sending to a contact list (instant, from the admin) -----------------------------------

    def get_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/send/", self.admin_site.admin_view(self.send_view), name="{}_{}_send".format(*info)),
            *super().get_urls(),
        ]

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("outbound.add_outboundrequest")

    @admin.action(description=_("Send to a contact list (CSV)…"), permissions=["send"])
    def send_to_contact_list(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        chosen = list(queryset[:2])
        if len(chosen) != 1:
            self.message_user(request, _("Select exactly one configuration to send."), messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:outbound_outboundconfiguration_send", args=[chosen[0].pk]))

    def send_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        configuration = self.get_object(request, unquote(object_id))
        if configuration is None:
            raise Http404(_("No outbound configuration with id %(id)s.") % {"id": repr(object_id)})
        if not self.has_send_permission(request):
            raise PermissionDenied
        if request.method == "GET" and request.GET.get("sample"):
            return _sample_csv(configuration)
        form = ContactListForm(request.POST or None, request.FILES or None, configuration=configuration)
        review = None
        if request.method == "POST" and form.is_valid():
            review = contact_list_review(configuration=configuration, rows=form.contacts.rows,
                                         lines=form.contacts.lines)
            if review.accepted and review.to_send and request.POST.get("confirm") == "1":
                try:
                    batch = outbound_batch_create(configuration=configuration, contacts=form.contacts.rows,
                                                  lines=form.contacts.lines, source=Source.ADMIN, name=form.name,
                                                  user=request.user)
                except ServiceError as exc:
                    form.add_error(None, exc.message)
                    review = None
                else:
                    self.message_user(request, ngettext(
                        "%(contacts)s contact accepted in %(requests)s request; sending has started.",
                        "%(contacts)s contacts accepted in %(requests)s request(s); sending has started.",
                        batch.contact_count,
                    ) % {"contacts": batch.contact_count, "requests": batch.chunk_count}, messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:outbound_outboundbatch_change", args=[batch.pk]))
            elif review.accepted and not review.to_send:
                form.add_error(None, _("No contact of this list would be sent (see the skipped rows); nothing was "
                                       "stored."))
        form_text, list_name = (form.text, form.name) if review is not None else ("", "")
        if review is not None and review.accepted and review.to_send:
            form = ContactListForm(configuration=configuration)  # the preview's form sends the list; this one is empty
        context = {
            **self.admin_site.each_context(request),
            "title": _("Send '%(configuration)s' to a contact list") % {"configuration": configuration.name},
            "subtitle": None,
            "opts": self.opts,
            "configuration": configuration,
            "form": form,
            "media": self.media + form.media,
            "change_url": reverse("admin:outbound_outboundconfiguration_change", args=[configuration.pk]),
            "limit": 100,
            "review": review,
            "list_text": form_text,
            "list_name": list_name,
        }
        return TemplateResponse(request, "admin/outbound/outboundconfiguration/send.html", context)


SAMPLE_CSV = (
    "tocontactid,channelid,optin,locale,CustomerName,CaseName,contextitems.order_id\r\n"
    "+14155550123,{channel},true,en-US,Maria Garcia,Parcel delayed,A-17\r\n"
    "+447700900123,{channel},true,en-GB,Sam Jones,Refund,B-42\r\n"
)


def _sample_csv(configuration: OutboundConfiguration) -> HttpResponse:
    """A list in the upload's format, for this configuration's channel, to fill in."""
    response = HttpResponse(SAMPLE_CSV.format(channel=configuration.channel_type), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="contact-list-sample.csv"'
    return response


@admin.register(OutboundTrigger)
class OutboundTriggerAdmin(admin.ModelAdmin):
    list_display = ["event", "configuration", "is_active", "created_at"]
    list_filter = ["event", "is_active"]
    search_fields = ["configuration__name"]
    list_select_related = ["configuration"]


# --- Schedules -----------------------------------------------------------------------------------

@admin.register(OutboundSchedule)
class OutboundScheduleAdmin(FieldHelpMixin, admin.ModelAdmin):
    form = OutboundScheduleForm
    field_help = {
        "name": "A name to find the schedule by; each batch it starts carries it.",
        "configuration": "What is sent: the outbound configuration's number and template.",
        "kind": "Once at a date and time, once a number of minutes after saving, or again and again (cron).",
        "is_active": "An inactive schedule does not run; its beat entry is kept switched off.",
    }
    list_display = ["name", "configuration", "kind", "when", "is_active", "last_run_at"]
    list_filter = ["kind", "is_active", "configuration"]
    search_fields = ["name", "configuration__name", "cron"]
    readonly_fields = ["beat_entry", "last_run_at", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "configuration", "is_active"]}),
        (_("When"), {"fields": ["kind", "run_at", "delay_minutes", "cron", "time_zone"],
                     "description": _("Once: fill in the time. After a delay: the minutes after saving. Recurring: a "
                                      "cron line. Celery beat runs it (Periodic tasks in the admin show the "
                                      "entry).")}),
        (_("Contacts"), {"fields": ["contacts_csv"]}),
        (_("Runs"), {"fields": ["beat_entry", "last_run_at", "created_at", "updated_at"]}),
    ]

    @admin.display(description=_("When"))
    def when(self, obj: OutboundSchedule) -> str:
        if obj.kind == "recurring":
            return f"cron {obj.cron} ({obj.time_zone})"
        if obj.kind == "delay":
            return ngettext("%(minutes)s min after saving", "%(minutes)s min after saving",
                            obj.delay_minutes) % {"minutes": obj.delay_minutes}
        if obj.run_at is None:
            return "-"
        try:
            local = timezone.localtime(obj.run_at, zoneinfo.ZoneInfo(obj.time_zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return str(obj.run_at)
        return f"{local:%Y-%m-%d %H:%M} ({obj.time_zone})"

    @admin.display(description=_("Beat entry"))
    def beat_entry(self, obj: OutboundSchedule) -> str:
        task = obj.periodic_task
        if task is None:
            return _("Written when you save.")
        state = _("enabled") if task.enabled else _("disabled (ran, or the schedule is inactive)")
        return format_html("{} — {}", _link(task, task.name), state)

    def save_model(self, request: HttpRequest, obj: OutboundSchedule, form: Any, change: bool) -> None:
        schedule_save(schedule=obj)

    def delete_model(self, request: HttpRequest, obj: OutboundSchedule) -> None:
        schedule_delete(schedule=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[OutboundSchedule]) -> None:
        for schedule in queryset:
            schedule_delete(schedule=schedule)


# --- Batches (contact lists of any size) ---------------------------------------------------------

@admin.register(OutboundBatch)
class OutboundBatchAdmin(admin.ModelAdmin):
    list_display = ["batch_name", "configuration_short", "state", "list_progress", "created"]
    list_filter = ["state", "source", "configuration"]
    search_fields = ["name", "configuration__name"]
    list_select_related = ["configuration"]
    list_per_page = 50
    readonly_fields = ["configuration", "name", "source", "schedule", "scheduled_for", "state", "error",
                       "contact_count", "chunk_count", "submitted", "progress", "not_sent", "requests_link",
                       "next_run_at", "created_by", "created_at", "finished_at"]
    fields = readonly_fields
    actions = ["resume"]
    change_form_template = "admin/outbound/outboundbatch/change_form.html"
    #: While a batch is being sent its page reloads itself this often (seconds).
    REFRESH_SECONDS = 5

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        batch = self.get_object(request, unquote(object_id))
        refresh = self.REFRESH_SECONDS if batch is not None and selectors.batch_in_progress(batch=batch) else 0
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "refresh": refresh})

    @admin.display(description=_("Not sent"))
    def not_sent(self, obj: OutboundBatch) -> str:
        problems, total = selectors.batch_problems(batch=obj)
        return render_to_string("admin/outbound/outboundbatch/not_sent.html", {
            "problems": problems, "total": total, "shown": len(problems),
            "requests_url": reverse("admin:outbound_outboundrequest_changelist") + "?" + urlencode(
                {"batch__id__exact": obj.pk})})

    class Media:
        css = MEDIA_CSS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @staticmethod
    def _progress(obj: OutboundBatch) -> selectors.BatchProgress:
        if not hasattr(obj, "_outbound_progress"):
            obj._outbound_progress = selectors.batch_progress(batch=obj)
        return obj._outbound_progress

    @admin.display(description=_("Contacts submitted"))
    def submitted(self, obj: OutboundBatch) -> str:
        progress = self._progress(obj)
        return _("%(submitted)s of %(contacts)s in %(requests)s request(s)") % {
            "submitted": progress.submitted, "contacts": progress.contacts, "requests": progress.requests}

    @admin.display(description=_("Batch"), ordering="pk")
    def batch_name(self, obj: OutboundBatch) -> str:
        return truncated(str(obj), 32)

    @admin.display(description=_("Configuration"), ordering="configuration__name")
    def configuration_short(self, obj: OutboundBatch) -> str:
        return truncated(obj.configuration.name, 26)

    @admin.display(description=_("Created"), ordering="created_at")
    def created(self, obj: OutboundBatch) -> str:
        return natural_time(obj.created_at)

    @admin.display(description=_("Progress"))
    def list_progress(self, obj: OutboundBatch) -> str:
        progress = self._progress(obj)
        return _progress_bar(progress.counts, progress.contacts, compact=True)

    @admin.display(description=_("Progress"))
    def progress(self, obj: OutboundBatch) -> str:
        progress = self._progress(obj)
        return _progress_bar(progress.counts, progress.contacts)

    @admin.display(description=_("Requests"))
    def requests_link(self, obj: OutboundBatch) -> str:
        url = reverse("admin:outbound_outboundrequest_changelist") + "?" + urlencode({"batch__id__exact": obj.pk})
        return format_html('<a href="{}">{}</a>', url, _("Requests of this batch"))

    def has_resume_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("outbound.add_outboundrequest")

    @admin.action(description=_("Resume submitting the selected stopped batches"), permissions=["resume"])
    def resume(self, request: HttpRequest, queryset: QuerySet[OutboundBatch]) -> None:
        for batch in queryset.exclude(state=BatchState.SUBMITTED).exclude(source=Source.COMMAND):
            try:
                outbound_batch_resume(batch=batch)
            except ServiceError as exc:
                self.message_user(request, f"{batch}: {exc.message}", messages.WARNING)
            else:
                self.message_user(request, _("%(batch)s: submitting again.") % {"batch": batch}, messages.SUCCESS)


# --- Requests ------------------------------------------------------------------------------------

class OutboundRecipientInline(admin.TabularInline):
    model = OutboundRecipient
    extra = 0
    can_delete = False
    fields = ["index", "to_address", "contact_link", "optin", "locale", "progress_status", "reason_text",
              "language", "message_link"]
    readonly_fields = fields
    verbose_name_plural = _("contacts")

    def get_queryset(self, request: HttpRequest) -> QuerySet[OutboundRecipient]:
        return super().get_queryset(request).select_related("contact", "message")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("Contact"))
    def contact_link(self, obj: OutboundRecipient) -> str:
        return _link(obj.contact)

    @admin.display(description=_("Status"))
    def progress_status(self, obj: OutboundRecipient) -> str:
        return selectors.recipient_progress(obj)[0]

    @admin.display(description=_("Reason"))
    def reason_text(self, obj: OutboundRecipient) -> str:
        _state, code, reason = selectors.recipient_progress(obj)
        return f"{code}: {reason}" if code else reason

    @admin.display(description=_("Message"))
    def message_link(self, obj: OutboundRecipient) -> str:
        return _link(obj.message, f"#{obj.message_id}") if obj.message_id else "-"


def _count(status: str) -> Count:
    unfinished = [MessageStatus.QUEUED, MessageStatus.SENDING]
    filters = {
        "pending": Q(recipients__state=RecipientState.PENDING) | Q(recipients__message__status__in=unfinished),
        "sent": Q(recipients__message__status=MessageStatus.SENT),
        "delivered": Q(recipients__message__status__in=[MessageStatus.DELIVERED, MessageStatus.READ]),
        "failed": Q(recipients__state=RecipientState.REJECTED)
        | Q(recipients__message__status__in=[MessageStatus.FAILED, MessageStatus.UNDELIVERED]),
        "skipped": Q(recipients__state=RecipientState.SKIPPED),
    }
    return Count("recipients", filter=filters[status])


@admin.register(OutboundRequest)
class OutboundRequestAdmin(admin.ModelAdmin):
    list_display = ["request_id", "configuration", "source", "state", "contact_count", "n_pending", "n_sent",
                    "n_delivered", "n_failed", "n_skipped", "created_at"]
    list_filter = ["state", "source", "configuration", "created_at"]
    search_fields = ["request_id", "recipients__to_address", "configuration__name"]
    list_select_related = ["configuration"]
    date_hierarchy = "created_at"
    readonly_fields = ["request_id", "configuration", "source", "batch", "case", "state", "contact_count",
                       "created_by", "created_at", "started_at", "finished_at", "runs", "next_run_at", "lease_until"]
    fields = readonly_fields
    inlines = [OutboundRecipientInline]
    actions = ["rerun"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[OutboundRequest]:
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.annotate(**{f"n_{s}": _count(s) for s in selectors.PROGRESS_STATUSES})
        return queryset

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_rerun_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("outbound.add_outboundrequest")

    @admin.display(description=_("Pending"), ordering="n_pending")
    def n_pending(self, obj: OutboundRequest) -> int:
        return obj.n_pending

    @admin.display(description=_("Sent"), ordering="n_sent")
    def n_sent(self, obj: OutboundRequest) -> int:
        return obj.n_sent

    @admin.display(description=_("Delivered"), ordering="n_delivered")
    def n_delivered(self, obj: OutboundRequest) -> int:
        return obj.n_delivered

    @admin.display(description=_("Failed"), ordering="n_failed")
    def n_failed(self, obj: OutboundRequest) -> int:
        return obj.n_failed

    @admin.display(description=_("Skipped"), ordering="n_skipped")
    def n_skipped(self, obj: OutboundRequest) -> int:
        return obj.n_skipped

    @admin.action(description=_("Send what was not sent yet (nothing is sent twice)"), permissions=["rerun"])
    def rerun(self, request: HttpRequest, queryset: QuerySet[OutboundRequest]) -> None:
        started = sum(1 for outbound_request in queryset if outbound_request_rerun(request=outbound_request))
        self.message_user(request, _("%(count)s request(s) queued to send their remaining contacts; the others had "
                                     "nothing left to send.") % {"count": started},
                          messages.SUCCESS if started else messages.INFO)


# --- Timeline --------------------------------------------------------------------------------------

class _TimelineInline(admin.TabularInline):
    model = TimelineActivity
    extra = 0
    can_delete = False
    fields = ["created_at", "channel", "language", "status", "text", "regarding", "configuration_ref"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[TimelineActivity]:
        return super().get_queryset(request).select_related("message")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("Status"))
    def status(self, obj: TimelineActivity) -> str:
        return obj.message.get_status_display()


class ContactTimelineInline(_TimelineInline):
    """For the Contact admin: ``ContactAdmin.inlines = [..., ContactTimelineInline]``."""

    fk_name = "contact"
    verbose_name_plural = _("outbound messages (timeline)")


class CaseTimelineInline(_TimelineInline):
    """For the Case admin: ``CaseAdmin.inlines = [..., CaseTimelineInline]``."""

    fk_name = "case"
    verbose_name_plural = _("outbound messages (timeline)")


@admin.register(TimelineActivity)
class TimelineActivityAdmin(admin.ModelAdmin):
    list_display = ["created_at", "contact_link", "case_link", "regarding", "channel", "language", "status", "text",
                    "configuration_ref"]
    list_filter = ["channel", "language", "message__status", "configuration"]
    search_fields = ["contact__address", "contact__display_name", "regarding", "text", "case__title"]
    list_select_related = ["contact", "case", "message"]
    date_hierarchy = "created_at"
    readonly_fields = ["contact_link", "case_link", "regarding", "configuration", "configuration_ref", "message_link",
                       "status", "channel", "language", "text", "created_at"]
    fields = readonly_fields

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # "Activities of this contact / case": ?contact__id__exact=…, ?case__id__exact=…
        if lookup in ("contact__id__exact", "case__id__exact"):
            return True
        return super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("Contact"), ordering="contact__address")
    def contact_link(self, obj: TimelineActivity) -> str:
        url = reverse("admin:outbound_timelineactivity_changelist") + "?" + urlencode(
            {"contact__id__exact": obj.contact_id})
        return format_html('{} (<a href="{}">{}</a>)', _link(obj.contact), url, _("timeline"))

    @admin.display(description=_("Case"))
    def case_link(self, obj: TimelineActivity) -> str:
        if obj.case_id is None:
            return "-"
        url = reverse("admin:outbound_timelineactivity_changelist") + "?" + urlencode({"case__id__exact": obj.case_id})
        return format_html('{} (<a href="{}">{}</a>)', _link(obj.case, obj.case.title), url, _("timeline"))

    @admin.display(description=_("Message"))
    def message_link(self, obj: TimelineActivity) -> str:
        return _link(obj.message, f"#{obj.message_id}")

    @admin.display(description=_("Status"), ordering="message__status")
    def status(self, obj: TimelineActivity) -> str:
        return obj.message.get_status_display()


@admin.register(OutboundReply)
class OutboundReplyAdmin(admin.ModelAdmin):
    list_display = ["created_at", "reply_link", "outbound_link", "contact"]
    search_fields = ["reply__contact__address", "reply__body"]
    list_select_related = ["reply__contact", "outbound_message"]
    date_hierarchy = "created_at"
    readonly_fields = ["reply_link", "outbound_link", "recipient", "created_at"]
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("Customer"))
    def contact(self, obj: OutboundReply) -> str:
        return _link(obj.reply.contact)

    @admin.display(description=_("Reply"))
    def reply_link(self, obj: OutboundReply) -> str:
        return _link(obj.reply, obj.reply.body[:60] or f"#{obj.reply_id}")

    @admin.display(description=_("Answers outbound message"))
    def outbound_link(self, obj: OutboundReply) -> str:
        return _link(obj.outbound_message, obj.outbound_message.body[:60] or f"#{obj.outbound_message_id}")


def _attach_timeline_inlines() -> None:
    """Show timeline activities on the contact and case pages; the lower apps' admins know nothing of outbound."""
    from channels_app.models import Contact
    from workstreams.models import Case

    for model, inline in ((Contact, ContactTimelineInline), (Case, CaseTimelineInline)):
        if admin.site.is_registered(model):
            model_admin = admin.site.get_model_admin(model)
            if inline not in model_admin.inlines:
                model_admin.inlines = [*model_admin.inlines, inline]


_attach_timeline_inlines()
