from __future__ import annotations

from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from channels_app.api.serializers import ApiErrorSerializer as ErrorSerializer
from channels_app.models import Message
from workstreams import selectors, services
from workstreams.models import Conversation, ConversationState

from .serializers import ConversationSerializer, MessageSerializer, ReplySerializer

ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer}


class ConversationPermissions(permissions.DjangoModelPermissions):
    """Reading needs view permission; replying and ending need change permission."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.change_%(model_name)s"],
    }


@extend_schema(tags=["conversations"])
class ConversationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ConversationSerializer
    permission_classes = [permissions.IsAuthenticated, ConversationPermissions]
    queryset = Conversation.objects.select_related("contact", "phone_number", "queue", "agent")

    def get_queryset(self):
        qs = super().get_queryset()
        params = self.request.query_params
        if params.get("state"):
            qs = qs.filter(state__in=params["state"].split(","))
        if params.get("number"):
            qs = qs.filter(Q(phone_number__number=params["number"]) | Q(phone_number__e164=params["number"]))
        if params.get("contact"):
            value = params["contact"]
            qs = qs.filter(Q(contact__address=value) | Q(contact_id=int(value)) if value.isdigit()
                           else Q(contact__address=value))
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("state", str, description="Comma-separated states: "
                             + ", ".join(ConversationState.values)),
            OpenApiParameter("number", str, description="One of our numbers, as configured or in E.164."),
            OpenApiParameter("contact", str, description="The customer's E.164 number or contact id."),
        ],
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: MessageSerializer(many=True)}, methods=["GET"])
    @extend_schema(request=ReplySerializer, responses={201: MessageSerializer, **ERRORS}, methods=["POST"],
                   description="An agent's reply. Refusals: 400 (empty, over 1,600 characters, attachments not "
                               "allowed), 409 (conversation closed, contact opted out, WhatsApp 24-hour window "
                               "closed), each with a JSON error naming the rule.")
    @action(detail=True, methods=["get", "post"])
    def messages(self, request, pk=None):
        conversation = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.conversation_messages(conversation=conversation))
            return self.get_paginated_response(MessageSerializer(page, many=True).data)
        data = ReplySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.conversation_reply(conversation=conversation, author=request.user,
                                              body=data.validated_data["body"],
                                              media_urls=tuple(data.validated_data["media_urls"]))
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ConversationSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        conversation = services.conversation_end(conversation=self.get_object(), user=request.user)
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(request=None, responses={201: MessageSerializer, **ERRORS},
                   description="Send a failed message of this conversation again.")
    @action(detail=True, methods=["post"], url_path=r"messages/(?P<message_id>\d+)/retry")
    def retry(self, request, pk=None, message_id=None):
        conversation = self.get_object()
        message = get_object_or_404(Message, pk=message_id)
        message = services.conversation_message_retry(conversation=conversation, message=message)
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)
