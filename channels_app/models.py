"""The wire: messaging accounts with their provider credentials, numbers, and the channel log."""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from config.logs import current_message_id, current_request_id

from .fields import EncryptedJSONField
from .providers import number_type_choices, provider_choices, provider_class


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")


class ValidationStatus(models.TextChoices):
    UNKNOWN = "unknown", _("Not validated")
    VALID = "valid", _("Valid")
    INVALID = "invalid", _("Invalid credentials")
    UNREACHABLE = "unreachable", _("Provider unreachable")
    ERROR = "error", _("Provider error")


def new_webhook_token() -> str:
    return secrets.token_urlsafe(24)


class MessagingAccount(models.Model):
    name = models.CharField(
        max_length=100, unique=True, help_text=_("A name your team recognises, e.g. 'Support SMS (US)'.")
    , verbose_name=_("name"))
    channel = models.CharField(max_length=16, choices=Channel.choices, help_text=_("SMS or WhatsApp."),
                               verbose_name=_("channel"))
    provider = models.CharField(
        max_length=16,
        choices=provider_choices,
        help_text=_("The service that carries the account's messages; which channels each carries is shown when you "
                    "choose. Cannot be changed once the account exists."),
                    verbose_name=_("provider"),
    )
    # Secrets ("secure columns"): the provider's credential fields, one encrypted object, write-only in
    # every form and API.
    config = EncryptedJSONField(
        _("credentials"), editable=False,
        help_text=_("The provider's credentials, encrypted at rest; set through the forms, never shown."),
    )
    credentials_updated_at = models.DateTimeField(null=True, blank=True, editable=False,
                                                  verbose_name=_("credentials updated at"))

    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive accounts send nothing and their callback URLs answer 404.")
    )
    webhook_token = models.CharField(max_length=64, unique=True, default=new_webhook_token, editable=False,
                                     verbose_name=_("webhook token"))

    validation_status = models.CharField(
        max_length=16, choices=ValidationStatus.choices, default=ValidationStatus.UNKNOWN, editable=False
    , verbose_name=_("validation status"))
    validated_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("validated at"))
    validation_code = models.CharField(max_length=32, blank=True, default="", editable=False,
                                       verbose_name=_("validation code"))
    validation_message = models.TextField(blank=True, default="", editable=False, verbose_name=_("validation message"))

    help_reply = models.TextField(
        blank=True, default="",
        help_text=_("Sent when a customer texts HELP or INFO. Leave empty to send nothing (the provider may answer "
                    "HELP itself)."),
                    verbose_name=_("help reply"),
    )

    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("messaging account")
        verbose_name_plural = _("messaging accounts")
        ordering = ["name"]
        permissions = [("manage_credentials", "Can set or change provider credentials")]

    def __str__(self) -> str:
        return self.name

    def provider_class(self):
        return provider_class(self.provider)

    def credentials(self) -> dict[str, str]:
        """The provider's credential values, decrypted (never render these)."""
        specs = self.provider_class().credential_fields
        return {spec.name: self.credential(spec.name) for spec in specs
                if spec.required or self.credential(spec.name)}

    def credential(self, name: str) -> str:
        value = (self.config or {}).get(name, "")
        return value if isinstance(value, str) else ""

    @property
    def has_credentials(self) -> bool:
        return all(self.credential(spec.name) for spec in self.provider_class().credential_fields if spec.required)

    def secret_values(self) -> list[str]:
        """Every secret this account holds, for redaction — its credentials and the token in its webhook URLs
        (for a provider that signs nothing, the token is what proves a request genuine)."""
        values = [v for v in (self.config or {}).values() if isinstance(v, str) and v]
        return [*values, self.webhook_token] if self.webhook_token else values

    @property
    def validation_message_shown(self) -> str:
        """The provider's validation message with every secret of the account blanked out, wherever it is
        shown (admin, API, commands), whatever the row holds."""
        from config.redaction import redact

        return redact(self.validation_message or "", self.secret_values())

    def callback_urls(self) -> dict[str, str]:
        """The URLs to give the provider, by route name (built from the provider's route declarations)."""
        cls = self.provider_class()
        base = f"{settings.PUBLIC_BASE_URL}/webhooks/{cls.url_prefix or cls.name}/{self.webhook_token}/"
        return {route.name: base + route.path for route in cls.webhook_routes}


