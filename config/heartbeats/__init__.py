"""Heartbeats: Celery workers and beat write one every HEARTBEAT_SECONDS, so ``/readyz`` and ``/metrics``
can tell whether work is being picked up and scheduled."""
