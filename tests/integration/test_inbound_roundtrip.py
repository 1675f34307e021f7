"""Signed inbound webhook → conversation → agent reply through the API → the provider receives exactly the
expected request → signed status callback → delivered; every step after the webhook runs in a real worker."""

from urllib.parse import urlencode

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from twilio.request_validator import RequestValidator

from channels_app.models import Message
from tests.conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from tests.integration.conftest import wait_for
from workstreams.models import AgentProfile, Conversation


@pytest.fixture
def worker_env(provider_stub):
    return {"TWILIO_API_URL": provider_stub.url}


@pytest.fixture(autouse=True)
def _provider_url(settings, provider_stub):
    settings.TWILIO_API_URL = provider_stub.url


def _signed_post(client, path, params):
    sig = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(settings.PUBLIC_BASE_URL + path, params)
    return client.post(path, data=urlencode(params), content_type="application/x-www-form-urlencoded",
                       HTTP_X_TWILIO_SIGNATURE=sig)


def test_inbound_reply_delivered(celery_worker_process, provider_stub, twilio_whatsapp_account, admin_user, client):
    token = twilio_whatsapp_account.webhook_token
    inbound = {"MessageSid": "SM" + "a" * 32, "AccountSid": TWILIO_ACCOUNT_SID, "From": "whatsapp:+15551234567",
               "To": "whatsapp:+14155238886", "Body": "Is my order on its way?", "NumMedia": "0",
               "ProfileName": "Ana"}
    response = _signed_post(client, f"/webhooks/twilio/{token}/inbound/", inbound)
    assert response.status_code == 200

    conversation = wait_for(lambda: Conversation.objects.filter(contact__address="+15551234567").first(),
                            what="the worker to open the conversation")
    assert conversation.contact.display_name == "Ana"

    AgentProfile.objects.create(user=admin_user, presence="available")  # answering takes it: a present member
    conversation.queue.members.add(admin_user)
    api = APIClient()
    api.force_authenticate(admin_user)
    reply = api.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "Yes, it arrives today."},
                     format="json")
    assert reply.status_code == 201, reply.content
    message_id = reply.json()["id"]

    wait_for(lambda: provider_stub.requests, what="the worker to call the provider")
    assert len(provider_stub.requests) == 1
    sent = provider_stub.requests[0]
    assert sent["path"] == f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"
    assert sent["headers"]["Authorization"].startswith("Basic ")
    status_url = f"{settings.PUBLIC_BASE_URL}/webhooks/twilio/{token}/status/?message={message_id}"
    assert sent["form"] == {"To": ["whatsapp:+15551234567"], "From": ["whatsapp:+14155238886"],
                            "Body": ["Yes, it arrives today."], "StatusCallback": [status_url]}

    message = wait_for(lambda: Message.objects.filter(pk=message_id, status="sent").first(),
                       what="the message to be marked sent")
    callback = {"MessageSid": message.provider_message_id, "MessageStatus": "delivered",
                "AccountSid": TWILIO_ACCOUNT_SID, "ChannelPrefix": "whatsapp"}
    path = f"/webhooks/twilio/{token}/status/?message={message_id}"
    assert _signed_post(client, path, callback).status_code == 200
    wait_for(lambda: Message.objects.filter(pk=message_id, status="delivered").exists(),
             what="the status callback to mark the message delivered")
