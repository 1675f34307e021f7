from datetime import timedelta

from django.utils import timezone

from channels_app.models import Direction, Message, MessageStatus
from channels_app.policy import Received
from channels_app.services.inbound import contact_for
from outbound.inbound import reply_inbound
from outbound.models import OutboundReply, OutboundRequest, Source
from outbound.services.requests import outbound_request_create
from outbound.services.sending import outbound_request_send
from tests.outbound.conftest import contact


def _send(configuration, n=1):
    request = outbound_request_create(configuration=configuration, contacts=[contact(n)], source=Source.API)
    outbound_request_send(request_id=request.pk)
    return Message.objects.filter(direction="outbound").latest("pk")


def _reply(configuration, n=1, body="Thanks!", when=None):
    phone = configuration.phone_number
    message = Message.objects.create(
        account=phone.account, phone_number=phone, contact=contact_for(contact(n)["tocontactid"]),
        provider=phone.provider, channel=phone.channel, direction=Direction.INBOUND, body=body,
        status=MessageStatus.RECEIVED, provider_message_id=f"in-{Message.objects.count()}")
    if when:
        Message.objects.filter(pk=message.pk).update(created_at=when)
        message.refresh_from_db()
    return message


def test_a_reply_is_linked_to_the_latest_outbound_message_it_answers(sandbox_config):
    _send(sandbox_config)
    latest = _send(sandbox_config)
    reply = _reply(sandbox_config)

    link = reply_inbound.one(Received(message=reply))
    assert (link.outbound_message, link.recipient.request) == (latest, OutboundRequest.objects.latest("pk"))
    assert reply_inbound.one(Received(message=reply)) == link
    assert OutboundReply.objects.count() == 1


def test_a_reply_after_the_window_or_from_someone_else_is_not_linked(sandbox_config, settings):
    settings.OUTBOUND_REPLY_WINDOW_DAYS = 7
    sent = _send(sandbox_config)
    assert reply_inbound.one(Received(message=_reply(sandbox_config, n=2))) is None
    late = _reply(sandbox_config, when=sent.created_at + timedelta(days=8))
    assert reply_inbound.one(Received(message=late)) is None
    on_time = _reply(sandbox_config, when=timezone.now() + timedelta(days=6))
    assert reply_inbound.one(Received(message=on_time)).outbound_message == sent


def test_the_reply_handler_is_in_the_default_inbound_handlers(settings):
    assert settings.HUB_INBOUND_HANDLERS[-1] == "outbound.inbound.reply_inbound"
    assert "workstreams.inbound.conversation_inbound" in settings.HUB_INBOUND_HANDLERS


def test_a_reply_through_the_webhook_opens_a_conversation_and_is_linked(client, sandbox_config,
                                                                        django_capture_on_commit_callbacks):
    import json

    from channels_app.providers.sandbox import sign
    from workstreams.models import Conversation

    sent = _send(sandbox_config)
    account = sandbox_config.phone_number.account
    body = json.dumps({"message_id": "sb-reply-1", "from": sent.contact.address, "to": "+15005550006",
                       "body": "Is it still coming?"}).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/webhooks/sandbox/{account.webhook_token}/inbound/", data=body,
                               content_type="application/json",
                               HTTP_X_SANDBOX_SIGNATURE=sign(account.webhook_token, body))
    assert response.status_code == 200
    reply = Message.objects.get(provider_message_id="sb-reply-1")
    assert Conversation.objects.filter(contact=reply.contact, entries__message=reply).exists()
    assert OutboundReply.objects.get(reply=reply).outbound_message == sent
