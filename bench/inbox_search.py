"""Inbox search benchmark: the console's search over message text on PostgreSQL, with the GIN index of
migration workstreams 0009, without it (the same full-text query, scanning), and the substring match SQLite
falls back to (ILIKE, scanning) — against a thread-sized floor (one conversation's messages by primary key).

    python -m bench.inbox_search [--messages 200000] [--conversations 5000] [--repeat 15]

Messages are made in SQL (generate_series) from a small vocabulary, so that a rare word matches a few dozen
and a common one thousands. Each query is the inbox's own (``inbox_conversations`` for an administrator,
first page of 25), timed in this process; the median of ``--repeat`` runs is reported, and the plan is
checked for the index. Results go to docs/benchmarks.md (section "inbox-search").
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.common import base_env, log, machine_table, reset_database, setup_django, write_section

WORDS = ["parcel", "refund", "invoice", "order", "late", "thanks", "hello", "help", "address", "delivery",
         "payment", "broken", "return", "size", "colour", "tracking", "today", "tomorrow", "please", "agent"]


def populate(messages: int, conversations: int) -> None:
    from django.db import connection

    from channels_app.models import Channel
    from channels_app.services import NumberSpec, account_create

    account = account_create(name="Bench SMS", channel=Channel.SMS, provider="sandbox",
                             numbers=[NumberSpec("+15005550006", "long_code")])
    number = account.numbers.get()
    with connection.cursor() as cursor:
        cursor.execute("""INSERT INTO channels_app_contact (address, display_name, locale, created_at, updated_at)
                          SELECT '+1555' || lpad(i::text, 7, '0'), 'Customer ' || i, '', now(), now()
                          FROM generate_series(1, %s) i""", [conversations])
        cursor.execute("""INSERT INTO workstreams_conversation (contact_id, phone_number_id, channel, state, with_bot,
                              resolved, outcome, language, routing_diagnosis, created_at, updated_at, last_message_at)
                          SELECT c.id, %s, 'sms', 'closed', false, true, '', '', '{}', now(), now(), now()
                          FROM channels_app_contact c""", [number.pk])
        # A rare word ("zebra") in one message of every thousand; three common words in each of the others.
        cursor.execute("""INSERT INTO channels_app_message (account_id, phone_number_id, contact_id, provider, channel,
                              direction, kind, body, content_sid, content_variables, status, error_code,
                              error_message, encoding, segments, attempts, request_id, provider_message_id,
                              created_at)
                          SELECT %(account)s, %(number)s, (SELECT min(id) FROM channels_app_contact) + (i %% %(n)s),
                              'sandbox', 'sms', 'inbound', 'regular',
                              CASE WHEN i %% 1000 = 0 THEN 'my zebra print order' ELSE
                              (%(words)s::text[])[1 + i %% 20] || ' ' || (%(words)s::text[])[1 + (i / 7) %% 20] || ' '
                              || (%(words)s::text[])[1 + (i / 49) %% 20] || ' message ' || i END,
                              '', '{}', 'received', '', '', 'GSM-7', 1, 0, '', 'bench-' || i, now()
                          FROM generate_series(1, %(messages)s) i""",
                       {"account": account.pk, "number": number.pk, "n": conversations, "words": WORDS,
                        "messages": messages})
        cursor.execute("""INSERT INTO workstreams_conversationmessage (conversation_id, message_id)
                          SELECT v.id, m.id FROM channels_app_message m
                          JOIN workstreams_conversation v ON v.contact_id = m.contact_id""")
        cursor.execute("ANALYZE")


def timed(fn, repeat: int) -> float:
    fn()  # warm
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--conversations", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    env = base_env()
    reset_database(env)
    setup_django(env)

    from django.contrib.auth import get_user_model
    from django.db import connection

    from workstreams.models import Conversation, ConversationMessage
    from workstreams.services.inbox import InboxFilters, Tab, inbox_conversations

    log(f"{args.messages} messages in {args.conversations} conversations")
    populate(args.messages, args.conversations)
    admin = get_user_model().objects.create_superuser("bench", password="x", is_staff=True)

    def search(query: str):
        return lambda: list(inbox_conversations(user=admin, filters=InboxFilters(tab=Tab.ALL, query=query))[:25])

    def substring(query: str):
        def run():
            ids = ConversationMessage.objects.filter(message__body__icontains=query).values("conversation_id")
            return list(Conversation.objects.filter(pk__in=ids).order_by("-last_message_at", "-id")[:25])
        return run

    first = Conversation.objects.order_by("pk").first()
    rows = []
    floor = timed(lambda: list(ConversationMessage.objects.filter(conversation=first)
                               .select_related("message")[:100]), args.repeat)
    for label, query in [("rare word (zebra)", "zebra"), ("common word (refund)", "refund"),
                         ("two words (late parcel)", "late parcel")]:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN SELECT id FROM channels_app_message WHERE to_tsvector('simple'::regconfig, "
                           "COALESCE(body, '')) @@ websearch_to_tsquery('simple'::regconfig, %s)", [query])
            plan = " ".join(r[0] for r in cursor.fetchall())
        indexed = timed(search(query), args.repeat)
        like = timed(substring(query.split()[0]), args.repeat)
        rows.append((label, indexed, "workstreams_message_body_search" in plan, like))
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX workstreams_message_body_search")
    scans = [timed(search(q), max(3, args.repeat // 3)) for q in ("zebra", "refund", "late parcel")]

    table = "\n".join(f"| {label} | {indexed:.1f} | {'yes' if used else 'no'} | {scan:.1f} | {like:.1f} |"
                      for (label, indexed, used, like), scan in zip(rows, scans, strict=True))
    when = time.strftime("%Y-%m-%d %H:%M")
    write_section("inbox-search", f"""## Inbox search (`python -m bench.inbox_search`, {when} UTC)

{args.messages:,} messages in {args.conversations:,} conversations, PostgreSQL; the inbox's query for an
administrator (every conversation), first page of 25, median of {args.repeat} runs in milliseconds. Floor:
one conversation's first 100 messages by key, {floor:.1f} ms.

| search | full-text, GIN index | index in the plan | full-text, no index | substring (ILIKE, SQLite's way) |
|---|---|---|---|---|
{table}

{machine_table()}
""")


if __name__ == "__main__":
    main()
