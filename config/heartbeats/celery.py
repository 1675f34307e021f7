"""The pieces that write heartbeats from Celery processes: a worker consumer step and beat's scheduler."""

from __future__ import annotations

import time

from celery import bootsteps
from django.conf import settings
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler

from .models import Role
from .services import beat_node, heartbeat_write


class WorkerHeartbeat(bootsteps.StartStopStep):
    """While the worker's consumer runs (it stops while the broker is away), a heartbeat every
    HEARTBEAT_SECONDS from the worker's main process."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, c, **kwargs):
        super().__init__(c, **kwargs)
        self.timer_ref = None
        self.started_at = timezone.now()

    def start(self, c):
        self.beat(c)
        self.timer_ref = c.timer.call_repeatedly(settings.HEARTBEAT_SECONDS, self.beat, (c,), priority=10)

    def stop(self, c):
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None

    shutdown = stop

    def beat(self, c):
        queues = ",".join(sorted(q.name for q in c.task_consumer.queues)) if c.task_consumer else ""
        heartbeat_write(role=Role.WORKER, node=c.hostname, detail=queues, started_at=self.started_at)


class HeartbeatScheduler(DatabaseScheduler):
    """django-celery-beat's scheduler, writing beat's heartbeat as it ticks."""

    def __init__(self, *args, **kwargs):
        self._last_heartbeat = 0.0
        self._started_at = timezone.now()
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        now = time.monotonic()
        if now - self._last_heartbeat >= settings.HEARTBEAT_SECONDS:
            self._last_heartbeat = now
            heartbeat_write(role=Role.BEAT, node=beat_node(), started_at=self._started_at)
        interval = super().tick(*args, **kwargs)
        return min(interval, settings.HEARTBEAT_SECONDS)
