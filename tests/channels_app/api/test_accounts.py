import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from channels_app.models import MessagingAccount, PhoneNumber, ValidationStatus
from tests.conftest import TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN

ACCOUNTS = "/api/v1/accounts/"
SECRETS = (TELESIGN_CUSTOMER_ID, TELESIGN_API_KEY, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
SECRET_FIELDS = ("customer_id", "api_key", "account_sid", "auth_token")

TELESIGN = {"name": "TeleSign US", "provider": "telesign", "channel": "sms",
            "customer_id": TELESIGN_CUSTOMER_ID, "api_key": TELESIGN_API_KEY}


def assert_no_secrets(response):
    body = response.content.decode()
    for secret in SECRETS:
        assert secret not in body
    for field in SECRET_FIELDS:
        assert f'"{field}"' not in body


def detail(account):
    return f"{ACCOUNTS}{account.pk}/"


# --- authentication and permissions ---------------------------------------------------------

def test_a_token_authenticates(django_user_model, twilio_sms_account):
    user = django_user_model.objects.create_superuser("ops", "ops@example.com", "pw-unused-in-tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    response = client.get(ACCOUNTS)

    assert response.status_code == 200
    assert [a["name"] for a in response.json()["results"]] == ["Twilio SMS"]


@pytest.mark.parametrize("header", [None, "Token not-a-real-token"])
def test_no_or_bad_token_is_401(db, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get(ACCOUNTS).status_code == 401
    assert client.post(ACCOUNTS, {"name": "x"}, format="json").status_code == 401


def test_a_user_without_model_permissions_is_refused(make_client, twilio_sms_account):
    client = make_client()

    assert client.get(ACCOUNTS).status_code == 403
    assert client.get(detail(twilio_sms_account)).status_code == 403
    assert client.post(ACCOUNTS, {**TELESIGN}, format="json").status_code == 403
    assert client.patch(detail(twilio_sms_account), {"name": "Renamed"}, format="json").status_code == 403
    assert MessagingAccount.objects.count() == 1
    assert MessagingAccount.objects.get().name == "Twilio SMS"


def test_a_view_only_user_reads_but_cannot_create(make_client, twilio_sms_account):
    client = make_client("view_messagingaccount")

    assert client.get(detail(twilio_sms_account)).status_code == 200
    assert client.post(ACCOUNTS, {"name": "S", "provider": "sandbox", "channel": "sms"},
                       format="json").status_code == 403


# --- secrets ----------------------------------------------------------------------------------

def test_secrets_never_appear_in_any_response(manager, telesign_account):
    created = manager.post(ACCOUNTS, {
        "name": "Twilio WA", "provider": "twilio", "channel": "whatsapp",
        "account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN,
        "numbers": [{"number": "+14155238886", "name": "Support"}],
    }, format="json")
    assert created.status_code == 201, created.content
    account = MessagingAccount.objects.get(pk=created.json()["id"])
    listed = manager.get(ACCOUNTS)
    shown = manager.get(detail(account))
    patched = manager.patch(detail(account), {"auth_token": "a-brand-new-token-value"}, format="json")

    for response in (created, listed, shown, patched, manager.get(detail(telesign_account))):
        assert response.status_code in (200, 201)
        assert_no_secrets(response)
    assert "a-brand-new-token-value" not in patched.content.decode()
    body = shown.json()
    assert body["has_credentials"] is True
    assert body["credentials_set_at"]
    # The secrets were stored all the same.
    account.refresh_from_db()
    assert account.credentials() == {"account_sid": TWILIO_ACCOUNT_SID, "auth_token": "a-brand-new-token-value"}


# --- create -----------------------------------------------------------------------------------

def test_create_telesign_with_a_number(manager):
    response = manager.post(ACCOUNTS, {
        **TELESIGN, "numbers": [{"number": "14252306549", "number_type": "geographic", "description": "Main"}],
    }, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["provider"] == "telesign" and body["channel"] == "sms" and body["is_active"] is True
    assert body["validation_status"] == "unknown" and body["validated_at"] is None
    assert [(n["number"], n["e164"], n["number_type"]) for n in body["numbers"]] == [
        ("14252306549", "+14252306549", "geographic")
    ]
    account = MessagingAccount.objects.get(pk=body["id"])
    assert body["callback_urls"] == account.callback_urls()
    assert body["callback_urls"]["callback"].endswith(f"/webhooks/telesign/{account.webhook_token}/")


def test_create_sandbox_needs_no_credentials_and_can_start_inactive(operator):
    response = operator.post(ACCOUNTS, {"name": "Demo", "provider": "sandbox", "channel": "whatsapp",
                                        "is_active": False}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["is_active"] is False
    assert set(response.json()["callback_urls"]) == {"inbound", "status"}


@pytest.mark.parametrize(
    ("payload", "field", "code", "says"),
    [
        ({**TELESIGN, "numbers": [{"number": "+1 425 230 6549", "number_type": "geographic"}]},
         "number", "number_format", "digits only"),
        ({**TELESIGN, "channel": "whatsapp"}, "channel", "provider_channel_invalid", "SMS only"),
        ({**TELESIGN, "api_key": ""}, "api_key", "credentials_required", "API key is required"),
        ({**TELESIGN, "account_sid": TWILIO_ACCOUNT_SID}, "account_sid", "credentials_invalid", "do not use"),
        ({**TELESIGN, "provider": "nexmo"}, "provider", "invalid_choice", "provider"),
        ({**TELESIGN, "name": ""}, "name", "blank", "name"),
        ({**TELESIGN, "numbers": [{"number_type": "geographic"}]}, "numbers[0].number", "required", "required"),
        ({**TELESIGN, "numbers": [{"number": "14252306549"}]}, "number_type", "number_type_required", "type"),
    ],
    ids=["number-format", "telesign-whatsapp", "missing-api-key", "foreign-credential", "unknown-provider",
         "blank-name", "number-missing", "number-type-missing"],
)
def test_create_refusals_name_the_field_and_save_nothing(manager, payload, field, code, says):
    response = manager.post(ACCOUNTS, payload, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field
    assert body["error"] == code
    assert says in body["detail"]
    assert MessagingAccount.objects.count() == 0
    assert PhoneNumber.objects.count() == 0


def test_create_refuses_a_taken_name(manager, telesign_account):
    response = manager.post(ACCOUNTS, {**TELESIGN, "name": "TeleSign SMS"}, format="json")

    assert response.status_code == 400
    assert response.json()["field"] == "name"
    assert MessagingAccount.objects.count() == 1


def test_create_with_credentials_needs_the_credentials_permission(operator):
    response = operator.post(ACCOUNTS, TELESIGN, format="json")

    assert response.status_code == 403
    assert response.json()["error"] == "credentials_permission"
    assert MessagingAccount.objects.count() == 0


# --- update -----------------------------------------------------------------------------------

def test_patch_renames_and_deactivates(operator, twilio_sms_account):
    response = operator.patch(detail(twilio_sms_account), {"name": "Twilio SMS (old)", "is_active": False},
                              format="json")

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Twilio SMS (old)"
    assert response.json()["is_active"] is False
    twilio_sms_account.refresh_from_db()
    assert (twilio_sms_account.name, twilio_sms_account.is_active) == ("Twilio SMS (old)", False)


def test_accounts_are_not_deleted_or_replaced(manager, twilio_sms_account):
    assert manager.delete(detail(twilio_sms_account)).status_code == 405
    assert manager.put(detail(twilio_sms_account), {"name": "x"}, format="json").status_code == 405
    assert MessagingAccount.objects.filter(pk=twilio_sms_account.pk).exists()


def test_user_without_credentials_permission_cannot_change_credentials(operator, twilio_sms_account):
    before = MessagingAccount.objects.values().get(pk=twilio_sms_account.pk)

    response = operator.patch(detail(twilio_sms_account),
                              {"name": "Hijacked", "auth_token": "attacker-token"}, format="json")

    assert response.status_code == 403
    assert response.json()["field"] == "credentials"
    assert MessagingAccount.objects.values().get(pk=twilio_sms_account.pk) == before


def test_changing_credentials_resets_the_validation_state(manager, twilio_sms_account):
    MessagingAccount.objects.filter(pk=twilio_sms_account.pk).update(validation_status=ValidationStatus.VALID)

    response = manager.patch(detail(twilio_sms_account), {"auth_token": "rotated-token"}, format="json")

    assert response.status_code == 200
    assert response.json()["validation_status"] == "unknown"
    twilio_sms_account.refresh_from_db()
    assert twilio_sms_account.credential("auth_token") == "rotated-token"
    assert twilio_sms_account.credential("account_sid") == TWILIO_ACCOUNT_SID


@pytest.mark.parametrize("field", ["provider", "channel"])
def test_provider_and_channel_cannot_change(manager, twilio_sms_account, field):
    response = manager.patch(detail(twilio_sms_account), {field: "sandbox" if field == "provider" else "whatsapp"},
                             format="json")

    assert response.status_code == 400
    assert response.json()["field"] == field
    twilio_sms_account.refresh_from_db()
    assert (twilio_sms_account.provider, twilio_sms_account.channel) == ("twilio", "sms")


def test_unknown_account_is_404(manager, db):
    assert manager.get(f"{ACCOUNTS}999999/").status_code == 404
    assert manager.patch(f"{ACCOUNTS}999999/", {"name": "x"}, format="json").status_code == 404


# --- list filters -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", ["Sandbox SMS", "TeleSign SMS", "Twilio SMS", "Twilio WhatsApp"]),
        ("?provider=twilio", ["Twilio SMS", "Twilio WhatsApp"]),
        ("?channel=whatsapp", ["Twilio WhatsApp"]),
        ("?provider=twilio&channel=sms", ["Twilio SMS"]),
        ("?is_active=false", ["Sandbox SMS"]),
        ("?is_active=true&channel=sms", ["TeleSign SMS", "Twilio SMS"]),
        ("?validation_status=valid", ["TeleSign SMS"]),
    ],
)
def test_list_filters(manager, telesign_account, twilio_sms_account, twilio_whatsapp_account, sandbox_account,
                      query, names):
    MessagingAccount.objects.filter(pk=sandbox_account.pk).update(is_active=False)
    MessagingAccount.objects.filter(pk=telesign_account.pk).update(validation_status=ValidationStatus.VALID)

    response = manager.get(ACCOUNTS + query)

    assert response.status_code == 200
    assert [a["name"] for a in response.json()["results"]] == names


@pytest.mark.parametrize(("query", "field"), [("?provider=nexmo", "provider"), ("?is_active=maybe", "is_active")])
def test_list_refuses_unknown_filter_values(manager, db, query, field):
    response = manager.get(ACCOUNTS + query)

    assert response.status_code == 400
    assert response.json()["field"] == field


def test_the_validation_message_is_shown_with_secrets_blanked_out_whatever_the_row_holds(
        manager, twilio_sms_account, admin_client):
    from tests.conftest import TWILIO_AUTH_TOKEN

    MessagingAccount.objects.filter(pk=twilio_sms_account.pk).update(
        validation_status=ValidationStatus.INVALID, validation_message=f"token {TWILIO_AUTH_TOKEN} was refused")
    for response in (manager.get(detail(twilio_sms_account)), manager.get("/api/v1/accounts/")):
        text = response.content.decode()
        assert response.status_code == 200
        assert TWILIO_AUTH_TOKEN not in text and "[redacted] was refused" in text
    page = admin_client.get(f"/admin/channels_app/messagingaccount/{twilio_sms_account.pk}/change/").content.decode()
    assert TWILIO_AUTH_TOKEN not in page and "[redacted] was refused" in page
