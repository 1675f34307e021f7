"""Admin forms. They only parse input; the services decide, and a refusal is shown on the field it names."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from channels_app.models import Channel, PhoneNumber
from config.exceptions import ServiceError

from .models import OutboundConfiguration, OutboundSchedule
from .services.configurations import configuration_check
from .services.contacts import CsvContacts, contacts_from_csv
from .services.schedules import schedule_check, schedule_wall_time
from .services.templates import LocalizationSpec, template_channel_check, template_check

CSV_HELP = _("A header row with the reference field names — tocontactid, channelid, optin (or option), locale, "
             "contextitems (a JSON object) or contextitems.<key> columns, entityrelationshipname, CustomerName, "
             "CaseName — then one contact per row. UTF-8.")


def _show(form: forms.BaseForm, exc: ServiceError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


class LocalizationFormSet(forms.BaseInlineFormSet):
    """The template's versions are checked together with the template (default language, one per language)."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        template = self.instance
        forms_kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        specs = [LocalizationSpec(language=f.cleaned_data.get("language", ""), text=f.cleaned_data.get("text", ""),
                                  content_sid=f.cleaned_data.get("content_sid", ""),
                                  content_variables=f.cleaned_data.get("content_variables") or {})
                 for f in forms_kept]
        try:
            if template.pk:
                template_channel_check(template=template, channel=template.channel)
            template_check(channel=template.channel, default_language=template.default_language, localizations=specs)
        except ServiceError as exc:
            field = exc.field or ""
            if field.startswith("localizations["):
                index = int(field[len("localizations["):field.index("]")])
                name = field.split(".", 1)[1]
                forms_kept[index].add_error(name if name in forms_kept[index].fields else None, exc.message)
                return
            raise ValidationError(exc.message, code=exc.code) from None


class OutboundConfigurationForm(forms.ModelForm):
    class Meta:
        model = OutboundConfiguration
        fields = ["name", "show_in_timeline", "channel_type", "phone_number", "template", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "phone_number" in self.fields:
            self.fields["phone_number"].queryset = (PhoneNumber.objects.select_related("account")
                                                    .filter(channel__in=[Channel.SMS, Channel.WHATSAPP]))
            self.fields["phone_number"].label_from_instance = (
                lambda n: f"{n.number} — {n.get_channel_display()}, {n.account.name}")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        try:
            configuration_check(channel_type=data["channel_type"], phone_number=data["phone_number"],
                                template=data["template"])
        except ServiceError as exc:
            _show(self, exc)
        return data


class ContactListForm(forms.Form):
    csv_file = forms.FileField(label=_("CSV file"), required=False, help_text=CSV_HELP)
    csv_text = forms.CharField(label=_("…or paste the CSV"), required=False,
                               widget=forms.Textarea(attrs={"rows": 8, "cols": 100}))
    # Carried from the preview to the confirmation: the uploaded file's name.
    list_name = forms.CharField(required=False, max_length=255, widget=forms.HiddenInput)

    def __init__(self, *args: Any, configuration: OutboundConfiguration, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.configuration = configuration
        self.contacts: CsvContacts | None = None
        self.text = ""  # the list as text, for the preview to send back with the confirmation

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload, text = data.get("csv_file"), (data.get("csv_text") or "").strip()
        if bool(upload) == bool(text):
            raise ValidationError(_("Upload a CSV file or paste the CSV (one of the two)."))
        try:
            self.contacts = contacts_from_csv(upload.read() if upload else text)
        except ServiceError as exc:
            raise ValidationError(exc.message, code=exc.code) from None
        if upload:
            upload.seek(0)
            self.text = upload.read().decode("utf-8-sig")
        else:
            self.text = text
        return data

    @property
    def name(self) -> str:
        upload = self.cleaned_data.get("csv_file")
        return upload.name if upload else (self.cleaned_data.get("list_name") or gettext("Pasted list"))


class OutboundScheduleForm(forms.ModelForm):
    """``run_at`` is typed and shown as a wall time in the schedule's own time zone."""

    class Meta:
        model = OutboundSchedule
        fields = ["name", "configuration", "kind", "run_at", "delay_minutes", "cron", "time_zone", "contacts_csv",
                  "is_active"]
        widgets = {"contacts_csv": forms.Textarea(attrs={"rows": 8, "cols": 100})}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance.pk and instance.run_at:
            try:
                zone = zoneinfo.ZoneInfo(instance.time_zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                zone = None
            if zone is not None:
                # Naive: the form shows it as is, not converted to the server's time zone.
                self.initial["run_at"] = timezone.make_naive(instance.run_at, zone)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        time_zone = data.get("time_zone") or "UTC"
        run_at = data.get("run_at")
        # The form read the date and time in the server's time zone; the schedule means its own.
        wall_time = timezone.make_naive(run_at) if run_at is not None and timezone.is_aware(run_at) else run_at
        try:
            schedule_check(kind=data["kind"], configuration=data["configuration"], contacts_csv=data["contacts_csv"],
                           run_at=wall_time, delay_minutes=data.get("delay_minutes"),
                           cron=data.get("cron", ""), time_zone=time_zone,
                           is_active=data.get("is_active", True))
        except ServiceError as exc:
            _show(self, exc)
            return data
        data["run_at"] = schedule_wall_time(wall_time, time_zone)
        return data
        try:
            schedule_check(kind=data["kind"], configuration=data["configuration"], contacts_csv=data["contacts_csv"],
                           run_at=data.get("run_at"), delay_minutes=data.get("delay_minutes"),
                           cron=data.get("cron", ""), time_zone=data.get("time_zone") or "UTC",
                           is_active=data.get("is_active", True))
        except ServiceError as exc:
            _show(self, exc)
        return data
