from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    WORKER = "worker", _("Celery worker")
    BEAT = "beat", _("Celery beat")


class Heartbeat(models.Model):
    """The last sign of life of one worker or beat process."""

    role = models.CharField(max_length=16, choices=Role.choices)
    node = models.CharField(max_length=255, help_text=_("The worker's node name (worker@host), or beat@host."))
    pid = models.PositiveIntegerField()
    detail = models.CharField(max_length=255, blank=True, default="", help_text=_("A worker's queues."))
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["role", "node"], name="heartbeats_one_per_node")]

    def __str__(self) -> str:
        return f"{self.role} {self.node} (pid {self.pid}) seen {self.seen_at:%Y-%m-%d %H:%M:%S}"
