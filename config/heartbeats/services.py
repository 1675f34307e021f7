"""Writing and reading heartbeats."""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from config.metrics import gauge

from .models import Heartbeat, Role

logger = logging.getLogger(__name__)

#: Heartbeats not written for this long are deleted (a node that is gone for good).
FORGET_AFTER = timedelta(days=1)


def heartbeat_write(*, role: str, node: str, detail: str = "", started_at=None) -> bool:
    """Record that ``node`` is alive now; False (logged) when the database cannot be reached."""
    now = timezone.now()
    try:
        close_old_connections()
        updated = Heartbeat.objects.filter(role=role, node=node).update(pid=os.getpid(), detail=detail[:255],
                                                                       seen_at=now)
        if not updated:
            Heartbeat.objects.update_or_create(role=role, node=node, defaults={
                "pid": os.getpid(), "detail": detail[:255], "started_at": started_at or now, "seen_at": now})
        if role == Role.BEAT:
            Heartbeat.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()
        return True
    except Exception as exc:  # never let the heartbeat stop the process it reports on
        logger.warning("could not write the %s heartbeat of %s: %s: %s", role, node, exc.__class__.__name__, exc)
        connection.close()
        return False


def beat_node() -> str:
    return f"beat@{socket.gethostname()}"


def heartbeats_fresh(role: str) -> list[Heartbeat]:
    cutoff = timezone.now() - timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS)
    return list(Heartbeat.objects.filter(role=role, seen_at__gte=cutoff).order_by("node"))


def heartbeat_check(role: str) -> tuple[bool, str]:
    """Whether a process of this role was seen recently, and a sentence saying so."""
    fresh = heartbeats_fresh(role)
    stale = settings.HEARTBEAT_STALE_SECONDS
    if not fresh:
        last = Heartbeat.objects.filter(role=role).order_by("-seen_at").first()
        if last is None:
            return False, f"no {role} has ever been seen"
        age = (timezone.now() - last.seen_at).total_seconds()
        return False, f"no {role} seen in the last {stale:g} s (last: {last.node}, {age:.0f} s ago)"
    if role == Role.BEAT and len(fresh) > 1:
        return True, f"ok, but {len(fresh)} beats are running ({', '.join(h.node for h in fresh)}); run one"
    if role == Role.WORKER:
        return True, f"ok ({len(fresh)} seen: {', '.join(h.node for h in fresh)})"
    return True, "ok"


def collect():
    """Metrics: seconds since each worker and beat was seen (nodes seen in the last day)."""
    age = gauge("hub_heartbeat_age_seconds", "Seconds since a worker or beat process last wrote its heartbeat.",
                ["role", "node"])
    now = timezone.now()
    for beat in Heartbeat.objects.order_by("role", "node"):
        age.add_metric([beat.role, beat.node], (now - beat.seen_at).total_seconds())
    yield age
