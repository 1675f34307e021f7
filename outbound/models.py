"""Proactive messages: templates and their localizations, outbound configurations, triggers and schedules,
requests with their contacts, larger lists split into requests, timeline activities and reply links.

The wire-level record of every send is a ``channels_app.models.Message`` (kind ``outbound``); the rows
here link to it and never copy its delivery state.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from channels_app.models import Channel, Contact, Message, PhoneNumber
from workstreams.models import Case


class MessageTemplate(models.Model):
    """The text of one scenario (e.g. "case created"), with a version per language."""

    name = models.CharField(max_length=100, unique=True, help_text=_("e.g. 'Case created' or 'Delivery delayed'."),
                            verbose_name=_("name"))
    channel = models.CharField(max_length=16, choices=Channel.choices,
                               help_text=_("Outbound messages go by SMS or WhatsApp only."), verbose_name=_("channel"))
    default_language = models.CharField(
        max_length=16, default="en",
        help_text=_("Used when a contact has no locale or none of the localized versions matches it. A localized "
        "version in this language is required."),
        verbose_name=_("default language"),
    )
    description = models.CharField(max_length=255, blank=True, default="", verbose_name=_("description"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_channel_display()})"


class TemplateLocalization(models.Model):
    """One language of a template. Placeholders: {CustomerName}, {CaseName} and any context item key."""

    template = models.ForeignKey(MessageTemplate, on_delete=models.CASCADE, related_name="localizations",
                                 verbose_name=_("template"))
    language = models.CharField(max_length=16, help_text=_("A language tag: en, en-US, pt-BR, sv …"),
                                verbose_name=_("language"))
    text = models.TextField(
        help_text=_("The message, up to 1,600 characters once filled in. Placeholders in braces are filled per "
        "contact: {CustomerName}, {CaseName} and any key of the contact's context items, e.g. {order_id}. "
        "For WhatsApp, paste the approved template's text as Twilio shows it."),
        verbose_name=_("text"),
    )
    content_sid = models.CharField(
        _("Twilio Content SID"), max_length=64, blank=True, default="",
        help_text=_("WhatsApp only (required there): the approved template's Content SID (HX…). Business-initiated "
        "WhatsApp messages are sent as this template."),
    )
    content_variables = models.JSONField(
        _("content variables"), default=dict, blank=True,
        help_text=_('WhatsApp only: which value fills each of the template\'s numbered variables, e.g. '
        '{"1": "CustomerName", "2": "order_id"}. Values are placeholder names: CustomerName, CaseName or a '
        "context item key."),
    )

    class Meta:
        verbose_name = _("template localization")
        verbose_name_plural = _("template localizations")
        ordering = ["template", "language"]
        constraints = [
            models.UniqueConstraint(fields=["template", "language"], name="outbound_one_localization_per_language"),
        ]

    def __str__(self) -> str:
        return f"{self.template.name} [{self.language}]"


class OutboundConfiguration(models.Model):
    """What to send, from which number: invoked by its configuration ID."""

    configuration_id = models.UUIDField(
        _("configuration ID"), default=uuid.uuid4, unique=True, editable=False,
        help_text=_("Generated when the configuration is saved; callers name the configuration with it "
        "(msdyn_ocoutboundconfigurationid)."),
    )
    name = models.CharField(max_length=100, unique=True, help_text=_("e.g. 'Case created message'."),
                            verbose_name=_("name"))
    show_in_timeline = models.BooleanField(
        default=False,
        help_text=_("Record each message as an activity on the customer's timeline (and on the record named by "
        "entityrelationshipname). Turn it on for targeted, event-driven messages; leave it off for mass sends "
        "to save storage. When on, every contact must carry entityrelationshipname."),
        verbose_name=_("show in timeline"),
    )
    channel_type = models.CharField(max_length=16, choices=Channel.choices, help_text=_("SMS or WhatsApp."),
                                    verbose_name=_("channel type"))
    phone_number = models.ForeignKey(
        PhoneNumber, on_delete=models.PROTECT, related_name="outbound_configurations", verbose_name=_("channel"),
        help_text=_("The configured number the messages are sent from; it must carry the channel type."),
    )
    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, related_name="configurations",
                                 verbose_name=_("message template"),
                                 help_text=_("A template of the same channel type."))
    is_active = models.BooleanField(
        _("active"), default=True,
        help_text=_("Inactive configurations refuse new requests; contacts of stored requests that were not sent "
        "yet are skipped."),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("outbound configuration")
        verbose_name_plural = _("outbound configurations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TriggerEvent(models.TextChoices):
    CASE_CREATED = "case_created", _("A case was created")


class OutboundTrigger(models.Model):
    """Fires a configuration when a system event happens (automated sends)."""

    event = models.CharField(max_length=32, choices=TriggerEvent.choices,
                             help_text=_("The event that sends the configuration's message."), verbose_name=_("event"))
    configuration = models.ForeignKey(OutboundConfiguration, on_delete=models.CASCADE, related_name="triggers",
                                      verbose_name=_("configuration"))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("outbound trigger")
        verbose_name_plural = _("outbound triggers")
        ordering = ["event", "configuration__name"]
        constraints = [
            models.UniqueConstraint(fields=["event", "configuration"], name="outbound_trigger_once_per_event"),
        ]

    def __str__(self) -> str:
        return f"{self.get_event_display()} → {self.configuration}"


class Source(models.TextChoices):
    API = "api", _("API")
    ADMIN = "admin", _("Admin")
    COMMAND = "command", _("Management command")
    TRIGGER = "trigger", _("Automated (event)")
    SCHEDULE = "schedule", _("Scheduled")


class ScheduleKind(models.TextChoices):
    ONCE = "once", _("Once, at a time")
    DELAY = "delay", _("Once, after a delay")
    RECURRING = "recurring", _("Recurring (cron)")


class OutboundSchedule(models.Model):
    """A contact list sent by a configuration once, after a delay, or on a cron schedule (celery beat)."""

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    configuration = models.ForeignKey(OutboundConfiguration, on_delete=models.CASCADE, related_name="schedules",
                                      verbose_name=_("configuration"))
    kind = models.CharField(max_length=16, choices=ScheduleKind.choices, default=ScheduleKind.ONCE,
                            verbose_name=_("kind"))
    run_at = models.DateTimeField(null=True, blank=True,
                                  help_text=_("Once: when to send, as a date and time in the schedule's time zone."),
                                  verbose_name=_("run at"))
    delay_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("After a delay: minutes after saving. Saving again restarts the delay."),
        verbose_name=_("delay minutes"))
    cron = models.CharField(
        max_length=100, blank=True, default="",
        help_text=_("Recurring: five cron fields — minute hour day-of-month month day-of-week, "
        "e.g. '0 9 * * 1-5' for 09:00 on weekdays."),
        verbose_name=_("cron"),
    )
    time_zone = models.CharField(max_length=64, default="UTC", help_text=_("Time zone of run_at and cron, e.g. "
                                 "Europe/Stockholm."), verbose_name=_("time zone"))
    contacts_csv = models.TextField(
        help_text=_("The contact list, as CSV with a header row using the reference field names: tocontactid, "
        "channelid, optin, locale, contextitems (a JSON object) or contextitems.<key> columns, "
        "entityrelationshipname, CustomerName, CaseName."),
        verbose_name=_("contacts csv"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", null=True, blank=True,
                                         on_delete=models.SET_NULL, editable=False, related_name="+",
                                         verbose_name=_("periodic task"))
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("last run at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("outbound schedule")
        verbose_name_plural = _("outbound schedules")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BatchState(models.TextChoices):
    SUBMITTING = "submitting", _("Submitting requests")
    SUBMITTED = "submitted", _("All requests submitted")
    STOPPED = "stopped", _("Stopped")


class OutboundBatch(models.Model):
    """A contact list of any size, split into requests of at most 100 contacts that stay inside the hourly limit."""

    configuration = models.ForeignKey(OutboundConfiguration, on_delete=models.PROTECT, related_name="batches",
                                      verbose_name=_("configuration"))
    name = models.CharField(max_length=255, blank=True, default="", help_text=_("e.g. the uploaded file's name."),
                            verbose_name=_("name"))
    source = models.CharField(max_length=16, choices=Source.choices, verbose_name=_("source"))
    schedule = models.ForeignKey(OutboundSchedule, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="batches", verbose_name=_("schedule"))
    scheduled_for = models.DateTimeField(null=True, blank=True,
                                         help_text=_("Schedules: the fire time this batch was made for (one per "
                                                   "fire time)."), verbose_name=_("scheduled for"))
    state = models.CharField(max_length=16, choices=BatchState.choices, default=BatchState.SUBMITTING,
                             verbose_name=_("state"))
    contact_count = models.PositiveIntegerField(default=0, verbose_name=_("contact count"))
    chunk_count = models.PositiveIntegerField(default=0, verbose_name=_("chunk count"))
    next_run_at = models.DateTimeField(null=True, blank=True,
                                       help_text=_("When the hourly limit lets the next request go."),
                                       verbose_name=_("next run at"))
    error = models.TextField(blank=True, default="", help_text=_("Why submitting stopped."), verbose_name=_("error"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        verbose_name = _("outbound batch")
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("outbound batches")
        constraints = [
            models.UniqueConstraint(fields=["schedule", "scheduled_for"], name="outbound_batch_once_per_fire_time"),
        ]

    def __str__(self) -> str:
        return f"Batch #{self.pk} {self.name or self.configuration}"


class OutboundBatchChunk(models.Model):
    """Up to 100 contacts of a batch, as given, waiting to become one request."""

    batch = models.ForeignKey(OutboundBatch, on_delete=models.CASCADE, related_name="chunks", verbose_name=_("batch"))
    index = models.PositiveIntegerField(verbose_name=_("index"))
    first_line = models.PositiveIntegerField(default=0, help_text=_("CSV line of the first contact, for messages."),
                                             verbose_name=_("first line"))
    contacts = models.JSONField(verbose_name=_("contacts"))
    request = models.OneToOneField("OutboundRequest", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="chunk", verbose_name=_("request"))
    submitted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("submitted at"))

    class Meta:
        verbose_name = _("outbound batch chunk")
        verbose_name_plural = _("outbound batch chunks")
        ordering = ["batch", "index"]
        constraints = [models.UniqueConstraint(fields=["batch", "index"], name="outbound_chunk_index")]
        indexes = [models.Index(fields=["batch", "submitted_at", "index"], name="outbound_chunk_next")]

    def __str__(self) -> str:
        return f"{self.batch} chunk {self.index}"


class RequestState(models.TextChoices):
    PENDING = "pending", _("Pending (waiting for a worker)")
    SENDING = "sending", _("Sending")
    WAITING = "waiting", _("Waiting (retries or provider throttling)")
    DONE = "done", _("Done (every contact has an outcome)")


class OutboundRequest(models.Model):
    """One invocation of a configuration with at most 100 contacts, sent by one worker task."""

    request_id = models.UUIDField(_("request ID"), default=uuid.uuid4, unique=True, editable=False)
    configuration = models.ForeignKey(OutboundConfiguration, on_delete=models.PROTECT, related_name="requests",
                                      verbose_name=_("configuration"))
    source = models.CharField(max_length=16, choices=Source.choices, verbose_name=_("source"))
    batch = models.ForeignKey(OutboundBatch, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="requests", verbose_name=_("batch"))
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="outbound_requests",
                             help_text=_("The case whose creation fired this request."), verbose_name=_("case"))
    state = models.CharField(max_length=16, choices=RequestState.choices, default=RequestState.PENDING,
                             db_index=True, verbose_name=_("state"))
    contact_count = models.PositiveSmallIntegerField(default=0, verbose_name=_("contact count"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))
    # Worker bookkeeping: a run holds the request until lease_until; a lost task is found by the sweep.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("lease until"))
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("next run at"))
    enqueued_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("enqueued at"))
    runs = models.PositiveIntegerField(default=0, editable=False, verbose_name=_("runs"))
    started_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("finished at"))

    class Meta:
        verbose_name = _("outbound request")
        verbose_name_plural = _("outbound requests")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Request {self.request_id} ({self.configuration})"


class RecipientState(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SKIPPED = "skipped", _("Skipped")
    REJECTED = "rejected", _("Not sent (failed before sending)")
    MESSAGE = "message", _("Handed to the provider (see message)")


class OutboundRecipient(models.Model):
    """One contact of a request, as given, and what became of it."""

    request = models.ForeignKey(OutboundRequest, on_delete=models.CASCADE, related_name="recipients",
                                verbose_name=_("request"))
    index = models.PositiveSmallIntegerField(help_text=_("Position in the request's contact list."),
                                             verbose_name=_("index"))
    to_address = models.CharField(_("tocontactid"), max_length=140,
                                  help_text=_("As given: a phone number, or on WhatsApp a WhatsApp user ID."))
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="outbound_recipients", verbose_name=_("contact"))
    channel_id = models.CharField(_("channelid"), max_length=16, blank=True, default="")
    optin = models.BooleanField(verbose_name=_("optin"))
    locale = models.CharField(max_length=16, blank=True, default="", verbose_name=_("locale"))
    context_items = models.JSONField(_("contextitems"), default=dict, blank=True)
    entity_relationship_name = models.CharField(_("entityrelationshipname"), max_length=200, blank=True, default="")
    customer_name = models.CharField(_("CustomerName"), max_length=200, blank=True, default="")
    case_name = models.CharField(_("CaseName"), max_length=200, blank=True, default="")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                             verbose_name=_("case"))
    state = models.CharField(max_length=16, choices=RecipientState.choices, default=RecipientState.PENDING,
                             verbose_name=_("state"))
    reason_code = models.CharField(max_length=32, blank=True, default="", verbose_name=_("reason code"))
    reason = models.CharField(max_length=500, blank=True, default="", verbose_name=_("reason"))
    language = models.CharField(max_length=16, blank=True, default="", help_text=_("The localization sent."),
                                verbose_name=_("language"))
    message = models.OneToOneField(Message, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="outbound_recipient", verbose_name=_("message"))

    class Meta:
        verbose_name = _("outbound recipient")
        verbose_name_plural = _("outbound recipients")
        ordering = ["request", "index"]
        constraints = [models.UniqueConstraint(fields=["request", "index"], name="outbound_recipient_index")]
        indexes = [models.Index(fields=["request", "state"], name="outbound_recipient_state")]

    def __str__(self) -> str:
        return f"{self.to_address} ({self.get_state_display()})"


class TimelineActivity(models.Model):
    """An outbound message on the customer's timeline and on the record it is about."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="outbound_activities",
                                verbose_name=_("contact"))
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="outbound_activities", verbose_name=_("case"))
    regarding = models.CharField(_("entityrelationshipname"), max_length=200, blank=True, default="",
                                 help_text=_("The record the activity is attached to, as the caller named it."))
    configuration = models.ForeignKey(OutboundConfiguration, on_delete=models.PROTECT, related_name="activities",
                                      verbose_name=_("configuration"))
    configuration_ref = models.UUIDField(_("configuration ID"))
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="timeline_activity",
                                   verbose_name=_("message"))
    recipient = models.OneToOneField(OutboundRecipient, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="activity", verbose_name=_("recipient"))
    text = models.TextField(verbose_name=_("text"))
    channel = models.CharField(max_length=16, choices=Channel.choices, verbose_name=_("channel"))
    language = models.CharField(max_length=16, verbose_name=_("language"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("timeline activity")
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("timeline activities")
        indexes = [
            models.Index(fields=["contact", "-created_at"], name="outbound_activity_contact"),
            models.Index(fields=["case", "-created_at"], name="outbound_activity_case"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.contact}: {self.text[:40]}"


class OutboundReply(models.Model):
    """A customer's inbound message linked to the outbound message it answers."""

    reply = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="outbound_reply",
                                 verbose_name=_("reply"))
    outbound_message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="outbound_replies",
                                         verbose_name=_("outbound message"))
    recipient = models.ForeignKey(OutboundRecipient, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="replies", verbose_name=_("recipient"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("outbound reply")
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("outbound replies")

    def __str__(self) -> str:
        return f"Reply {self.reply_id} to {self.outbound_message_id}"


class RateCounter(models.Model):
    """A shared counter per scope and time window (used when no Redis is configured)."""

    scope = models.CharField(max_length=64, verbose_name=_("scope"))
    window = models.BigIntegerField(help_text=_("Start of the window, in seconds since the epoch."),
                                    verbose_name=_("window"))
    count = models.PositiveIntegerField(default=0, verbose_name=_("count"))

    class Meta:
        verbose_name = _("rate counter")
        verbose_name_plural = _("rate counters")
        constraints = [models.UniqueConstraint(fields=["scope", "window"], name="outbound_rate_window")]
        indexes = [models.Index(fields=["window"], name="outbound_rate_old")]

    def __str__(self) -> str:
        return f"{self.scope}@{self.window}: {self.count}"

