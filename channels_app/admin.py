"""Admin for messaging accounts (with their numbers) and the channel log.

Every change goes through ``channels_app.services``. A save runs in one transaction; when
a service refuses it, the transaction is rolled back and the form is shown again with
the refusal on the field it names. Secrets are write-only: no page renders them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from config.admin_display import natural_time, truncated
from config.exceptions import ServiceError
from config.inputs import json_depth_exceeds
from config.public_url import public_url_problems
from config.redaction import redact

from . import services
from .forms import (
    ImportNumbersForm,
    MessagingAccountForm,
    PhoneNumberForm,
    PhoneNumberFormSet,
    SendTestMessageForm,
    ServiceRefusal,
    credential_form_fields,
    credential_status,
)
from .models import (
    Attachment,
    Channel,
    ChannelLog,
    ConsentRecord,
    Contact,
    ContactAddress,
    InboundEvent,
    Message,
    MessagingAccount,
    PhoneNumber,
    ValidationStatus,
)
from .providers import credential_fields, provider_class, provider_classes
from .providers.http import log_text
from .services import delivery, inbound
from .trace import message_trace

CREDENTIALS_PERMISSION_NAME = "Can set or change provider credentials"

REFUSAL_ATTRIBUTE = "channels_service_refusal"


def _refusal(request: HttpRequest) -> ServiceRefusal | None:
    return getattr(request, REFUSAL_ATTRIBUTE, None)


class PhoneNumberInline(admin.TabularInline):
    model = PhoneNumber
    form = PhoneNumberForm
    formset = PhoneNumberFormSet
    fields = ("number", "number_type", "name", "description", "e164")
    readonly_fields = ("e164",)
    verbose_name = _("number")
    verbose_name_plural = _("numbers")

    def get_extra(self, request: HttpRequest, obj: MessagingAccount | None = None, **kwargs: Any) -> int:
        return 0 if obj is not None and obj.numbers.exists() else 1

    def get_fields(self, request: HttpRequest, obj: MessagingAccount | None = None) -> list[str]:
        fields = list(super().get_fields(request, obj))
        if obj is not None and obj.channel == Channel.WHATSAPP:
            fields.remove("number_type")
        return fields

    def get_formset(self, request: HttpRequest, obj: MessagingAccount | None = None, **kwargs: Any) -> Any:
        if obj is not None:
            kwargs["form"] = type("PhoneNumberForm", (self.form,), {"provider": obj.provider, "channel": obj.channel})
        kwargs["formset"] = type("PhoneNumberFormSet", (self.formset,), {"refusal": _refusal(request)})
        return super().get_formset(request, obj, **kwargs)


@admin.register(MessagingAccount)
class MessagingAccountAdmin(admin.ModelAdmin):
    form = MessagingAccountForm
    # The secret inputs are the form's own write-only fields; the credentials column stays out of the form.
    exclude = ("config",)
    inlines = [PhoneNumberInline]
    list_display = ("name_short", "channel", "provider", "is_active", "validation_badge", "validated", "number_count")
    list_filter = ("provider", "channel", "validation_status", "is_active")
    search_fields = ("name", "numbers__number")
    actions = ["validate_credentials", "send_test_message", "import_numbers"]
    change_form_template = "admin/channels_app/messagingaccount/change_form.html"

    class Media:
        css = {"all": ["channels_app/admin.css"]}
        js = ["channels_app/admin.js"]

    # --- Queryset and list columns ------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[MessagingAccount]:
        return super().get_queryset(request).annotate(number_count=Count("numbers", distinct=True))

    @admin.display(description=_("Name"), ordering="name")
    def name_short(self, obj: MessagingAccount) -> str:
        return truncated(obj.name, 40)

    @admin.display(description=_("Validated"), ordering="validated_at")
    def validated(self, obj: MessagingAccount) -> str:
        return natural_time(obj.validated_at)

    @admin.display(description=_("Numbers"), ordering="number_count")
    def number_count(self, obj: MessagingAccount) -> int:
        count = getattr(obj, "number_count", None)
        return obj.numbers.count() if count is None else count

    @admin.display(description=_("Validation state"), ordering="validation_status")
    def validation_badge(self, obj: MessagingAccount) -> str:
        return format_html('<span class="channels-badge channels-badge--{}">{}</span>',
                           obj.validation_status, obj.get_validation_status_display())

    @admin.display(description=_("Validation message"))
    def validation_details(self, obj: MessagingAccount) -> str:
        # Provider messages may quote an identifier that is also a secret (an account id in a URL).
        return obj.validation_message_shown or "-"

    # --- Form layout -----------------------------------------------------------------------

    def can_manage_credentials(self, request: HttpRequest) -> bool:
        return request.user.has_perm(services.CREDENTIALS_PERMISSION)

    def credential_inputs(self, request: HttpRequest, obj: MessagingAccount | None) -> tuple[str, ...]:
        """The secret inputs this user gets: none without the permission, the provider's own on change."""
        if not self.can_manage_credentials(request):
            return ()
        if obj is None:
            return tuple(credential_fields())
        return tuple(spec.name for spec in provider_class(obj.provider).credential_fields)

    def get_fieldsets(self, request: HttpRequest, obj: MessagingAccount | None = None) -> list[tuple[Any, dict]]:
        inputs = self.credential_inputs(request, obj)
        if obj is None:
            credentials = {
                "fields": inputs or ("credentials_status",),
                "description": " ".join([*(str(cls.connect_help) for cls in provider_classes().values()
                                           if cls.connect_help),
                                         gettext("Credentials are stored encrypted and never shown again.")]),
            }
            return [
                (None, {"fields": ("name", "provider", "channel", "is_active")}),
                (gettext("Credentials"), credentials),
            ]
        connect_help = provider_class(obj.provider).connect_help
        return [
            (None, {"fields": ("name", "provider", "channel", "is_active")}),
            (gettext("Credentials"), {
                "fields": ("credentials_status", *inputs),
                "description": (f"{connect_help} " if connect_help else "")
                + gettext("Credentials are write-only: they are stored encrypted and never shown."),
            }),
            (gettext("Validation"), {
                "fields": ("validation_badge", "validated_at", "validation_code", "validation_details"),
                "description": gettext("Use “Validate credentials” at the top of the page to ask the provider "
                                       "whether the credentials work; nothing is sent."),
            }),
            (gettext("Callback URLs"), {
                "fields": ("callback_urls",),
                "description": gettext("Copy these into the provider's configuration so that it can reach this "
                                       "installation. They stay the same for the life of the account."),
            }),
            (gettext("Channel log"), {"fields": ("channel_log_link",)}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: MessagingAccount | None = None) -> tuple[str, ...]:
        fields = ("credentials_status", "validation_badge", "validated_at", "validation_code",
                  "validation_details", "callback_urls", "channel_log_link")
        return fields if obj is None else ("provider", "channel", *fields)

    def get_form(self, request: HttpRequest, obj: MessagingAccount | None = None, change: bool = False,
                 **kwargs: Any) -> type[MessagingAccountForm]:
        inputs = self.credential_inputs(request, obj)
        kwargs["form"] = type("MessagingAccountForm", (self.form,), {
            **credential_form_fields(inputs, adding=obj is None),
            "credential_fields": inputs,
            "refusal": _refusal(request),
        })
        return super().get_form(request, obj, change, **kwargs)

    @admin.display(description=_("Current credentials"))
    def credentials_status(self, obj: MessagingAccount | None) -> str:
        if obj is None or obj.pk is None:
            return format_html(
                gettext("Only users with the permission “{permission}” can set credentials; without credentials you "
                        "can create accounts only of a provider that needs none."),
                permission=CREDENTIALS_PERMISSION_NAME,
            )
        cls = provider_class(obj.provider)
        if not cls.credential_fields:
            return gettext("%(provider)s accounts need no credentials.") % {"provider": cls.label}
        items = format_html_join(
            "", "<li><strong>{}:</strong> {}</li>",
            ((spec.label, credential_status(obj, spec.name)) for spec in cls.credential_fields),
        )
        return format_html('<ul class="channels-credentials">{}</ul>', items)

    @admin.display(description=_("Callback URLs"))
    def callback_urls(self, obj: MessagingAccount | None) -> str:
        if obj is None or obj.pk is None:
            return gettext("Shown once the account is saved.")
        routes = {route.name: route for route in provider_class(obj.provider).webhook_routes}
        rows = []
        for key, url in obj.callback_urls().items():
            route = routes[key]
            rows.append({"id": f"callback-url-{key}", "label": route.label, "url": url, "help": route.help})
        problems = public_url_problems(rows[0]["url"]) if rows else []  # all share PUBLIC_BASE_URL
        return render_to_string("admin/channels_app/messagingaccount/callback_urls.html",
                                {"rows": rows, "account": obj, "problems": problems})

    @admin.display(description=_("Channel log"))
    def channel_log_link(self, obj: MessagingAccount | None) -> str:
        if obj is None or obj.pk is None:
            return "-"
        count = obj.logs.count()
        url = reverse("admin:channels_app_channellog_changelist") + "?" + urlencode({"account__id__exact": obj.pk})
        return format_html('<a href="{}">{}</a>', url,
                           ngettext("View channel log (%(count)s entry)", "View channel log (%(count)s entries)",
                                    count) % {"count": count})

    # --- Saving through the services ------------------------------------------------------

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is not None:
            cls = provider_class(obj.provider)
            extra_context = {**(extra_context or {}), "lists_numbers": cls.lists_numbers,
                             "list_numbers_label": cls.list_numbers_label}
        return super().change_view(request, object_id, form_url, extra_context)

    def changeform_view(self, request: HttpRequest, object_id: str | None = None, form_url: str = "",
                        extra_context: dict[str, Any] | None = None) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefusal as refusal:
            # The refused save was rolled back with its transaction; validating the same input
            # again now reports the refusal on the form that caused it.
            setattr(request, REFUSAL_ATTRIBUTE, refusal)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: MessagingAccount, form: MessagingAccountForm,
                   change: bool) -> None:
        data = form.cleaned_data
        try:
            if change:
                services.account_update(account=obj, user=request.user, name=data["name"],
                                        is_active=data["is_active"], credentials=form.credentials())
            else:
                created = services.account_create(
                    name=data["name"], channel=data["channel"], provider=data["provider"],
                    credentials=form.credentials(), is_active=data["is_active"], user=request.user,
                )
                obj.pk = created.pk
                obj.refresh_from_db()
                obj._state.adding = False
        except ServiceError as exc:
            raise ServiceRefusal(exc) from exc

    def save_related(self, request: HttpRequest, form: MessagingAccountForm, formsets: list[Any],
                     change: bool) -> None:
        for formset in formsets:
            self.save_numbers(form.instance, formset)

    def save_numbers(self, account: MessagingAccount, formset: Any) -> None:
        """Apply the number rows: removals, then changes, then additions."""
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        deleted = set(formset.deleted_forms)
        for row in formset.initial_forms:
            if row not in deleted:
                continue
            with _refusal_for(row):
                services.number_delete(phone=row.instance)
            formset.deleted_objects.append(row.instance)
        for row in formset.initial_forms:
            if row in deleted or not row.has_changed():
                continue
            data = row.cleaned_data
            with _refusal_for(row):
                phone = services.number_update(
                    phone=row.instance, number=data["number"], number_type=data.get("number_type"),
                    name=data.get("name", ""), description=data.get("description", ""),
                )
            formset.changed_objects.append((phone, row.changed_data))
        for row in formset.extra_forms:
            if row in deleted or not row.has_changed():
                continue
            data = row.cleaned_data
            with _refusal_for(row):
                phone = services.number_add(
                    account=account, number=data["number"], number_type=data.get("number_type") or "",
                    name=data.get("name", ""), description=data.get("description", ""),
                )
            formset.new_objects.append(phone)

    # --- Validation and test sends --------------------------------------------------------

    def get_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/validate/", self.admin_site.admin_view(self.validate_view),
                 name="{}_{}_validate".format(*info)),
            path("<path:object_id>/send-test-message/", self.admin_site.admin_view(self.send_test_message_view),
                 name="{}_{}_send_test_message".format(*info)),
            path("<path:object_id>/import-numbers/", self.admin_site.admin_view(self.import_numbers_view),
                 name="{}_{}_import_numbers".format(*info)),
            *super().get_urls(),
        ]

    def report_validation(self, request: HttpRequest, account: MessagingAccount) -> None:
        result = services.account_validate(account=account)
        text = f"{account.name}: {ValidationStatus(result.status).label}"
        if result.code:
            text += " " + gettext("(code %(code)s)") % {"code": result.code}
        if result.message:
            text += f" — {redact(result.message, account.secret_values())}"
        self.message_user(request, text, messages.SUCCESS if result.valid else messages.ERROR)

    @admin.action(description=_("Validate credentials"), permissions=["change"])
    def validate_credentials(self, request: HttpRequest, queryset: QuerySet[MessagingAccount]) -> None:
        for account in queryset:
            self.report_validation(request, account)

    @admin.action(description=_("Send test message"), permissions=["change"])
    def send_test_message(self, request: HttpRequest, queryset: QuerySet[MessagingAccount]) -> HttpResponse | None:
        accounts = list(queryset[:2])
        if len(accounts) != 1:
            self.message_user(request, _("Select exactly one account to send a test message from."), messages.WARNING)
            return None
        return HttpResponseRedirect(
            reverse("admin:channels_app_messagingaccount_send_test_message", args=[accounts[0].pk])
        )

    @admin.action(description=_("Import numbers from the provider"), permissions=["change"])
    def import_numbers(self, request: HttpRequest, queryset: QuerySet[MessagingAccount]) -> HttpResponse | None:
        accounts = list(queryset[:2])
        if len(accounts) != 1:
            self.message_user(request, _("Select exactly one account to import numbers into."), messages.WARNING)
            return None
        if not provider_class(accounts[0].provider).lists_numbers:
            self.message_user(request, _("%(provider)s does not list an account's numbers; add them on the "
                                         "account's page.") % {"provider": provider_class(accounts[0].provider).label},
                              messages.WARNING)
            return None
        return HttpResponseRedirect(
            reverse("admin:channels_app_messagingaccount_import_numbers", args=[accounts[0].pk])
        )

    def import_numbers_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        account = self._account_for_change(request, object_id)
        try:
            remote = services.account_remote_numbers(account=account)
        except ServiceError as exc:
            self.message_user(request, f"{account.name}: {redact(exc.message, account.secret_values())}",
                              messages.ERROR)
            return HttpResponseRedirect(self._change_url(account))
        form = ImportNumbersForm(request.POST or None, account=account, remote=remote)
        if request.method == "POST" and form.is_valid():
            try:
                added = services.account_import_numbers(account=account, numbers=form.cleaned_data["numbers"])
            except ServiceError as exc:
                form.add_service_error(exc, secrets=account.secret_values())
            else:
                self.message_user(request, ngettext("%(count)s number added to %(account)s: %(numbers)s",
                                                    "%(count)s numbers added to %(account)s: %(numbers)s", len(added))
                                  % {"count": len(added), "account": account.name,
                                     "numbers": ", ".join(p.number for p in added)}, messages.SUCCESS)
                return HttpResponseRedirect(self._change_url(account))
        cls = provider_class(account.provider)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("%(action)s: %(account)s") % {"action": cls.list_numbers_label, "account": account.name},
            "subtitle": None,
            "opts": self.opts,
            "account": account,
            "form": form,
            "remote": remote,
            "provider_label": cls.label,
            "action_label": cls.list_numbers_label,
            "media": self.media + form.media,
            "change_url": self._change_url(account),
        }
        return TemplateResponse(request, "admin/channels_app/messagingaccount/import_numbers.html", context)

    def _account_for_change(self, request: HttpRequest, object_id: str) -> MessagingAccount:
        account = self.get_object(request, unquote(object_id))
        if account is None:
            raise Http404(_("No messaging account with id '%(id)s'.") % {"id": object_id})
        if not self.has_change_permission(request, account):
            raise PermissionDenied
        return account

    def _change_url(self, account: MessagingAccount) -> str:
        return reverse("admin:channels_app_messagingaccount_change", args=[account.pk])

    @method_decorator(require_POST)
    def validate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        account = self._account_for_change(request, object_id)
        self.report_validation(request, account)
        return HttpResponseRedirect(self._change_url(account))

    def send_test_message_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        account = self._account_for_change(request, object_id)
        form = SendTestMessageForm(request.POST or None, account=account)
        if request.method == "POST" and form.is_valid():
            try:
                sent = services.account_send_test_message(
                    account=account, to=form.cleaned_data["to"], text=form.cleaned_data["text"],
                    from_number=form.cleaned_data["from_number"] or None, media_urls=form.cleaned_data["media_urls"],
                )
            except ServiceError as exc:
                form.add_service_error(exc, secrets=account.secret_values())
            else:
                self.message_user(
                    request,
                    _("Test message sent through %(account)s to %(to)s; provider message id %(id)s.")
                    % {"account": account.name, "to": form.cleaned_data["to"], "id": sent.provider_message_id},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(self._change_url(account))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Send a test message from %(account)s") % {"account": account.name},
            "subtitle": None,
            "opts": self.opts,
            "account": account,
            "provider_label": provider_class(account.provider).label,
            "sends_nothing": provider_class(account.provider).sends_nothing,
            "form": form,
            "media": self.media + form.media,
            "change_url": self._change_url(account),
        }
        return TemplateResponse(request, "admin/channels_app/messagingaccount/send_test_message.html", context)


