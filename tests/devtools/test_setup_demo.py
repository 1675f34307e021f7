"""setup_demo makes the demo admin ready to answer in the console at once: an Available agent in the default
queue, each demo number in a workstream, so that a customer's first message is assigned to the admin; the
banner says where the console is."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from workstreams.models import AgentProfile, Conversation, ConversationState, Presence, Queue, WorkstreamNumber
from workstreams.services.distribution import assignment_cycle


@pytest.fixture
def demo(db, settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "demo-password")
    out = StringIO()
    call_command("setup_demo", stdout=out)
    return out.getvalue()


def test_the_demo_admin_is_an_available_agent_in_the_default_queue(demo):
    admin = get_user_model().objects.get(username="admin")
    assert AgentProfile.objects.get(user=admin).presence == Presence.AVAILABLE
    assert Queue.objects.get(is_default=True).members.filter(pk=admin.pk).exists()
    assert admin.get_full_name() == "Demo Admin"  # what customers see as {AgentName}, not "admin"
    assert WorkstreamNumber.objects.count() == 2  # the sandbox SMS and WhatsApp numbers
    assert "Console:  http://127.0.0.1:8000/console/" in demo


def test_a_customers_first_message_goes_to_the_admin(demo, receive):
    from channels_app.models import MessagingAccount

    receive(MessagingAccount.objects.get(name="Demo SMS (sandbox)"), "Hi!", sender="+15551234567")
    assignment_cycle()
    conversation = Conversation.objects.get(contact__address="+15551234567")
    assert (conversation.state, conversation.agent.username) == (ConversationState.ACTIVE, "admin")


def test_running_it_again_creates_nothing_more(demo):
    call_command("setup_demo", "--no-banner", stdout=StringIO())
    assert AgentProfile.objects.count() == 1 and WorkstreamNumber.objects.count() == 2
