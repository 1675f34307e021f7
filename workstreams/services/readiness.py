"""Making a user ready to answer in the console: an agent profile (Available), membership of the default
queue, and — for the demo — a workstream for each of our numbers that has none."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from channels_app.models import PhoneNumber
from workstreams.models import AgentProfile, Presence, Queue, Workstream, WorkstreamNumber


def default_queue() -> Queue:
    queue = Queue.objects.filter(is_default=True).first()
    if queue is None:
        queue, _created = Queue.objects.get_or_create(name="Default queue", defaults={"is_default": True})
    return queue


@transaction.atomic
def agent_make_ready(*, user: Any, join_default_queue: bool = True) -> tuple[AgentProfile, bool]:
    """Give ``user`` an agent profile, Available (an existing profile is left as it is), and a place in the
    default queue; returns the profile and whether it was created."""
    profile, created = AgentProfile.objects.get_or_create(user=user, defaults={"presence": Presence.AVAILABLE})
    if join_default_queue:
        default_queue().members.add(user)
    return profile, created


@transaction.atomic
def workstreams_for_numbers(*, numbers: list[PhoneNumber]) -> list[Workstream]:
    """A push workstream for each number not in one yet, named after the number, routed to the default
    queue (its fallback); returns those created."""
    created = []
    for number in numbers:
        if WorkstreamNumber.objects.filter(phone_number=number).exists():
            continue
        name = f"{number.get_channel_display()} {number.number}"
        workstream, _new = Workstream.objects.get_or_create(name=name, defaults={"channel": number.channel})
        WorkstreamNumber.objects.create(workstream=workstream, phone_number=number)
        created.append(workstream)
    return created
