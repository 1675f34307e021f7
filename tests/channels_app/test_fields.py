import pytest
from cryptography.fernet import Fernet
from django.db import connection

from channels_app.models import MessagingAccount
from channels_app.services import encryption_keys_rotate
from tests.conftest import TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID, TWILIO_AUTH_TOKEN


def _raw(account, column):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM channels_app_messagingaccount WHERE id = %s", [account.pk])
        return cursor.fetchone()[0]


def test_secrets_are_not_stored_in_plaintext(telesign_account, twilio_sms_account):
    assert TELESIGN_API_KEY not in _raw(telesign_account, "config")
    assert TELESIGN_CUSTOMER_ID not in _raw(telesign_account, "config")
    assert _raw(telesign_account, "config").startswith("fernet:")
    assert TWILIO_AUTH_TOKEN not in _raw(twilio_sms_account, "config")
    # ... and read back as the plaintext.
    assert MessagingAccount.objects.get(pk=telesign_account.pk).credential("api_key") == TELESIGN_API_KEY


def test_a_database_dump_holds_no_secret(telesign_account, twilio_sms_account, tmp_path):
    from django.core.management import call_command

    out = tmp_path / "dump.json"
    call_command("dumpdata", "channels_app", output=str(out))
    text = out.read_text()
    for secret in (TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID, TWILIO_AUTH_TOKEN):
        assert secret not in text


def test_key_rotation_reencrypts_with_the_new_key(telesign_account, settings):
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    new = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert encryption_keys_rotate() == {"channels_app.MessagingAccount": 1, "workstreams.Bot": 0}
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert MessagingAccount.objects.get(pk=telesign_account.pk).credential("api_key") == TELESIGN_API_KEY


def test_a_missing_key_is_a_clear_configuration_error(telesign_account, settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ImproperlyConfigured, match="rotate_encryption_keys"):
        MessagingAccount.objects.get(pk=telesign_account.pk)


def test_a_dump_loads_back_with_its_secrets(telesign_account, tmp_path):
    from django.core.management import call_command

    out = tmp_path / "dump.json"
    call_command("dumpdata", "channels_app.messagingaccount", output=str(out))
    MessagingAccount.objects.all().delete()
    call_command("loaddata", str(out), verbosity=0)
    assert MessagingAccount.objects.get(pk=telesign_account.pk).credential("api_key") == TELESIGN_API_KEY


def test_key_rotation_covers_every_encrypted_field_of_every_app(telesign_account, settings):
    from workstreams.models import Bot

    old = settings.FIELD_ENCRYPTION_KEYS[0]
    bot = Bot.objects.create(name="Remote", kind="http", url="https://bot.example/hook", secret="bot-s3cret")
    new = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert encryption_keys_rotate() == {"channels_app.MessagingAccount": 1, "workstreams.Bot": 1}
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert Bot.objects.get(pk=bot.pk).secret == "bot-s3cret"
    assert MessagingAccount.objects.get(pk=telesign_account.pk).credential("api_key") == TELESIGN_API_KEY
