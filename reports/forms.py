"""The reports' filter form: a period and the dimensions each report can be cut by, offering only what the
user's scope reaches."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from channels_app.models import Channel, PhoneNumber
from outbound.models import OutboundConfiguration
from workstreams.models import Queue

from .access import ReportScope
from .figures import ReportFilters
from .periods import today

#: The longest period one page shows (a year of days).
MAX_DAYS = 366
DEFAULT_DAYS = 30


class ReportFilterForm(forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
                            help_text=_("First day, included (default: 30 days ago)."))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
                          help_text=_("Last day, included (default: today)."))
    channel = forms.ChoiceField(label=_("Channel"), required=False)
    phone_number = forms.ModelChoiceField(label=_("Number"), required=False, queryset=PhoneNumber.objects.none(),
                                          empty_label=_("All numbers"))
    queue = forms.ModelChoiceField(label=_("Queue"), required=False, queryset=Queue.objects.none(),
                                   empty_label=_("All queues"))
    agent = forms.ModelChoiceField(label=_("Agent"), required=False, queryset=get_user_model().objects.none(),
                                   empty_label=_("All agents"))
    configuration = forms.ModelChoiceField(label=_("Outbound configuration"), required=False,
                                           queryset=OutboundConfiguration.objects.none(),
                                           empty_label=_("All configurations"))

    def __init__(self, *args, scope: ReportScope, fields: tuple[str, ...], **kwargs):
        super().__init__(*args, **kwargs)
        for name in list(self.fields):
            if name not in ("start", "end", *fields):
                del self.fields[name]
        if "channel" in self.fields:
            self.fields["channel"].choices = [("", _("All channels")), *Channel.choices]
        numbers = PhoneNumber.objects.select_related("account").order_by("number")
        queues = Queue.objects.order_by("name")
        configurations = OutboundConfiguration.objects.order_by("name")
        agents = get_user_model().objects.filter(agent_profile__isnull=False).order_by("username")
        if not scope.everything:
            numbers = numbers.filter(pk__in=scope.phone_number_ids)
            queues = queues.filter(pk__in=scope.queue_ids)
            configurations = configurations.filter(phone_number_id__in=scope.phone_number_ids)
            agents = agents.filter(queues__in=scope.queue_ids).distinct()
        for name, queryset in (("phone_number", numbers), ("queue", queues), ("configuration", configurations),
                               ("agent", agents)):
            if name in self.fields:
                self.fields[name].queryset = queryset
        if "agent" in self.fields:
            self.fields["agent"].label_from_instance = lambda u: u.get_full_name() or u.get_username()

    def clean(self):
        data = super().clean()
        end = data.get("end") or today()
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError(_("The first day (%(start)s) is after the last (%(end)s).")
                                        % {"start": start, "end": end})
        if (end - start).days + 1 > MAX_DAYS:
            raise forms.ValidationError(_("Choose at most %(days)d days.") % {"days": MAX_DAYS})
        data["start"], data["end"] = start, end
        return data

    def filters(self) -> ReportFilters:
        data = self.cleaned_data
        pk = lambda name: getattr(data.get(name), "pk", None)  # noqa: E731
        return ReportFilters(start=data["start"], end=data["end"], channel=data.get("channel") or "",
                             phone_number_id=pk("phone_number"), queue_id=pk("queue"), agent_id=pk("agent"),
                             configuration_id=pk("configuration"))
