"""Beat's entry point for retention."""

from celery import shared_task

from . import services


@shared_task
def retention_apply_task() -> dict[str, int]:
    return services.retention_apply()