@contextmanager
def _refusal_for(row: Any) -> Iterator[None]:
    """Turn a ServiceError raised while saving an inline ``row`` into a refusal naming that row."""
    try:
        yield
    except ServiceError as exc:
        raise ServiceRefusal(exc, row.prefix) from exc


@admin.register(ChannelLog)
class ChannelLogAdmin(admin.ModelAdmin):
    """Provider HTTP exchanges, secrets already redacted when written. Read-only."""

    list_display = ("created_at", "account", "kind", "method", "short_url", "status_code", "duration_ms",
                    "is_error")
    list_filter = ("kind", "is_error", "account", "account__provider")
    list_select_related = ("account",)
    search_fields = ("url", "error")
    date_hierarchy = "created_at"
    fields = ("created_at", "account", "kind", "method", "url", "status_code", "duration_ms", "is_error",
              "error", "pretty_request_headers", "pretty_request_body", "pretty_response_body")
    readonly_fields = fields

    class Media:
        css = {"all": ["channels_app/admin.css"]}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ChannelLog | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ChannelLog | None = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    @admin.display(description=_("URL"), ordering="url")
    def short_url(self, obj: ChannelLog) -> str:
        if len(obj.url) <= 80:
            return obj.url
        return format_html('<span title="{}">{}…</span>', obj.url, obj.url[:79])

    @admin.display(description=_("Request headers"))
    def pretty_request_headers(self, obj: ChannelLog) -> str:
        headers = obj.request_headers
        try:
            text = json.dumps(headers, indent=2, sort_keys=isinstance(headers, dict), ensure_ascii=False,
                              default=str)
        except (TypeError, ValueError, RecursionError):
            text = repr(headers)
        return _pre(text)

    @admin.display(description=_("Request body"))
    def pretty_request_body(self, obj: ChannelLog) -> str:
        return _pre(_pretty_body(obj.request_body))

    @admin.display(description=_("Response body"))
    def pretty_response_body(self, obj: ChannelLog) -> str:
        return _pre(_pretty_body(obj.response_body))


