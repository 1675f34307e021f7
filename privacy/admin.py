"""*Export data* and *Erase data* on the admin's contact pages (the contact admin is the wire layer's; this app
adds the two actions and their pages to it, so the wire layer knows nothing of them)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_app.models import Contact

from .services import contact_erase, contact_export, export_filename

EXPORT_PERMISSION = "privacy.export_contact_data"
ERASE_PERMISSION = "privacy.erase_contact_data"

BaseContactAdmin = type(admin.site.get_model_admin(Contact)) if admin.site.is_registered(Contact) \
    else admin.ModelAdmin


class PrivacyContactAdmin(BaseContactAdmin):
    change_form_template = "admin/privacy/contact_change_form.html"
    actions = [*(getattr(BaseContactAdmin, "actions", None) or []), "export_data", "erase_data"]

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("<int:contact_id>/export/", wrap(self.export_view), name="channels_app_contact_export"),
                path("<int:contact_id>/erase/", wrap(self.erase_view), name="channels_app_contact_erase"),
                *super().get_urls()]

    def has_export_data_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(EXPORT_PERMISSION)

    def has_erase_data_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ERASE_PERMISSION)

    def _one(self, request, queryset, verb: str):
        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one contact to %(verb)s.") % {"verb": verb},
                              messages.ERROR)
            return None
        return queryset.get()

    @admin.action(description=gettext_lazy("Export all data of the selected contact (zip)"),
                  permissions=["export_data"])
    def export_data(self, request, queryset):
        contact = self._one(request, queryset, _("export"))
        return None if contact is None else HttpResponseRedirect(
            reverse("admin:channels_app_contact_export", args=[contact.pk]))

    @admin.action(description=gettext_lazy("Erase the data of the selected contact…"), permissions=["erase_data"])
    def erase_data(self, request, queryset):
        contact = self._one(request, queryset, _("erase"))
        return None if contact is None else HttpResponseRedirect(
            reverse("admin:channels_app_contact_erase", args=[contact.pk]))

    def export_view(self, request: HttpRequest, contact_id: int) -> HttpResponse:
        if not self.has_export_data_permission(request):
            raise PermissionDenied
        contact = get_object_or_404(Contact, pk=contact_id)
        response = HttpResponse(contact_export(contact=contact), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{export_filename(contact)}"'
        return response

    def erase_view(self, request: HttpRequest, contact_id: int) -> HttpResponse:
        if not self.has_erase_data_permission(request):
            raise PermissionDenied
        contact = get_object_or_404(Contact, pk=contact_id)
        if request.method == "POST":
            if request.POST.get("confirm") != contact.address:
                messages.error(request, _("Type the contact's phone number exactly to confirm the erasure."))
            else:
                erasure = contact_erase(contact=contact, by=request.user)
                counts = erasure.counts
                self.message_user(request, _(
                    "The data of contact #%(id)d was erased: the text of %(messages)d message(s), %(conversations)d "
                    "conversation(s)' routing notes, %(recipients)d outbound contact row(s). Their number and "
                    "consent history are kept.") % {"id": contact.pk, "messages": counts["messages"],
                                                     "conversations": counts["conversations"],
                                                     "recipients": counts["outbound_recipients"]}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:channels_app_contact_change", args=[contact.pk]))
        context = {**self.admin_site.each_context(request), "title": _("Erase the data of %(contact)s")
                   % {"contact": contact}, "contact": contact, "opts": self.model._meta,
                   "messages_count": contact.messages.count(), "conversations_count": contact.conversations.count()}
        return TemplateResponse(request, "admin/privacy/erase_confirm.html", context)

    def render_change_form(self, request, context, *args, **kwargs):
        context.update(can_export_data=self.has_export_data_permission(request),
                       can_erase_data=self.has_erase_data_permission(request))
        return super().render_change_form(request, context, *args, **kwargs)


if admin.site.is_registered(Contact):
    admin.site.unregister(Contact)
admin.site.register(Contact, PrivacyContactAdmin)
