"""The Celery app for ``bench.broker``: the hub's app with one probe task, on the broker variant the benchmark
names in ``BENCH_BROKER_VARIANT``:

- ``filesystem``: the hub's embedded broker (config/broker.py);
- ``stock-filesystem``: kombu's own filesystem transport, as before;
- ``sqla``: kombu's SQLAlchemy transport on a SQLite file, polling every 0.1 s like the filesystem broker.
"""

from __future__ import annotations

import os

from celery import shared_task
from kombu.transport import TRANSPORT_ALIASES

from config.celery import app

VARIANT = os.environ.get("BENCH_BROKER_VARIANT", "filesystem")
if VARIANT == "stock-filesystem":
    TRANSPORT_ALIASES["filesystem"] = "kombu.transport.filesystem:Transport"
elif VARIANT == "sqla":
    from kombu.transport import sqlalchemy

    sqlalchemy.Transport.polling_interval = 0.1  # its transport options go to create_engine(), so patch the class
    app.conf.broker_transport_options = {}

__all__ = ("app",)


@shared_task(name="bench.broker_probe", acks_late=True)
def broker_probe(number: int, path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{number} {os.times().elapsed:.3f}\n".encode())
    finally:
        os.close(fd)
