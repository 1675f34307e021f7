from django.db import models


class Role(models.TextChoices):
    WORKER = "worker", "Celery worker"
    BEAT = "beat", "Celery beat"


class Heartbeat(models.Model):
    """The last sign of life of one worker or beat process."""

    role = models.CharField(max_length=16, choices=Role.choices)
    node = models.CharField(max_length=255, help_text="The worker's node name (worker@host), or beat@host.")
    pid = models.PositiveIntegerField()
    detail = models.CharField(max_length=255, blank=True, default="", help_text="A worker's queues.")
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["role", "node"], name="heartbeats_one_per_node")]

    def __str__(self) -> str:
        return f"{self.role} {self.node} (pid {self.pid}) seen {self.seen_at:%Y-%m-%d %H:%M:%S}"
