from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    WORKER = "worker", _("Celery worker")
    BEAT = "beat", _("Celery beat")


class Heartbeat(models.Model):
    """The last sign of life of one worker or beat process."""

    role = models.CharField(max_length=16, choices=Role.choices, verbose_name=_("role"))
    node = models.CharField(max_length=255, help_text=_("The worker's node name (worker@host), or beat@host."),
                            verbose_name=_("node"))
    pid = models.PositiveIntegerField(verbose_name=_("pid"))
    detail = models.CharField(max_length=255, blank=True, default="", help_text=_("A worker's queues."),
                              verbose_name=_("detail"))
    started_at = models.DateTimeField(verbose_name=_("started at"))
    seen_at = models.DateTimeField(db_index=True, verbose_name=_("seen at"))

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")
        constraints = [models.UniqueConstraint(fields=["role", "node"], name="heartbeats_one_per_node")]

    def __str__(self) -> str:
        return f"{self.role} {self.node} (pid {self.pid}) seen {self.seen_at:%Y-%m-%d %H:%M:%S}"
