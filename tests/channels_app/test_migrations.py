"""Upgrades keep what was stored: events stored before the content-type column keep theirs."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("channels_app", "0003_inbound_event_lean")]
AFTER = [("channels_app", "0004_inbound_event_content_type")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_an_event_stored_with_headers_keeps_its_content_type_after_the_upgrade():
    apps = migrate(BEFORE)
    Account = apps.get_model("channels_app", "MessagingAccount")
    Event = apps.get_model("channels_app", "InboundEvent")
    account = Account.objects.create(name="Old", channel="sms", provider="twilio", webhook_token="t" * 32)
    Event.objects.create(account=account, kind="inbound", event_key="SM1", url="https://hub/x", body="a=1",
                         headers={"content-type": "application/x-www-form-urlencoded"})
    Event.objects.create(account=account, kind="inbound", event_key="SM2", url="https://hub/x", body="{}")
    try:
        apps = migrate(AFTER)
        Event = apps.get_model("channels_app", "InboundEvent")
        assert dict(Event.objects.values_list("event_key", "content_type")) == {
            "SM1": "application/x-www-form-urlencoded", "SM2": ""}
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
