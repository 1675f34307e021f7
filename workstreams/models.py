"""The work: queues, workstreams and their numbers, and conversations."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from channels_app.models import Channel, Contact, Message, PhoneNumber


class Queue(models.Model):
    name = models.CharField(max_length=100, unique=True)
    priority = models.IntegerField(default=0, help_text="Higher-priority queues are served first.")
    is_default = models.BooleanField(
        "default queue", default=False, help_text="Where conversations go when nothing else routes them."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-priority", "name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True),
                                    name="workstreams_one_default_queue"),
        ]

    def __str__(self) -> str:
        return self.name


class Workstream(models.Model):
    name = models.CharField(max_length=100, unique=True)
    channel = models.CharField(max_length=16, choices=Channel.choices, help_text="SMS or WhatsApp.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkstreamNumber(models.Model):
    """One of our numbers attached to a workstream, with its behaviours."""

    workstream = models.ForeignKey(Workstream, on_delete=models.CASCADE, related_name="numbers")
    phone_number = models.OneToOneField(
        PhoneNumber, on_delete=models.CASCADE, related_name="workstream_number",
        help_text="A number belongs to at most one workstream.",
    )
    language = models.CharField("default language", max_length=16, default="en",
                                help_text="Language of automated messages when the customer's is unknown.")
    customers_may_send_attachments = models.BooleanField(
        default=True, help_text="Store files customers send. When off, files are not stored and the message says so."
    )
    agents_may_send_attachments = models.BooleanField(default=True, help_text="Let agents attach files to replies.")

    def __str__(self) -> str:
        return f"{self.phone_number} in {self.workstream}"


class ConversationState(models.TextChoices):
    OPEN = "open", "Open (waiting in a queue)"
    ACTIVE = "active", "Active (with an agent)"
    WAITING = "waiting", "Waiting (agent stepped away)"
    WRAP_UP = "wrap_up", "Wrap-up (ended)"
    CLOSED = "closed", "Closed"


LIVE_STATES = (ConversationState.OPEN, ConversationState.ACTIVE, ConversationState.WAITING)


class Conversation(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="conversations")
    phone_number = models.ForeignKey(PhoneNumber, on_delete=models.PROTECT, related_name="conversations")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    state = models.CharField(max_length=16, choices=ConversationState.choices, default=ConversationState.OPEN,
                             db_index=True)
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="conversations")
    resolved = models.BooleanField(default=False, help_text="Set when an agent ends the conversation.")
    routing_diagnosis = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one conversation that is not closed per customer and number: concurrent
            # inbound messages cannot open two.
            models.UniqueConstraint(fields=["contact", "phone_number"], condition=~Q(state="closed"),
                                    name="workstreams_one_live_conversation"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.contact} on {self.phone_number.number} ({self.get_state_display()})"


class ConversationMessage(models.Model):
    """Links a wire-level message to the conversation it belongs to."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="entries")
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="conversation_link")

    class Meta:
        ordering = ["message__created_at", "message_id"]

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.message_id}"


class CaseStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RESOLVED = "resolved", "Resolved"
    CANCELLED = "cancelled", "Cancelled"


class Case(models.Model):
    """A support case about a customer; creating one can fire outbound messages ("your case was created")."""

    title = models.CharField(max_length=200)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="cases")
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.ACTIVE)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.title} ({self.contact})"
