from django.urls import path

from . import webhooks

urlpatterns = [
    path("telesign/<str:token>/", webhooks.TeleSignCallbackView.as_view(), name="webhook-telesign"),
    path("twilio/<str:token>/inbound/", webhooks.TwilioInboundView.as_view(), name="webhook-twilio-inbound"),
    path("twilio/<str:token>/status/", webhooks.TwilioStatusView.as_view(), name="webhook-twilio-status"),
    path("sandbox/<str:token>/inbound/", webhooks.SandboxInboundView.as_view(), name="webhook-sandbox-inbound"),
    path("sandbox/<str:token>/status/", webhooks.SandboxStatusView.as_view(), name="webhook-sandbox-status"),
]
