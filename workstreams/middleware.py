"""An agent's preferred language (``AgentProfile.language``) for the pages they see.

The language of a page is, in this order: the one picked with the language switcher (Django's
``set_language`` cookie), the signed-in agent's profile language, the browser's ``Accept-Language``,
English. ``LocaleMiddleware`` has already applied the cookie or ``Accept-Language``; this middleware
runs after ``AuthenticationMiddleware`` and puts the profile's language in between: when there is no
valid switcher cookie and the signed-in user's profile names a language, that language is activated.
Only the user interface follows it: what customers receive is chosen by the conversation's language.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from workstreams.models import AgentProfile


def switcher_language(request: HttpRequest) -> str | None:
    """The language the switcher's cookie names, when it is one of ``LANGUAGES``."""
    value = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    if not value:
        return None
    try:
        return translation.get_supported_language_variant(value)
    except LookupError:
        return None


class AgentLanguageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if switcher_language(request) is None:
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                language = (AgentProfile.objects.filter(user_id=user.pk)
                            .values_list("language", flat=True).first())
                if language and language in dict(settings.LANGUAGES):
                    translation.activate(language)
                    request.LANGUAGE_CODE = language
        return self.get_response(request)
