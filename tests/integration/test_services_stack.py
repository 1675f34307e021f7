"""The configured stack works end to end: database, broker, a real worker, secrets at rest."""

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from channels_app.models import ChannelLog
from channels_app.tasks import channel_log_trim
from tests.conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from tests.integration.conftest import wait_for


def test_a_real_worker_runs_a_queued_task_against_the_database(celery_worker_process, sandbox_account, settings):
    old = ChannelLog.objects.create(account=sandbox_account, kind="send", method="POST", url="sandbox://x")
    ChannelLog.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=settings.CHANNEL_LOG_RETENTION_DAYS + 1))
    recent = ChannelLog.objects.create(account=sandbox_account, kind="send", method="POST", url="sandbox://y")

    channel_log_trim.delay()

    wait_for(lambda: not ChannelLog.objects.filter(pk=old.pk).exists(), what="the worker to trim the old log row")
    assert ChannelLog.objects.filter(pk=recent.pk).exists()
    assert "channels_app.tasks.channel_log_trim" in celery_worker_process.log_path.read_text()


def test_readiness_probe_reaches_database_and_broker(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert (checks["database"], checks["broker"]) == ("ok", "ok")
    assert {"worker", "beat"} <= set(checks)  # seen or not: no worker runs in this test


def test_secrets_are_ciphertext_in_the_real_database(twilio_sms_account):
    with connection.cursor() as cursor:
        cursor.execute("SELECT config FROM channels_app_messagingaccount WHERE id = %s", [twilio_sms_account.pk])
        [stored] = cursor.fetchone()
    assert stored.startswith("fernet:")
    assert TWILIO_AUTH_TOKEN not in stored and TWILIO_ACCOUNT_SID not in stored
