import pytest
import requests

from channels_app.models import Message, MessagingAccount
from channels_app.providers import sandbox
from tests.conftest import TWILIO_ACCOUNT_SID

TWILIO_ACCOUNT_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}.json"
TWILIO_MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"


def validate_url(account):
    return f"/api/v1/accounts/{account.pk}/validate/"


def test_message_url(account):
    return f"/api/v1/accounts/{account.pk}/test-message/"


test_message_url.__test__ = False


@pytest.mark.parametrize(
    ("answer", "status", "valid", "code", "says"),
    [
        ({"status": 200, "json": {"sid": TWILIO_ACCOUNT_SID, "status": "active", "friendly_name": "Support"}},
         "valid", True, "", "Twilio account Support is active"),
        ({"status": 200, "json": {"sid": TWILIO_ACCOUNT_SID, "status": "suspended"}},
         "invalid", False, "account_suspended", "suspended"),
        ({"status": 401, "json": {"code": 20003, "message": "Authenticate", "status": 401}},
         "invalid", False, "20003", "Authenticate"),
        ({"body": requests.ConnectionError("Connection refused")},
         "unreachable", False, "", "could not reach api.twilio.com"),
        ({"status": 503, "body": "upstream down"}, "error", False, "503", "HTTP 503"),
    ],
    ids=["active", "suspended", "bad-credentials", "connection-error", "server-error"],
)
def test_validate_reports_and_records_the_providers_answer(manager, twilio_sms_account, mocked_http,
                                                           answer, status, valid, code, says):
    mocked_http.get(TWILIO_ACCOUNT_URL, **answer)

    response = manager.post(validate_url(twilio_sms_account))

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["validation_status"], body["valid"], body["validation_code"]) == (status, valid, code)
    assert says in body["validation_message"]
    assert body["validated_at"]
    shown = manager.get(f"/api/v1/accounts/{twilio_sms_account.pk}/").json()
    assert (shown["validation_status"], shown["validation_code"]) == (status, code)
    assert says in shown["validation_message"]


def test_validate_needs_change_permission(make_client, twilio_sms_account, mocked_http):
    client = make_client("view_messagingaccount")

    assert client.post(validate_url(twilio_sms_account)).status_code == 403
    assert len(mocked_http.calls) == 0
    assert MessagingAccount.objects.get(pk=twilio_sms_account.pk).validated_at is None


def test_test_message_through_the_sandbox_lands_in_its_outbox(manager, sandbox_account):
    response = manager.post(test_message_url(sandbox_account), {"to": "+14155550123", "text": "Hello from the hub"},
                            format="json")

    assert response.status_code == 200, response.content
    assert len(sandbox.outbox) == 1
    sent = sandbox.outbox[0]
    message = Message.objects.get()
    assert response.json() == {"message_id": message.pk, "provider_message_id": sent["id"], "status": "sent"}
    assert (message.kind, message.provider_message_id, message.body) == ("test", sent["id"], "Hello from the hub")
    assert (sent["to"], sent["from"], sent["body"]) == ("+14155550123", "+15005550006", "Hello from the hub")


def test_test_message_from_a_chosen_number(manager, sandbox_account):
    manager.post(f"/api/v1/accounts/{sandbox_account.pk}/numbers/", {"number": "44222", "number_type": "short_code"},
                 format="json")

    response = manager.post(test_message_url(sandbox_account),
                            {"to": "+14155550123", "text": "Hi", "from_number": "44222"}, format="json")

    assert response.status_code == 200, response.content
    assert sandbox.outbox[0]["from"] == "44222"


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"to": "not a number", "text": "Hi"}, "to", "to_invalid"),
        ({"to": "+14155550123", "text": "   "}, "text", "body_required"),
        ({"to": "+14155550123", "text": "x" * 1601}, "text", "body_too_long"),
        ({"to": "+14155550123", "text": "Hi", "from_number": "+14155559999"}, "from_number", "from_invalid"),
        ({"text": "Hi"}, "to", "required"),
    ],
    ids=["bad-to", "blank-text", "too-long", "foreign-from", "missing-to"],
)
def test_test_message_refusals_name_the_field(manager, sandbox_account, payload, field, code):
    response = manager.post(test_message_url(sandbox_account), payload, format="json")

    assert response.status_code == 400
    assert (response.json()["field"], response.json()["error"]) == (field, code)
    assert sandbox.outbox == []


def test_test_message_refused_for_an_inactive_account(manager, sandbox_account):
    manager.patch(f"/api/v1/accounts/{sandbox_account.pk}/", {"is_active": False}, format="json")

    response = manager.post(test_message_url(sandbox_account), {"to": "+14155550123", "text": "Hi"}, format="json")

    # The account rule every send obeys: a conflict with the account's state, as for a reply.
    assert response.status_code == 409
    assert response.json()["error"] == "account_inactive"
    assert sandbox.outbox == []


def test_test_message_refused_by_the_provider_is_502_with_its_reason(manager, twilio_sms_account, mocked_http):
    mocked_http.post(TWILIO_MESSAGES_URL, status=400,
                     json={"code": 21211, "message": "The 'To' number +14155550123 is not a valid phone number."})

    response = manager.post(test_message_url(twilio_sms_account), {"to": "+14155550123", "text": "Hi"},
                            format="json")

    assert response.status_code == 502
    assert response.json()["error"] == "provider_error"
    assert "21211" in response.json()["detail"]


def test_test_message_needs_change_permission(make_client, sandbox_account):
    client = make_client("view_messagingaccount")

    response = client.post(test_message_url(sandbox_account), {"to": "+14155550123", "text": "Hi"}, format="json")

    assert response.status_code == 403
    assert sandbox.outbox == []
