"""Django's PostgreSQL compilers, with bulk inserts as ``INSERT … VALUES (…), (…)``.

Django 5.2 inserts several rows through ``UNNEST`` of one array per column. psycopg encodes such
text arrays in Python, quoting and escaping element by element; for the hub's bulk inserts (message
rows, channel-log rows with their request and response bodies) that took a fifth of a sending
worker's CPU. Row-by-row placeholders are encoded in C, and, the statement having the same shape
chunk after chunk, psycopg prepares it, so PostgreSQL plans it once.
"""

from django.db.backends.postgresql.compiler import (
    SQLAggregateCompiler,
    SQLCompiler,
    SQLDeleteCompiler,
    SQLUpdateCompiler,
)
from django.db.backends.postgresql.compiler import SQLInsertCompiler as PostgreSQLInsertCompiler
from django.db.models.sql.compiler import SQLInsertCompiler as BaseSQLInsertCompiler

__all__ = ["SQLAggregateCompiler", "SQLCompiler", "SQLDeleteCompiler", "SQLInsertCompiler", "SQLUpdateCompiler"]


class SQLInsertCompiler(PostgreSQLInsertCompiler):
    def assemble_as_sql(self, fields, value_rows):
        return BaseSQLInsertCompiler.assemble_as_sql(self, fields, value_rows)
