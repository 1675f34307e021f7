"""Serializers of the accounts API: read shapes, write shapes, and the error shape.

Provider secrets are accepted on write and never rendered: the read serializers do not
name them at all.
"""

from __future__ import annotations

from typing import Any

from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from channels_app.models import Channel, MessagingAccount, PhoneNumber, ValidationStatus
from channels_app.providers import credential_fields, number_type_choices, provider_choices, provider_classes


class PhoneNumberSerializer(serializers.ModelSerializer):
    class Meta:
        model = PhoneNumber
        fields = ["id", "number", "e164", "number_type", "name", "description", "created_at"]
        read_only_fields = fields


class PhoneNumberWriteSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=24, trim_whitespace=True)
    number_type = serializers.ChoiceField(choices=(), required=False, allow_blank=True, default="")
    name = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", help_text=_("Required for WhatsApp numbers.")
    )
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")

    def get_fields(self) -> dict[str, serializers.Field]:
        """Formats and types as the configured providers declare them."""
        fields = super().get_fields()
        classes = provider_classes().values()
        fields["number"].help_text = gettext("SMS: %(formats)s WhatsApp: E.164 with the leading + (+14252306549).") % {
            "formats": " ".join(f"{cls.label}: {cls.number_help('sms')[0]}" for cls in classes)}
        fields["number_type"].choices = number_type_choices()
        fields["number_type"].help_text = gettext("SMS only. %(types)s") % {"types": " ".join(
            f"{cls.label}: {', '.join(value for value, _ in cls.number_types)}." for cls in classes)}
        return fields


class MessagingAccountSerializer(serializers.ModelSerializer):
    has_credentials = serializers.BooleanField(
        read_only=True, help_text=_("Whether every credential the provider needs is set.")
    )
    credentials_set_at = serializers.DateTimeField(
        source="credentials_updated_at", read_only=True, allow_null=True,
        help_text=_("When the credentials were last set; null when they never were."),
    )
    callback_urls = serializers.DictField(
        child=serializers.URLField(), read_only=True,
        help_text=_("The URLs to enter in the provider's console, by purpose (callback, inbound, status)."),
    )
    numbers = PhoneNumberSerializer(many=True, read_only=True)
    validation_message = serializers.CharField(
        source="validation_message_shown", read_only=True,
        help_text=_("The provider's answer to the last validation, secrets blanked out."))

    class Meta:
        model = MessagingAccount
        fields = [
            "id", "name", "provider", "channel", "is_active", "has_credentials", "credentials_set_at",
            "callback_urls", "validation_status", "validated_at", "validation_code", "validation_message",
            "numbers", "created_at", "updated_at",
        ]
        read_only_fields = fields


def _secret(label: str) -> serializers.CharField:
    return serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=True,
        style={"input_type": "password"},
        help_text=format_lazy(_("{label}. Write-only: never returned."), label=label.rstrip(".")),
    )


def _credential_inputs(*, adding: bool) -> dict[str, serializers.Field]:
    """A write-only input per credential field any provider declares, explained as it declares it."""
    inputs = {}
    for name, (provider, spec) in credential_fields().items():
        label = provider_classes()[provider].label
        inputs[name] = _secret(gettext("%(provider)s accounts: %(help)s") % {"provider": label, "help": spec.help_text}
                               if adding else spec.help_text)
    return inputs


class _ProviderFields:
    """Adds the configured providers' facts when the serializer's fields are built (not at import)."""

    adding = False

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        if "provider" in fields:
            fields["provider"].choices = provider_choices()
            fields["provider"].help_text = " ".join(str(cls.description) for cls in provider_classes().values())
        if self.adding is not None:
            fields.update(_credential_inputs(adding=self.adding))
        return fields


class MessagingAccountCreateSerializer(_ProviderFields, serializers.Serializer):
    """The fields below and every provider's credential inputs."""

    adding = True
    name = serializers.CharField(max_length=100, help_text=_("A name your team recognises, e.g. 'Support SMS (US)'."))
    provider = serializers.ChoiceField(choices=())
    channel = serializers.ChoiceField(choices=Channel.choices)
    is_active = serializers.BooleanField(required=False, default=True)
    numbers = PhoneNumberWriteSerializer(many=True, required=False, help_text=_("Numbers to add with the account."))


class MessagingAccountUpdateSerializer(_ProviderFields, serializers.Serializer):
    """PATCH: any of name, is_active and credentials; provider and channel never change."""

    name = serializers.CharField(max_length=100, required=False)
    is_active = serializers.BooleanField(
        required=False, help_text=_("false deactivates the account: it sends nothing and its callback URLs answer 404.")
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        fixed = [f for f in ("provider", "channel") if f in self.initial_data]
        if fixed:
            raise serializers.ValidationError(
                {f: gettext("Cannot be changed once the account exists; create another account instead.")
                 for f in fixed}
            )
        return attrs


class AccountFilterSerializer(_ProviderFields, serializers.Serializer):
    """Query parameters of the account list."""

    adding = None  # no credential inputs here
    provider = serializers.ChoiceField(choices=(), required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    validation_status = serializers.ChoiceField(choices=ValidationStatus.choices, required=False)
    is_active = serializers.BooleanField(required=False)


class ValidationResultSerializer(serializers.Serializer):
    account = serializers.IntegerField(help_text=_("The account's id."))
    valid = serializers.BooleanField(help_text=_("Whether the provider accepted the credentials."))
    validation_status = serializers.ChoiceField(choices=ValidationStatus.choices)
    validation_code = serializers.CharField(
        allow_blank=True, help_text=_("The provider's error code, when it gave one.")
    )
    validation_message = serializers.CharField(allow_blank=True)
    validated_at = serializers.DateTimeField()


class SendTestMessageSerializer(serializers.Serializer):
    to = serializers.CharField(max_length=32, help_text=_("The recipient in E.164, e.g. +14155550100."))
    # Length, emptiness and how many attachments are the send rules' (one message for every sender).
    text = serializers.CharField(trim_whitespace=False, allow_blank=True, help_text=_("Up to 1,600 characters."))
    from_number = serializers.CharField(
        max_length=24, required=False, allow_blank=True,
        help_text=_("One of the account's numbers; the first one when omitted."),
    )
    media_urls = serializers.ListField(
        child=serializers.URLField(), required=False, default=list,
        help_text=_("Public URLs of files to attach, where the number and its provider carry attachments."),
    )


class SendTestMessageResultSerializer(serializers.Serializer):
    message_id = serializers.IntegerField(help_text=_("The stored test message (its delivery reports update it)."))
    provider_message_id = serializers.CharField(help_text=_("The provider's id of the message it accepted."))
    status = serializers.CharField(help_text=_("The message status right after the provider accepted it."))
