from __future__ import annotations

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from channels_app.models import Message
from config.api import ApiErrorSerializer as ErrorSerializer
from config.inputs import db_id
from workstreams import selectors, services
from workstreams.models import AgentProfile, Conversation, ConversationState, Queue
from workstreams.services import access, composer, distribution, inbox, notes, wrapup
from workstreams.services.access import Action

from .serializers import (
    CaseLinkSerializer,
    ConsultSerializer,
    ConversationSerializer,
    EndSerializer,
    ForceCloseSerializer,
    MessageSerializer,
    NoteSerializer,
    OfferSerializer,
    PresenceSerializer,
    QueueSerializer,
    ReassignSerializer,
    ReplySerializer,
    TemplateSendSerializer,
    TransferSerializer,
)

ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer}


class WorksWithConversations(permissions.IsAuthenticated):
    """What the console asks: an active staff agent (profile and permission to view conversations), a
    supervisor or an administrator. A refusal says which is missing."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False  # DRF answers 401
        access.access_require(request.user)
        return True


class ConversationAccess(WorksWithConversations):
    """Each action on one conversation, as workstreams.services.access decides (the queryset already hides
    the conversations the user may not see: those are 404)."""

    def has_object_permission(self, request, view, obj) -> bool:
        access.conversation_require(request.user, view.conversation_action(request), obj)
        return True


def _conversation_action(description: str, request=None, status_code: int = 200):
    return extend_schema(request=request, responses={status_code: ConversationSerializer, **ERRORS},
                         description=description)


#: The access rule each endpoint asks for (by view action and, where one action serves two, by method).
ACTIONS: dict[str, Action | dict[str, Action]] = {
    "list": Action.READ, "retrieve": Action.READ, "routing": Action.READ,
    "messages": {"GET": Action.READ, "POST": Action.REPLY}, "template": Action.REPLY,
    "take": Action.TAKE, "transfer": Action.TRANSFER, "reassign": Action.REASSIGN, "wait": Action.WAIT,
    "resume": Action.RESUME, "end": Action.END, "force_close": Action.FORCE_CLOSE, "retry": Action.RETRY,
    "close_now": Action.END, "notes": {"GET": Action.READ, "POST": Action.NOTE}, "consult": Action.CONSULT,
    "case": Action.CASE, "follow_up": Action.REPLY,
}


class ConversationActionsMixin:
    def conversation_action(self, request) -> Action:
        rule = ACTIONS[self.action]  # an endpoint without a rule is a programming error, never an open door
        return rule[request.method] if isinstance(rule, dict) else rule

    @_conversation_action(_("Take this open conversation from a queue you belong to (pick mode's Take)."))
    @action(detail=True, methods=["post"])
    def take(self, request, pk=None):
        conversation = distribution.conversation_take(conversation=self.get_object(), user=request.user)
        return Response(ConversationSerializer(conversation).data)

    @_conversation_action(_("Move the conversation to a queue (it waits there) or to an agent (exactly one)."),
                          request=TransferSerializer)
    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        conversation = self.get_object()
        data = TransferSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = distribution.conversation_transfer(conversation=conversation, by=request.user,
                                                          queue=data.validated_data.get("queue"),
                                                          agent=data.validated_data.get("agent"))
        return Response(ConversationSerializer(conversation).data)

    @_conversation_action(_("Supervisors: give the conversation to another agent, whoever holds it now (the agent's "
                            "capacity permitting)."), request=ReassignSerializer)
    @action(detail=True, methods=["post"])
    def reassign(self, request, pk=None):
        conversation = self.get_object()
        data = ReassignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = distribution.conversation_reassign(conversation=conversation, by=request.user,
                                                          agent=data.validated_data["agent"])
        return Response(ConversationSerializer(conversation).data)

    @_conversation_action(_("Supervisors: close the conversation for good, whatever its state (the customer gets the "
                            "'conversation closed' message)."), request=ForceCloseSerializer)
    @action(detail=True, methods=["post"], url_path="force-close")
    def force_close(self, request, pk=None):
        conversation = self.get_object()
        data = ForceCloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = services.conversation_force_close(conversation=conversation, by=request.user,
                                                         reason=data.validated_data["reason"])
        return Response(ConversationSerializer(conversation).data)

    @_conversation_action(_("Step away: the conversation waits and its capacity is released."))
    @action(detail=True, methods=["post"])
    def wait(self, request, pk=None):
        return Response(ConversationSerializer(
            services.conversation_wait(conversation=self.get_object(), user=request.user)).data)

    @_conversation_action(_("Pick a waiting conversation back up."))
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return Response(ConversationSerializer(
            services.conversation_resume(conversation=self.get_object(), user=request.user)).data)

    @extend_schema(request=TemplateSendSerializer, responses={201: MessageSerializer, **ERRORS},
                   description=_("Send an approved WhatsApp template (the only thing allowed outside the 24-hour "
                                 "window)."))
    @action(detail=True, methods=["post"])
    def template(self, request, pk=None):
        conversation = self.get_object()
        data = TemplateSendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.conversation_send_template(conversation=conversation, author=request.user,
                                                      template=data.validated_data["template"],
                                                      variables=data.validated_data["variables"])
        return Response(MessageSerializer(message, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 404: ErrorSerializer},
                   description=_("Which routing rule matched and why (or why none did), escalations and transfers."))
    @action(detail=True, methods=["get"])
    def routing(self, request, pk=None):
        conversation = self.get_object()
        return Response({"conversation": conversation.pk, "queue": conversation.queue.name if conversation.queue
                         else None, **(conversation.routing_diagnosis or {})})


@extend_schema(tags=["agents"])
class AgentMeViewSet(viewsets.ViewSet):
    """The signed-in agent: presence, picking work, and the offers waiting for an answer."""

    permission_classes = [WorksWithConversations]

    def _presence(self, user):
        profile = AgentProfile.objects.filter(user=user).first()
        if profile is None:
            distribution._require_profile(user)
        return {"presence": profile.presence, "capacity": profile.capacity,
                "free_capacity": distribution.agent_free_capacity(user)}

    @extend_schema(responses={200: PresenceSerializer, 403: ErrorSerializer}, methods=["GET"])
    @extend_schema(request=PresenceSerializer, responses={200: PresenceSerializer, **ERRORS}, methods=["PUT"])
    @action(detail=False, methods=["get", "put"], url_path="me/presence")
    def presence(self, request):
        if request.method == "PUT":
            data = PresenceSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            distribution.agent_presence_set(user=request.user, presence=data.validated_data["presence"])
        return Response(self._presence(request.user))

    @extend_schema(request=None, responses={200: ConversationSerializer, **ERRORS},
                   description=_("Take the next conversation waiting in your queues (higher priority, then oldest)."))
    @action(detail=False, methods=["post"], url_path="me/pick")
    def pick(self, request):
        access.agent_work_require(request.user)
        return Response(ConversationSerializer(distribution.conversation_pick_next(user=request.user)).data)

    @extend_schema(responses={200: OfferSerializer(many=True), 403: ErrorSerializer},
                   description=_("Your pending offers, soonest to time out first. Offers whose time is up are timed "
                                 "out first."))
    @action(detail=False, methods=["get"], url_path="me/offers")
    def offers(self, request):
        distribution._require_profile(request.user)
        distribution.offers_expire_due()
        return Response(OfferSerializer(distribution.offers_pending_for(request.user), many=True).data)

    @extend_schema(request=None, responses={200: ConversationSerializer, **ERRORS},
                   description=_("Accept an offer: the conversation is yours (capacity and presence permitting)."))
    @action(detail=False, methods=["post"], url_path=r"me/offers/(?P<offer_id>\d+)/accept")
    def offer_accept(self, request, offer_id=None):
        access.agent_work_require(request.user)
        return Response(ConversationSerializer(distribution.offer_accept(offer_id=int(offer_id),
                                                                         user=request.user)).data)

    @extend_schema(request=None, responses={200: OfferSerializer, **ERRORS},
                   description=_("Decline an offer: it goes to the next agent."))
    @action(detail=False, methods=["post"], url_path=r"me/offers/(?P<offer_id>\d+)/decline")
    def offer_decline(self, request, offer_id=None):
        access.agent_work_require(request.user)
        offer = distribution.offer_decline(offer_id=int(offer_id), user=request.user)
        return Response(OfferSerializer(offer).data)


@extend_schema(tags=["queues"])
class QueueViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The queues you belong to or supervise (every queue for an administrator), with their counts."""

    serializer_class = QueueSerializer
    permission_classes = [WorksWithConversations]
    queryset = Queue.objects.annotate(
        waiting=Count("conversations", filter=Q(conversations__state=ConversationState.OPEN)),
        active=Count("conversations", filter=Q(conversations__state=ConversationState.ACTIVE)),
    ).order_by("-priority", "name")

    def get_queryset(self):
        return access.queues_visible_to(self.request.user, super().get_queryset())


