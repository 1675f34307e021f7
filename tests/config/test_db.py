"""The database layer: Django's bulk inserts with server-side binding, and ``bulk_insert`` (COPY on
PostgreSQL), with every value kept exactly."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels_app.models import ChannelLog

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend only")

TRICKY = ['{"body": "say \\"hi\\""}', "back\\slash, comma, {braces}", "new\nline\ttab", "NULL", "", "émoji 🎉 ü",
          "'single' quotes"]


@postgresql_only
def test_bulk_created_rows_keep_every_character(sandbox_account):
    rows = [ChannelLog(account=sandbox_account, kind="send", method="POST", url=f"https://x/{i}", request_body=text,
                       response_body=text[::-1], request_headers={"k": text}) for i, text in enumerate(TRICKY)]
    with CaptureQueriesContext(connection) as queries:
        ChannelLog.objects.bulk_create(rows)
    assert len([q for q in queries.captured_queries if q["sql"].startswith("INSERT")]) == 1
    stored = {log.url: log for log in ChannelLog.objects.all()}
    for i, text in enumerate(TRICKY):
        log = stored[f"https://x/{i}"]
        assert (log.request_body, log.response_body, log.request_headers) == (text, text[::-1], {"k": text})


@postgresql_only
def test_the_database_binds_parameters_server_side(db):
    assert connection.settings_dict["OPTIONS"].get("server_side_binding") is True
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text, %s::int", ["it's", 7])
        assert cursor.fetchone() == ("it's", 7)


def test_bulk_insert_stores_every_row_exactly_and_gives_them_their_ids(sandbox_account):
    from channels_app.models import Contact, Message
    from config.db.bulk import bulk_insert

    contact = Contact.objects.create(address="+15551234567")
    phone = sandbox_account.numbers.first()
    messages = [Message(account=sandbox_account, phone_number=phone, contact=contact, provider="sandbox", channel="sms",
                        direction="outbound", body=text, content_variables={"1": text}) for text in TRICKY]
    bulk_insert(Message, messages, ids=True)
    assert all(m.pk for m in messages) and len({m.pk for m in messages}) == len(TRICKY)
    for message, text in zip(messages, TRICKY, strict=True):
        stored = Message.objects.get(pk=message.pk)
        assert (stored.body, stored.content_variables) == (text, {"1": text})
        assert stored.created_at is not None
    # Rows inserted later by the ORM take the next ids.
    assert Message.objects.create(account=sandbox_account, phone_number=phone, contact=contact, provider="sandbox",
                                  channel="sms",
                                  direction="outbound", body="after").pk > max(m.pk for m in messages)
