from io import StringIO

import pytest
import requests
from django.core.management import CommandError, call_command

from channels_app.models import MessagingAccount
from tests.conftest import TWILIO_ACCOUNT_SID

TWILIO_ACCOUNT_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}.json"
ACTIVE = {"sid": TWILIO_ACCOUNT_SID, "status": "active", "friendly_name": "Support"}


def run(*args):
    out = StringIO()
    call_command("validate_accounts", *args, stdout=out)
    return out.getvalue()


def test_all_valid_exits_zero_and_prints_one_line_per_account(sandbox_account, twilio_sms_account, mocked_http):
    mocked_http.get(TWILIO_ACCOUNT_URL, json=ACTIVE)

    lines = run().splitlines()

    assert lines == [
        "Sandbox SMS: valid - Sandbox accounts need no credentials.",
        "Twilio SMS: valid - Twilio account Support is active.",
    ]
    assert set(MessagingAccount.objects.values_list("validation_status", flat=True)) == {"valid"}


def test_an_invalid_account_makes_it_exit_non_zero(sandbox_account, twilio_sms_account, mocked_http):
    mocked_http.get(TWILIO_ACCOUNT_URL, status=401, json={"code": 20003, "message": "Authenticate", "status": 401})
    out = StringIO()

    with pytest.raises(CommandError, match="1 of 2 accounts are not valid: Twilio SMS"):
        call_command("validate_accounts", stdout=out)

    assert "Sandbox SMS: valid" in out.getvalue()
    assert "Twilio SMS: invalid (20003) - Authenticate" in out.getvalue()
    twilio_sms_account.refresh_from_db()
    assert (twilio_sms_account.validation_status, twilio_sms_account.validation_code) == ("invalid", "20003")


def test_an_unreachable_provider_is_not_valid(twilio_sms_account, mocked_http):
    mocked_http.get(TWILIO_ACCOUNT_URL, body=requests.ConnectionError("Connection refused"))
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("validate_accounts", stdout=out)

    assert "Twilio SMS: unreachable - could not reach api.twilio.com" in out.getvalue()


def test_only_the_given_accounts_by_name_or_id(sandbox_account, twilio_sms_account, mocked_http):
    MessagingAccount.objects.filter(pk=sandbox_account.pk).update(is_active=False)

    output = run("--account", "Sandbox SMS", "--account", str(sandbox_account.pk))

    assert output.splitlines() == ["Sandbox SMS: valid - Sandbox accounts need no credentials."]
    assert len(mocked_http.calls) == 0


def test_inactive_accounts_are_skipped_by_default(sandbox_account):
    MessagingAccount.objects.filter(pk=sandbox_account.pk).update(is_active=False)

    assert run() == "No active messaging accounts.\n"


def test_an_unknown_account_is_refused(db):
    with pytest.raises(CommandError, match="--account: no messaging account is named or numbered 'Nope'"):
        run("--account", "Nope")
