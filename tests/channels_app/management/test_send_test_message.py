from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from channels_app.providers import sandbox


def send(*args):
    out = StringIO()
    call_command("send_test_message", *args, stdout=out)
    return out.getvalue()


def test_prints_the_provider_message_id(sandbox_account):
    output = send("--account", "Sandbox SMS", "--to", "+14155550123", "--text", "Hello")

    assert len(sandbox.outbox) == 1
    assert output == sandbox.outbox[0]["id"] + "\n"
    assert (sandbox.outbox[0]["to"], sandbox.outbox[0]["body"]) == ("+14155550123", "Hello")


def test_the_account_may_be_given_by_id_and_the_sender_chosen(sandbox_account):
    send("--account", str(sandbox_account.pk), "--to", "+14155550123", "--text", "Hi", "--from", "+15005550006")

    assert sandbox.outbox[0]["from"] == "+15005550006"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--to", "12", "--text", "Hi"], "--to: '12' is not a phone number in E.164 form, e.g. +14155550100."),
        (["--to", "+14155550123", "--text", " "], "--text: The message is empty."),
        (["--to", "+14155550123", "--text", "Hi", "--from", "+14155559999"],
         "--from: +14155559999 is not a number of account 'Sandbox SMS'."),
    ],
    ids=["bad-to", "blank-text", "foreign-from"],
)
def test_refusals_exit_non_zero_with_the_reason(sandbox_account, args, says):
    with pytest.raises(CommandError) as raised:
        send("--account", "Sandbox SMS", *args)

    assert str(raised.value) == says
    assert sandbox.outbox == []


def test_an_inactive_account_sends_nothing(sandbox_account):
    sandbox_account.is_active = False
    sandbox_account.save()

    with pytest.raises(CommandError, match="--account: Account 'Sandbox SMS' is inactive."):
        send("--account", "Sandbox SMS", "--to", "+14155550123", "--text", "Hi")
    assert sandbox.outbox == []
