from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import models
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from config.admin_display import FieldHelpMixin, natural_time, truncated
from config.exceptions import ServiceError
from config.forms import ServiceErrorMixin

from . import services
from .cases import case_check, case_create
from .models import (
    MAX_SPLIT_QUEUES,
    AgentProfile,
    AgentSkill,
    AutomatedMessage,
    Bot,
    BotKind,
    BotRule,
    Case,
    Conversation,
    ConversationMessage,
    ConversationNote,
    ConversationState,
    Holiday,
    Offer,
    OperatingHours,
    OperatingSlot,
    OverflowRule,
    Presence,
    Queue,
    QuickReply,
    RoutingCondition,
    RoutingRule,
    RoutingSplit,
    Skill,
    WhatsAppTemplate,
    Workstream,
    WorkstreamNumber,
)
from .services import access
from .services.access import Action
from .services.bots import bot_url_check
from .services.distribution import capacity_used
from .services.hours import queue_is_open
from .services.routing import routing_lines


class OperatingSlotInline(admin.TabularInline):
    model = OperatingSlot
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


@admin.register(OperatingHours)
class OperatingHoursAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "open_now"]
    search_fields = ["name"]
    inlines = [OperatingSlotInline, HolidayInline]

    @admin.display(description=_("Open now"), boolean=True)
    def open_now(self, obj):
        from .services.hours import hours_open_at

        return hours_open_at(obj)


class SupervisorsMixin:
    """The supervisors field offers only active staff users who hold the supervise permission."""

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "supervisors":
            users = get_user_model().objects
            kwargs["queryset"] = (users.with_perm(access.SUPERVISE_PERMISSION, is_active=True,
                                                  backend=access.PERMISSION_BACKEND)
                                  .filter(is_staff=True).order_by("username"))
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class OverflowRuleInline(admin.TabularInline):
    model = OverflowRule
    fk_name = "queue"
    extra = 0
    fields = ["order", "condition", "work_item_limit", "wait_threshold", "action", "target_queue", "message",
              "is_active"]
    verbose_name_plural = _("overflow rules (checked in order when a conversation is routed here and by the "
                            "periodic cycle; the first that holds acts)")


@admin.register(Queue)
class QueueAdmin(SupervisorsMixin, admin.ModelAdmin):
    list_display = ["name", "priority", "assignment_method", "is_default", "open_now", "waiting", "members_count",
                    "overflow_count", "supervisors_list"]
    list_filter = ["is_default", "assignment_method", "skill_matching"]
    search_fields = ["name"]
    filter_horizontal = ["members", "supervisors"]
    inlines = [OverflowRuleInline]

    @admin.display(description=_("Overflow rules"))
    def overflow_count(self, obj):
        return obj.overflow_rules.filter(is_active=True).count()

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("supervisors")

    @admin.display(description=_("Supervisors"))
    def supervisors_list(self, obj):
        return ", ".join(u.get_username() for u in obj.supervisors.all()) or "—"

    @admin.display(description=_("Open now"), boolean=True)
    def open_now(self, obj):
        return queue_is_open(obj)

    @admin.display(description=_("Waiting"))
    def waiting(self, obj):
        return obj.conversations.filter(state=ConversationState.OPEN).count()

    @admin.display(description=_("Agents"))
    def members_count(self, obj):
        return obj.members.count()


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    search_fields = ["name"]


