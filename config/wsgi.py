"""WSGI entry point.

Provider webhooks (``/webhooks/``) go through a second Django handler whose middleware stack is
``WEBHOOK_MIDDLEWARE``: a provider's POST needs no session, user, flash messages, CSRF cookie or
clickjacking header, and skipping those middlewares is about a fifth of the hub's CPU per
webhook, its hottest path. Every other URL goes through the full ``MIDDLEWARE`` stack.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.wsgi import get_wsgi_application

from config.handlers import path_dispatcher

application = path_dispatcher(get_wsgi_application())
