"""A bulk-insert compiler writing ``INSERT … VALUES (…), (…)`` (what the hub used, as config/db/compiler.py)
against Django's own ``UNNEST`` arrays, on the inserts that still use ``bulk_create`` now that the hottest
ones stream with COPY (config/db/bulk.py). This module is also that compiler (``compiler_module``).

    python -m bench.bulk_compiler [--rounds 5] [--rows 100] [--batches 40]

What is left on ``bulk_create``: a batch of inbound messages (up to INBOUND_PROCESS_BATCH rows, with
their bodies), their conversation links, new contacts, and a send of fewer than 20 messages. Each
round inserts ``--batches`` batches of ``--rows`` rows of each with Django's PostgreSQL compiler
(``UNNEST`` of one array per column) and with the hub's (``VALUES`` rows), alternating, in one
transaction that is rolled back; CPU of this process (``time.process_time``) and of its PostgreSQL
backend per row. Results go to docs/benchmarks.md (section "bulk-compiler").
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from django.db.backends.postgresql.compiler import (  # noqa: F401 (a compiler module names them all)
    SQLAggregateCompiler,
    SQLCompiler,
    SQLDeleteCompiler,
    SQLUpdateCompiler,
)
from django.db.backends.postgresql.compiler import SQLInsertCompiler as PostgreSQLInsertCompiler
from django.db.models.sql.compiler import SQLInsertCompiler as BaseSQLInsertCompiler

from bench.common import DB_NAME, base_env, log, machine_table, reset_database, setup_django, write_section

HUB = "bench.bulk_compiler"
DJANGO = "django.db.backends.postgresql.compiler"


class SQLInsertCompiler(PostgreSQLInsertCompiler):
    """Bulk inserts as ``VALUES`` rows, one placeholder per value, instead of ``UNNEST`` of one array per column."""

    def assemble_as_sql(self, fields, value_rows):
        return BaseSQLInsertCompiler.assemble_as_sql(self, fields, value_rows)


def backend_cpu(pid: int) -> float:
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="Alternating rounds per compiler (5).")
    parser.add_argument("--rows", type=int, default=100, help="Rows per bulk insert (100).")
    parser.add_argument("--batches", type=int, default=40, help="Bulk inserts per round and kind (40).")
    args = parser.parse_args()
    env = base_env()
    reset_database(env)
    setup_django(env)
    from django.db import connection, transaction

    from channels_app.models import Contact, Direction, Message, MessageStatus
    from channels_app.services import NumberSpec, account_create
    from workstreams.models import ConversationMessage

    account = account_create(name="Bench", channel="sms", provider="sandbox", credentials={},
                             numbers=[NumberSpec("+14155550100", "long_code")])
    phone = account.numbers.get()
    contact = Contact.objects.create(address="+15551230000")
    from workstreams.models import Conversation

    conversation = Conversation.objects.create(contact=contact, phone_number=phone)
    body = "Hello, I would like to know where my order is; it was due yesterday. Thanks! " * 2

    def one_round(module: str) -> tuple[float, float]:
        connection.ops.compiler_module, connection.ops._cache = module, None
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        cpu, db = time.process_time(), backend_cpu(pid)
        with transaction.atomic():
            for b in range(args.batches):
                messages = Message.objects.bulk_create([
                    Message(account=account, phone_number=phone, contact=contact, provider="sandbox", channel="sms",
                            direction=Direction.INBOUND, body=body, status=MessageStatus.RECEIVED,
                            provider_message_id=f"{module}-{b}-{i}-{time.monotonic_ns()}")
                    for i in range(args.rows)])
                ConversationMessage.objects.bulk_create([ConversationMessage(conversation=conversation, message=m)
                                                         for m in messages])
                Contact.objects.bulk_create([Contact(address=f"+1555{b:03d}{i:04d}") for i in range(args.rows)],
                                            ignore_conflicts=True)
            transaction.set_rollback(True)
        rows = args.batches * args.rows * 3
        return (time.process_time() - cpu) * 1e6 / rows, (backend_cpu(pid) - db) * 1e6 / rows

    one_round(HUB), one_round(DJANGO)  # warm up both (imports, prepared statements)
    results: dict[str, list[tuple[float, float]]] = {HUB: [], DJANGO: []}
    for _ in range(args.rounds):
        for module in (DJANGO, HUB):
            results[module].append(one_round(module))
    connection.ops.compiler_module, connection.ops._cache = HUB, None

    def med(module: str, i: int) -> float:
        return statistics.median(r[i] for r in results[module])

    for module in (DJANGO, HUB):
        log(f"{module}: {med(module, 0):.1f} µs Python + {med(module, 1):.1f} µs PostgreSQL per row")

    def row(label: str, module: str) -> str:
        python, db = med(module, 0), med(module, 1)
        return f"| {label} | {python:.1f} µs | {db:.1f} µs | {python + db:.1f} µs |"

    rounds = "; ".join(f"{d[0]:.1f} → {h[0]:.1f}" for d, h in zip(results[DJANGO], results[HUB], strict=True))
    gain = 1 - (med(HUB, 0) + med(HUB, 1)) / (med(DJANGO, 0) + med(DJANGO, 1))
    verdict = (f"save **{gain * 100:.0f} %** of the CPU per row" if gain > 0
               else f"cost **{-gain * 100:.0f} %** more CPU per row")
    write_section("bulk-compiler", f"""
## The bulk-insert compiler (`python -m bench.bulk_compiler`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})

The inserts still made with `bulk_create` (inbound messages of a batch with their bodies, their
conversation links, new contacts), {args.batches} × {args.rows} rows of each per round,
{args.rounds} alternating rounds, rolled back; CPU per row, medians (database `{DB_NAME}`).

| compiler | Python (this process) | PostgreSQL backend | total |
|---|---|---|---|
{row("Django's (`UNNEST` arrays)", DJANGO)}
{row("`VALUES` rows (the former `config/db/compiler.py`)", HUB)}

`VALUES` rows {verdict} (Python µs per round, Django's → `VALUES` rows: {rounds}).

Machine:

{machine_table()}
""")


if __name__ == "__main__":
    main()