class AgentSkillInline(admin.TabularInline):
    model = AgentSkill
    extra = 0


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "public_name", "presence", "capacity", "capacity_in_use", "offers_missed",
                    "last_assigned_at"]
    list_filter = ["presence", "skills__skill"]
    readonly_fields = ["offers_missed", "presence_notice"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    inlines = [AgentSkillInline]
    actions = ["set_available", "set_offline"]

    def response_add(self, request, obj, post_url_continue=None):
        """Added from the console's "no agent profile" page (``?next=/console/``): back to the console."""
        target = request.GET.get("next", "")
        if target and "_addanother" not in request.POST and "_continue" not in request.POST and \
                url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                require_https=request.is_secure()):
            self.message_user(request, _("The agent profile of %(user)s is saved.") % {"user": obj.user},
                              messages.SUCCESS)
            return HttpResponseRedirect(target)
        return super().response_add(request, obj, post_url_continue)

    @admin.display(description=_("In use"))
    def capacity_in_use(self, obj):
        return capacity_used([obj.user_id]).get(obj.user_id, 0)

    def _presence(self, request, queryset, presence):
        for profile in queryset.select_related("user"):
            services.agent_presence_set(user=profile.user, presence=presence)
        count = queryset.count()
        self.message_user(request, ngettext("%(count)s agent set to %(presence)s.",
                                            "%(count)s agents set to %(presence)s.", count)
                          % {"count": count, "presence": Presence(presence).label}, messages.SUCCESS)

    @admin.action(description=_("Set presence: available"))
    def set_available(self, request, queryset):
        self._presence(request, queryset, "available")

    @admin.action(description=_("Set presence: offline"))
    def set_offline(self, request, queryset):
        self._presence(request, queryset, "offline")


class BotRuleInline(FieldHelpMixin, admin.StackedInline):
    model = BotRule
    extra = 0
    field_help = {
        "order": _("Rules are tried from the lowest number up; the first that matches answers."),
        "match": _("How the pattern is compared with the customer's message."),
        "pattern": _("A word the message contains (without regard to case), or a regular expression (Python "
                     "syntax), as Match says."),
    }


def _https_urls(db_field, **kwargs):
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class BotForm(forms.ModelForm):
    """The bot's settings; the secret is a write-only input that never carries the stored value."""

    new_secret = forms.CharField(
        label=_("Secret"), required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("HTTP bot: key of the X-Hub-Signature HMAC-SHA256 header over the body. Leave empty to keep "
                    "the current secret."),
    )

    class Meta:
        model = Bot
        fields = ["name", "kind", "escalation_keywords", "unmatched_escalates", "fallback_answer", "url",
                  "timeout_seconds"]  # never "secret": see new_secret
        formfield_callback = _https_urls

    def clean(self):
        cleaned = super().clean()
        url = cleaned.get("url") or ""
        if cleaned.get("kind") == BotKind.HTTP and not url and "url" not in self.errors:
            self.add_error("url", gettext("An HTTP bot needs the URL each customer message is POSTed to."))
        elif url:
            try:
                bot_url_check(url)
            except ServiceError as exc:
                self.add_error("url", exc.message)
        return cleaned


@admin.register(Bot)
class BotAdmin(FieldHelpMixin, admin.ModelAdmin):
    form = BotForm
    field_help = {
        "name": _("Shown on workstreams that use the bot and in the routing diagnosis."),
        "kind": _("Rule bot: answers from its rules below. HTTP bot: a service you run answers each customer "
                  "message (URL and secret below)."),
        "fallback_answer": _("Rule bot: sent when no rule matches and unmatched messages do not escalate."),
        "timeout_seconds": _("HTTP bot: seconds to wait for its answer, from 0.5 to 30."),
    }
    exclude = ["secret"]  # never rendered, not even read-only: "secret_status" says whether one is set
    readonly_fields = ["secret_status"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "kind", "url"]
    list_filter = ["kind"]
    inlines = [BotRuleInline]

    def can_set_secret(self, request, obj=None) -> bool:
        return self.has_change_permission(request, obj) if obj is not None else self.has_add_permission(request)

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f not in ("secret", "secret_status", "new_secret")]
        at = fields.index("url") + 1 if "url" in fields else len(fields)
        extra = ["secret_status", "new_secret"] if self.can_set_secret(request, obj) else ["secret_status"]
        return fields[:at] + extra + fields[at:]

    @admin.display(description=_("Current secret"))
    def secret_status(self, obj):
        return gettext("Set") if obj is not None and obj.secret else gettext("Not set")

    def save_model(self, request, obj, form, change):
        new_secret = form.cleaned_data.get("new_secret")
        if new_secret and self.can_set_secret(request, obj if change else None):
            obj.secret = new_secret  # write-only: empty keeps the stored value
        super().save_model(request, obj, form, change)


