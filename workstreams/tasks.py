"""Thin Celery entry points for the work layer."""

from celery import shared_task

from .services import autoclose, bots, distribution, overflow


@shared_task
def assignment_cycle_task() -> int:
    """Time out due offers, apply the queues' overflow rules, then assign (or offer) what waits."""
    distribution.assignment_cycle_started()
    distribution.offers_expire_due()
    overflow.overflow_cycle()
    return distribution.assignment_cycle()


@shared_task(acks_late=True)
def bot_handle_task(conversation_id: int, message_id: int) -> str:
    return bots.bot_handle(conversation_id=conversation_id, message_id=message_id)


@shared_task
def conversations_auto_close_task() -> int:
    return autoclose.conversations_auto_close()
