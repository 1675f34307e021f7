"""Every documented way of starting a worker consumes every queue the hub sends tasks to."""

import re
from pathlib import Path

from django.conf import settings

import config.celery

ROOT = Path(__file__).resolve().parents[2]
QUEUES = set(settings.CELERY_TASK_QUEUES_ALL)


def _queues(command: str) -> set[str]:
    match = re.search(r"(?:-Q|--queues)[ =]([\w,]+)", command)
    assert match, f"no -Q in {command!r}: the worker would consume the 'default' queue only"
    return set(match.group(1).split(","))


def test_make_worker_consumes_every_queue():
    recipe = re.search(r"^worker:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1)
    assert "celery -A config worker" in recipe
    assert _queues(recipe) == QUEUES


def test_the_celery_module_and_the_readme_say_the_same():
    worker_lines = [line for line in (ROOT / "README.md").read_text().splitlines()
                    if line.startswith("celery -A config worker")]
    assert worker_lines
    for line in worker_lines:
        assert _queues(line) == QUEUES
    docstring = config.celery.__doc__
    assert _queues(docstring[docstring.index("celery -A config worker"):]) == QUEUES
