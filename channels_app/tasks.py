from celery import shared_task

from . import services


@shared_task
def channel_log_trim() -> int:
    return services.channel_log_trim()
