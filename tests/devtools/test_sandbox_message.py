import pytest
from django.core.management import CommandError, call_command

from channels_app.models import InboundEvent


def test_sandbox_message_posts_a_signed_webhook(sandbox_account, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    call_command("sandbox_message", "--to", "+15005550006", "--from", "+15551234567", "--text", "hello")
    event = InboundEvent.objects.get()
    assert event.account == sandbox_account and b'"body": "hello"' in bytes(event.body)


def test_sandbox_message_names_the_bad_number(sandbox_account):
    with pytest.raises(CommandError, match="not a sandbox number .*\\+15005550006"):
        call_command("sandbox_message", "--to", "+19999999999", "--from", "+15551234567", "--text", "hi")


def test_sandbox_message_says_when_the_hub_is_down(sandbox_account, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"
    with pytest.raises(CommandError, match="Is the hub running"):
        call_command("sandbox_message", "--to", "+15005550006", "--from", "+15551234567", "--text", "hi")
