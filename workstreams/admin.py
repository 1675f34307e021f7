from django.contrib import admin, messages
from django.utils.html import format_html

from config.exceptions import ServiceError

from . import services
from .models import Conversation, ConversationMessage, ConversationState, Queue, Workstream, WorkstreamNumber


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "priority", "is_default", "live_conversations"]
    list_filter = ["is_default"]
    search_fields = ["name"]

    @admin.display(description="Open / active / waiting")
    def live_conversations(self, obj):
        return obj.conversations.exclude(state__in=[ConversationState.WRAP_UP, ConversationState.CLOSED]).count()


class WorkstreamNumberInline(admin.TabularInline):
    model = WorkstreamNumber
    extra = 0


@admin.register(Workstream)
class WorkstreamAdmin(admin.ModelAdmin):
    list_display = ["name", "channel", "number_count"]
    list_filter = ["channel"]
    search_fields = ["name", "numbers__phone_number__number"]
    inlines = [WorkstreamNumberInline]

    @admin.display(description="Numbers")
    def number_count(self, obj):
        return obj.numbers.count()


class ConversationMessageInline(admin.TabularInline):
    model = ConversationMessage
    verbose_name = "message"
    verbose_name_plural = "Thread"
    extra = 0
    can_delete = False
    fields = ["when", "direction", "kind", "body", "status", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("message")

    @admin.display(description="When")
    def when(self, obj):
        return obj.message.created_at

    @admin.display(description="Direction")
    def direction(self, obj):
        return obj.message.get_direction_display()

    @admin.display(description="Kind")
    def kind(self, obj):
        return obj.message.get_kind_display()

    @admin.display(description="Text")
    def body(self, obj):
        return obj.message.body

    @admin.display(description="Status")
    def status(self, obj):
        return obj.message.get_status_display()

    @admin.display(description="Provider error")
    def error(self, obj):
        m = obj.message
        return f"{m.error_code}: {m.error_message}" if m.error_code or m.error_message else ""


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "contact", "phone_number", "channel", "state_badge", "queue", "agent", "last_message_at"]
    list_filter = ["state", "channel", "queue", "resolved", ("agent", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["contact__address", "contact__display_name", "phone_number__number"]
    date_hierarchy = "created_at"
    list_select_related = ["contact", "phone_number", "queue", "agent"]
    readonly_fields = ["contact", "phone_number", "channel", "state", "resolved", "created_at", "last_message_at",
                       "last_inbound_at", "ended_at", "closed_at", "routing_explained"]
    fields = ["contact", "phone_number", "channel", "state", "queue", "agent", "resolved", "routing_explained",
              "created_at", "last_message_at", "last_inbound_at", "ended_at", "closed_at"]
    inlines = [ConversationMessageInline]
    actions = ["end_conversations", "close_conversations"]

    STATE_COLOURS = {"open": "#b45309", "active": "#15803d", "waiting": "#1d4ed8", "wrap_up": "#6b7280",
                     "closed": "#374151"}

    @admin.display(description="State", ordering="state")
    def state_badge(self, obj):
        return format_html('<strong style="color:{}">{}</strong>', self.STATE_COLOURS.get(obj.state, "#000"),
                           obj.get_state_display())

    @admin.display(description="Routing diagnosis")
    def routing_explained(self, obj):
        diagnosis = obj.routing_diagnosis or {}
        if not diagnosis:
            return "—"
        return format_html("<strong>{}</strong>: {}", diagnosis.get("queue", "?"), diagnosis.get("reason", ""))

    def has_add_permission(self, request):
        return False

    @admin.action(description="End the selected conversations (resolved, wrap-up)")
    def end_conversations(self, request, queryset):
        self._apply(request, queryset, lambda c: services.conversation_end(conversation=c, user=request.user),
                    "ended")

    @admin.action(description="Close the selected conversations")
    def close_conversations(self, request, queryset):
        self._apply(request, queryset, lambda c: services.conversation_close(conversation=c), "closed")

    def _apply(self, request, queryset, operation, verb):
        done = 0
        for conversation in queryset:
            try:
                operation(conversation)
                done += 1
            except ServiceError as exc:
                self.message_user(request, f"#{conversation.pk}: {exc.message}", messages.WARNING)
        if done:
            self.message_user(request, f"{done} conversation(s) {verb}.", messages.SUCCESS)
