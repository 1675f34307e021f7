"""setup_demo makes the demo admin ready to answer in the console at once: an Available agent in the default
queue, each demo number in a workstream, so that a customer's first message is assigned to the admin; the
banner says where the console is. It creates everything once and never stops with a traceback on data that is
already there: run twice, or with the README's example TeleSign number configured on someone's own account."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from channels_app.models import Channel, MessagingAccount, PhoneNumber
from channels_app.services import NumberSpec, account_create
from devtools.management.commands.setup_demo import DEMO_ACCOUNTS, EMULATED_ACCOUNTS
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


# --- Existing data ---------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _own_var_dir(settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path  # the generated password and the emulator's certificate land here
    settings.ACS_ENDPOINT_HOSTS = ["127.0.0.1"]  # as `make run EMULATOR=1` sets it
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)


def setup_demo(*args):
    out, err = StringIO(), StringIO()
    call_command("setup_demo", "--no-banner", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def accounts():
    return sorted(MessagingAccount.objects.values_list("name", flat=True))


@pytest.mark.django_db
def test_twice_creates_everything_once_and_keeps_the_password(settings):
    setup_demo("--emulator")
    first = accounts()
    password = (settings.VAR_DIR / "demo-admin-password").read_text()

    _, err = setup_demo("--emulator")

    assert err == ""
    assert accounts() == first == sorted(name for name, *_ in [*DEMO_ACCOUNTS, *EMULATED_ACCOUNTS])
    assert (settings.VAR_DIR / "demo-admin-password").read_text() == password
    assert get_user_model().objects.filter(username="admin", is_superuser=True).count() == 1


@pytest.mark.django_db
def test_the_readme_telesign_number_already_configured_is_left_alone(telesign_account):
    # The README's example number 14252306549 is on the administrator's own TeleSign account.
    _, err = setup_demo("--emulator")

    assert "Skipped the demo account 'Emulated SMS (TeleSign)'" in err
    assert "14252306549 is already configured" in err
    assert "Emulated SMS (TeleSign)" not in accounts()
    assert {"Emulated SMS (Twilio)", "Emulated WhatsApp (Twilio)", "Emulated SMS (Azure)", "Demo SMS (sandbox)",
            "Demo WhatsApp (sandbox)"} <= set(accounts())
    assert PhoneNumber.objects.get(e164="+14252306549").account == telesign_account  # untouched
    assert get_user_model().objects.filter(username="admin").exists()


@pytest.mark.django_db
def test_a_sandbox_number_taken_by_another_account_is_reported_and_the_rest_made():
    account_create(name="My sandbox", channel=Channel.SMS, provider="sandbox",
                   numbers=[NumberSpec("+15005550006", "long_code")])

    _, err = setup_demo()

    assert "Skipped the demo account 'Demo SMS (sandbox)'" in err
    assert "Demo WhatsApp (sandbox)" in accounts()


@pytest.mark.django_db
def test_an_existing_admin_user_is_kept_as_it_is(django_user_model, settings):
    django_user_model.objects.create_user("admin", password="their own")

    setup_demo()

    user = django_user_model.objects.get(username="admin")
    assert user.check_password("their own")
    assert not (settings.VAR_DIR / "demo-admin-password").exists()