def _pretty_body(body: str) -> str:
    """A JSON body indented, anything else as it is (also JSON nested too deep to indent)."""
    if not body or body.lstrip()[:1] not in ("{", "[") or json_depth_exceeds(body):
        return body
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return body


def _pre(text: str) -> str:
    return format_html('<pre class="channels-log-body">{}</pre>', text) if text else "-"


class ConsentRecordInline(admin.TabularInline):
    model = ConsentRecord
    extra = 0
    can_delete = False
    fields = ["created_at", "phone_number", "state", "source", "detail"]
    readonly_fields = fields
    verbose_name_plural = _("Consent history (newest first)")

    def has_add_permission(self, request, obj=None):
        return False


class ContactAddressInline(admin.TabularInline):
    model = ContactAddress
    extra = 0
    can_delete = False
    fields = ["kind", "value", "last_inbound_at", "created_at"]
    readonly_fields = fields
    verbose_name = _("address")
    verbose_name_plural = _("Addresses (replies on WhatsApp go to the one written from last)")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["display_name_column", "phone_column", "address", "locale", "created_at"]
    search_fields = ["address", "display_name", "addresses__value"]
    readonly_fields = ["address", "phone_column", "created_at", "updated_at"]
    inlines = [ContactAddressInline, ConsentRecordInline]

    @admin.display(description=_("Name (WhatsApp profile or username)"), ordering="display_name")
    def display_name_column(self, obj: Contact) -> str:
        return obj.display_name or "—"

    @admin.display(description=_("Phone number"))
    def phone_column(self, obj: Contact) -> str:
        return obj.phone or str(_("None known (WhatsApp username)"))


