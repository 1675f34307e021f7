from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HeartbeatsConfig(AppConfig):
    name = "config.heartbeats"
    label = "heartbeats"
    verbose_name = _("Process heartbeats")
    default_auto_field = "django.db.models.BigAutoField"
