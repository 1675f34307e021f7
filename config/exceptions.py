"""The project's one error type for refused use cases, and the API handler that renders it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from rest_framework import status
from rest_framework.exceptions import ValidationError
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


def flatten_errors(errs: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(field path, first message) pairs of a serializer's errors, e.g. ``numbers[0].number``."""
    if isinstance(errs, dict):
        for key, value in errs.items():
            if isinstance(key, int):  # list serializers key their items' errors by index
                yield from flatten_errors(value, f"{prefix}[{key}]")
                continue
            name = "" if key == "non_field_errors" else key
            yield from flatten_errors(value, f"{prefix}.{name}" if prefix and name else prefix or name)
    elif isinstance(errs, list):
        if errs and all(isinstance(item, str) for item in errs):
            yield prefix, errs[0]
        else:
            for index, item in enumerate(errs):
                if item:
                    yield from flatten_errors(item, f"{prefix}[{index}]")
    elif errs:
        yield prefix, errs


def validation_error(errors: Any) -> ServiceError:
    """One ServiceError naming the first field at fault, carrying every error under ``errors``."""
    field, message = next(flatten_errors(errors), ("", "Invalid input."))
    return ServiceError(f"{field}: {message}" if field else str(message),
                        code=getattr(message, "code", None) or "invalid", field=field or None,
                        extra={"errors": errors})


logger = logging.getLogger(__name__)

#: Seconds a client is asked to wait when a backing service (Redis, the broker) is unreachable.
UNAVAILABLE_RETRY_AFTER = 30


def _unavailable(exc: Exception) -> bool:
    """``exc`` says a backing service is unreachable (Redis for the rate limits, the Celery broker)."""
    kinds: list[type] = []
    try:
        import redis.exceptions

        kinds += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    try:
        import kombu.exceptions

        kinds.append(kombu.exceptions.OperationalError)
    except ImportError:  # pragma: no cover - kombu comes with Celery
        pass
    return isinstance(exc, tuple(kinds))


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every refusal has one shape: ``{"error": rule, "detail": what is wrong, "field": input at fault}``.

    A backing service that cannot be reached is a JSON 503 with ``Retry-After``, not a 500 page."""
    if _unavailable(exc):
        logger.warning("API request refused, a backing service is unreachable: %s", exc)
        return Response({"error": "service_unavailable",
                         "detail": "The hub cannot reach its rate-limit store or task broker right now; try "
                                   f"again in {UNAVAILABLE_RETRY_AFTER} seconds."},
                        status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)})
    if isinstance(exc, ValidationError):
        exc = validation_error(exc.detail)
    if isinstance(exc, ServiceError):
        return Response(exc.as_dict(), status=exc.http_status)
    response = exception_handler(exc, context)
    # DRF's own refusals (401, 403, 404, 405, 429 …) get the rule's name too: {"error": "throttled", "detail": …}.
    if response is not None and isinstance(response.data, dict) and isinstance(response.data.get("detail"), str):
        code = getattr(response.data["detail"], "code", None) or getattr(exc, "default_code", None) or "not_found"
        response.data = {"error": str(code), **response.data}
    return response
