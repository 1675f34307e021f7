"""Beat's entry point for the roll-ups."""

from celery import shared_task

from . import services


@shared_task
def reports_rollup_task() -> int:
    return len(services.reports_rollup_recent())
