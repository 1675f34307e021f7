import pytest

from channels_app.models import Direction, Message, MessageStatus
from channels_app.services.inbound import contact_for
from workstreams.inbound import inbound_message_handle


@pytest.fixture
def receive(db):
    """Simulate channels_app handing an inbound message upward."""
    counter = {"n": 0}

    def _receive(account, body="hello", sender="+15551234567"):
        counter["n"] += 1
        phone = account.numbers.first()
        message = Message.objects.create(
            account=account, phone_number=phone, contact=contact_for(sender), provider=account.provider,
            channel=phone.channel, direction=Direction.INBOUND, body=body, status=MessageStatus.RECEIVED,
            provider_message_id=f"in-{counter['n']}")
        return inbound_message_handle(message=message)

    return _receive
