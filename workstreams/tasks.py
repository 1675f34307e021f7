"""Thin Celery entry points for the work layer."""

from celery import shared_task

from .services import autoclose, bots, distribution


@shared_task
def assignment_cycle_task() -> int:
    distribution.assignment_cycle_started()
    return distribution.assignment_cycle()


@shared_task(acks_late=True)
def bot_handle_task(conversation_id: int, message_id: int) -> str:
    return bots.bot_handle(conversation_id=conversation_id, message_id=message_id)


@shared_task
def conversations_auto_close_task() -> int:
    return autoclose.conversations_auto_close()
