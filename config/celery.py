"""The Celery application.

Workers: ``celery -A config worker -Q default,replies,bulk`` (every queue in
``settings.CELERY_TASK_QUEUES_ALL``; a worker without ``-Q`` consumes "default" only);
beat: ``celery -A config beat``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
