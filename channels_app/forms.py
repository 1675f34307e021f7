"""Admin forms for messaging accounts, their numbers and test sends.

The forms only parse input; the services decide. A ``ServiceError`` is shown on the
field it names, or above the form when that field is not on it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.forms.formsets import DELETION_FIELD_NAME
from django.utils import timezone
from django.utils.formats import date_format

from config.exceptions import ServiceError
from config.forms import ServiceErrorMixin

from . import services
from .models import (
    CREDENTIAL_FIELDS,
    PROVIDER_CREDENTIALS,
    Channel,
    MessagingAccount,
    NumberType,
    PhoneNumber,
    Provider,
)
from .numbers import SMS_NUMBER_TYPES, check_number

CREDENTIAL_LABELS: dict[str, str] = {
    field: label for fields in PROVIDER_CREDENTIALS.values() for field, label in fields
}
CREDENTIAL_PROVIDER: dict[str, str] = {
    field: Provider(provider).label for provider, fields in PROVIDER_CREDENTIALS.items() for field, _ in fields
}


class ServiceRefusal(Exception):
    """A service refused a save; ``prefix`` names the form it belongs to (None: the main form)."""

    def __init__(self, error: ServiceError, prefix: str | None = None):
        super().__init__(error.message)
        self.error = error
        self.prefix = prefix




def credential_status(account: MessagingAccount | None, field: str) -> str:
    """The state of one secret, 'Set on <date>' or 'Not set', never its value."""
    if account is None or not getattr(account, field):
        return "Not set"
    if account.credentials_updated_at is None:
        return "Set"
    return "Set on " + date_format(timezone.localtime(account.credentials_updated_at), "DATETIME_FORMAT")


def _secret_input() -> forms.PasswordInput:
    """A write-only input: never rendered with a value, never filled in by a password manager."""
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})


class MessagingAccountForm(ServiceErrorMixin, forms.ModelForm):
    """Name, provider, channel and the write-only credential inputs.

    Secrets are declared form fields, not model form fields (the admin excludes them), so a
    posted value never lands on the instance; ``credentials()`` hands them to the service.
    ``credential_fields`` (set per request by the admin) lists the inputs to show.
    """

    customer_id = forms.CharField(label="Customer ID", required=False, widget=_secret_input())
    api_key = forms.CharField(label="API key", required=False, widget=_secret_input())
    account_sid = forms.CharField(label="Account SID", required=False, widget=_secret_input())
    auth_token = forms.CharField(label="Auth token", required=False, widget=_secret_input())

    credential_fields: tuple[str, ...] = CREDENTIAL_FIELDS
    #: Set per request when saving this same input was refused and the form is shown again.
    refusal: ServiceRefusal | None = None

    class Meta:
        model = MessagingAccount
        fields = ("name", "provider", "channel", "is_active")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        adding = self.instance.pk is None
        for field in CREDENTIAL_FIELDS:
            if field not in self.credential_fields:
                del self.fields[field]
                continue
            model_help = MessagingAccount._meta.get_field(field).help_text
            if adding:
                hint = f"Only {CREDENTIAL_PROVIDER[field]} accounts use it; leave it blank otherwise."
            else:
                hint = "Leave blank to keep the current value; a new value resets the validation state."
            self.fields[field].help_text = f"{model_help} {hint}"

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
        return cleaned

    def credentials(self) -> dict[str, str]:
        """The secrets typed into this form (blank inputs keep the current values)."""
        return {f: self.cleaned_data[f] for f in self.credential_fields if self.cleaned_data.get(f)}


def _number_format(provider: str, channel: str) -> tuple[str, str]:
    """(help text, example) for the numbers of an account of ``provider`` and ``channel``."""
    if channel == Channel.WHATSAPP:
        return "E.164 with the leading +, e.g. +14252306549 (no spaces or symbols).", "+14252306549"
    if provider == Provider.TELESIGN:
        return ("Digits only, country code first, e.g. 14252306549 (no +, spaces or symbols); "
                "or a 5–6 digit short code."), "14252306549"
    return "E.164 with the leading +, e.g. +14252306549; or a 5–6 digit short code.", "+14252306549"


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
        help_text, example = _number_format(self.provider, self.channel)
        self.fields["number"].help_text = help_text
        self.fields["number"].widget.attrs["placeholder"] = example
        if self.channel == Channel.SMS and "number_type" in self.fields:
            self.fields["number_type"].choices = [("", "---------")] + [
                (t, NumberType(t).label) for t in SMS_NUMBER_TYPES[self.provider]
            ]

    def _account(self) -> MessagingAccount | None:
        try:
            return self.instance.account
        except PhoneNumber.account.RelatedObjectDoesNotExist:
            return None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        account = self._account()
        # With the account's provider or channel still invalid, the account form reports that instead.
        known = account is not None and account.provider in Provider.values and account.channel in Channel.values
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
        label="To", max_length=32,
        help_text="The recipient in E.164 form, with the leading + and country code, e.g. +14155550100.",
    )
    # Length and how many attachments are the send rules' (the service's), as for every other send.
    text = forms.CharField(
        label="Text", strip=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text=f"Up to {services.MAX_MESSAGE_LENGTH} characters.",
    )
    from_number = forms.ChoiceField(
        label="From", required=False,
        help_text="One of the account's numbers; the first one when left on the default.",
    )
    media_urls = forms.CharField(
        label="Attachment links", required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional: public https links to files, one per line (where the number and its provider carry "
                  "attachments).",
    )

    def __init__(self, *args: Any, account: MessagingAccount, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.account = account
        self.fields["from_number"].choices = [("", "First number of the account")] + [
            (n.number, str(n)) for n in account.numbers.all()
        ]

    def clean_media_urls(self) -> list[str]:
        urls = [line.strip() for line in self.cleaned_data["media_urls"].splitlines() if line.strip()]
        check = URLValidator(schemes=["http", "https"])
        for url in urls:
            try:
                check(url)
            except ValidationError:
                raise ValidationError(f"“{url}” is not a web link (https://…).") from None
        return urls