class WorkstreamNumberInline(admin.TabularInline):
    model = WorkstreamNumber
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    extra = 0
    fields = ["phone_number", "language", "customers_may_send_attachments", "agents_may_send_attachments",
              "survey_enabled", "survey_url", "settings_link"]
    readonly_fields = ["settings_link"]

    @admin.display(description=_("Messages and templates"))
    def settings_link(self, obj):
        if not obj.pk:
            return "—"
        from django.urls import reverse

        return format_html('<a href="{}">{}</a>', reverse("admin:workstreams_workstreamnumber_change", args=[obj.pk]),
                           gettext("Automated messages, templates…"))


class RoutingRuleInline(FieldHelpMixin, admin.TabularInline):
    model = RoutingRule
    field_help = {
        "order": _("Tried from the lowest number up; the first whose conditions all hold chooses the queue."),
        "queue": _("Where the conversations this rule matches wait for an agent."),
    }
    extra = 0
    fields = ["order", "name", "queue", "is_active", "edit_link"]
    readonly_fields = ["edit_link"]
    show_change_link = True

    @admin.display(description=_("Conditions"))
    def edit_link(self, obj):
        return ", ".join(str(c) for c in obj.conditions.all()) or gettext("always") if obj.pk else "—"


@admin.register(Workstream)
class WorkstreamAdmin(FieldHelpMixin, SupervisorsMixin, admin.ModelAdmin):
    field_help = {
        "name": _("Shown to agents and supervisors."),
        "distribution_mode": _("Push: the hub assigns each conversation to an available agent with capacity. "
                               "Pick: agents take conversations from their queues themselves."),
        "wrap_up_capacity": _("Once an agent ends a conversation (wrap-up): whether it still uses their capacity "
                              "— until it is closed, for the wrap-up time below, or not at all."),
    }
    list_display = ["name", "channel", "distribution_mode", "capacity_per_conversation", "bot", "number_count"]
    list_filter = ["channel", "distribution_mode"]
    search_fields = ["name", "numbers__phone_number__number"]
    inlines = [WorkstreamNumberInline, RoutingRuleInline]
    fieldsets = [
        (None, {"fields": ["name", "channel"]}),
        (_("Work distribution"), {"fields": ["distribution_mode", "offers_enabled", "offer_timeout",
                                          "capacity_per_conversation", "keep_same_agent",
                                          "fallback_queue", "wrap_up_capacity", "wrap_up_time",
                                          "waiting_auto_close"]}),
        (_("Bot"), {"fields": ["bot"]}),
        (_("Supervision"), {"fields": ["supervisors"]}),
    ]
    filter_horizontal = ["supervisors"]

    @admin.display(description=_("Numbers"))
    def number_count(self, obj):
        return obj.numbers.count()


class RoutingConditionInline(FieldHelpMixin, admin.TabularInline):
    model = RoutingCondition
    extra = 1
    field_help = {
        "field": _("What is compared: something about the customer, our number, the first message, or whether a "
                   "queue is within its operating hours."),
        "operator": _("How it is compared with the value (time conditions: “holds”)."),
    }


