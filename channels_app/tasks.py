"""Thin Celery entry points: load ids, call services. State lives in rows, so a lost task is found
again by the sweeps below."""

from celery import shared_task

from . import services
from .services import delivery, inbound, inbound_batch, media


@shared_task
def channel_log_trim() -> int:
    return services.channel_log_trim()


@shared_task(acks_late=True)
def inbound_event_process_task(event_id: int) -> str:
    # The event, and other pending inbound events of its account with it.
    return inbound_batch.inbound_events_process_batch(event_id=event_id)


@shared_task(acks_late=True)
def inbound_drain_task(account_id: int, slot: int, final: bool = False) -> int:
    return inbound.inbound_drain(account_id=account_id, slot=slot, final=final)


@shared_task
def inbound_events_requeue() -> int:
    return inbound.inbound_events_requeue()


@shared_task(acks_late=True)
def message_send_task(message_id: int) -> str:
    return delivery.message_send(message_id=message_id)


@shared_task
def messages_requeue_stuck() -> int:
    return delivery.messages_requeue_stuck()


@shared_task(acks_late=True)
def attachment_download_task(attachment_id: int) -> str:
    return media.attachment_download(attachment_id=attachment_id)
