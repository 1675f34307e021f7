"""A Django WSGI handler with its own middleware stack, and the dispatcher that sends provider
webhooks to one."""

from __future__ import annotations

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

from config.logs import context_end, context_start, request_id_from

WEBHOOK_PREFIX = "/webhooks/"


class MiddlewareStackHandler(WSGIHandler):
    """Django's WSGI handler, built from ``middleware`` instead of ``settings.MIDDLEWARE``.

    Request handling is Django's own (URL resolution, request signals, database connection
    management, exception responses); only the middleware chain differs.
    """

    def __init__(self, middleware: list[str]) -> None:
        self.middleware = list(middleware)
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        # Django builds the chain from settings.MIDDLEWARE; show it this handler's list while it
        # does. This runs once, when the WSGI module is imported, before any request is served.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = self.middleware
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


def path_dispatcher(application):
    """``application`` for every path but ``/webhooks/…``, which a handler with
    ``settings.WEBHOOK_MIDDLEWARE`` serves.

    Each request gets an id for its log lines (and the tasks it queues), sent back as ``X-Request-ID``.
    """
    webhooks = MiddlewareStackHandler(settings.WEBHOOK_MIDDLEWARE)

    def dispatch(environ, start_response):
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        token = context_start(request_id=request_id)

        def respond(status, headers, exc_info=None):
            return start_response(status, [*headers, ("X-Request-ID", request_id)], exc_info)

        try:
            if environ.get("PATH_INFO", "").startswith(WEBHOOK_PREFIX):
                return webhooks(environ, respond)
            return application(environ, respond)
        finally:
            context_end(token)

    return dispatch