class RoutingSplitFormSet(BaseInlineFormSet):
    """A split names at most five queues, each once, whose percentages add up to 100."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = [f.cleaned_data for f in self.forms
                if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("queue")]
        if not kept:
            return
        if len(kept) > MAX_SPLIT_QUEUES:
            raise forms.ValidationError(
                _("A rule splits over at most %(max)s queues; %(count)s are given. Remove %(extra)s.")
                % {"max": MAX_SPLIT_QUEUES, "count": len(kept), "extra": len(kept) - MAX_SPLIT_QUEUES})
        queues = [c["queue"] for c in kept]
        doubled = sorted({q.name for q in queues if queues.count(q) > 1})
        if doubled:
            raise forms.ValidationError(_("Each queue appears once in a split: %(queues)s appears more than once.")
                                        % {"queues": ", ".join(doubled)})
        total = sum(c.get("percentage") or 0 for c in kept)
        if total != 100:
            raise forms.ValidationError(
                ngettext("The percentages add up to %(total)s; they must add up to 100 (%(diff)s point missing).",
                         "The percentages add up to %(total)s; they must add up to 100 (%(diff)s points missing).",
                         100 - total) % {"total": total, "diff": 100 - total} if total < 100 else
                _("The percentages add up to %(total)s; they must add up to 100 (%(diff)s too many).")
                % {"total": total, "diff": total - 100})


class RoutingSplitInline(admin.TabularInline):
    model = RoutingSplit
    formset = RoutingSplitFormSet
    extra = 0
    max_num = MAX_SPLIT_QUEUES
    verbose_name_plural = _("percentage split (optional: instead of the rule's queue, up to five queues whose "
                            "percentages add up to 100)")


@admin.register(RoutingRule)
class RoutingRuleAdmin(FieldHelpMixin, admin.ModelAdmin):
    field_help = {
        "workstream": _("The workstream whose new conversations this rule routes."),
        "order": _("Rules are tried from the lowest number up; the first whose conditions all hold chooses the "
                   "queue (a rule without conditions always holds)."),
        "name": _("Shown in the routing diagnosis of the conversations it routes."),
        "queue": _("Where the conversations this rule matches wait for an agent."),
        "is_active": _("An inactive rule is skipped."),
    }
    list_display = ["name", "workstream", "order", "queue", "is_active"]
    list_filter = ["workstream", "queue", "is_active"]
    search_fields = ["name"]
    filter_horizontal = ["required_skills"]
    inlines = [RoutingConditionInline, RoutingSplitInline]


class AutomatedMessageInline(admin.TabularInline):
    model = AutomatedMessage
    extra = 0


class WhatsAppTemplateInline(admin.TabularInline):
    model = WhatsAppTemplate
    extra = 0


@admin.register(WorkstreamNumber)
class WorkstreamNumberAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["phone_number", "workstream", "language", "survey_enabled"]
    list_filter = ["workstream", "survey_enabled"]
    inlines = [AutomatedMessageInline, WhatsAppTemplateInline]

    def get_inline_instances(self, request, obj=None):
        inlines = super().get_inline_instances(request, obj)
        if obj is not None and obj.phone_number.channel != "whatsapp":
            inlines = [i for i in inlines if not isinstance(i, WhatsAppTemplateInline)]
        return inlines


class CaseForm(ServiceErrorMixin, forms.ModelForm):
    """A new case is checked by the service's own rules, so a refusal shows on the field it names."""

    class Meta:
        model = Case
        fields = ["title", "contact", "status", "description"]

    def clean(self):
        cleaned = super().clean()
        contact = cleaned.get("contact")
        if self.instance.pk is None and contact is not None and "title" not in self.errors:
            try:
                case_check(title=cleaned.get("title", ""), contact_address=contact.address)
            except ServiceError as exc:
                self.add_service_error(exc)
        return cleaned


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    form = CaseForm
    list_display = ["title", "contact", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["title", "contact__address", "contact__display_name"]
    autocomplete_fields = ["contact"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        # New cases go through the service so the "case created" triggers fire.
        created = case_create(title=obj.title, contact_address=obj.contact.address, description=obj.description)
        obj.pk = created.pk
        obj.created_at = created.created_at


class ConversationMessageInline(admin.TabularInline):
    model = ConversationMessage
    verbose_name = _("message")
    verbose_name_plural = _("Thread")
    extra = 0
    can_delete = False
    fields = ["when", "direction", "kind", "body", "status", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("message")

    @admin.display(description=_("When"))
    def when(self, obj):
        return obj.message.created_at

    @admin.display(description=_("Direction"))
    def direction(self, obj):
        return obj.message.get_direction_display()

    @admin.display(description=_("Kind"))
    def kind(self, obj):
        return obj.message.get_kind_display()

    @admin.display(description=_("Text"))
    def body(self, obj):
        return obj.message.body

    @admin.display(description=_("Status"))
    def status(self, obj):
        return obj.message.get_status_display()

    @admin.display(description=_("Provider error"))
    def error(self, obj):
        m = obj.message
        return f"{m.error_code}: {m.error_message}" if m.error_code or m.error_message else ""


class ConversationNoteInline(admin.TabularInline):
    """Internal notes, read only: agents write them in the console (they are never sent)."""

    model = ConversationNote
    extra = 0
    can_delete = False
    fields = ["created_at", "author", "is_wrap_up", "body"]
    readonly_fields = fields
    verbose_name_plural = _("internal notes (never sent)")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "contact_short", "channel", "state_badge", "queue", "agent", "last_activity"]
    list_filter = ["state", "channel", "workstream", "queue", "resolved", "outcome", "with_bot",
                   ("agent", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["contact__address", "contact__display_name", "phone_number__number"]
    date_hierarchy = "created_at"
    list_select_related = ["contact", "phone_number", "queue", "agent"]
    readonly_fields = ["contact", "phone_number", "workstream", "channel", "state", "queue", "agent", "with_bot",
                       "resolved", "outcome", "case", "created_at", "queued_at", "assigned_at", "last_message_at",
                       "last_inbound_at", "ended_at", "closed_at", "routing_explained"]
    fields = ["contact", "phone_number", "workstream", "channel", "state", "queue", "agent", "with_bot", "resolved",
              "outcome", "case", "routing_explained", "created_at", "queued_at", "assigned_at", "last_message_at",
              "last_inbound_at", "ended_at", "closed_at"]
    inlines = [ConversationMessageInline, ConversationNoteInline]
    actions = ["end_conversations", "close_conversations"]

    STATE_COLOURS = {"open": "#b45309", "active": "#15803d", "waiting": "#1d4ed8", "wrap_up": "#6b7280",
                     "closed": "#374151"}

    @admin.display(description=_("Customer"), ordering="contact__address")
    def contact_short(self, obj):
        return truncated(str(obj.contact), 32)

    @admin.display(description=_("Last message"), ordering="last_message_at")
    def last_activity(self, obj):
        return natural_time(obj.last_message_at)

    @admin.display(description=_("State"), ordering="state")
    def state_badge(self, obj):
        return format_html('<strong style="color:{}">{}</strong>', self.STATE_COLOURS.get(obj.state, "#000"),
                           obj.get_state_display())

    @admin.display(description=_("Routing diagnosis"))
    def routing_explained(self, obj):
        lines = routing_lines(obj.routing_diagnosis)
        if not lines:
            return "—"
        return format_html_join("", "<div>{}</div>", ((line,) for line in lines))

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        # The same reach as the console and the API: agents see their own, supervisors their queues'.
        return access.conversations_visible_to(request.user, super().get_queryset(request))

    @admin.action(description=_("End the selected conversations (resolved, wrap-up)"))
    def end_conversations(self, request, queryset):
        self._apply(request, queryset, Action.END,
                    lambda c: services.conversation_end(conversation=c, user=request.user),
                    lambda n: ngettext("%(count)s conversation ended.", "%(count)s conversations ended.", n))

    @admin.action(description=_("Force-close the selected conversations"))
    def close_conversations(self, request, queryset):
        self._apply(request, queryset, Action.FORCE_CLOSE,
                    lambda c: services.conversation_force_close(conversation=c, by=request.user),
                    lambda n: ngettext("%(count)s conversation closed.", "%(count)s conversations closed.", n))

    def _apply(self, request, queryset, action, operation, done_text):
        done = 0
        for conversation in queryset:
            try:
                access.conversation_require(request.user, action, conversation)
                operation(conversation)
                done += 1
            except ServiceError as exc:
                text = gettext("#%(id)s: %(message)s") % {"id": conversation.pk, "message": exc.message}
                self.message_user(request, text, messages.WARNING)
        if done:
            self.message_user(request, done_text(done) % {"count": done}, messages.SUCCESS)



@admin.register(QuickReply)
class QuickReplyAdmin(admin.ModelAdmin):
    list_display = ["title", "language", "is_active", "updated_at"]
    list_filter = ["is_active", "language"]
    search_fields = ["title", "text"]


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    """Offers are made and answered by distribution and the agents: read-only here, for diagnosis."""

    list_display = ["id", "conversation", "agent", "state", "created_at", "expires_at", "answered_at"]
    list_filter = ["state"]
    search_fields = ["agent__username", "conversation__contact__address"]
    list_select_related = ["conversation__contact", "conversation__phone_number", "agent"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
