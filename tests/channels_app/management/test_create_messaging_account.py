import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from channels_app.models import MessagingAccount, PhoneNumber
from tests.conftest import TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN

pytestmark = pytest.mark.django_db


def create(*args):
    out = StringIO()
    call_command("create_messaging_account", *args, stdout=out)
    text = out.getvalue()
    return json.loads(text), text


def test_prints_the_account_as_json_without_secrets():
    data, text = create("--provider", "telesign", "--channel", "sms", "--name", "TeleSign US",
                        "--customer-id", TELESIGN_CUSTOMER_ID, "--api-key", TELESIGN_API_KEY,
                        "--number", "14252306549", "--number", "12065550100")

    account = MessagingAccount.objects.get(pk=data["id"])
    assert (data["name"], data["provider"], data["channel"], data["is_active"]) == (
        "TeleSign US", "telesign", "sms", True)
    assert [(n["number"], n["type"]) for n in data["numbers"]] == [
        ("14252306549", "geographic"), ("12065550100", "geographic")]
    assert all(n["id"] for n in data["numbers"])
    assert data["callback_urls"] == account.callback_urls()
    assert TELESIGN_API_KEY not in text and TELESIGN_CUSTOMER_ID not in text
    assert account.credentials() == {"customer_id": TELESIGN_CUSTOMER_ID, "api_key": TELESIGN_API_KEY}


def test_credentials_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", TWILIO_ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TWILIO_AUTH_TOKEN)

    data, text = create("--provider", "twilio", "--channel", "sms", "--name", "Twilio US",
                        "--number", "44222", "--number", "44223", "--number-type", "short_code",
                        "--inactive")

    account = MessagingAccount.objects.get(pk=data["id"])
    assert account.credentials() == {"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN}
    assert account.is_active is False and data["is_active"] is False
    assert [(n["number"], n["type"]) for n in data["numbers"]] == [("44222", "short_code"), ("44223", "short_code")]
    assert TWILIO_AUTH_TOKEN not in text
    assert set(data["callback_urls"]) == {"inbound", "status"}


def test_command_line_credentials_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "b" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "from-the-environment")

    data, _ = create("--provider", "twilio", "--channel", "sms", "--name", "Twilio US",
                     "--account-sid", TWILIO_ACCOUNT_SID, "--auth-token", TWILIO_AUTH_TOKEN)

    assert MessagingAccount.objects.get(pk=data["id"]).credentials() == {
        "account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN}


def test_whatsapp_numbers_are_named_after_the_account_by_default():
    data, _ = create("--provider", "sandbox", "--channel", "whatsapp", "--name", "Demo WhatsApp",
                     "--number", "+14155238886")

    assert data["numbers"] == [{"id": data["numbers"][0]["id"], "number": "+14155238886", "type": "",
                                "name": "Demo WhatsApp"}]


def test_number_name_option_names_every_number():
    data, _ = create("--provider", "sandbox", "--channel", "sms", "--name", "Demo",
                     "--number", "+14155550100", "--number-name", "Front desk")

    assert [(n["name"], n["type"]) for n in data["numbers"]] == [("Front desk", "long_code")]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--provider", "telesign", "--channel", "sms", "--number", "14252306549", "--number", "+1 425 230 6549"],
         ["--number", "digits only, country code first", "14252306549"]),
        (["--provider", "twilio", "--channel", "whatsapp", "--number", "14155238886"],
         ["--number", "E.164 with a leading +"]),
        (["--provider", "telesign", "--channel", "whatsapp"], ["--channel", "SMS only"]),
        (["--provider", "telesign", "--channel", "sms", "--api-key", ""], ["--api-key", "API key is required"]),
        (["--provider", "telesign", "--channel", "sms", "--number", "14252306549", "--number-type", "long_code"],
         ["--number-type", "long_code"]),
        (["--provider", "twilio", "--channel", "whatsapp", "--number", "+14155238886", "--number-type",
          "long_code"], ["--number-type", "WhatsApp"]),
        (["--provider", "sandbox", "--channel", "sms", "--auth-token", "stray"], ["--auth-token", "do not use"]),
        (["--provider", "telesign", "--channel", "sms", "--api-key", "not-base64!"], ["--api-key", "not valid base64"]),
        (["--provider", "sandbox", "--channel", "sms", "--name", "x" * 300], ["--name", "300 characters", "100"]),
        (["--provider", "twilio", "--channel", "sms", "--auth-token", "tökén-€"], ["--auth-token"]),
    ],
    ids=["telesign-format", "whatsapp-format", "telesign-whatsapp", "missing-api-key", "wrong-type",
         "whatsapp-type", "foreign-credential", "api-key-not-base64", "name-300", "token-not-latin-1"],
)
def test_refusals_name_the_option_and_save_nothing(monkeypatch, args, says):
    for variable in ("TELESIGN_CUSTOMER_ID", "TELESIGN_API_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    credentials = {
        "telesign": ["--customer-id", TELESIGN_CUSTOMER_ID, "--api-key", TELESIGN_API_KEY],
        "twilio": ["--account-sid", TWILIO_ACCOUNT_SID, "--auth-token", TWILIO_AUTH_TOKEN],
        "sandbox": [],
    }[args[1]]

    with pytest.raises(CommandError) as raised:
        create("--name", "Refused", *credentials, *args)

    for text in says:
        assert text in str(raised.value)
    assert MessagingAccount.objects.count() == 0
    assert PhoneNumber.objects.count() == 0


def test_a_taken_name_is_refused(sandbox_account):
    with pytest.raises(CommandError, match="--name: An account named 'Sandbox SMS' already exists"):
        create("--provider", "sandbox", "--channel", "sms", "--name", "Sandbox SMS")
    assert MessagingAccount.objects.count() == 1


def test_an_unknown_provider_is_refused_by_the_parser():
    with pytest.raises(CommandError, match="--provider"):
        create("--provider", "nexmo", "--channel", "sms", "--name", "X")
