"""A task for the broker stress test: it appends its number to a file (one short O_APPEND write, whole
even with several worker processes writing at once). Loaded into the worker with ``--include``."""

import os

from celery import shared_task


@shared_task(name="tests.broker_probe", acks_late=True)
def broker_probe(number: int, path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{number}\n".encode())
    finally:
        os.close(fd)


def publish(first: int, count: int, path: str, queues: tuple[str, ...]) -> None:
    """Send tasks ``first`` … ``first + count - 1`` over the hub's queues (run in a separate process)."""
    import django

    django.setup()
    from config.celery import app

    with app.producer_or_acquire() as producer:
        for number in range(first, first + count):
            app.send_task("tests.broker_probe", args=[number, path], queue=queues[number % len(queues)],
                          producer=producer)
