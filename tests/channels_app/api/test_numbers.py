import pytest

from channels_app.models import PhoneNumber


def numbers_url(account):
    return f"/api/v1/accounts/{account.pk}/numbers/"


def number_url(phone):
    return f"/api/v1/accounts/{phone.account_id}/numbers/{phone.pk}/"


def test_list_an_accounts_numbers(manager, twilio_sms_account, sandbox_account):
    response = manager.get(numbers_url(twilio_sms_account))

    assert response.status_code == 200
    assert [(n["number"], n["number_type"]) for n in response.json()["results"]] == [("+14155550100", "long_code")]


def test_add_a_number_shows_on_the_account(manager, twilio_sms_account):
    response = manager.post(numbers_url(twilio_sms_account),
                            {"number": "44222", "number_type": "short_code", "description": "Promo"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["e164"] == "44222"
    account = manager.get(f"/api/v1/accounts/{twilio_sms_account.pk}/").json()
    assert sorted(n["number"] for n in account["numbers"]) == ["+14155550100", "44222"]


@pytest.mark.parametrize(
    ("fixture", "payload", "field", "code"),
    [
        ("twilio_whatsapp_account", {"number": "+14155550199"}, "name", "name_required"),
        ("twilio_whatsapp_account", {"number": "14155550199", "name": "x"}, "number", "number_format"),
        ("telesign_account", {"number": "14155550199", "number_type": "long_code"}, "number_type",
         "number_type_invalid"),
        ("twilio_sms_account", {"number": "+14155550100", "number_type": "long_code"}, "number", "number_taken"),
        ("twilio_sms_account", {"number_type": "long_code"}, "number", "required"),
    ],
    ids=["whatsapp-needs-name", "whatsapp-needs-plus", "telesign-type", "duplicate", "missing"],
)
def test_add_refusals_name_the_field(manager, request, fixture, payload, field, code):
    account = request.getfixturevalue(fixture)
    before = PhoneNumber.objects.count()

    response = manager.post(numbers_url(account), payload, format="json")

    assert response.status_code == 400
    assert (response.json()["field"], response.json()["error"]) == (field, code)
    assert PhoneNumber.objects.count() == before


def test_patch_a_number(manager, twilio_whatsapp_account):
    phone = twilio_whatsapp_account.numbers.get()

    response = manager.patch(number_url(phone), {"name": "Sales WhatsApp"}, format="json")

    assert response.status_code == 200, response.content
    phone.refresh_from_db()
    assert (phone.name, phone.number) == ("Sales WhatsApp", "+14155238886")


def test_patch_refuses_clearing_a_whatsapp_name(manager, twilio_whatsapp_account):
    phone = twilio_whatsapp_account.numbers.get()

    response = manager.patch(number_url(phone), {"name": ""}, format="json")

    assert response.status_code == 400
    assert response.json()["field"] == "name"
    phone.refresh_from_db()
    assert phone.name == "Support WhatsApp"


def test_delete_a_number(manager, twilio_sms_account):
    phone = twilio_sms_account.numbers.get()

    assert manager.delete(number_url(phone)).status_code == 204
    assert not PhoneNumber.objects.filter(pk=phone.pk).exists()


def test_a_number_is_only_reachable_under_its_own_account(manager, twilio_sms_account, sandbox_account):
    phone = twilio_sms_account.numbers.get()
    wrong = f"/api/v1/accounts/{sandbox_account.pk}/numbers/{phone.pk}/"

    assert manager.get(wrong).status_code == 404
    assert manager.delete(wrong).status_code == 404
    assert manager.get("/api/v1/accounts/999999/numbers/").status_code == 404
    assert manager.post("/api/v1/accounts/999999/numbers/", {"number": "+14155550111", "number_type": "long_code"},
                        format="json").status_code == 404
    assert PhoneNumber.objects.filter(pk=phone.pk).exists()


def test_number_changes_need_number_permissions(make_client, twilio_sms_account):
    client = make_client("view_phonenumber")
    phone = twilio_sms_account.numbers.get()

    assert client.get(number_url(phone)).status_code == 200
    assert client.post(numbers_url(twilio_sms_account), {"number": "+14155550111", "number_type": "long_code"},
                       format="json").status_code == 403
    assert client.patch(number_url(phone), {"description": "x"}, format="json").status_code == 403
    assert client.delete(number_url(phone)).status_code == 403
    assert PhoneNumber.objects.get(pk=phone.pk).description == ""
