"""The Celery application.

Workers: ``celery -A config worker`` consumes every queue (``settings.CELERY_TASK_QUEUES`` declares
"default", "replies" and "bulk"); ``-Q`` gives a worker some of them only, e.g. one worker for
``-Q bulk`` beside one for ``-Q default,replies``. Beat: ``celery -A config beat``.
"""

import os

from celery import Celery, signals
from kombu.transport import TRANSPORT_ALIASES

from config import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# The embedded broker (filesystem://) is kombu's filesystem transport with safe writes and reads
# (config/broker.py): a worker never takes a half-written queue file.
TRANSPORT_ALIASES["filesystem"] = "config.broker:Transport"

app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
logs.connect_celery()  # a task's log lines carry the request id of the request that queued it
# Workers write a heartbeat while they consume (/readyz); beat's does through its scheduler (settings).
app.steps["consumer"].add("config.heartbeats.celery:WorkerHeartbeat")


@signals.worker_init.connect
def _serve_worker_metrics(**_):
    """WORKER_METRICS_PORT: this worker's own /metrics (for workers on hosts without a web server)."""
    from django.conf import settings

    if settings.WORKER_METRICS_PORT:
        from config.metrics import serve_worker_metrics

        serve_worker_metrics(settings.WORKER_METRICS_PORT)
