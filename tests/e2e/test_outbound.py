"""Outbound end to end: a request of 100 contacts through the API is delivered, and a worker killed with
SIGKILL in the middle of a batch loses no contact and sends none twice."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from channels_app.services import NumberSpec, account_create
from tests.e2e.conftest import wait_until
from tests.outbound.conftest import contact, make_configuration

TWILIO_SID, TWILIO_TOKEN = "AC" + "2" * 32, "e2e-outbound-token"


@pytest.fixture
def campaign(stack):
    account = account_create(name="Twilio SMS", channel="sms", provider="twilio",
                             credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
                             numbers=[NumberSpec("+14155550100", "long_code")])
    stack.emulator.add_twilio_account(TWILIO_SID, TWILIO_TOKEN)
    configuration = make_configuration(account)
    admin = get_user_model().objects.create_superuser("admin", password="x")
    return {"configuration": str(configuration.configuration_id), "token": Token.objects.create(user=admin).key}


def send(stack, campaign, start: int, count: int = 100) -> str:
    response = stack.api(campaign["token"]).post(
        f"{stack.web_url}/api/v1/outbound/requests/",
        json={"configuration_id": campaign["configuration"], "contacts": [contact(start + i) for i in range(count)]},
        timeout=30)
    assert response.status_code == 202, response.text
    return response.json()["request_id"]


def progress(stack, campaign, request_id: str) -> dict:
    response = stack.api(campaign["token"]).get(f"{stack.web_url}/api/v1/outbound/requests/{request_id}/",
                                                timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["counts"]


def accepted_sends(stack) -> list[tuple[str, str]]:
    return [(m["to"], m["body"]) for m in stack.emulator.messages() if m["direction"] == "outbound-api"]


def test_a_request_of_100_contacts_is_delivered(stack, campaign):
    request_id = send(stack, campaign, 0)
    counts = wait_until(lambda: (c := progress(stack, campaign, request_id))["delivered"] == 100 and c,
                        timeout=90, what="100 deliveries")
    assert counts["failed"] == counts["skipped"] == 0
    sends = accepted_sends(stack)
    assert len(sends) == 100 and len(set(sends)) == 100


def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(stack, campaign):
    stack.emulator.configure(latency_ms=40)  # slow sends, so the kill lands inside the batch
    requests = [send(stack, campaign, n * 100) for n in range(5)]
    wait_until(lambda: len(accepted_sends(stack)) >= 60, timeout=60, what="the batch to be under way")
    stack.processes["worker"].kill()
    before_restart = len(accepted_sends(stack))
    assert before_restart < 500, "the batch finished before the kill; nothing was interrupted"
    stack.emulator.configure(latency_ms=0)
    stack.start_worker("worker-2")

    def all_delivered():
        totals = [progress(stack, campaign, r) for r in requests]
        return all(t["delivered"] == 100 for t in totals) and totals

    wait_until(all_delivered, timeout=150, what="every contact to be delivered after the restart")
    sends = accepted_sends(stack)
    assert len(set(sends)) == 500, "a contact was left out"
    assert len(sends) == 500, f"{len(sends) - 500} contacts were sent twice"
