import pytest

from workstreams.models import (
    AgentProfile,
    Conversation,
    ConversationState,
    Queue,
    WhatsAppTemplate,
    Workstream,
    WorkstreamNumber,
)


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


# --- The access world: one conversation, every kind of user --------------------------------------


def supervisors_group():
    """The Supervisors group its migration creates (again, after a transactional test's flush removed it)."""
    from importlib import import_module

    from django.apps import apps
    from django.contrib.auth.models import Group

    if not Group.objects.filter(name="Supervisors").exists():
        import_module("workstreams.migrations.0008_supervisors_group").create_supervisors_group(apps, None)
    return Group.objects.get(name="Supervisors")

ROLES = ["agent-owner", "agent-same-queue", "agent-other-queue", "supervisor-of-queue", "supervisor-elsewhere",
         "admin", "staff-without-profile", "non-staff"]


@pytest.fixture
def access_world(db, django_user_model, twilio_whatsapp_account):
    """A WhatsApp workstream routing to Support; Billing beside it; a user for each role; Tom, an agent of
    Support who is the target of transfers and reassignments. ``world.conversation(state)`` makes Ana's
    conversation in the state an action needs."""
    from django.contrib.auth.models import Permission

    from workstreams.models import RoutingRule

    support = Queue.objects.create(name="Support", priority=2)
    billing = Queue.objects.create(name="Billing", priority=1)
    workstream = Workstream.objects.create(name="WhatsApp support", channel="whatsapp")
    number = WorkstreamNumber.objects.create(workstream=workstream,
                                             phone_number=twilio_whatsapp_account.numbers.get())
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support)
    console_perms = list(Permission.objects.filter(content_type__app_label="workstreams",
                                                   codename__in=["view_conversation", "change_conversation"]))
    supervisors = supervisors_group()

    def user(username, *, staff=True, profile=True, queues=(), perms=True, superuser=False):
        u = django_user_model.objects.create_user(username, password="pw", is_staff=staff, is_superuser=superuser,
                                                  first_name=username.title())
        if profile:
            AgentProfile.objects.create(user=u, presence="available")
        for queue in queues:
            queue.members.add(u)
        if perms:
            u.user_permissions.add(*console_perms)
        return u

    users = {
        "agent-owner": user("ana", queues=[support]),
        "agent-same-queue": user("sam", queues=[support]),
        "agent-other-queue": user("otto", queues=[billing]),
        "supervisor-of-queue": user("sue", profile=False, perms=False),
        "supervisor-elsewhere": user("eli", profile=False, perms=False),
        "admin": user("root", profile=False, perms=False, superuser=True),
        "staff-without-profile": user("stan", profile=False),
        "non-staff": user("nora", staff=False, queues=[support]),
    }
    for name in ("supervisor-of-queue", "supervisor-elsewhere"):
        users[name].groups.add(supervisors)
    support.supervisors.add(users["supervisor-of-queue"])
    billing.supervisors.add(users["supervisor-elsewhere"])
    tom = user("tom", queues=[support])

    class World:
        pass

    world = World()
    world.support, world.billing, world.workstream, world.number = support, billing, workstream, number
    world.users, world.tom, world.account = users, tom, twilio_whatsapp_account
    world.template = WhatsAppTemplate.objects.create(number=number, name="update", text="Hi {{1}}",
                                                     content_sid="HX" + "c" * 32)

    def conversation(state="active"):
        from channels_app.models import Direction, Message, MessageStatus
        from channels_app.policy import Received
        from channels_app.services.inbound import contact_for
        from workstreams.inbound import conversation_inbound

        phone = twilio_whatsapp_account.numbers.get()
        inbound = Message.objects.create(
            account=twilio_whatsapp_account, phone_number=phone, contact=contact_for("+15551234567"),
            provider=twilio_whatsapp_account.provider, channel=phone.channel, direction=Direction.INBOUND,
            body="Where is my parcel?", status=MessageStatus.RECEIVED,
            provider_message_id=f"SM-world-{Message.objects.count()}")
        item = conversation_inbound.one(Received(message=inbound))
        assert item.queue == support and item.state == ConversationState.OPEN
        if state != "open":
            Conversation.objects.filter(pk=item.pk).update(state=state, agent=users["agent-owner"])
        item.refresh_from_db()
        return item

    world.conversation = conversation
    return world
