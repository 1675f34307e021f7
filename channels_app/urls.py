"""Webhook URLs, one set per configured provider, built from the routes its module declares:
``<url_prefix>/<token>/<route path>``, named ``webhook-<provider>-<route>``."""

from django.urls import path

from .providers import provider_classes
from .webhooks import WebhookView

urlpatterns = [
    path(f"{cls.url_prefix or name}/<str:token>/{route.path}",
         WebhookView.as_view(provider=name, route=route.name), name=f"webhook-{name}-{route.name}")
    for name, cls in provider_classes().items()
    for route in cls.webhook_routes
]
