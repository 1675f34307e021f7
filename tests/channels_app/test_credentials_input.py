"""Credentials and names are checked where they are typed: the admin, the API and the command refuse what a
provider call would choke on later, each saying which field is wrong and how."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from channels_app.models import MessagingAccount
from tests.channels_app.test_admin import add_data
from tests.conftest import TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(django_user_model):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_superuser("ops", "ops@example.com", "pw"))
    return client

#: (provider, credentials, the field at fault, what the message says)
BAD = [
    ("twilio", {"account_sid": TWILIO_ACCOUNT_SID, "auth_token": "tökén"}, "auth_token", "printable ASCII"),
    ("twilio", {"account_sid": TWILIO_ACCOUNT_SID, "auth_token": "tok\u2028en"}, "auth_token", "U+2028"),
    ("twilio", {"account_sid": TWILIO_ACCOUNT_SID, "auth_token": "two words"}, "auth_token", "no spaces"),
    ("twilio", {"account_sid": "AC-not-a-sid", "auth_token": TWILIO_AUTH_TOKEN}, "account_sid",
     "32 hexadecimal characters"),
    ("telesign", {"customer_id": TELESIGN_CUSTOMER_ID, "api_key": "not-base64!"}, "api_key", "not valid base64"),
    ("telesign", {"customer_id": TELESIGN_CUSTOMER_ID, "api_key": "EXAMPLE----" + TELESIGN_API_KEY}, "api_key",
     "not valid base64"),
    ("telesign", {"customer_id": "Kunde-Ü", "api_key": TELESIGN_API_KEY}, "customer_id", "printable ASCII"),
    ("acs", {"endpoint": "http://res.communication.azure.com", "access_key": "cHc="}, "endpoint", "https URL"),
    ("acs", {"endpoint": "https://intranet.example/", "access_key": "cHc="}, "endpoint", "not an ACS resource host"),
    ("acs", {"endpoint": "https://res.communication.azure.com", "access_key": "pw"}, "access_key",
     "not valid base64"),
]


@pytest.mark.parametrize(("provider", "credentials", "field", "says"), BAD, ids=lambda v: str(v)[:30])
def test_the_api_refuses_bad_credentials(manager, provider, credentials, field, says):
    response = manager.post("/api/v1/accounts/", {"name": "Bad", "provider": provider, "channel": "sms",
                                                  **credentials}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field and says in response.json()["detail"]
    assert not MessagingAccount.objects.exists()


@pytest.mark.parametrize(("provider", "credentials", "field", "says"), BAD, ids=lambda v: str(v)[:30])
def test_the_admin_refuses_bad_credentials(admin_client, provider, credentials, field, says):
    response = admin_client.post(reverse("admin:channels_app_messagingaccount_add"),
                                 add_data(name="Bad", provider=provider, channel="sms", **credentials))
    assert response.status_code == 200
    assert says in str(response.context["adminform"].form.errors.get(field, ""))
    assert not MessagingAccount.objects.exists()


@pytest.mark.parametrize(("provider", "credentials", "field", "says"), BAD, ids=lambda v: str(v)[:30])
def test_the_command_refuses_bad_credentials(provider, credentials, field, says):
    options = [f"--{name.replace('_', '-')}={value}" for name, value in credentials.items()]
    with pytest.raises(CommandError) as refused:
        call_command("create_messaging_account", "--provider", provider, "--channel", "sms", "--name", "Bad",
                     *options, stdout=StringIO())
    assert str(refused.value).startswith(f"--{field.replace('_', '-')}: ") and says in str(refused.value)
    assert not MessagingAccount.objects.exists()


def test_a_300_character_name_is_refused_with_the_limit_and_a_non_zero_exit(capsys):
    import subprocess
    import sys

    with pytest.raises(CommandError, match="--name: The name is 300 characters; the limit is 100."):
        call_command("create_messaging_account", "--provider", "sandbox", "--channel", "sms", "--name", "n" * 300,
                     stdout=StringIO())
    # As a process: a message on stderr and exit status 1, no traceback.
    done = subprocess.run([sys.executable, "manage.py", "create_messaging_account", "--provider", "sandbox",
                           "--channel", "sms", "--name", "n" * 300], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "the limit is 100" in done.stderr and "Traceback" not in done.stderr
    assert not MessagingAccount.objects.exists()


def test_the_api_refuses_a_name_over_the_limit(manager):
    response = manager.post("/api/v1/accounts/", {"name": "n" * 101, "provider": "sandbox", "channel": "sms"},
                            format="json")
    assert response.status_code == 400 and response.json()["field"] == "name"


def test_an_acs_connection_string_fills_both_fields(manager):
    response = manager.post("/api/v1/accounts/", {
        "name": "ACS", "provider": "acs", "channel": "sms",
        "access_key": "endpoint=https://res.communication.azure.com/;accesskey=cHc="}, format="json")
    assert response.status_code == 201, response.content
    account = MessagingAccount.objects.get()
    assert account.credentials() == {"endpoint": "https://res.communication.azure.com", "access_key": "cHc="}
