"""The outbound API on the configured stack: a real worker sends, status callbacks deliver, the progress shows
it; the limits hold across processes."""

import os
import subprocess
import sys
import uuid
from urllib.parse import urlencode

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from twilio.request_validator import RequestValidator

from channels_app.models import Message
from outbound.models import OutboundRequest
from tests.conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from tests.integration.conftest import ROOT, _database_url, wait_for
from tests.outbound.conftest import contact, make_configuration

URL = "/api/v1/outbound/requests/"


@pytest.fixture
def worker_env(provider_stub):
    return {"TWILIO_API_URL": provider_stub.url}


@pytest.fixture(autouse=True)
def _settings(settings, provider_stub):
    settings.TWILIO_API_URL = provider_stub.url
    settings.OUTBOUND_RATE_KEY_PREFIX = f"test-outbound:{uuid.uuid4().hex}:"
    settings.OUTBOUND_SEND_CONCURRENCY = 1  # eager sends in this process use its own connection only


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def _status_callback(client, account, message, status):
    path = f"/webhooks/twilio/{account.webhook_token}/status/?message={message.pk}"
    params = {"MessageSid": message.provider_message_id, "MessageStatus": status, "AccountSid": TWILIO_ACCOUNT_SID}
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(settings.PUBLIC_BASE_URL + path, params)
    return client.post(path, data=urlencode(params), content_type="application/x-www-form-urlencoded",
                       HTTP_X_TWILIO_SIGNATURE=signature)


def test_a_request_is_sent_by_the_worker_and_delivery_shows_in_its_progress(celery_worker_process, provider_stub,
                                                                          twilio_sms_account, api, client):
    configuration = make_configuration(twilio_sms_account)
    response = api.post(URL, {"configuration_id": str(configuration.configuration_id),
                              "contacts": [contact(1), contact(2), contact(3, tocontactid="nope")]}, format="json")
    assert response.status_code == 202, response.content
    progress_url = response.json()["url"]

    wait_for(lambda: Message.objects.filter(status="sent").count() == 2, what="the worker to send both messages")
    assert sorted(r["form"]["To"][0] for r in provider_stub.requests) == ["+15550000001", "+15550000002"]
    first = Message.objects.get(contact__address="+15550000001")
    assert _status_callback(client, twilio_sms_account, first, "delivered").status_code == 200

    wait_for(lambda: api.get(progress_url).json()["counts"]["delivered"] == 1,
             what="the status callback to mark the message delivered")
    body = api.get(progress_url).json()
    assert body["state"] == "done"
    assert body["counts"] == {"total": 3, "pending": 0, "sent": 1, "delivered": 1, "failed": 1, "skipped": 0}


@pytest.mark.django_db(transaction=True)
def test_the_hourly_limit_is_counted_across_processes(sandbox_account, api, settings):
    settings.OUTBOUND_MAX_REQUESTS_PER_HOUR = 3
    configuration = make_configuration(sandbox_account)
    payload = {"configuration_id": str(configuration.configuration_id), "contacts": [contact(1)]}
    assert api.post(URL, payload, format="json").status_code == 202

    # Another process (another web server) takes the rest of the hour's requests.
    env = {**os.environ, "DATABASE_URL": _database_url(), "OUTBOUND_RATE_KEY_PREFIX": settings.OUTBOUND_RATE_KEY_PREFIX,
           "OUTBOUND_MAX_REQUESTS_PER_HOUR": "3", "HUB_VAR_DIR": str(settings.VAR_DIR),
           "DJANGO_SETTINGS_MODULE": "config.settings"}
    script = ("import django; django.setup(); from outbound.services.ratelimit import requests_admit; "
              "requests_admit(); requests_admit()")
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)

    refused = api.post(URL, payload, format="json")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    too_many = api.post(URL, {**payload, "contacts": [contact(i) for i in range(101)]}, format="json")
    assert (too_many.status_code, too_many.json()["error"]) == (400, "too_many_contacts")
    assert OutboundRequest.objects.count() == 1
