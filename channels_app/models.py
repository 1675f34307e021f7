"""The wire: messaging accounts with their provider credentials, numbers, and the channel log."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

from .fields import EncryptedTextField


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"


class Provider(models.TextChoices):
    TELESIGN = "telesign", "TeleSign"
    TWILIO = "twilio", "Twilio"
    SANDBOX = "sandbox", "Sandbox (sends nothing)"


#: Which channels each provider carries.
PROVIDER_CHANNELS: dict[str, tuple[str, ...]] = {
    Provider.TELESIGN: (Channel.SMS,),
    Provider.TWILIO: (Channel.SMS, Channel.WHATSAPP),
    Provider.SANDBOX: (Channel.SMS, Channel.WHATSAPP),
}

#: The credential fields each provider needs, with their labels.
PROVIDER_CREDENTIALS: dict[str, tuple[tuple[str, str], ...]] = {
    Provider.TELESIGN: (("customer_id", "Customer ID"), ("api_key", "API key")),
    Provider.TWILIO: (("account_sid", "Account SID"), ("auth_token", "Auth token")),
    Provider.SANDBOX: (),
}
CREDENTIAL_FIELDS = ("customer_id", "api_key", "account_sid", "auth_token")


class ValidationStatus(models.TextChoices):
    UNKNOWN = "unknown", "Not validated"
    VALID = "valid", "Valid"
    INVALID = "invalid", "Invalid credentials"
    UNREACHABLE = "unreachable", "Provider unreachable"
    ERROR = "error", "Provider error"


def new_webhook_token() -> str:
    return secrets.token_urlsafe(24)


class MessagingAccount(models.Model):
    name = models.CharField(
        max_length=100, unique=True, help_text="A name your team recognises, e.g. 'Support SMS (US)'."
    )
    channel = models.CharField(max_length=16, choices=Channel.choices, help_text="SMS or WhatsApp.")
    provider = models.CharField(
        max_length=16,
        choices=Provider.choices,
        help_text="TeleSign carries SMS; Twilio carries SMS and WhatsApp; Sandbox sends nothing and records "
        "what it would send. Cannot be changed once the account exists.",
    )
    # Secrets ("secure columns"): encrypted at rest, write-only in every form and API.
    customer_id = EncryptedTextField(blank=True, default="", help_text="TeleSign Customer ID.")
    api_key = EncryptedTextField(blank=True, default="", help_text="TeleSign API key (base64).")
    account_sid = EncryptedTextField(blank=True, default="", help_text="Twilio Account SID (AC…).")
    auth_token = EncryptedTextField(blank=True, default="", help_text="Twilio Auth Token.")
    credentials_updated_at = models.DateTimeField(null=True, blank=True, editable=False)

    is_active = models.BooleanField(
        "active", default=True, help_text="Inactive accounts send nothing and their callback URLs answer 404."
    )
    webhook_token = models.CharField(max_length=64, unique=True, default=new_webhook_token, editable=False)

    validation_status = models.CharField(
        max_length=16, choices=ValidationStatus.choices, default=ValidationStatus.UNKNOWN, editable=False
    )
    validated_at = models.DateTimeField(null=True, blank=True, editable=False)
    validation_code = models.CharField(max_length=32, blank=True, default="", editable=False)
    validation_message = models.TextField(blank=True, default="", editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("manage_credentials", "Can set or change provider credentials")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(provider="telesign", channel="whatsapp"),
                name="channels_account_provider_carries_channel",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def credentials(self) -> dict[str, str]:
        """The provider's credential values, decrypted (never render these)."""
        return {field: getattr(self, field) for field, _ in PROVIDER_CREDENTIALS[self.provider]}

    @property
    def has_credentials(self) -> bool:
        return all(self.credentials().values())

    def secret_values(self) -> list[str]:
        """Every secret this account holds, for redaction."""
        return [v for v in (getattr(self, f) for f in CREDENTIAL_FIELDS) if v]

    def callback_urls(self) -> dict[str, str]:
        base = f"{settings.PUBLIC_BASE_URL}/webhooks"
        if self.provider == Provider.TELESIGN:
            return {"callback": f"{base}/telesign/{self.webhook_token}/"}
        if self.provider == Provider.TWILIO:
            return {
                "inbound": f"{base}/twilio/{self.webhook_token}/inbound/",
                "status": f"{base}/twilio/{self.webhook_token}/status/",
            }
        return {
            "inbound": f"{base}/sandbox/{self.webhook_token}/inbound/",
            "status": f"{base}/sandbox/{self.webhook_token}/status/",
        }


class NumberType(models.TextChoices):
    GEOGRAPHIC = "geographic", "Geographic"
    LONG_CODE = "long_code", "Long code"
    SHORT_CODE = "short_code", "Short code"
    TOLL_FREE = "toll_free", "Toll-free"


class PhoneNumber(models.Model):
    account = models.ForeignKey(MessagingAccount, on_delete=models.CASCADE, related_name="numbers")
    # Copied from the account so the database can enforce uniqueness per provider.
    provider = models.CharField(max_length=16, choices=Provider.choices, editable=False)
    channel = models.CharField(max_length=16, choices=Channel.choices, editable=False)
    number = models.CharField(
        max_length=24,
        help_text="TeleSign: digits only, country code first (14252306549). Twilio SMS: E.164 (+14252306549) "
        "or a 5–6 digit short code. WhatsApp: E.164 with the leading + (+14252306549).",
    )
    e164 = models.CharField(
        "normalized address", max_length=24, editable=False, help_text="E.164, or the digits of a short code."
    )
    number_type = models.CharField(
        "type", max_length=16, choices=NumberType.choices, blank=True, default="",
        help_text="TeleSign: geographic, short code or toll-free. Twilio SMS: long code, short code or toll-free. "
        "Not used for WhatsApp.",
    )
    name = models.CharField(max_length=100, blank=True, default="", help_text="Required for WhatsApp numbers.")
    description = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account", "number"]
        constraints = [
            # A Twilio number can carry SMS and WhatsApp at once (``+1…`` and ``whatsapp:+1…``
            # are distinct addresses), so uniqueness is per provider and channel.
            models.UniqueConstraint(fields=["provider", "channel", "e164"], name="channels_number_unique_per_provider"),
        ]

    def __str__(self) -> str:
        label = self.name or self.description
        return f"{self.number} ({label})" if label else self.number


class ChannelLogKind(models.TextChoices):
    SEND = "send", "Send"
    VALIDATE = "validate", "Validate credentials"
    WEBHOOK = "webhook", "Webhook"
    MEDIA = "media", "Media download"


class ChannelLog(models.Model):
    """One provider HTTP exchange (or a refused webhook), with secrets redacted."""

    account = models.ForeignKey(MessagingAccount, on_delete=models.CASCADE, related_name="logs")
    kind = models.CharField(max_length=16, choices=ChannelLogKind.choices)
    method = models.CharField(max_length=10)
    url = models.TextField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    request_headers = models.JSONField(default=dict, blank=True)
    request_body = models.TextField(blank=True, default="")
    response_body = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    is_error = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at"], name="channels_log_account_recent")]

    def __str__(self) -> str:
        return f"{self.method} {self.url} → {self.status_code or self.error[:40]}"
