"""Heartbeats (config/heartbeats): beat's scheduler writes one as it ticks, a worker's consumer step while it
consumes; a database that cannot be reached is logged, never fatal to the process reporting."""

import logging
from types import SimpleNamespace

import pytest
from django.db import DatabaseError

from config.heartbeats import services
from config.heartbeats.celery import WorkerHeartbeat
from config.heartbeats.models import Heartbeat


@pytest.fixture(autouse=True)
def _keep_the_test_connection(monkeypatch):
    # A long-running worker or beat drops stale database connections before each heartbeat; here that
    # connection is the test's own transaction.
    monkeypatch.setattr(services, "close_old_connections", lambda: None)
    monkeypatch.setattr(services.connection, "close", lambda: None)


class FakeTimer:
    def __init__(self):
        self.calls = []

    def call_repeatedly(self, seconds, fun, args, priority=0):
        self.calls.append((seconds, fun, args))
        return SimpleNamespace(cancel=lambda: self.calls.clear())


def test_a_consuming_worker_writes_its_heartbeat_and_stops_when_its_consumer_stops(db, settings):
    settings.HEARTBEAT_SECONDS = 7
    consumer = SimpleNamespace(hostname="worker-1@host", timer=FakeTimer(),
                               task_consumer=SimpleNamespace(queues=[SimpleNamespace(name=n)
                                                                     for n in ("replies", "bulk")]))
    step = WorkerHeartbeat(consumer)
    step.start(consumer)
    beat = Heartbeat.objects.get(role="worker")
    assert (beat.node, beat.detail) == ("worker-1@host", "bulk,replies")
    assert consumer.timer.calls[0][0] == 7  # then every HEARTBEAT_SECONDS
    first = beat.seen_at
    consumer.timer.calls[0][1](*consumer.timer.calls[0][2])
    assert Heartbeat.objects.get(role="worker").seen_at > first
    step.stop(consumer)  # the broker went away: no more heartbeats until it is back
    assert consumer.timer.calls == []


def test_beats_scheduler_writes_a_heartbeat_as_it_ticks(db, settings):
    from config.celery import app
    from config.heartbeats.celery import HeartbeatScheduler

    scheduler = HeartbeatScheduler(app=app, lazy=True)
    scheduler.tick = HeartbeatScheduler.tick.__get__(scheduler)
    from django_celery_beat.schedulers import DatabaseScheduler

    original = DatabaseScheduler.tick
    DatabaseScheduler.tick = lambda self, *a, **k: 300.0
    try:
        interval = scheduler.tick()
    finally:
        DatabaseScheduler.tick = original
    assert Heartbeat.objects.filter(role="beat", node=services.beat_node()).exists()
    assert interval == settings.HEARTBEAT_SECONDS  # it wakes at least that often


def test_an_unreachable_database_is_logged_not_raised(db, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(Heartbeat.objects, "filter", broken)
    with caplog.at_level(logging.WARNING, logger="config.heartbeats.services"):
        assert services.heartbeat_write(role="worker", node="w@h") is False
    assert "could not write the worker heartbeat of w@h: DatabaseError: connection refused" in caplog.text
