from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DevtoolsConfig(AppConfig):
    """Development tools beside the product apps: the provider emulator, the demo and the all-in-one runner."""

    name = "devtools"
    verbose_name = _("Development tools")