class PhoneNumber(models.Model):
    account = models.ForeignKey(MessagingAccount, on_delete=models.CASCADE, related_name="numbers",
                                verbose_name=_("account"))
    # Copied from the account so the database can enforce uniqueness per provider.
    provider = models.CharField(max_length=16, choices=provider_choices, editable=False, verbose_name=_("provider"))
    channel = models.CharField(max_length=16, choices=Channel.choices, editable=False, verbose_name=_("channel"))
    number = models.CharField(
        max_length=64,
        help_text=_("As the account's provider writes it (the form shows the format once the account exists). "
                    "WhatsApp: E.164 with the leading + (+14252306549). A sender pool's ID (where the provider has "
                    "pools) stands for every sender of the pool."),
                    verbose_name=_("number"),
    )
    e164 = models.CharField(
        _("normalized address"), max_length=64, editable=False,
        help_text=_("E.164, the digits of a short code, or the ID of a provider's sender pool.")
    )
    number_type = models.CharField(
        _("type"), max_length=16, choices=number_type_choices, blank=True, default="",
        help_text=_("SMS only: the kinds of number the account's provider offers. Not used for WhatsApp."),
    )
    name = models.CharField(max_length=100, blank=True, default="", help_text=_("Required for WhatsApp numbers."),
                            verbose_name=_("name"))
    description = models.CharField(max_length=255, blank=True, default="", verbose_name=_("description"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("phone number")
        verbose_name_plural = _("phone numbers")
        ordering = ["account", "number"]
        constraints = [
            # A number can carry SMS and WhatsApp at once on one provider (distinct addresses there),
            # so uniqueness is per provider and channel.
            models.UniqueConstraint(fields=["provider", "channel", "e164"], name="channels_number_unique_per_provider"),
        ]

    def __str__(self) -> str:
        label = self.name or self.description
        return f"{self.number} ({label})" if label else self.number


class ChannelLogKind(models.TextChoices):
    SEND = "send", _("Send")
    VALIDATE = "validate", _("Validate credentials")
    WEBHOOK = "webhook", _("Webhook")
    MEDIA = "media", _("Media download")


class ChannelLog(models.Model):
    """One provider HTTP exchange (or a refused webhook), with secrets redacted."""

    account = models.ForeignKey(MessagingAccount, on_delete=models.CASCADE, related_name="logs",
                                verbose_name=_("account"))
    kind = models.CharField(max_length=16, choices=ChannelLogKind.choices, verbose_name=_("kind"))
    method = models.CharField(max_length=10, verbose_name=_("method"))
    url = models.TextField(verbose_name=_("url"))
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("status code"))
    duration_ms = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("duration ms"))
    request_headers = models.JSONField(default=dict, blank=True, verbose_name=_("request headers"))
    request_body = models.TextField(blank=True, default="", verbose_name=_("request body"))
    response_body = models.TextField(blank=True, default="", verbose_name=_("response body"))
    error = models.TextField(blank=True, default="", verbose_name=_("error"))
    is_error = models.BooleanField(default=False, verbose_name=_("is error"))
    # What the exchange was about, from the log context of the code that made it (config/logs.py).
    message = models.ForeignKey("Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="logs",
                                default=current_message_id, help_text=_("The message this exchange sent."),
                                verbose_name=_("message"))
    request_id = models.CharField(max_length=64, blank=True, default=current_request_id,
                                  help_text=_("The web request or task this exchange was part of (in the logs too)."),
                                  verbose_name=_("request id"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("channel log")
        verbose_name_plural = _("channel logs")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at"], name="channels_log_account_recent")]

    def __str__(self) -> str:
        return f"{self.method} {self.url} → {self.status_code or self.error[:40]}"


#: A WhatsApp business-scoped user ID (BSUID): a two-letter country code, a dot, up to 128 letters and digits
#: (a parent BSUID carries "ENT." after the country code), e.g. US.13491208655302741918. Kept exactly as received.
WHATSAPP_USER_ID = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")
#: The longest address a contact can have: a BSUID (2 + 1 + 4 + 128 characters).
MAX_ADDRESS_LENGTH = 135


def is_whatsapp_user_id(value: str) -> bool:
    return bool(WHATSAPP_USER_ID.match(value or ""))


class AddressKind(models.TextChoices):
    PHONE = "phone", _("Phone number")
    WHATSAPP_ID = "whatsapp_id", _("WhatsApp user ID")


class Contact(models.Model):
    """A customer, reachable at one or more addresses (``ContactAddress``): a phone number (the same person on
    SMS and WhatsApp) and, for WhatsApp users who hide their number behind a username, a WhatsApp user ID."""

    address = models.CharField(
        _("address"), max_length=MAX_ADDRESS_LENGTH, unique=True,
        help_text=_("The customer's phone number (E.164, e.g. +14155550123) when it is known; otherwise their "
                    "WhatsApp user ID (e.g. US.13491208655302741918). Every address is listed below."))
    display_name = models.CharField(max_length=200, blank=True, default="",
                                    help_text=_("From the customer's WhatsApp profile, or set by an agent."),
                                    verbose_name=_("display name"))
    locale = models.CharField(max_length=16, blank=True, default="", help_text=_("Preferred language, e.g. en-US."),
                              verbose_name=_("locale"))
    erased_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text=_("When an administrator erased this contact's data: their messages' text, attachments, name and "
                    "outbound details are gone; the number and its consent history are kept."),
        verbose_name=_("erased at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["address"]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.address})" if self.display_name else self.address

    @property
    def phone(self) -> str:
        """The contact's phone number, or "" when none is known (a WhatsApp username without a number)."""
        return "" if is_whatsapp_user_id(self.address) else self.address

    @property
    def has_phone(self) -> bool:
        return bool(self.phone)


class ContactAddress(models.Model):
    """One address a contact writes from and is written to."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="addresses", verbose_name=_("contact"))
    kind = models.CharField(max_length=16, choices=AddressKind.choices, verbose_name=_("kind"))
    value = models.CharField(
        max_length=MAX_ADDRESS_LENGTH, unique=True,
        help_text=_("E.164 for a phone number; a WhatsApp user ID exactly as WhatsApp sent it."),
        verbose_name=_("value"))
    last_inbound_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the customer last wrote from this address: replies go there."),
        verbose_name=_("last inbound at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["contact", "kind", "value"]
        verbose_name = _("contact address")
        verbose_name_plural = _("contact addresses")

    def __str__(self) -> str:
        return self.value


class ConsentState(models.TextChoices):
    OPTED_IN = "opted_in", _("Opted in")
    OPTED_OUT = "opted_out", _("Opted out")


class ConsentRecord(models.Model):
    """One change of a contact's consent for one of our numbers; the latest row is in force."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_records",
                                verbose_name=_("contact"))
    phone_number = models.ForeignKey(PhoneNumber, on_delete=models.CASCADE, related_name="consent_records",
                                     verbose_name=_("phone number"))
    state = models.CharField(max_length=16, choices=ConsentState.choices, verbose_name=_("state"))
    source = models.CharField(max_length=64, help_text=_("What changed it: a keyword, a provider error, an agent."),
                              verbose_name=_("source"))
    detail = models.CharField(max_length=255, blank=True, default="", verbose_name=_("detail"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["contact", "phone_number", "-created_at"], name="channels_consent_latest")]

    def __str__(self) -> str:
        return f"{self.contact} {self.get_state_display()} on {self.phone_number} ({self.source})"


class Direction(models.TextChoices):
    INBOUND = "inbound", _("Inbound")
    OUTBOUND = "outbound", _("Outbound")


class MessageStatus(models.TextChoices):
    RECEIVED = "received", _("Received")  # inbound: stored
    QUEUED = "queued", _("Queued")  # outbound: stored, waiting for a worker (or for a retry)
    SENDING = "sending", _("Sending")  # outbound: a worker is talking to the provider
    SENT = "sent", _("Sent")  # the provider accepted it
    DELIVERED = "delivered", _("Delivered")  # the handset received it
    READ = "read", _("Read")  # the customer read it (WhatsApp)
    UNDELIVERED = "undelivered", _("Undelivered")  # the provider could not deliver it
    FAILED = "failed", _("Failed")  # refused by the provider, or retries exhausted


#: How far along each status is. A callback never moves a message to a lower rank.
STATUS_RANK = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.UNDELIVERED: 3,
    MessageStatus.FAILED: 3,
    MessageStatus.READ: 4,
}


class MessageKind(models.TextChoices):
    REGULAR = "regular", _("Regular")
    AUTOMATED = "automated", _("Automated message")
    BOT = "bot", _("Bot")
    TEMPLATE = "template", _("Template")
    OUTBOUND = "outbound", _("Outbound (proactive)")
    TEST = "test", _("Test message")
    # The one confirmation carriers allow after an opt-out; the only send consent does not stop.
    OPT_OUT_CONFIRMATION = "opt_out_confirmation", _("Opt-out confirmation")


class Message(models.Model):
    """One message on the wire, in or out, with its delivery state."""

    account = models.ForeignKey(MessagingAccount, on_delete=models.PROTECT, related_name="messages",
                                verbose_name=_("account"))
    phone_number = models.ForeignKey(PhoneNumber, on_delete=models.PROTECT, related_name="messages",
                                     verbose_name=_("phone number"))
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="messages", verbose_name=_("contact"))
    provider = models.CharField(max_length=16, choices=provider_choices, editable=False, verbose_name=_("provider"))
    channel = models.CharField(max_length=16, choices=Channel.choices, verbose_name=_("channel"))
    direction = models.CharField(max_length=8, choices=Direction.choices, verbose_name=_("direction"))
    kind = models.CharField(max_length=24, choices=MessageKind.choices, default=MessageKind.REGULAR,
                            verbose_name=_("kind"))
    body = models.TextField(blank=True, default="", verbose_name=_("body"))
    #: The customer's address on this message: what an inbound one came from, where an outgoing one goes.
    address = models.CharField(
        _("customer address"), max_length=MAX_ADDRESS_LENGTH, blank=True, default="",
        help_text=_("Inbound: the address the customer wrote from. Outgoing: the address it is sent to."))
    button_payload = models.CharField(
        _("button payload"), max_length=1000, blank=True, default="",
        help_text=_("The payload of the quick-reply button the customer tapped (the text shows what the button "
                    "said); bots receive it and routing rules can match it."))
    content_sid = models.CharField(_("template Content SID"), max_length=64, blank=True, default="")
    content_variables = models.JSONField(default=dict, blank=True, verbose_name=_("content variables"))
    status = models.CharField(max_length=16, choices=MessageStatus.choices, db_index=True, verbose_name=_("status"))
    # NULL until the provider accepts it; NULLs do not collide under the unique constraint.
    provider_message_id = models.CharField(max_length=64, null=True, blank=True,  # noqa: DJ001
                                           verbose_name=_("provider message id"))
    error_code = models.CharField(max_length=32, blank=True, default="", verbose_name=_("error code"))
    error_message = models.TextField(blank=True, default="", verbose_name=_("error message"))
    encoding = models.CharField(max_length=8, blank=True, default="", verbose_name=_("encoding"))
    segments = models.PositiveSmallIntegerField(default=0, verbose_name=_("segments"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    next_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next attempt at"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+", verbose_name=_("author"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    delivered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("delivered at"))
    read_at = models.DateTimeField(null=True, blank=True, verbose_name=_("read at"))
    status_updated_at = models.DateTimeField(null=True, blank=True, verbose_name=_("status updated at"))
    request_id = models.CharField(max_length=64, blank=True, default=current_request_id, editable=False,
                                  help_text=_("The web request or task that created it (its log lines carry it)."),
                                  verbose_name=_("request id"))
    redacted_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text=_("When its text and attachments were removed (retention or the contact's erasure); its status, "
                    "times and error code stay for the reports."), verbose_name=_("redacted at"))

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_message_id"], name="channels_message_provider_id"),
        ]
        indexes = [
            models.Index(fields=["contact", "phone_number", "direction", "-created_at"],
                         name="channels_msg_last_inbound"),
            models.Index(fields=["status", "next_attempt_at"], name="channels_msg_due"),
        ]

    def __str__(self) -> str:
        arrow = "←" if self.direction == Direction.INBOUND else "→"
        return f"{arrow} {self.address or self.contact.address}: {self.body[:40]}"


