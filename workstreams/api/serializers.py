from __future__ import annotations

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from channels_app.models import Attachment, Message
from channels_app.services.delivery import MAX_MESSAGE_LENGTH
from workstreams.models import (
    Case,
    Conversation,
    ConversationNote,
    ConversationOutcome,
    Offer,
    Presence,
    Queue,
    WhatsAppTemplate,
)

User = get_user_model()


class AttachmentSerializer(serializers.ModelSerializer):
    file_url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["id", "content_type", "state", "size", "error", "file_url"]

    def get_file_url(self, obj: Attachment) -> str | None:
        """Stored customer files are served to signed-in agents only, by the console."""
        if not obj.file:
            return None
        path = reverse("console:attachment", args=[obj.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class MessageSerializer(serializers.ModelSerializer):
    attachments = AttachmentSerializer(many=True, read_only=True)
    author = serializers.CharField(source="author.get_username", default=None, read_only=True)

    class Meta:
        model = Message
        fields = ["id", "direction", "kind", "channel", "body", "status", "error_code", "error_message", "encoding",
                  "segments", "author", "attachments", "created_at", "sent_at", "delivered_at", "read_at"]
        read_only_fields = fields


class ConversationSerializer(serializers.ModelSerializer):
    contact = serializers.SerializerMethodField()
    number = serializers.CharField(source="phone_number.number", read_only=True)
    queue = serializers.CharField(source="queue.name", default=None, read_only=True)
    agent = serializers.CharField(source="agent.get_username", default=None, read_only=True)

    class Meta:
        model = Conversation
        fields = ["id", "state", "channel", "contact", "number", "queue", "agent", "with_bot", "resolved", "outcome",
                  "case", "created_at", "last_message_at", "last_inbound_at", "ended_at", "closed_at",
                  "routing_diagnosis"]
        read_only_fields = fields

    def get_contact(self, obj: Conversation) -> dict:
        # "phone" is null for a WhatsApp customer known by a username only ("address" is then their user ID).
        return {"id": obj.contact_id, "address": obj.contact.address, "phone": obj.contact.phone or None,
                "name": obj.contact.display_name}


class ReplySerializer(serializers.Serializer):
    # Length and emptiness are the service's rules (one message for every caller); here only shape.
    body = serializers.CharField(allow_blank=True, trim_whitespace=False, required=False, default="",
                                 help_text=format_lazy(_("Up to {count} characters."), count=MAX_MESSAGE_LENGTH))
    # How many attachments, and where, are the service's attachment rule (at most 10 where agents may send them).
    media_urls = serializers.ListField(child=serializers.URLField(), required=False, default=list,
                                       help_text=_("Public URLs of files to attach (up to 10, where agents may send "
                                                   "them)."))


class PresenceSerializer(serializers.Serializer):
    presence = serializers.ChoiceField(choices=Presence.choices)
    capacity = serializers.IntegerField(read_only=True)
    free_capacity = serializers.IntegerField(read_only=True)


class OfferSerializer(serializers.ModelSerializer):
    customer = serializers.SerializerMethodField(help_text=_("The customer's name, or their number."))
    queue = serializers.CharField(source="conversation.queue.name", read_only=True, default="")

    class Meta:
        model = Offer
        fields = ["id", "conversation", "customer", "queue", "state", "created_at", "expires_at"]

    def get_customer(self, obj) -> str:
        contact = obj.conversation.contact
        return contact.display_name or contact.address


class TransferSerializer(serializers.Serializer):
    queue = serializers.PrimaryKeyRelatedField(queryset=Queue.objects.all(), required=False,
                                               help_text=_("Queue id: the conversation waits there."))
    agent = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True),
                                         required=False, help_text=_("Username: the agent gets it directly."))


class ReassignSerializer(serializers.Serializer):
    agent = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True),
                                         help_text=_("Username of the agent who gets the conversation."))


class ForceCloseSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, default="", allow_blank=True, max_length=300,
                                   help_text=_("Why, kept in the routing diagnosis (up to 300 characters)."))


class TemplateSendSerializer(serializers.Serializer):
    template = serializers.PrimaryKeyRelatedField(queryset=WhatsAppTemplate.objects.all())
    variables = serializers.DictField(child=serializers.CharField(max_length=1600), required=False, default=dict,
                                      help_text=_('Values for {{1}}, {{2}} …, e.g. {"1": "Ana"}.'))


class QueueSerializer(serializers.ModelSerializer):
    waiting = serializers.IntegerField(read_only=True)
    active = serializers.IntegerField(read_only=True)

    class Meta:
        model = Queue
        fields = ["id", "name", "priority", "is_default", "assignment_method", "waiting", "active"]


class EndSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=ConversationOutcome.choices, required=False, default="",
                                      allow_blank=True, help_text=_("Default: resolved."))
    note = serializers.CharField(required=False, default="", allow_blank=True, trim_whitespace=False,
                                 help_text=_("A wrap-up note (internal, never sent; up to 4,000 characters)."))


class NoteSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.get_username", default=None, read_only=True)
    body = serializers.CharField(trim_whitespace=False, allow_blank=True,
                                 help_text=_("Internal: agents and supervisors read it, the customer never does."))

    class Meta:
        model = ConversationNote
        fields = ["id", "author", "body", "is_wrap_up", "created_at"]
        read_only_fields = ["id", "author", "is_wrap_up", "created_at"]


class ConsultSerializer(serializers.Serializer):
    agent = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True),
                                         help_text=_("Username of the agent invited to read and add notes."))


class CaseLinkSerializer(serializers.Serializer):
    case = serializers.PrimaryKeyRelatedField(queryset=Case.objects.all(), required=False, allow_null=True,
                                              help_text=_("One of the customer's cases; omit to create one."))
    title = serializers.CharField(required=False, default="", allow_blank=True,
                                  help_text=_("The title of a new case (when no case is given)."))
