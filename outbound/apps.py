from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutboundConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "outbound"
    verbose_name = _("Outbound messaging")

    def ready(self) -> None:
        from workstreams.signals import case_created

        from .services.triggers import case_created_receiver

        case_created.connect(case_created_receiver, dispatch_uid="outbound-case-created")
