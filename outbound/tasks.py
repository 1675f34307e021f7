"""Thin Celery entry points on the "bulk" queue (the sweep runs on "default"): load ids, call services."""

from celery import shared_task

from .services import batches, schedules, sending


@shared_task(acks_late=True, queue="bulk")
def outbound_request_send_task(request_id: int) -> str:
    return sending.outbound_request_send(request_id=request_id)


@shared_task(acks_late=True, queue="bulk")
def outbound_batch_advance_task(batch_id: int) -> str:
    return batches.outbound_batch_advance(batch_id=batch_id)


@shared_task(acks_late=True, queue="bulk")
def outbound_schedule_run_task(schedule_id: int) -> str:
    return schedules.schedule_run(schedule_id=schedule_id)


@shared_task
def outbound_recover() -> dict[str, int]:
    return sending.outbound_recover()
