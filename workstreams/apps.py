from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkstreamsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "workstreams"
    verbose_name = _("Workstreams")

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed

        from .models import Queue

        def members_changed(sender, action, **kwargs):
            # An agent added to a queue can take its waiting work.
            if action == "post_add":
                from .services.distribution import assignment_cycle_enqueue

                assignment_cycle_enqueue()

        m2m_changed.connect(members_changed, sender=Queue.members.through, dispatch_uid="queue-members-cycle")