class AttachmentState(models.TextChoices):
    PENDING = "pending", _("Waiting for download")
    STORED = "stored", _("Stored")
    REFUSED = "refused", _("Not allowed")
    FAILED = "failed", _("Download failed")
    OUTGOING = "outgoing", _("Sent by link")
    REMOVED = "removed", _("Removed (retention or erasure)")


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments",
                                verbose_name=_("message"))
    url = models.URLField(max_length=1000, help_text=_("Where the provider serves it (inbound) or where we serve it."),
                          verbose_name=_("url"))
    content_type = models.CharField(max_length=100, blank=True, default="", verbose_name=_("content type"))
    file = models.FileField(upload_to="attachments/%Y/%m/%d/", blank=True, max_length=500, verbose_name=_("file"))
    size = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("size"))
    state = models.CharField(max_length=16, choices=AttachmentState.choices, default=AttachmentState.PENDING,
                             verbose_name=_("state"))
    error = models.CharField(max_length=255, blank=True, default="", verbose_name=_("error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return f"{self.content_type or 'file'} ({self.get_state_display()})"


class EventKind(models.TextChoices):
    INBOUND = "inbound", _("Inbound message")
    STATUS = "status", _("Status callback")


class EventState(models.TextChoices):
    PENDING = "pending", _("Pending")
    PROCESSED = "processed", _("Processed")
    FAILED = "failed", _("Failed")


class InboundEvent(models.Model):
    """A verified webhook, stored raw before anything else happens to it.

    ``event_key`` is the provider's id for the event (a message id, or message id and
    status for a callback); the unique constraint makes provider retries harmless.
    """

    # No index of its own: the unique constraint below starts with the account and serves its
    # look-ups; one index fewer to maintain on every webhook.
    account = models.ForeignKey(MessagingAccount, on_delete=models.CASCADE, related_name="events", db_index=False,
                                verbose_name=_("account"))
    kind = models.CharField(max_length=16, choices=EventKind.choices, verbose_name=_("kind"))
    event_key = models.CharField(max_length=128, verbose_name=_("event key"))
    url = models.TextField(verbose_name=_("url"))
    content_type = models.CharField(max_length=255, blank=True, default="",
                                    help_text=_("The request's Content-Type header."), verbose_name=_("content type"))
    # Bytes, exactly as received (a provider may send NUL bytes or text that is not UTF-8).
    body = models.BinaryField(blank=True, default=b"", help_text=_("The raw body; form fields are parsed from it."),
                              verbose_name=_("body"))
    state = models.CharField(max_length=16, choices=EventState.choices, default=EventState.PENDING,
                             verbose_name=_("state"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    error = models.TextField(blank=True, default="", verbose_name=_("error"))
    received_at = models.DateTimeField(auto_now_add=True, verbose_name=_("received at"))
    processed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("processed at"))
    request_id = models.CharField(max_length=64, blank=True, default="", editable=False,
                                  help_text=_("The web request that brought it (its log lines carry it)."),
                                  verbose_name=_("request id"))

    class Meta:
        verbose_name = _("inbound event")
        verbose_name_plural = _("inbound events")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "kind", "event_key"], name="channels_event_once"),
        ]
        indexes = [models.Index(fields=["state", "received_at"], name="channels_event_pending")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.event_key} ({self.get_state_display()})"
