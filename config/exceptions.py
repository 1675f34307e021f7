"""The project's one error type for refused use cases, and the API handler that renders it."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ServiceError(Exception):
    """A use case refused: ``code`` names the rule, ``message`` says what is wrong.

    ``field`` names the input at fault, when there is one. ``http_status`` is what the
    API answers with.
    """

    http_status = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, *, code: str = "invalid", field: str | None = None,
                 http_status: int | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.extra = extra or {}
        if http_status is not None:
            self.http_status = http_status

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"error": self.code, "detail": self.message}
        if self.field:
            data["field"] = self.field
        data.update(self.extra)
        return data


class ConflictError(ServiceError):
    http_status = status.HTTP_409_CONFLICT


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        return Response(exc.as_dict(), status=exc.http_status)
    return exception_handler(exc, context)