@extend_schema(tags=["conversations"])
class ConversationViewSet(ConversationActionsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                          viewsets.GenericViewSet):
    serializer_class = ConversationSerializer
    permission_classes = [ConversationAccess]
    queryset = Conversation.objects.select_related("contact", "phone_number", "queue", "agent")

    def get_queryset(self):
        params = self.request.query_params
        if self.action == "list" and (params.get("tab") or params.get("q")):
            # The console's inbox: the same tabs, filters and search (``tab`` defaults to every conversation).
            filters = inbox.inbox_filters_parse({"tab": "all", **params.dict()})
            return inbox.inbox_conversations(user=self.request.user, filters=filters,
                                             queryset=super().get_queryset())
        qs = access.conversations_visible_to(self.request.user, super().get_queryset())
        if params.get("state"):
            qs = qs.filter(state__in=params["state"].split(","))
        if params.get("number"):
            qs = qs.filter(Q(phone_number__number=params["number"]) | Q(phone_number__e164=params["number"]))
        if params.get("contact"):
            value = params["contact"]
            contact_id = db_id(value)
            by_address = Q(contact__address=value) | Q(contact__addresses__value=value)
            qs = qs.filter(by_address | Q(contact_id=contact_id) if contact_id is not None else by_address).distinct()
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("state", str, description=format_lazy(_("Comma-separated states: {states}"),
                                                              states=", ".join(ConversationState.values))),
            OpenApiParameter("number", str, description=_("One of our numbers, as configured or in E.164.")),
            OpenApiParameter("contact", str, description=_("The customer's E.164 number or contact id.")),
            OpenApiParameter("tab", str, description=format_lazy(
                _("The console's inbox tabs: {tabs} (with tab or q, the filters are channel, number and queue ids, "
                  "and state)."), tabs=", ".join(inbox.Tab))),
            OpenApiParameter("q", str, description=_("Search over message text (full-text on PostgreSQL) and the "
                                                     "customer's name and number.")),
        ],
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: MessageSerializer(many=True)}, methods=["GET"])
    @extend_schema(request=ReplySerializer, responses={201: MessageSerializer, **ERRORS}, methods=["POST"],
                   description=_("An agent's reply. Refusals: 400 (empty, over 1,600 characters, more than 10 "
                                 "attachments, attachments not allowed), 409 (conversation closed, contact opted out, "
                                 "WhatsApp 24-hour window closed), each with a JSON error naming the rule."))
    @action(detail=True, methods=["get", "post"])
    def messages(self, request, pk=None):
        conversation = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.conversation_messages(conversation=conversation))
            return self.get_paginated_response(
                MessageSerializer(page, many=True, context=self.get_serializer_context()).data)
        data = ReplySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.conversation_reply(conversation=conversation, author=request.user,
                                              body=data.validated_data["body"],
                                              media_urls=tuple(data.validated_data["media_urls"]))
        return Response(MessageSerializer(message, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=EndSerializer, responses={200: ConversationSerializer, **ERRORS},
                   description=_("End the conversation: it goes to wrap-up with the outcome (default resolved) and, "
                                 "optionally, an internal wrap-up note."))
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        conversation = self.get_object()
        data = EndSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = wrapup.conversation_end_with_outcome(conversation=conversation, user=request.user,
                                                            outcome=data.validated_data["outcome"],
                                                            note=data.validated_data["note"])
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(request=None, responses={200: ConversationSerializer, **ERRORS},
                   description=_("Finish wrap-up: the conversation closes and its capacity is free at once."))
    @action(detail=True, methods=["post"], url_path="close-now")
    def close_now(self, request, pk=None):
        conversation = wrapup.conversation_wrap_up_finish(conversation=self.get_object(), user=request.user)
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(responses={200: NoteSerializer(many=True)}, methods=["GET"])
    @extend_schema(request=NoteSerializer, responses={201: NoteSerializer, **ERRORS}, methods=["POST"],
                   description=_("Internal notes: never sent to the customer or any provider."))
    @action(detail=True, methods=["get", "post"])
    def notes(self, request, pk=None):
        conversation = self.get_object()
        if request.method == "GET":
            return Response(NoteSerializer(notes.conversation_notes(conversation), many=True).data)
        data = NoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = notes.conversation_note_add(conversation=conversation, author=request.user,
                                           body=data.validated_data["body"])
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ConsultSerializer, responses={200: ConversationSerializer, **ERRORS},
                   description=_("Invite another agent to read the conversation and add notes (no capacity is taken)."))
    @action(detail=True, methods=["post"])
    def consult(self, request, pk=None):
        conversation = self.get_object()
        data = ConsultSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        notes.conversation_consult_invite(conversation=conversation, by=request.user,
                                          agent=data.validated_data["agent"])
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(request=CaseLinkSerializer, responses={200: ConversationSerializer, **ERRORS},
                   description=_("Link the conversation to one of its customer's cases, or to a new case."))
    @action(detail=True, methods=["post"])
    def case(self, request, pk=None):
        conversation = self.get_object()
        data = CaseLinkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        notes.conversation_case_link(conversation=conversation, by=request.user,
                                     case=data.validated_data.get("case"), title=data.validated_data["title"])
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(request=TemplateSendSerializer, responses={201: ConversationSerializer, **ERRORS},
                   description=_("Follow a resolved, closed WhatsApp conversation up with an approved template: a new "
                                 "conversation, assigned to you, opens with it."))
    @action(detail=True, methods=["post"], url_path="follow-up")
    def follow_up(self, request, pk=None):
        conversation = self.get_object()
        data = TemplateSendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        follow, _message = composer.conversation_follow_up(conversation=conversation, author=request.user,
                                                           template=data.validated_data["template"],
                                                           variables=data.validated_data["variables"])
        return Response(ConversationSerializer(follow).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={201: MessageSerializer, **ERRORS},
                   description=_("Send a failed message of this conversation again."))
    @action(detail=True, methods=["post"], url_path=r"messages/(?P<message_id>\d+)/retry")
    def retry(self, request, pk=None, message_id=None):
        conversation = self.get_object()
        # Looked up within the conversation: another conversation's message is as absent as one that is not.
        message = get_object_or_404(Message, pk=message_id, conversation_link__conversation=conversation)
        message = services.conversation_message_retry(conversation=conversation, message=message)
        return Response(MessageSerializer(message, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

