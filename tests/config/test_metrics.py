"""/metrics (config/metrics.py): who may read it, the seams' counters, and the state gauges read at scrape time
(backlogs, waiting conversations, outbound progress, queue depths, heartbeats). The counters summed over real
processes are tested end to end (tests/e2e/test_observability.py)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.models import EventKind, InboundEvent
from config import metrics
from config.heartbeats.models import Heartbeat
from outbound.models import OutboundBatch, OutboundRecipient, OutboundRequest
from tests.channels_app.test_webhooks import twilio_post
from tests.outbound.conftest import make_configuration
from workstreams.models import Conversation, Queue


def scrape(client, **extra) -> dict[str, float]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for line in response.content.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_loopback_may_read_the_metrics_and_other_addresses_need_the_token(client, db, settings):
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    refused = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 403
    assert "203.0.113.9 is not in METRICS_ALLOWED_NETWORKS; set METRICS_TOKEN" in refused.json()["detail"]
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").json()["detail"].endswith(
        "send 'Authorization: Bearer <METRICS_TOKEN>', or scrape from an allowed network.")
    wrong = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer guess")
    assert wrong.status_code == 401 and "Wrong metrics token" in wrong.json()["detail"]
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9",
                      HTTP_AUTHORIZATION="Bearer s3cret-scrape-token").status_code == 200
    settings.METRICS_ALLOWED_NETWORKS = ["203.0.113.0/24"]
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 200


def test_through_a_proxy_on_the_same_host_only_the_token_opens_the_metrics(client, db, settings):
    # nginx on the same machine makes every visitor 127.0.0.1: a forwarded request is not trusted by address.
    proxied = client.get("/metrics", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert proxied.status_code == 403 and "came through a proxy" in proxied.json()["detail"]
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="198.51.100.7",
                      HTTP_AUTHORIZATION="Bearer s3cret-scrape-token").status_code == 200


def _value(counter, *labels) -> float:
    return counter.labels(*labels)._value.get()  # this process's own count


def test_webhooks_accepted_and_refused_are_counted_by_provider_and_reason(client, twilio_sms_account,
                                                                         django_capture_on_commit_callbacks):
    params = {"MessageSid": "SM" + "3" * 32, "AccountSid": twilio_sms_account.credential("account_sid"), "From": "+15551234567",
              "To": "+14155550100", "Body": "hi", "NumMedia": "0"}
    accepted = _value(metrics.WEBHOOKS_ACCEPTED, "twilio", "inbound", "false")
    retried = _value(metrics.WEBHOOKS_ACCEPTED, "twilio", "inbound", "true")
    forged = _value(metrics.WEBHOOKS_REFUSED, "twilio", "bad_signature")
    unsigned = _value(metrics.WEBHOOKS_REFUSED, "twilio", "missing_signature")
    unknown = _value(metrics.WEBHOOKS_REFUSED, "twilio", "not_found")
    with django_capture_on_commit_callbacks(execute=True):
        assert twilio_post(client, twilio_sms_account, params).status_code == 200
        assert twilio_post(client, twilio_sms_account, params).status_code == 200  # the provider's retry
    assert twilio_post(client, twilio_sms_account, params, signature="forged").status_code == 403
    assert twilio_post(client, twilio_sms_account, params, signature="").status_code == 403
    assert twilio_post(client, twilio_sms_account, params, token="nope").status_code == 404
    assert _value(metrics.WEBHOOKS_ACCEPTED, "twilio", "inbound", "false") == accepted + 1
    assert _value(metrics.WEBHOOKS_ACCEPTED, "twilio", "inbound", "true") == retried + 1
    assert _value(metrics.WEBHOOKS_REFUSED, "twilio", "bad_signature") == forged + 1
    assert _value(metrics.WEBHOOKS_REFUSED, "twilio", "missing_signature") == unsigned + 1
    assert _value(metrics.WEBHOOKS_REFUSED, "twilio", "not_found") == unknown + 1


def test_the_inbound_backlog_and_its_oldest_wait(client, twilio_sms_account):
    for n, age in enumerate((5, 120, 30)):
        event = InboundEvent.objects.create(account=twilio_sms_account, kind=EventKind.INBOUND, event_key=f"k{n}",
                                            url="http://x")
        InboundEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(seconds=age))
    InboundEvent.objects.create(account=twilio_sms_account, kind=EventKind.STATUS, event_key="s", url="http://x",
                                state="failed")
    samples = scrape(client)
    assert samples['hub_inbound_backlog{kind="inbound"}'] == 3
    assert samples['hub_inbound_backlog{kind="status"}'] == 0
    assert 120 <= samples['hub_inbound_oldest_pending_seconds{kind="inbound"}'] < 180
    assert samples["hub_inbound_failed_events"] == 1


def test_conversations_waiting_per_queue_and_the_longest_wait(client, sandbox_account, receive):
    support = Queue.objects.create(name="Support", priority=1)
    Queue.objects.create(name="Billing", priority=1)
    for sender, waited in (("+15550000001", 600), ("+15550000002", 60)):
        conversation = receive(sandbox_account, sender=sender)
        Conversation.objects.filter(pk=conversation.pk).update(
            queue=support, state="open", queued_at=timezone.now() - timedelta(seconds=waited))
    samples = scrape(client)
    assert samples['hub_conversations_waiting{queue="Support"}'] == 2
    assert samples['hub_conversations_waiting{queue="Billing"}'] == 0
    assert 600 <= samples['hub_conversations_oldest_wait_seconds{queue="Support"}'] < 660
    assert samples['hub_conversations{state="open"}'] >= 2


def test_outbound_batch_progress(client, sandbox_account):
    configuration = make_configuration(sandbox_account)
    batch = OutboundBatch.objects.create(configuration=configuration, source="upload", contact_count=250)
    request = OutboundRequest.objects.create(configuration=configuration, source="upload", batch=batch,
                                             contact_count=3, state="sending")
    for index, state in enumerate(("pending", "message", "skipped")):
        OutboundRecipient.objects.create(request=request, index=index, to_address=f"+1555000{index:04d}", optin=True,
                                         state=state)
    samples = scrape(client)
    assert samples[f'hub_outbound_batch_contacts{{batch="{batch.pk}"}}'] == 250
    assert samples[f'hub_outbound_batch_contacts_submitted{{batch="{batch.pk}"}}'] == 3
    assert samples[f'hub_outbound_batch_recipients{{batch="{batch.pk}",state="message"}}'] == 1
    assert samples['hub_outbound_requests_open{state="sending"}'] == 1


def test_heartbeats_and_queue_depths(client, db):
    Heartbeat.objects.create(role="worker", node="worker@a", pid=1, started_at=timezone.now(),
                             seen_at=timezone.now() - timedelta(seconds=42))
    samples = scrape(client)
    assert 42 <= samples['hub_heartbeat_age_seconds{node="worker@a",role="worker"}'] < 60
    assert {'hub_queue_depth{queue="default"}', 'hub_queue_depth{queue="replies"}',
            'hub_queue_depth{queue="bulk"}'} <= set(samples)


def test_a_collector_that_fails_is_reported_and_the_rest_still_scraped(client, db, settings, monkeypatch):
    def broken():
        raise ConnectionError("broker down")
        yield  # pragma: no cover

    monkeypatch.setattr(metrics, "broker_collect", broken)
    metrics._collector.cache_clear()
    try:
        samples = scrape(client)
    finally:
        metrics._collector.cache_clear()
    assert samples['hub_metrics_collector_up{collector="config.metrics"}'] == 0
    assert samples['hub_metrics_collector_up{collector="channels_app.metrics"}'] == 1
    assert 'hub_inbound_backlog{kind="inbound"}' in samples


@pytest.mark.parametrize("networks", [["not-a-network"], ["10.0.0.0/33"]])
def test_a_bad_allowed_network_is_refused_at_startup(networks):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], capture_output=True, text=True,
                            env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "config.settings",
                                 "METRICS_ALLOWED_NETWORKS": ",".join(networks)}, timeout=60)
    assert result.returncode != 0 and "METRICS_ALLOWED_NETWORKS" in result.stderr


def test_the_dashboard_and_the_readmes_scrape_config_use_what_the_hub_serves(client, db):
    import json
    import re

    import yaml
    from django.conf import settings

    root = settings.BASE_DIR
    served = {m._name for m in vars(metrics).values() if hasattr(m, "_name") and hasattr(m, "_type")}
    served |= {line.split()[2] for line in client.get("/metrics").content.decode().splitlines()
               if line.startswith("# TYPE ")}
    dashboard = json.loads((root / "docs" / "grafana-dashboard.json").read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"\bhub_[a-z_]+", target["expr"])}
    assert used and len(dashboard["panels"]) >= 15
    for name in used:
        base = re.sub(r"_(bucket|count|sum)$", "", name)
        assert base in served or base.removesuffix("_total") in served, f"the dashboard uses {name}"
    readme = (root / "README.md").read_text()
    block = readme[readme.index("scrape_configs:"):]
    config = yaml.safe_load(block[:block.index("```")])
    job = config["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics" and job["authorization"]["type"] == "Bearer"
