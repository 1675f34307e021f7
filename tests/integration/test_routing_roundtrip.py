"""A signed webhook → routed by a rule to the right queue → assigned to the available agent with capacity →
greeting and agent-assigned messages sent through the provider stub, all in a real worker."""

from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from tests.conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from tests.integration.conftest import wait_for
from workstreams.models import (
    AgentProfile,
    AutomatedMessage,
    Conversation,
    Queue,
    RoutingCondition,
    RoutingRule,
    Workstream,
    WorkstreamNumber,
)


@pytest.fixture
def worker_env(provider_stub):
    return {"TWILIO_API_URL": provider_stub.url}


def test_routed_assigned_and_greeted(celery_worker_process, provider_stub, twilio_sms_account, django_user_model,
                                     client, settings):
    settings.TWILIO_API_URL = provider_stub.url
    billing, general = Queue.objects.create(name="Billing"), Queue.objects.create(name="General")
    workstream = Workstream.objects.create(name="SMS support", channel="sms", capacity_per_conversation=50)
    number = WorkstreamNumber.objects.create(workstream=workstream, phone_number=twilio_sms_account.numbers.get())
    rule = RoutingRule.objects.create(workstream=workstream, name="Invoices", queue=billing)
    RoutingCondition.objects.create(rule=rule, field="message_text", operator="contains", value="invoice")
    AutomatedMessage.objects.create(number=number, kind="greeting", text="Thanks for writing, we are on it.")
    AutomatedMessage.objects.create(number=number, kind="agent_assigned", text="{AgentName} from {QueueName} "
                                                                               "will help you.")
    full = django_user_model.objects.create_user("full", first_name="Full")
    AgentProfile.objects.create(user=full, capacity=40, presence="available")  # below one conversation's 50
    billing.members.add(full)
    other = django_user_model.objects.create_user("other")
    AgentProfile.objects.create(user=other, capacity=100, presence="available")
    general.members.add(other)
    ana = django_user_model.objects.create_user("ana", first_name="Ana")
    AgentProfile.objects.create(user=ana, capacity=100, presence="available")
    billing.members.add(ana)

    params = {"MessageSid": "SM" + "b" * 32, "AccountSid": TWILIO_ACCOUNT_SID, "From": "+15551234567",
              "To": "+14155550100", "Body": "Question about my invoice", "NumMedia": "0"}
    path = f"/webhooks/twilio/{twilio_sms_account.webhook_token}/inbound/"
    sig = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(settings.PUBLIC_BASE_URL + path, params)
    response = client.post(path, data=urlencode(params), content_type="application/x-www-form-urlencoded",
                           HTTP_X_TWILIO_SIGNATURE=sig)
    assert response.status_code == 200

    conversation = wait_for(lambda: Conversation.objects.filter(agent__isnull=False).first(),
                            what="the conversation to be assigned")
    assert (conversation.queue, conversation.agent, conversation.state) == (billing, ana, "active")
    assert conversation.routing_diagnosis["rule"] == "Invoices"

    wait_for(lambda: len(provider_stub.requests) >= 2, what="two automated messages at the provider")
    bodies = [r["form"]["Body"][0] for r in provider_stub.requests]
    assert bodies == ["Thanks for writing, we are on it.", "Ana from Billing will help you."]
    assert all(r["form"]["To"] == ["+15551234567"] for r in provider_stub.requests)
