"""Messaging accounts and their numbers over REST: parse, check permissions, call a service, render.

Permissions follow the model permissions of the admin: reading needs ``view_*``,
creating ``add_*``, changing ``change_*`` and removing a number ``delete_phonenumber``.
Validating an account and sending a test message need ``change_messagingaccount``.
Setting credentials additionally needs ``manage_credentials``, which the services check.
Accounts are never deleted here: PATCH ``is_active`` to ``false`` to deactivate one.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from channels_app import services
from channels_app.models import MessagingAccount, PhoneNumber
from channels_app.providers import credential_fields
from config.api import ApiErrorSerializer, ModelPermissions, validated

from .serializers import (
    AccountFilterSerializer,
    MessagingAccountCreateSerializer,
    MessagingAccountSerializer,
    MessagingAccountUpdateSerializer,
    PhoneNumberSerializer,
    PhoneNumberWriteSerializer,
    SendTestMessageResultSerializer,
    SendTestMessageSerializer,
    ValidationResultSerializer,
)

CHANGE_ACCOUNT = "channels_app.change_messagingaccount"

_ERROR_TEXT = {
    400: _("The input was refused; `field` names the input at fault."),
    401: _("No valid token or session."),
    403: _("The user lacks the permission this request needs."),
    404: _("No such account or number."),
    409: _("The number is still referenced by stored messages."),
    502: _("The provider refused the message; `detail` carries its answer."),
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ApiErrorSerializer, description=_ERROR_TEXT[code]) for code in codes}






def _credentials(data: dict[str, Any]) -> dict[str, str]:
    return {f: data[f] for f in credential_fields() if data.get(f)}


@extend_schema(tags=["accounts"])
@extend_schema_view(
    list=extend_schema(
        summary=_("List messaging accounts"),
        parameters=[AccountFilterSerializer],
        responses={200: MessagingAccountSerializer(many=True), **errors(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary=_("Get a messaging account"), responses={200: MessagingAccountSerializer, **errors(401, 403, 404)}
    ),
)
class MessagingAccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """SMS and WhatsApp accounts with their provider credentials (write-only) and numbers."""

    queryset = MessagingAccount.objects.prefetch_related("numbers")
    serializer_class = MessagingAccountSerializer
    permission_classes = [ModelPermissions]
    lookup_value_converter = "int"
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_permissions = {"validate": [CHANGE_ACCOUNT], "test_message": [CHANGE_ACCOUNT]}

    def filter_queryset(self, queryset):
        if self.action != "list":
            return queryset
        filters = validated(AccountFilterSerializer(data=self.request.query_params.dict()))
        return queryset.filter(**filters)

    def _render(self, account: MessagingAccount, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = MessagingAccount.objects.prefetch_related("numbers").get(pk=account.pk)
        return Response(MessagingAccountSerializer(fresh, context=self.get_serializer_context()).data,
                        status=status_code)

    @extend_schema(
        summary=_("Create a messaging account"),
        description=_("Creates the account with its credentials and numbers, all or nothing. Setting credentials needs "
                      "the 'Can set or change provider credentials' permission."),
        request=MessagingAccountCreateSerializer,
        responses={201: MessagingAccountSerializer, **errors(400, 401, 403)},
    )
    def create(self, request: Request) -> Response:
        data = validated(MessagingAccountCreateSerializer(data=request.data))
        account = services.account_create(
            name=data["name"], channel=data["channel"], provider=data["provider"],
            credentials=_credentials(data), is_active=data["is_active"], user=request.user,
            numbers=[services.NumberSpec(**number) for number in data.get("numbers", [])],
        )
        return self._render(account, status.HTTP_201_CREATED)

    @extend_schema(
        summary=_("Rename, (de)activate or change credentials"),
        description=_("Send only what changes. Credentials may be sent one at a time; changing them resets the "
                      "validation state and needs the 'Can set or change provider credentials' permission."),
        request=MessagingAccountUpdateSerializer,
        responses={200: MessagingAccountSerializer, **errors(400, 401, 403, 404)},
    )
    def partial_update(self, request: Request, pk: int | None = None) -> Response:
        account = self.get_object()
        data = validated(MessagingAccountUpdateSerializer(data=request.data))
        services.account_update(
            account=account, user=request.user, name=data.get("name"), is_active=data.get("is_active"),
            credentials=_credentials(data),
        )
        return self._render(account)

    @extend_schema(
        summary=_("Check the credentials with the provider"),
        description=_("Asks the provider whether the credentials are good, without sending a message, and records the "
                      "answer on the account. Answers 200 whatever the outcome; `valid` and `validation_status` tell "
                      "it."),
        request=None,
        operation_id="v1_accounts_validate",
        responses={200: ValidationResultSerializer, **errors(401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def validate(self, request: Request, pk: int | None = None) -> Response:
        account = self.get_object()
        result = services.account_validate(account=account)
        return Response(ValidationResultSerializer({
            "account": account.pk, "valid": result.valid, "validation_status": account.validation_status,
            "validation_code": account.validation_code, "validation_message": account.validation_message_shown,
            "validated_at": account.validated_at,
        }).data)

    @extend_schema(
        summary=_("Send a test message now"),
        description=_("Sends one message right away (not queued, not retried) through the provider to check the "
                      "account end to end. It obeys every rule a reply obeys (length, consent, the WhatsApp 24-hour "
                      "window, attachments) and is stored as a test message."),
        request=SendTestMessageSerializer,
        operation_id="v1_accounts_test_message",
        responses={200: SendTestMessageResultSerializer, **errors(400, 401, 403, 404, 409, 502)},
    )
    @action(detail=True, methods=["post"], url_path="test-message")
    def test_message(self, request: Request, pk: int | None = None) -> Response:
        account = self.get_object()
        data = validated(SendTestMessageSerializer(data=request.data))
        message = services.account_send_test_message(
            account=account, to=data["to"], text=data["text"], from_number=data.get("from_number") or None,
            media_urls=data["media_urls"],
        )
        return Response(SendTestMessageResultSerializer(
            {"message_id": message.pk, "provider_message_id": message.provider_message_id, "status": message.status}
        ).data)


@extend_schema(
    tags=["numbers"],
    parameters=[OpenApiParameter("account_pk", OpenApiTypes.INT, OpenApiParameter.PATH,
                                 description=_("The account's id."))],
)
@extend_schema_view(
    list=extend_schema(summary=_("List an account's numbers"),
                       responses={200: PhoneNumberSerializer(many=True), **errors(401, 403, 404)}),
    retrieve=extend_schema(summary=_("Get a number"), responses={200: PhoneNumberSerializer, **errors(401, 403, 404)}),
)
class PhoneNumberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The numbers an account sends from and receives on."""

    queryset = PhoneNumber.objects.all()
    serializer_class = PhoneNumberSerializer
    permission_classes = [ModelPermissions]

    @cached_property
    def account(self) -> MessagingAccount:
        return get_object_or_404(MessagingAccount, pk=self.kwargs["account_pk"])

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PhoneNumber.objects.none()
        return PhoneNumber.objects.filter(account_id=self.kwargs["account_pk"])

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.account  # noqa: B018 - answers 404 for an unknown account rather than an empty list
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary=_("Add a number to an account"),
        request=PhoneNumberWriteSerializer,
        responses={201: PhoneNumberSerializer, **errors(400, 401, 403, 404)},
    )
    def create(self, request: Request, account_pk: int) -> Response:
        data = validated(PhoneNumberWriteSerializer(data=request.data))
        phone = services.number_add(account=self.account, **data)
        return Response(PhoneNumberSerializer(phone).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary=_("Change a number"),
        request=PhoneNumberWriteSerializer,
        responses={200: PhoneNumberSerializer, **errors(400, 401, 403, 404)},
    )
    def partial_update(self, request: Request, account_pk: int, pk: int) -> Response:
        phone = self.get_object()
        data = validated(PhoneNumberWriteSerializer(data=request.data, partial=True))
        phone = services.number_update(phone=phone, **data)
        return Response(PhoneNumberSerializer(phone).data)

    @extend_schema(summary=_("Remove a number"), responses={204: None, **errors(401, 403, 404, 409)})
    def destroy(self, request: Request, account_pk: int, pk: int) -> Response:
        services.number_delete(phone=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
