"""API plumbing every app's views share: the error shape, permissions that also guard reads, and
validated input or one ServiceError."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import BasePermission, DjangoModelPermissions
from rest_framework.request import Request

from config.exceptions import validation_error


class ApiErrorSerializer(serializers.Serializer):
    """Every 4xx/5xx answer carries ``detail``; refused requests also say which rule and which field."""

    error = serializers.CharField(
        required=False, help_text=_("Machine-readable code of the refused rule, e.g. number_format or required.")
    )
    detail = serializers.CharField(help_text=_("What is wrong, in words for people."))
    field = serializers.CharField(
        required=False, help_text=_("The input at fault, e.g. api_key, channel or numbers[0].number.")
    )
    errors = serializers.DictField(
        required=False, child=serializers.JSONField(),
        help_text=_("For malformed input: every field at fault with its messages."),
    )


class ModelPermissions(DjangoModelPermissions):
    """DjangoModelPermissions that also guard reads, with per-action overrides.

    A view may map an action name to the permissions it needs in ``action_permissions``.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not hasattr(view, request.method.lower()):
            return True  # a method the view does not offer: the view answers 405
        needed = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if needed is None:
            return super().has_permission(request, view)
        return user.has_perms(needed)


class Pagination(LimitOffsetPagination):
    """``limit`` and ``offset``, with ``limit`` capped at ``API_MAX_PAGE_SIZE`` (a larger one, up to any number
    of digits, reads as the cap: an SQL LIMIT past a bigint is not an error the client should see)."""

    @property
    def max_limit(self) -> int:
        return settings.API_MAX_PAGE_SIZE


class SchemaPermission(BasePermission):
    """The API schema and its docs: open in debug mode, for signed-in users (session or token) otherwise."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(settings.DEBUG or (request.user and request.user.is_authenticated))


def validated(serializer: serializers.Serializer) -> dict[str, Any]:
    """The serializer's validated data, or a ServiceError naming the first field at fault."""
    if serializer.is_valid():
        return serializer.validated_data
    raise validation_error(serializer.errors)
