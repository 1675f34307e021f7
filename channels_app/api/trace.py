"""``GET /api/v1/messages/{id}/trace/``: a message's whole story (channels_app/trace.py), for scripts and support
tools. Needs ``channels_app.view_message``."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app.models import Message
from channels_app.trace import message_trace
from config.api import ApiErrorSerializer, ModelPermissions


class ExchangeSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text=gettext_lazy("The channel-log row."))
    method = serializers.CharField()
    url = serializers.CharField()
    status_code = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    request_body = serializers.CharField(help_text=gettext_lazy("What was sent, secrets redacted."))
    response_body = serializers.CharField(help_text=gettext_lazy("What came back."))
    error = serializers.CharField(help_text=gettext_lazy("Why no answer came back, if none did."))


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text=gettext_lazy("The stored webhook (event store)."))
    kind = serializers.CharField()
    state = serializers.CharField()
    attempts = serializers.IntegerField()
    error = serializers.CharField()
    url = serializers.CharField()
    body = serializers.CharField(help_text=gettext_lazy("The webhook's body as it arrived, the account's secrets "
                                                        "redacted."))
    received_at = serializers.DateTimeField()
    processed_at = serializers.DateTimeField(allow_null=True)


class TraceEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField(allow_null=True)
    kind = serializers.CharField(help_text=gettext_lazy("webhook, created, send, retry, status_callback, conversation, "
                                                        "outbound, outcome (always last)."))
    title = serializers.CharField()
    detail = serializers.CharField()
    tone = serializers.ChoiceField(choices=["ok", "info", "warning", "error"])
    request_id = serializers.CharField(help_text=gettext_lazy("The web request or task it happened in (also on its log "
                                                              "lines)."))
    exchange = ExchangeSerializer(allow_null=True, help_text=gettext_lazy("A provider HTTP exchange (channel log)."))
    event = EventSerializer(allow_null=True, help_text=gettext_lazy("A stored webhook (event store)."))


class MessageTraceSerializer(serializers.Serializer):
    message = serializers.IntegerField()
    direction = serializers.CharField()
    status = serializers.CharField()
    error_code = serializers.CharField()
    error_message = serializers.CharField()
    entries = TraceEntrySerializer(many=True)


class MessageTraceView(APIView):
    permission_classes = [ModelPermissions]
    queryset = Message.objects.all()  # ModelPermissions reads the model from it

    @extend_schema(responses={200: MessageTraceSerializer,
                              403: OpenApiResponse(ApiErrorSerializer, description=gettext_lazy("No view_message "
                                                                                                "permission.")),
                              404: OpenApiResponse(ApiErrorSerializer, description=gettext_lazy("No such message."))},
                   summary=gettext_lazy("A message's whole story, in order"))
    def get(self, request: Request, pk: int) -> Response:
        message = get_object_or_404(Message.objects.select_related("account", "contact", "phone_number", "author"),
                                    pk=pk)
        entries = message_trace(message=message)
        return Response(MessageTraceSerializer({
            "message": message.pk, "direction": message.direction, "status": message.status,
            "error_code": message.error_code, "error_message": message.error_message,
            "entries": entries,
        }).data)
