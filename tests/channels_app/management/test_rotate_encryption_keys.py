import json
from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from channels_app import crypto
from channels_app.models import MessagingAccount
from channels_app.services import account_create
from tests.conftest import TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from workstreams.models import Bot

pytestmark = pytest.mark.django_db

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
def raw_config(pk):
    """The account's credentials column as stored: one Fernet token."""
    table = MessagingAccount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT config FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def plain(stored, key):
    return Fernet(key.encode()).decrypt(stored[len(crypto.PREFIX):].encode()).decode()


def test_rotation_re_encrypts_every_secret_with_the_new_key():
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD]):
        telesign = account_create(name="TeleSign", channel="sms", provider="telesign",
                                  credentials={"customer_id": TELESIGN_CUSTOMER_ID, "api_key": TELESIGN_API_KEY})
        twilio = account_create(name="Twilio", channel="sms", provider="twilio",
                                credentials={"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN})
        account_create(name="Sandbox", channel="sms", provider="sandbox")
    assert json.loads(plain(raw_config(twilio.pk), OLD))["auth_token"] == TWILIO_AUTH_TOKEN

    out = StringIO()
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW, OLD]):
        call_command("rotate_encryption_keys", stdout=out)

    # The sandbox account holds no secret: nothing to re-encrypt.
    assert out.getvalue() == ("Re-encrypted with the first key: channels_app.MessagingAccount 2 rows, "
                              "workstreams.Bot 0 rows.\n")
    expected = {
        telesign.pk: {"customer_id": TELESIGN_CUSTOMER_ID, "api_key": TELESIGN_API_KEY},
        twilio.pk: {"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN},
    }
    for pk, secrets in expected.items():
        raw = raw_config(pk)
        for value in secrets.values():
            assert value not in raw
        assert json.loads(plain(raw, NEW)) == secrets
        with pytest.raises(InvalidToken):
            plain(raw, OLD)
    # The old key can now be dropped.
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW]):
        assert MessagingAccount.objects.get(pk=twilio.pk).credentials() == expected[twilio.pk]
        assert MessagingAccount.objects.get(pk=telesign.pk).credentials() == expected[telesign.pk]


def test_a_secret_no_key_decrypts_is_reported():
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD]):
        account_create(name="Twilio", channel="sms", provider="twilio",
                       credentials={"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN})

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW]), pytest.raises(CommandError, match="FIELD_ENCRYPTION_KEYS"):
        call_command("rotate_encryption_keys", stdout=StringIO())


def test_rotation_re_encrypts_the_encrypted_fields_of_every_app():
    """A bot's secret lives in workstreams, above channels_app: it is rotated all the same."""
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD]):
        bot = Bot.objects.create(name="Remote", kind="http", url="https://bot.example/hook", secret="bot-s3cret")
        Bot.objects.create(name="Rules", kind="rules")  # no secret: left alone
        account_create(name="Twilio", channel="sms", provider="twilio",
                       credentials={"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN})

    out = StringIO()
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW, OLD]):
        call_command("rotate_encryption_keys", stdout=out)

    assert out.getvalue() == ("Re-encrypted with the first key: channels_app.MessagingAccount 1 row, "
                              "workstreams.Bot 1 row.\n")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {Bot._meta.db_table} WHERE id = %s", [bot.pk])
        stored = cursor.fetchone()[0]
    assert plain(stored, NEW) == "bot-s3cret"
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW]):
        assert Bot.objects.get(pk=bot.pk).secret == "bot-s3cret"
