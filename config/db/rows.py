"""Writing many rows' own values in one UPDATE, cheaply.

Django's ``bulk_update`` (and ``Case(When(...))`` built by hand) resolves one expression object per
row and field, which costs about as much as the whole rest of a send. This builds the same
``UPDATE … SET col = CASE id WHEN … END`` statement directly, with each value prepared by its
model field, for PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models


def rows_update(model: type[models.Model], updates: dict[int, dict[str, Any]], *,
                only_if: dict[str, Any] | None = None) -> int:
    """Give each row (by primary key) its own field values; ``only_if`` adds conditions: a field equals a
    value, or is one of a tuple, list or set of values.

    A field with the same value for every row is set plainly. Returns the number of rows changed.
    """
    if not updates:
        return 0
    names = sorted({name for fields in updates.values() for name in fields})
    varying = [n for n in names if len({repr(fields.get(n, _MISSING)) for fields in updates.values()}) > 1]
    per_statement = len(updates)
    if connection.features.max_query_params:
        conditions = sum(len(v) if isinstance(v, (tuple, list, set, frozenset)) else 1
                         for v in (only_if or {}).values())
        per_statement = max(1, connection.features.max_query_params // (2 * len(varying) + 2 + conditions))
    pks = list(updates)
    changed = 0
    for start in range(0, len(pks), per_statement):
        batch = pks[start:start + per_statement]
        changed += _update(model, {pk: updates[pk] for pk in batch}, names, varying, only_if or {})
    return changed


class _Missing:
    pass


_MISSING = _Missing()


def _prep(model: type[models.Model], name: str, value: Any) -> tuple[str, Any]:
    field = model._meta.get_field(name)
    return field.column, field.get_db_prep_save(value, connection)


def _update(model, updates, names, varying, only_if) -> int:
    quote = connection.ops.quote_name
    pk_column = quote(model._meta.pk.column)
    assignments, params = [], []
    for name in names:
        column = model._meta.get_field(name).column
        if name in varying:
            whens = []
            for pk, fields in updates.items():
                if name in fields:
                    whens.append("WHEN %s THEN %s")
                    params += [pk, _prep(model, name, fields[name])[1]]
            assignments.append(f"{quote(column)} = CASE {pk_column} {' '.join(whens)} ELSE {quote(column)} END")
        else:
            value = next(fields[name] for fields in updates.values() if name in fields)
            assignments.append(f"{quote(column)} = %s")
            params.append(_prep(model, name, value)[1])
    conditions = [f"{pk_column} IN ({', '.join(['%s'] * len(updates))})"]
    params += list(updates)
    for name, value in only_if.items():
        if isinstance(value, (tuple, list, set, frozenset)):
            values = sorted(value)
            column = model._meta.get_field(name).column
            conditions.append(f"{quote(column)} IN ({', '.join(['%s'] * len(values))})")
            params += [_prep(model, name, v)[1] for v in values]
        else:
            column, prepared = _prep(model, name, value)
            conditions.append(f"{quote(column)} = %s")
            params.append(prepared)
    # Only quoted names from the model's metadata are formatted in; every value is a parameter.
    sql = f"UPDATE {quote(model._meta.db_table)} SET {', '.join(assignments)} WHERE {' AND '.join(conditions)}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
