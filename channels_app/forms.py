"""Admin forms for messaging accounts, their numbers and test sends.

The forms only parse input; the services decide. A ``ServiceError`` is shown on the
field it names, or above the form when that field is not on it.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.forms.formsets import DELETION_FIELD_NAME
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import format_lazy
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from config.exceptions import ServiceError
from config.forms import ServiceErrorMixin

from . import services
from .models import Channel, MessagingAccount, PhoneNumber
from .numbers import check_number
from .providers import credential_fields, provider_class, provider_classes


class ServiceRefusal(Exception):
    """A service refused a save; ``prefix`` names the form it belongs to (None: the main form)."""

    def __init__(self, error: ServiceError, prefix: str | None = None):
        super().__init__(error.message)
        self.error = error
        self.prefix = prefix




def credential_status(account: MessagingAccount | None, field: str) -> str:
    """The state of one secret, 'Set on <date>' or 'Not set', never its value."""
    if account is None or not account.credential(field):
        return gettext("Not set")
    if account.credentials_updated_at is None:
        return pgettext("credential", "Set")
    return gettext("Set on %(date)s") % {
        "date": date_format(timezone.localtime(account.credentials_updated_at), "DATETIME_FORMAT")}


def _secret_input() -> forms.PasswordInput:
    """A write-only input: never rendered with a value, never filled in by a password manager."""
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})


def _identifier_input() -> forms.TextInput:
    """An identifier (a customer id, an account SID): what was typed stays in the form when it is shown again
    after an error; the stored value is never rendered (the form has no initial value for it)."""
    return forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "vTextField"})


def credential_form_fields(names: tuple[str, ...], *, adding: bool) -> dict[str, forms.Field]:
    """Write-only inputs for the named credential fields, labelled and explained as their providers
    declare them."""
    declared = credential_fields()
    result = {}
    for name in names:
        provider, spec = declared[name]
        if adding:
            hint = gettext("Only %(provider)s accounts use it; leave it blank otherwise.") % {
                "provider": provider_class(provider).label}
        else:
            hint = gettext("Leave blank to keep the current value; a new value resets the validation state.")
        result[name] = forms.CharField(label=spec.label, required=False, strip=True,
                                       widget=_secret_input() if spec.secret else _identifier_input(),
                                       help_text=f"{spec.help_text} {hint}")
    return result


def credential_fields_by_provider() -> dict[str, list[str]]:
    """Each provider's credential inputs, for the add form to show only the chosen provider's."""
    return {name: [spec.name for spec in cls.credential_fields] for name, cls in provider_classes().items()}


class MessagingAccountForm(ServiceErrorMixin, forms.ModelForm):
    """Name, provider, channel and the write-only credential inputs.

    Secrets are declared form fields, not model form fields (the credentials column stays out of
    the form), so a posted value never lands on the instance; ``credentials()`` hands them to the
    service. The admin declares the inputs per request (``credential_form_fields``) and lists them
    in ``credential_fields``.
    """

    credential_fields: tuple[str, ...] = ()
    #: Set per request when saving this same input was refused and the form is shown again.
    refusal: ServiceRefusal | None = None

    class Meta:
        model = MessagingAccount
        fields = ("name", "provider", "channel", "is_active")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if "provider" in self.fields:
            self.fields["provider"].help_text = " ".join(
                [str(cls.description) for cls in provider_classes().values() if cls.description]
                + [gettext("Cannot be changed once the account exists.")])
            # The add form shows only the chosen provider's credential inputs (admin.js reads this).
            self.fields["provider"].widget.attrs["data-credential-fields"] = json.dumps(
                credential_fields_by_provider())

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.refusal is not None and self.refusal.prefix is None:
            self.add_service_error(self.refusal.error)
        provider, channel = cleaned.get("provider"), cleaned.get("channel")
        if provider and channel:
            try:
                services.account_check_provider_channel(provider=provider, channel=channel)
            except ServiceError as exc:
                self.add_service_error(exc)
        self._check_credentials(provider or getattr(self.instance, "provider", ""))
        return cleaned

    def _check_credentials(self, provider: str) -> None:
        """Every credential input of the provider checked at once, each error on its own field (the service
        checks them again when saving)."""
        if provider not in provider_classes():
            return
        cls = provider_class(provider)
        adding = self.instance.pk is None
        typed = {spec.name: (self.cleaned_data.get(spec.name) or "").strip() for spec in cls.credential_fields
                 if spec.name in self.fields and spec.name not in self.errors}
        # The provider's own input forms first (a connection string may fill in several fields).
        typed = {**typed, **cls.normalize_credentials({k: v for k, v in typed.items() if v})}
        for spec in cls.credential_fields:
            if spec.name not in typed:
                continue
            value = typed[spec.name]
            if not value:
                if adding and spec.required:
                    self.add_error(spec.name, gettext("%(field)s is required for %(provider)s accounts.")
                                   % {"field": spec.label, "provider": cls.label})
                continue
            try:
                spec.clean(value)
            except ValueError as exc:
                self.add_error(spec.name, str(exc))

    def full_clean(self) -> None:
        super().full_clean()
        if not self.is_bound or not self.errors:
            return
        for name in self.credential_fields:
            field = self.fields.get(name)
            typed = (self.data.get(self.add_prefix(name)) or "").strip()
            if field is not None and typed and isinstance(field.widget, forms.PasswordInput):
                field.help_text = f"{field.help_text} " + gettext("Secrets are never shown back: type it again "
                                                                  "before saving.")
                self[name].help_text = field.help_text  # the bound field copied the text when it was made

    def credentials(self) -> dict[str, str]:
        """The secrets typed into this form (blank inputs keep the current values)."""
        return {f: self.cleaned_data[f] for f in self.credential_fields if self.cleaned_data.get(f)}


class PhoneNumberForm(ServiceErrorMixin, forms.ModelForm):
    """One number row, checked against the account's provider and channel as it is typed.

    ``provider`` and ``channel`` (set per request by the admin once the account exists)
    narrow the type choices and the help text to that provider's own.
    """

    provider: str | None = None
    channel: str | None = None

    class Meta:
        model = PhoneNumber
        fields = ("number", "number_type", "name", "description")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.provider is None or self.channel is None:
            return
        cls = provider_class(self.provider)
        help_text, example = cls.number_help(self.channel)
        self.fields["number"].help_text = help_text
        self.fields["number"].widget.attrs["placeholder"] = example
        if self.channel == Channel.SMS and "number_type" in self.fields:
            self.fields["number_type"].choices = [("", "---------"), *cls.number_types]

    def _account(self) -> MessagingAccount | None:
        try:
            return self.instance.account
        except PhoneNumber.account.RelatedObjectDoesNotExist:
            return None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        account = self._account()
        # With the account's provider or channel still invalid, the account form reports that instead.
        known = (account is not None and account.provider in provider_classes()
                 and account.channel in Channel.values)
        if known and cleaned.get("number"):
            try:
                check_number(provider=account.provider, channel=account.channel, number=cleaned["number"],
                             number_type=cleaned.get("number_type") or "")
            except ServiceError as exc:
                self.add_service_error(exc)
        return cleaned


class PhoneNumberFormSet(forms.BaseInlineFormSet):
    """The number rows of an account."""

    #: Set per request when saving this same input was refused and the form is shown again.
    refusal: ServiceRefusal | None = None

    def clean(self) -> None:
        super().clean()
        if self.refusal is None:
            return
        row = next((form for form in self.forms if form.prefix == self.refusal.prefix), None)
        if row is None:
            return
        if getattr(row, "cleaned_data", {}).get(DELETION_FIELD_NAME):
            # A row marked for removal shows no errors of its own.
            raise ValidationError(self.refusal.error.message)
        row.add_service_error(self.refusal.error)


class SendTestMessageForm(ServiceErrorMixin, forms.Form):
    to = forms.CharField(
        label=_("To"), max_length=32,
        help_text=_("The recipient in E.164 form, with the leading + and country code, e.g. +14155550100."),
    )
    # Length and how many attachments are the send rules' (the service's), as for every other send.
    text = forms.CharField(
        label=_("Text"), strip=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text=format_lazy(_("Up to {limit} characters."), limit=services.MAX_MESSAGE_LENGTH),
    )
    from_number = forms.ChoiceField(
        label=_("From"), required=False,
        help_text=_("One of the account's numbers; the first one when left on the default."),
    )
    media_urls = forms.CharField(
        label=_("Attachment links"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Optional: public https links to files, one per line (where the number and its provider carry "
                    "attachments)."),
    )

    def __init__(self, *args: Any, account: MessagingAccount, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.account = account
        self.fields["from_number"].choices = [("", gettext("First number of the account"))] + [
            (n.number, str(n)) for n in account.numbers.all()
        ]

    def clean_media_urls(self) -> list[str]:
        urls = [line.strip() for line in self.cleaned_data["media_urls"].splitlines() if line.strip()]
        check = URLValidator(schemes=["http", "https"])
        for url in urls:
            try:
                check(url)
            except ValidationError:
                raise ValidationError(_("“%(url)s” is not a web link (https://…).") % {"url": url}) from None
        return urls


class ImportNumbersForm(ServiceErrorMixin, forms.Form):
    """The numbers found on the provider's side of an account, to add without typing them."""

    numbers = forms.MultipleChoiceField(
        label=_("Numbers"), widget=forms.CheckboxSelectMultiple,
        help_text=_("Each is added with the type the provider reports. Numbers already on the account, and numbers "
                    "that cannot carry the account's channel, are listed but cannot be chosen."),
    )

    def __init__(self, *args: Any, account: MessagingAccount, remote: list, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.account = account
        existing = set(account.numbers.values_list("number", flat=True))
        cls = provider_class(account.provider)
        choices, self.unavailable = [], []
        for found in remote:
            label = f"{found.number} — {cls.number_type_label(found.number_type)}"
            if found.description:
                label += f" ({found.description})"
            if found.number in existing:
                self.unavailable.append(gettext("%(number)s: already on this account") % {"number": label})
            elif not found.usable:
                self.unavailable.append(f"{label}: {found.note}")
            else:
                choices.append((found.number, label))
        self.fields["numbers"].choices = choices
