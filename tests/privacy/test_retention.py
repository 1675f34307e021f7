"""Retention: message text, attachments and processed webhook events older than their settings are removed by
beat, a bounded slice per run; nothing younger, and nothing still pending."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from channels_app.models import Attachment, AttachmentState, EventKind, InboundEvent, Message
from outbound.models import TimelineActivity
from privacy.services import retention_apply
from privacy.tasks import retention_apply_task
from reports.access import ReportScope
from reports.figures import ReportFilters, messages_report
from tests.reports.world import seed_month


@pytest.fixture
def aged(db, django_user_model, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    world = seed_month(django_user_model, days=3)  # messages 1 to 3 days old
    message = Message.objects.filter(direction="inbound").order_by("created_at").last()  # kept by the message rule
    old = Attachment(message=message, url="https://api.twilio.com/m/1", state=AttachmentState.STORED)
    old.file.save("old.png", ContentFile(b"old"))
    new = Attachment(message=message, url="https://api.twilio.com/m/2", state=AttachmentState.STORED)
    new.file.save("new.png", ContentFile(b"new"))
    Attachment.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    account = world.twilio.account
    for key, state, age in (("e-old", "processed", 10), ("e-failed", "failed", 10), ("e-pending", "pending", 10),
                            ("e-new", "processed", 1)):
        event = InboundEvent.objects.create(account=account, kind=EventKind.INBOUND, event_key=key, url="/x",
                                            body=b"Body=hi", state=state)
        InboundEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(days=age))
    return world, old, new


def test_nothing_is_removed_by_default(aged):
    assert retention_apply() == {"messages": 0, "attachments": 0, "inbound_events": 0}
    assert not Message.objects.filter(body="").exists()


def test_each_retention_removes_what_is_older(aged, settings, tmp_path, django_capture_on_commit_callbacks):
    world, old, new = aged
    settings.MESSAGE_RETENTION_DAYS = 2
    settings.ATTACHMENT_RETENTION_DAYS = 5
    settings.INBOUND_EVENT_RETENTION_DAYS = 5
    cutoff = timezone.now() - timedelta(days=2)
    older = Message.objects.filter(created_at__lt=cutoff)
    outgoing = older.filter(direction="outbound").first()
    TimelineActivity.objects.create(contact=outgoing.contact, configuration=world.configuration,
                                    configuration_ref=world.configuration.configuration_id, message=outgoing,
                                    text=outgoing.body, channel="sms", language="en")
    expected = older.count()
    scope, month = ReportScope(everything=True), ReportFilters(start=world.first_day, end=world.last_day)
    figures = messages_report(month, scope)["providers"].rows
    with django_capture_on_commit_callbacks(execute=True):
        done = retention_apply_task()
    assert done == {"messages": expected, "attachments": 1, "inbound_events": 2}
    assert set(older.values_list("body", flat=True)) == {""}
    assert all(m.redacted_at for m in older)
    assert not Message.objects.filter(created_at__gte=cutoff, body="").exists()
    assert TimelineActivity.objects.get().text == ""
    assert Attachment.objects.get(pk=old.pk).state == AttachmentState.REMOVED
    assert not (tmp_path / old.file.name).exists() and (tmp_path / new.file.name).exists()
    assert set(InboundEvent.objects.values_list("event_key", flat=True)) == {"e-pending", "e-new"}
    assert messages_report(month, scope)["providers"].rows == figures  # the counts stay


def test_a_slice_per_run(aged, settings):
    settings.MESSAGE_RETENTION_DAYS = 1
    settings.INBOUND_EVENT_RETENTION_DAYS = 5
    settings.RETENTION_SLICE = 7
    total = Message.objects.filter(created_at__lt=timezone.now() - timedelta(days=1)).count()
    assert retention_apply() == {"messages": 7, "attachments": 0, "inbound_events": 2}
    assert Message.objects.filter(redacted_at__isnull=False).count() == 7
    call_command("apply_retention")
    assert Message.objects.filter(redacted_at__isnull=False).count() == total
    assert retention_apply()["messages"] == 0


def test_retention_settings_are_checked():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", "import django, os; os.environ['DJANGO_SETTINGS_MODULE']="
                             "'config.settings'; django.setup()"], capture_output=True, text=True,
                            env={**__import__("os").environ, "MESSAGE_RETENTION_DAYS": "-1"}, timeout=60)
    assert result.returncode != 0 and "MESSAGE_RETENTION_DAYS must be 0 or more." in result.stderr
