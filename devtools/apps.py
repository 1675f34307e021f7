from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Development tools beside the product apps: the provider emulator, the demo and the all-in-one runner."""

    name = "devtools"
    verbose_name = "Development tools"
