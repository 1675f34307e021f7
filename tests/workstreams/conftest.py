import pytest

from workstreams.models import AgentProfile, Queue, Workstream, WorkstreamNumber


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
