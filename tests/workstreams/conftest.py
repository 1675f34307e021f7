import pytest

from channels_app.models import Direction, Message, MessageStatus
from channels_app.services.inbound import contact_for
from workstreams.inbound import inbound_message_handle
from workstreams.models import AgentProfile, Queue, Workstream, WorkstreamNumber


@pytest.fixture
def receive(db):
    """Simulate channels_app handing an inbound message upward."""
    counter = {"n": 0}

    def _receive(account, body="hello", sender="+15551234567", keyword=None, name=""):
        counter["n"] += 1
        phone = account.numbers.first()
        message = Message.objects.create(
            account=account, phone_number=phone, contact=contact_for(sender, display_name=name),
            provider=account.provider, channel=phone.channel, direction=Direction.INBOUND, body=body,
            status=MessageStatus.RECEIVED, provider_message_id=f"in-{counter['n']}")
        return inbound_message_handle(message=message, keyword=keyword)

    return _receive


@pytest.fixture
def make_agent(db, django_user_model):
    def _make(username, *, queues=(), capacity=100, presence="available", first_name=""):
        user = django_user_model.objects.create_user(username, password="pw", first_name=first_name)
        AgentProfile.objects.create(user=user, capacity=capacity, presence=presence)
        for queue in queues:
            queue.members.add(user)
        return user

    return _make


@pytest.fixture
def support_queue(db):
    return Queue.objects.create(name="Support", priority=1)


@pytest.fixture
def workstream(db, sandbox_account):
    ws = Workstream.objects.create(name="SMS support", channel="sms", capacity_per_conversation=50)
    WorkstreamNumber.objects.create(workstream=ws, phone_number=sandbox_account.numbers.get(), language="en")
    return ws
