"""Form plumbing the admin forms of every app share."""

from __future__ import annotations

from collections.abc import Iterable

from config.exceptions import ServiceError
from config.redaction import redact


class ServiceErrorMixin:
    """Shows a ServiceError on the field it names, or above the form."""

    def add_service_error(self, exc: ServiceError, *, secrets: Iterable[str] = ()) -> None:
        """``secrets`` are blanked out of the message (a provider's answer may quote one)."""
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, redact(exc.message, secrets))
