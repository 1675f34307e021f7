"""Input shapes of the console's forms. The rules (length, window, consent, attachments …) are the services'."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from workstreams.models import Queue, WhatsAppTemplate


class ReplyForm(forms.Form):
    body = forms.CharField(label=_("Reply"), required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}))
    media_urls = forms.CharField(
        label=_("Attachment links"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Public https links to files, one per line."),
    )

    def clean_body(self) -> str:
        # Browsers submit a text area's line breaks as CRLF; the agent typed one character per break.
        return self.cleaned_data["body"].replace("\r\n", "\n")

    def clean_media_urls(self) -> list[str]:
        # Only the shape: how many, and where, are the attachment rule's (channels_app.services.rules).
        urls = [line.strip() for line in self.cleaned_data["media_urls"].splitlines() if line.strip()]
        check = URLValidator(schemes=["http", "https"])
        for url in urls:
            try:
                check(url)
            except ValidationError:
                raise ValidationError(gettext("“%(url)s” is not a web link (https://…).") % {"url": url})
        return urls


class TemplateForm(forms.Form):
    template = forms.ModelChoiceField(queryset=WhatsAppTemplate.objects.all(), label=_("Template"),
                                      error_messages={"invalid_choice": _("Choose one of the approved templates.")})

    def variables(self, data) -> dict[str, str]:
        """``var_1``, ``var_2`` … as the ``{"1": …, "2": …}`` the template service fills in."""
        return {key[len("var_"):]: value for key, value in data.items() if key.startswith("var_") and len(key) > 4}


class TransferForm(forms.Form):
    """One list of targets: ``queue:<id>`` or ``agent:<user id>``; empty leaves the choice to the service."""

    target = forms.CharField(label=_("Transfer to"), required=False)

    def clean(self):
        data = super().clean()
        value = data.get("target") or ""
        data["queue"] = data["agent"] = None
        if not value:
            return data
        kind, _, pk = value.partition(":")
        if kind == "queue" and pk.isdigit():
            data["queue"] = Queue.objects.filter(pk=int(pk)).first()
        elif kind == "agent" and pk.isdigit():
            data["agent"] = get_user_model().objects.filter(pk=int(pk), is_active=True).first()
        if data["queue"] is None and data["agent"] is None:
            raise ValidationError(gettext("That queue or agent no longer exists; reload the page and choose again."))
        return data


class ReassignForm(forms.Form):
    agent = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True, agent_profile__isnull=False), label=_("Reassign to"),
        error_messages={"required": _("Choose the agent who gets the conversation."),
                        "invalid_choice": _("That agent no longer exists; reload the page and choose again.")})


class ForceCloseForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, max_length=300,
                             help_text=_("Kept in the routing diagnosis; the customer does not see it."))
