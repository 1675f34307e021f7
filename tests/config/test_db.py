"""The PostgreSQL backend: bulk inserts as VALUES rows, with every value kept exactly."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels_app.models import ChannelLog

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend only")

TRICKY = ['{"body": "say \\"hi\\""}', "back\\slash, comma, {braces}", "new\nline\ttab", "NULL", "", "émoji 🎉 ü",
          "'single' quotes"]


def test_bulk_inserted_rows_keep_every_character(sandbox_account):
    rows = [ChannelLog(account=sandbox_account, kind="send", method="POST", url=f"https://x/{i}", request_body=text,
                       response_body=text[::-1], request_headers={"k": text}) for i, text in enumerate(TRICKY)]
    with CaptureQueriesContext(connection) as queries:
        ChannelLog.objects.bulk_create(rows)
    [insert] = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert "UNNEST" not in insert and "VALUES" in insert
    stored = {log.url: log for log in ChannelLog.objects.all()}
    for i, text in enumerate(TRICKY):
        log = stored[f"https://x/{i}"]
        assert (log.request_body, log.response_body, log.request_headers) == (text, text[::-1], {"k": text})


def test_the_database_binds_parameters_server_side(db):
    assert connection.settings_dict["OPTIONS"].get("server_side_binding") is True
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text, %s::int", ["it's", 7])
        assert cursor.fetchone() == ("it's", 7)
