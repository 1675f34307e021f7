"""A 1,000-contact CSV sent with ``manage.py send_outbound``: a real worker on the configured broker sends it
through the provider (a local stub standing in for Twilio), in requests of 100."""

import io
import uuid
from collections import Counter

import pytest
from django.core.management import call_command

from channels_app.models import Message, MessageStatus
from outbound.models import OutboundRequest, RequestState
from tests.integration.conftest import wait_for
from tests.outbound.conftest import make_configuration

CONTACTS = 1000


@pytest.fixture
def worker_env(provider_stub):
    return {"TWILIO_API_URL": provider_stub.url}


@pytest.fixture(autouse=True)
def _settings(settings, provider_stub):
    settings.TWILIO_API_URL = provider_stub.url
    settings.OUTBOUND_RATE_KEY_PREFIX = f"test-outbound:{uuid.uuid4().hex}:"
    settings.OUTBOUND_SEND_CONCURRENCY = 1  # eager sends in this process use its own connection only


def test_a_1000_contact_csv_is_sent_exactly_once_in_10_requests(celery_worker_process, provider_stub,
                                                                 twilio_sms_account, tmp_path):
    configuration = make_configuration(twilio_sms_account)
    path = tmp_path / "contacts.csv"
    rows = [f"+1555{i:07d},SMS,true,en-US,Customer {i},Case {i},A-{i}" for i in range(CONTACTS)]
    path.write_text("tocontactid,channelid,optin,locale,CustomerName,CaseName,contextitems.order_id\n"
                    + "\n".join(rows) + "\n")

    out = io.StringIO()
    call_command("send_outbound", "--configuration", str(configuration.configuration_id), "--csv", str(path),
                 "--timeout", "90", stdout=out)

    output = out.getvalue()
    assert "Submitting [##############################] 100% 1000/1000" in output
    assert f"{CONTACTS} contacts in 10 request(s): {CONTACTS} sent" in output
    wait_for(lambda: len(provider_stub.requests) >= CONTACTS, what="the provider to get every message")
    sent_to = Counter(r["form"]["To"][0] for r in provider_stub.requests)
    assert len(provider_stub.requests) == CONTACTS
    assert set(sent_to.values()) == {1} and len(sent_to) == CONTACTS
    bodies = {r["form"]["To"][0]: r["form"]["Body"][0] for r in provider_stub.requests}
    assert bodies["+15550000007"] == "Hi Customer 7, we opened case Case 7."

    requests = list(OutboundRequest.objects.all())
    assert len(requests) == 10 and {r.contact_count for r in requests} == {100}
    # A run settles its request just after writing its last outcomes back.
    wait_for(lambda: set(OutboundRequest.objects.values_list("state", flat=True)) == {RequestState.DONE},
             what="every request to be done")
    assert Message.objects.filter(kind="outbound", status=MessageStatus.SENT).count() == CONTACTS
    assert "outbound.tasks.outbound_request_send_task" in celery_worker_process.log_path.read_text()
