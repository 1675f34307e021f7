"""Many rows in one go: PostgreSQL's COPY where it is available, ``bulk_create`` elsewhere.

For the hub's hottest bulk inserts (the messages of a send chunk, their timeline activities, the
channel-log rows of a chunk's provider calls). ``bulk_create`` builds and parses one SQL statement
with a placeholder per value, in Python; COPY streams the rows, encoded by psycopg's C code. Rows
that need their ids get them from the table's sequence first, in one query.

As with ``bulk_create``: no ``save()`` and no model signals; the objects get their primary keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, router
from django.db.models import Model


def bulk_insert(model: type[Model], objs: Sequence[Model], *, ids: bool = False) -> None:
    """INSERT ``objs`` (new ``model`` instances). With ``ids``, each object's ``pk`` is set."""
    if not objs:
        return
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        model._default_manager.using(alias).bulk_create(objs)
        return
    meta = model._meta
    quote = connection.ops.quote_name
    if ids:
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                           [meta.db_table, meta.pk.column, len(objs)])
            for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
                obj.pk = pk
    fields = [f for f in meta.concrete_fields if ids or not f.primary_key]
    columns = ", ".join(quote(f.column) for f in fields)
    with connection.cursor() as cursor:
        # Identifiers from the model's metadata, quoted; the rows are data, never SQL.
        with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row([f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields])
    for obj in objs:
        obj._state.adding, obj._state.db = False, alias