class AttachmentInline(admin.TabularInline):
    model = Attachment
    extra = 0
    can_delete = False
    fields = ["content_type", "state", "size", "file", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["created", "direction", "contact_short", "short_body", "status_badge", "error_code"]
    list_filter = ["status", "direction", "channel", "provider", "kind", "account"]
    search_fields = ["contact__address", "address", "body", "provider_message_id", "error_code", "button_payload"]
    date_hierarchy = "created_at"
    list_select_related = ["contact", "phone_number"]
    readonly_fields = [f.name for f in Message._meta.fields]
    inlines = [AttachmentInline]
    actions = ["retry_messages"]
    change_form_template = "admin/channels_app/message/change_form.html"

    class Media:
        css = {"all": ["channels_app/admin.css"]}

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        message = self.get_object(request, object_id) if object_id else None
        if message is not None:
            extra_context["trace"] = message_trace(message=message)
        return super().changeform_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("Created"), ordering="created_at")
    def created(self, obj):
        return natural_time(obj.created_at)

    @admin.display(description=_("Contact"), ordering="contact__address")
    def contact_short(self, obj):
        return truncated(str(obj.contact), 28)

    @admin.display(description=_("Text"))
    def short_body(self, obj):
        return truncated(obj.body, 48)

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj):
        return format_html('<span class="channels-status channels-status--{}">{}</span>', obj.status,
                           obj.get_status_display())

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Retry the selected failed messages"))
    def retry_messages(self, request, queryset):
        retried = 0
        for message in queryset.select_related("contact", "phone_number__account"):
            try:
                delivery.message_retry(message=message)
                retried += 1
            except ServiceError as exc:
                self.message_user(request, _("Message %(id)s: %(error)s") % {"id": message.pk, "error": exc.message},
                                  messages.WARNING)
        if retried:
            self.message_user(request, ngettext("%(count)s message queued to send again.",
                                                "%(count)s messages queued to send again.", retried)
                              % {"count": retried}, messages.SUCCESS)


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = ["received", "account_short", "kind", "state", "attempts", "short_error"]
    list_filter = ["state", "kind", "account"]
    search_fields = ["event_key", "error"]
    date_hierarchy = "received_at"
    list_select_related = ["account"]
    readonly_fields = [f.name if f.name != "body" else "raw_body" for f in InboundEvent._meta.fields]
    actions = ["reprocess"]

    class Media:
        css = {"all": ["channels_app/admin.css"]}

    @admin.display(description=_("Body"))
    def raw_body(self, obj: InboundEvent) -> str:
        """The body as received: bytes that are not UTF-8 as \\xNN escapes, a NUL as \\x00."""
        return _pre(log_text(bytes(obj.body or b"")))

    @admin.display(description=_("Received"), ordering="received_at")
    def received(self, obj):
        return natural_time(obj.received_at)

    @admin.display(description=_("Account"), ordering="account__name")
    def account_short(self, obj):
        return truncated(obj.account.name, 28)

    @admin.display(description=_("Error"))
    def short_error(self, obj):
        return truncated(obj.error, 60)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_reprocess_permission(self, request):
        return request.user.has_perm("channels_app.change_inboundevent")

    @admin.action(description=_("Process the selected events again"), permissions=["reprocess"])
    def reprocess(self, request, queryset):
        count = sum(inbound.inbound_event_reprocess(event=event) for event in queryset)
        self.message_user(request, ngettext("%(count)s event queued for processing; processed events are left alone.",
                                            "%(count)s events queued for processing; processed events are left alone.",
                                            count) % {"count": count}, messages.SUCCESS)
