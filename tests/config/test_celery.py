"""Every documented way of starting a worker consumes every queue the hub sends tasks to."""

import re
from pathlib import Path

from django.conf import settings

import config.celery

ROOT = Path(__file__).resolve().parents[2]
QUEUES = set(settings.CELERY_TASK_QUEUES_ALL)


def _queues(command: str) -> set[str]:
    """The queues a ``celery worker`` command line consumes: its ``-Q``, or every declared queue."""
    match = re.search(r"(?:-Q|--queues)[ =]([\w,]+)", command)
    if match is None:
        return set(config.celery.app.amqp.queues.consume_from)
    return set(match.group(1).split(","))


def test_every_queue_a_task_is_sent_to_is_declared():
    declared = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert declared == QUEUES == {"default", "replies", "bulk"}


def test_a_worker_without_queues_consumes_every_queue():
    # What `celery -A config worker` (no -Q) listens to.
    assert set(config.celery.app.amqp.queues.consume_from) == QUEUES


def test_a_task_sent_to_a_queue_is_routed_to_that_declared_queue():
    from channels_app.tasks import message_send_task

    for name in QUEUES:
        queue = config.celery.app.amqp.queues[name]
        assert (queue.exchange.name, queue.routing_key) == (name, name)
    assert config.celery.app.amqp.router.route({"queue": "bulk"}, message_send_task.name)["queue"].name == "bulk"


def test_make_worker_consumes_every_queue():
    recipe = re.search(r"^worker:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1)
    assert "celery -A config worker" in recipe
    assert _queues(recipe) == QUEUES


def test_the_celery_module_and_the_readme_say_the_same():
    worker_lines = [line for line in (ROOT / "README.md").read_text().splitlines()
                    if line.startswith("celery -A config worker")]
    assert worker_lines
    for line in worker_lines:
        assert _queues(line.split("#")[0]) == QUEUES
    docstring = config.celery.__doc__
    assert "celery -A config worker``" in docstring  # the plain command, every queue
    assert "-Q bulk" in docstring and "-Q default,replies" in docstring  # how to split
