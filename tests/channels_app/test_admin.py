"""The admin of messaging accounts, numbers and the channel log, as an administrator sees it."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from channels_app.models import ChannelLog, Contact, Message, MessagingAccount, PhoneNumber, ValidationStatus
from channels_app.providers import sandbox
from channels_app.providers.http import write_log
from tests.channels_app.events import form_post
from tests.conftest import TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN

SECRETS = (TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID, TWILIO_AUTH_TOKEN, TWILIO_ACCOUNT_SID)
NEW_TELESIGN_API_KEY = "bmV3LXRlbGVzaWduLWtleS1mb3ItdGVzdHM+Lz0="
CHANGELIST = reverse("admin:channels_app_messagingaccount_changelist")
ADD = reverse("admin:channels_app_messagingaccount_add")
LOG_CHANGELIST = reverse("admin:channels_app_channellog_changelist")
TWILIO_ACCOUNT_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}.json"
TELESIGN_PROBE_URL = "https://rest-ww.telesign.com/v1/messaging/" + "0" * 32


def change_url(account):
    return reverse("admin:channels_app_messagingaccount_change", args=[account.pk])


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def staff_user(django_user_model, *codenames):
    user = django_user_model.objects.create_user(username="staff", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="channels_app",
                                                         codename__in=codenames))
    return user


def change_data(account, **overrides):
    """What the change form posts when nothing is edited, plus ``overrides``."""
    numbers = list(account.numbers.all())
    data = {
        "name": account.name,
        "numbers-TOTAL_FORMS": str(len(numbers)),
        "numbers-INITIAL_FORMS": str(len(numbers)),
        "numbers-MIN_NUM_FORMS": "0",
        "numbers-MAX_NUM_FORMS": "1000",
    }
    if account.is_active:
        data["is_active"] = "on"
    for i, number in enumerate(numbers):
        data.update({
            f"numbers-{i}-id": str(number.pk),
            f"numbers-{i}-account": str(account.pk),
            f"numbers-{i}-number": number.number,
            f"numbers-{i}-number_type": number.number_type,
            f"numbers-{i}-name": number.name,
            f"numbers-{i}-description": number.description,
        })
    data.update(overrides)
    return data


def add_data(*, name, provider, channel, numbers=(), **fields):
    """What the add form posts: the account fields and one inline row per (number, type, name) tuple."""
    data = {
        "name": name, "provider": provider, "channel": channel, "is_active": "on",
        "numbers-TOTAL_FORMS": str(len(numbers)), "numbers-INITIAL_FORMS": "0",
        "numbers-MIN_NUM_FORMS": "0", "numbers-MAX_NUM_FORMS": "1000",
    }
    for i, (number, number_type, number_name) in enumerate(numbers):
        data.update({f"numbers-{i}-number": number, f"numbers-{i}-number_type": number_type,
                     f"numbers-{i}-name": number_name, f"numbers-{i}-description": ""})
    data.update(fields)
    return data


def telesign_add_data(name="TeleSign EU", numbers=(("14252306549", "geographic", ""),), **overrides):
    data = add_data(name=name, provider="telesign", channel="sms", numbers=numbers,
                    customer_id=TELESIGN_CUSTOMER_ID, api_key=TELESIGN_API_KEY)
    data.update(overrides)
    return data


def inline_errors(response):
    return [form.errors for form in response.context["inline_admin_formsets"][0].formset.forms]


def assert_no_secret(response, secrets=SECRETS):
    assert response.status_code == 200, response.request["PATH_INFO"]
    content = response.content.decode()
    for secret in secrets:
        assert secret not in content, f"a secret is shown on {response.request['PATH_INFO']}"


# --- Secure columns ------------------------------------------------------------------------


def test_no_admin_page_shows_a_secret(admin_client, telesign_account, twilio_sms_account, mocked_http):
    mocked_http.get(TWILIO_ACCOUNT_URL, json={"code": 20003, "message": "Authenticate"}, status=401)
    mocked_http.get(TELESIGN_PROBE_URL, json={"status": {"code": 10033, "description": "Not found"}}, status=404)
    admin_client.post(CHANGELIST, {"action": "validate_credentials",
                                   "_selected_action": [telesign_account.pk, twilio_sms_account.pk]})
    # A credentials change leaves a history entry; neither the old nor the new key may show.
    admin_client.post(change_url(telesign_account), change_data(telesign_account, api_key=NEW_TELESIGN_API_KEY))
    assert ChannelLog.objects.count() == 2

    pages = [CHANGELIST, ADD, LOG_CHANGELIST, f"{CHANGELIST}?q=TeleSign"]
    for account in (telesign_account, twilio_sms_account):
        pages += [
            change_url(account),
            reverse("admin:channels_app_messagingaccount_history", args=[account.pk]),
            reverse("admin:channels_app_messagingaccount_send_test_message", args=[account.pk]),
            reverse("admin:channels_app_messagingaccount_delete", args=[account.pk]),
        ]
    pages += [reverse("admin:channels_app_channellog_change", args=[log.pk]) for log in ChannelLog.objects.all()]
    for page in pages:
        assert_no_secret(admin_client.get(page), (*SECRETS, NEW_TELESIGN_API_KEY))


def test_provider_answers_quoting_a_secret_are_shown_redacted(admin_client, twilio_sms_account, mocked_http):
    not_found = {"code": 20404,
                 "message": f"The requested resource /2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}.json was not found"}
    mocked_http.get(TWILIO_ACCOUNT_URL, json=not_found, status=404)
    mocked_http.post(f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json",
                     json=not_found, status=404)

    response = admin_client.post(CHANGELIST, {"action": "validate_credentials",
                                              "_selected_action": [twilio_sms_account.pk]}, follow=True)
    assert_no_secret(response)
    assert "Accounts/[redacted].json was not found" in response.content.decode()
    assert_no_secret(admin_client.get(change_url(twilio_sms_account)))

    send_url = reverse("admin:channels_app_messagingaccount_send_test_message", args=[twilio_sms_account.pk])
    response = admin_client.post(send_url, {"to": "+14155550199", "text": "Hello"})
    assert_no_secret(response)
    assert response.context["form"].non_field_errors() == [
        "Twilio refused the message: 20404: The requested resource /2010-04-01/Accounts/[redacted].json "
        "was not found"]


def test_secret_inputs_are_write_only_and_show_when_they_were_set(admin_client, telesign_account):
    response = admin_client.get(change_url(telesign_account))

    content = response.content.decode()
    assert '<input type="password" name="api_key"' in content
    assert '<input type="text" name="customer_id"' in content  # an identifier, never filled from the database
    assert TELESIGN_CUSTOMER_ID not in content
    assert 'name="auth_token"' not in content and 'name="account_sid"' not in content
    assert "Set on " in content
    assert "Leave blank to keep the current value" in content


def test_sandbox_accounts_have_no_credential_inputs(admin_client, sandbox_account):
    content = admin_client.get(change_url(sandbox_account)).content.decode()

    assert 'type="password"' not in content
    assert "Sandbox accounts need no credentials." in content


def test_add_form_offers_every_credential_saying_which_provider_uses_it(admin_client):
    content = admin_client.get(ADD).content.decode()

    for field in ("api_key", "auth_token"):
        assert f'<input type="password" name="{field}"' in content
    for field in ("customer_id", "account_sid"):
        assert f'<input type="text" name="{field}"' in content
    assert "Only TeleSign accounts use it" in content
    assert "Only Twilio accounts use it" in content


def test_blank_secret_inputs_keep_the_current_values(admin_client, telesign_account):
    response = admin_client.post(change_url(telesign_account), change_data(telesign_account, name="Renamed"))

    assert response.status_code == 302
    telesign_account.refresh_from_db()
    assert telesign_account.name == "Renamed"
    assert telesign_account.credential("api_key") == TELESIGN_API_KEY
    assert telesign_account.credential("customer_id") == TELESIGN_CUSTOMER_ID


def test_staff_without_credentials_permission_can_rename_but_not_change_secrets(
    client, django_user_model, telesign_account
):
    client.force_login(staff_user(django_user_model, "view_messagingaccount", "change_messagingaccount"))
    set_at = telesign_account.credentials_updated_at

    page = client.get(change_url(telesign_account)).content.decode()
    assert 'type="password"' not in page
    assert "Set on " in page

    response = client.post(change_url(telesign_account), change_data(
        telesign_account, name="Support SMS", api_key=NEW_TELESIGN_API_KEY, customer_id="someone-else"))

    assert response.status_code == 302
    telesign_account.refresh_from_db()
    assert telesign_account.name == "Support SMS"
    assert telesign_account.credential("api_key") == TELESIGN_API_KEY
    assert telesign_account.credential("customer_id") == TELESIGN_CUSTOMER_ID
    assert telesign_account.credentials_updated_at == set_at


def test_staff_with_credentials_permission_changes_a_secret_and_validation_resets(
    client, django_user_model, telesign_account
):
    MessagingAccount.objects.filter(pk=telesign_account.pk).update(
        validation_status=ValidationStatus.VALID, validation_message="TeleSign accepted the credentials.")
    client.force_login(staff_user(django_user_model, "view_messagingaccount", "change_messagingaccount",
                                  "manage_credentials"))

    response = client.post(change_url(telesign_account),
                           change_data(telesign_account, api_key=NEW_TELESIGN_API_KEY))

    assert response.status_code == 302
    telesign_account.refresh_from_db()
    assert telesign_account.credential("api_key") == NEW_TELESIGN_API_KEY
    assert telesign_account.credential("customer_id") == TELESIGN_CUSTOMER_ID
    assert telesign_account.validation_status == ValidationStatus.UNKNOWN
    assert telesign_account.validated_at is None
    assert LogEntry.objects.get().get_change_message() == "Changed API key."


def test_add_form_without_credentials_permission_explains_what_is_possible(client, django_user_model):
    client.force_login(staff_user(django_user_model, "add_messagingaccount", "view_messagingaccount"))

    content = client.get(ADD).content.decode()

    assert 'type="password"' not in content
    assert "Can set or change provider credentials" in content


def test_provider_and_channel_cannot_change_after_creation(admin_client, telesign_account):
    response = admin_client.post(change_url(telesign_account),
                                 change_data(telesign_account, provider="twilio", channel="whatsapp"))

    assert response.status_code == 302
    telesign_account.refresh_from_db()
    assert (telesign_account.provider, telesign_account.channel) == ("telesign", "sms")


# --- Creating accounts and numbers -----------------------------------------------------------


def test_add_form_creates_the_account_with_its_numbers(admin_client):
    response = admin_client.post(ADD, telesign_add_data(numbers=(
        ("14252306549", "geographic", ""), ("44222", "short_code", ""))))

    assert response.status_code == 302
    account = MessagingAccount.objects.get(name="TeleSign EU")
    assert account.credentials() == {"customer_id": TELESIGN_CUSTOMER_ID, "api_key": TELESIGN_API_KEY}
    assert account.credentials_updated_at is not None
    assert sorted(account.numbers.values_list("e164", flat=True)) == ["+14252306549", "44222"]
    assert LogEntry.objects.get().object_id == str(account.pk)


def test_add_form_creates_a_whatsapp_account(admin_client):
    response = admin_client.post(ADD, add_data(
        name="WhatsApp support", provider="twilio", channel="whatsapp",
        numbers=(("+14155238886", "", "Support"),),
        account_sid=TWILIO_ACCOUNT_SID, auth_token=TWILIO_AUTH_TOKEN,
    ))

    assert response.status_code == 302
    number = PhoneNumber.objects.get(account__name="WhatsApp support")
    assert (number.number, number.name, number.channel) == ("+14155238886", "Support", "whatsapp")


@pytest.mark.parametrize("number", ["+14252306549", "1 425 230 6549"])
def test_telesign_number_not_in_digits_is_refused_with_the_accepted_form(admin_client, number):
    response = admin_client.post(ADD, telesign_add_data(numbers=((number, "geographic", ""),)))

    assert response.status_code == 200
    assert "digits only" in inline_errors(response)[0]["number"][0]
    assert "digits only" in response.content.decode()
    assert not MessagingAccount.objects.exists()


def test_telesign_whatsapp_is_refused_on_the_channel_field(admin_client):
    response = admin_client.post(ADD, telesign_add_data(channel="whatsapp", numbers=()))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["channel"] == ["TeleSign carries SMS only, not WhatsApp."]
    assert not MessagingAccount.objects.exists()


def test_credentials_of_another_provider_are_refused_on_their_field(admin_client):
    response = admin_client.post(ADD, telesign_add_data(account_sid=TWILIO_ACCOUNT_SID))

    assert response.status_code == 200
    assert "do not use" in response.context["adminform"].form.errors["account_sid"][0]
    assert not MessagingAccount.objects.exists()
    # The identifiers typed (customer id, account SID) stay in the form to be corrected; secrets never do.
    assert_no_secret(response, (TELESIGN_API_KEY, TWILIO_AUTH_TOKEN))


def test_missing_credentials_are_refused_on_their_field(admin_client):
    response = admin_client.post(ADD, telesign_add_data(api_key=""))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["api_key"] == ["API key is required for TeleSign accounts."]
    assert not MessagingAccount.objects.exists()


def test_number_taken_by_another_account_is_refused_and_nothing_is_saved(admin_client, telesign_account):
    response = admin_client.post(ADD, telesign_add_data(numbers=(
        ("14155550123", "geographic", ""), ("14252306549", "geographic", ""))))

    assert response.status_code == 200
    errors = inline_errors(response)
    assert errors[0] == {}
    assert "already configured on TeleSign account 'TeleSign SMS'" in errors[1]["number"][0]
    assert list(MessagingAccount.objects.values_list("name", flat=True)) == ["TeleSign SMS"]
    assert not PhoneNumber.objects.filter(number="14155550123").exists()
    assert not LogEntry.objects.exists()


def test_whatsapp_number_without_a_name_is_refused_on_its_row(admin_client):
    response = admin_client.post(ADD, add_data(
        name="WhatsApp support", provider="twilio", channel="whatsapp", numbers=(("+14155238886", "", ""),),
        account_sid=TWILIO_ACCOUNT_SID, auth_token=TWILIO_AUTH_TOKEN,
    ))

    assert response.status_code == 200
    assert inline_errors(response)[0]["name"] == ["Give the WhatsApp number a name."]
    assert not MessagingAccount.objects.exists()


def test_numbers_are_changed_added_and_removed_on_the_change_page(admin_client, twilio_sms_account):
    data = change_data(twilio_sms_account, **{
        "numbers-0-number": "+14155550111",
        "numbers-TOTAL_FORMS": "2",
        "numbers-1-number": "44222", "numbers-1-number_type": "short_code", "numbers-1-name": "",
        "numbers-1-description": "Marketing",
    })

    assert admin_client.post(change_url(twilio_sms_account), data).status_code == 302
    assert sorted(twilio_sms_account.numbers.values_list("e164", flat=True)) == ["+14155550111", "44222"]

    first = twilio_sms_account.numbers.get(e164="44222")
    data = change_data(twilio_sms_account)
    index = next(k.split("-")[1] for k, v in data.items() if k.endswith("-id") and v == str(first.pk))
    data[f"numbers-{index}-DELETE"] = "on"
    assert admin_client.post(change_url(twilio_sms_account), data).status_code == 302
    assert list(twilio_sms_account.numbers.values_list("e164", flat=True)) == ["+14155550111"]


def test_a_refused_number_change_leaves_the_account_untouched(admin_client, twilio_sms_account):
    data = change_data(twilio_sms_account, name="Renamed", **{"numbers-0-number": "14155550111"})

    response = admin_client.post(change_url(twilio_sms_account), data)

    assert response.status_code == 200
    assert "E.164" in inline_errors(response)[0]["number"][0]
    twilio_sms_account.refresh_from_db()
    assert twilio_sms_account.name == "Twilio SMS"
    assert twilio_sms_account.numbers.get().number == "+14155550100"


def test_a_number_that_messages_refer_to_is_not_removed(admin_client, sandbox_account):
    phone = sandbox_account.numbers.get()
    contact = Contact.objects.create(address="+14155550199")
    Message.objects.create(account=sandbox_account, phone_number=phone, contact=contact, provider="sandbox",
                           channel="sms", direction="inbound", status="received", body="Hello")

    response = admin_client.post(change_url(sandbox_account),
                                 change_data(sandbox_account, name="Renamed", **{"numbers-0-DELETE": "on"}))

    assert response.status_code == 200
    [error] = response.context["inline_admin_formsets"][0].formset.non_form_errors()
    assert "+15005550006" in error and "protected" in error
    sandbox_account.refresh_from_db()
    assert sandbox_account.name == "Sandbox SMS"
    assert sandbox_account.numbers.get() == phone


def test_a_duplicate_name_is_refused_on_the_name_field(admin_client, telesign_account, sandbox_account):
    response = admin_client.post(change_url(sandbox_account), change_data(sandbox_account, name="TeleSign SMS"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"]
    sandbox_account.refresh_from_db()
    assert sandbox_account.name == "Sandbox SMS"


# --- Change list -------------------------------------------------------------------------------


def test_changelist_shows_validation_state_and_number_count(admin_client, telesign_account, sandbox_account):
    MessagingAccount.objects.filter(pk=telesign_account.pk).update(validation_status=ValidationStatus.INVALID)

    content = admin_client.get(CHANGELIST).content.decode()

    assert '<span class="channels-badge channels-badge--invalid">Invalid credentials</span>' in content
    assert '<span class="channels-badge channels-badge--unknown">Not validated</span>' in content
    assert '<td class="field-number_count">1</td>' in content


def test_changelist_searches_numbers_and_filters_by_provider(admin_client, telesign_account, sandbox_account):
    found = admin_client.get(CHANGELIST, {"q": "15005550006"}).context["cl"].result_list
    assert [a.name for a in found] == ["Sandbox SMS"]

    filtered = admin_client.get(CHANGELIST, {"provider__exact": "telesign"}).context["cl"].result_list
    assert [a.name for a in filtered] == ["TeleSign SMS"]


# --- Validation and test sends -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected", "level", "text"),
    [
        (200, {"status": "active", "friendly_name": "Support"}, ValidationStatus.VALID, "success",
         "Twilio SMS: Valid — Twilio account Support is active."),
        (401, {"code": 20003, "message": "Authenticate"}, ValidationStatus.INVALID, "error",
         "Twilio SMS: Invalid credentials (code 20003) — Authenticate"),
    ],
)
def test_validate_action_records_and_reports_the_providers_answer(
    admin_client, twilio_sms_account, mocked_http, status, body, expected, level, text
):
    mocked_http.get(TWILIO_ACCOUNT_URL, json=body, status=status)

    response = admin_client.post(CHANGELIST, {"action": "validate_credentials",
                                              "_selected_action": [twilio_sms_account.pk]}, follow=True)

    twilio_sms_account.refresh_from_db()
    assert twilio_sms_account.validation_status == expected
    assert twilio_sms_account.validated_at is not None
    [message] = list(response.context["messages"])
    assert (message.tags, str(message)) == (level, text)


def test_validate_button_on_the_change_page(admin_client, sandbox_account):
    page = admin_client.get(change_url(sandbox_account)).content.decode()
    url = reverse("admin:channels_app_messagingaccount_validate", args=[sandbox_account.pk])
    assert f'action="{url}"' in page

    assert admin_client.get(url).status_code == 405
    response = admin_client.post(url)

    assert response.status_code == 302 and response.url == change_url(sandbox_account)
    sandbox_account.refresh_from_db()
    assert sandbox_account.validation_status == ValidationStatus.VALID
    assert messages_of(response) == ["Sandbox SMS: Valid — Sandbox accounts need no credentials."]


def test_send_test_message_action_sends_through_the_sandbox(admin_client, sandbox_account):
    response = admin_client.post(CHANGELIST, {"action": "send_test_message",
                                              "_selected_action": [sandbox_account.pk]})
    send_url = reverse("admin:channels_app_messagingaccount_send_test_message", args=[sandbox_account.pk])
    assert response.status_code == 302 and response.url == send_url
    page = admin_client.get(send_url).content.decode()
    assert '<option value="+15005550006">+15005550006 (Demo)</option>' in page
    assert 'value="Send test message"' in page and "multipart" not in page

    response = admin_client.post(send_url, {"to": "+14155550199", "text": "Hello from the admin",
                                            "from_number": "+15005550006"})

    assert response.status_code == 302
    [sent] = sandbox.outbox
    assert (sent["to"], sent["from"], sent["body"]) == ("+14155550199", "+15005550006", "Hello from the admin")
    [message] = messages_of(response)
    assert f"provider message id {sent['id']}" in message


def test_send_test_message_refusal_is_shown_on_the_field(admin_client, sandbox_account):
    send_url = reverse("admin:channels_app_messagingaccount_send_test_message", args=[sandbox_account.pk])

    response = admin_client.post(send_url, {"to": "call me", "text": "Hello"})

    assert response.status_code == 200
    assert response.context["form"].errors["to"] == [
        "'call me' is not a phone number in E.164 form, e.g. +14155550100."]
    assert sandbox.outbox == []


def test_send_test_message_action_wants_one_account(admin_client, sandbox_account, telesign_account):
    response = admin_client.post(CHANGELIST, {"action": "send_test_message",
                                              "_selected_action": [sandbox_account.pk, telesign_account.pk]})

    assert response.status_code == 302 and response.url == CHANGELIST
    assert messages_of(response) == ["Select exactly one account to send a test message from."]
    assert sandbox.outbox == []


def test_actions_need_the_change_permission(client, django_user_model, sandbox_account):
    client.force_login(staff_user(django_user_model, "view_messagingaccount"))

    assert client.post(reverse("admin:channels_app_messagingaccount_validate", args=[sandbox_account.pk])
                       ).status_code == 403
    send_url = reverse("admin:channels_app_messagingaccount_send_test_message", args=[sandbox_account.pk])
    assert client.post(send_url, {"to": "+14155550199", "text": "Hi"}).status_code == 403
    assert sandbox.outbox == []


# --- Callback URLs and channel log ---------------------------------------------------------------


def test_change_page_shows_callback_urls_with_copy_buttons(admin_client, telesign_account, twilio_sms_account):
    telesign_page = admin_client.get(change_url(telesign_account)).content.decode()
    [telesign_url] = telesign_account.callback_urls().values()
    assert f'value="{telesign_url}" readonly' in telesign_page
    assert "inbound messages and delivery reports" in telesign_page
    assert telesign_page.count('data-copy-target="callback-url-') == 1
    assert "channels_app/admin.js" in telesign_page

    twilio_page = admin_client.get(change_url(twilio_sms_account)).content.decode()
    urls = twilio_sms_account.callback_urls()
    assert f'value="{urls["inbound"]}" readonly' in twilio_page
    assert f'value="{urls["status"]}" readonly' in twilio_page
    assert "A message comes in" in twilio_page
    assert twilio_page.count('data-copy-target="callback-url-') == 2


def test_channel_log_is_linked_from_the_account_and_read_only(admin_client, sandbox_account, telesign_account):
    write_log(sandbox_account, kind="send", method="POST", url="sandbox://messages", status_code=200,
              request_headers={"Content-Type": "application/json"}, request_body='{"to": "+14155550199"}')
    write_log(telesign_account, kind="validate", method="GET", url=TELESIGN_PROBE_URL, error="timed out",
              is_error=True)
    log = ChannelLog.objects.get(account=sandbox_account)

    page = admin_client.get(change_url(sandbox_account)).content.decode()
    link = f'{LOG_CHANGELIST}?account__id__exact={sandbox_account.pk}'
    assert f'<a href="{link}">View channel log (1 entry)</a>' in page

    listed = admin_client.get(link).context["cl"].result_list
    assert list(listed) == [log]
    errors = admin_client.get(LOG_CHANGELIST, {"is_error__exact": "1"}).context["cl"].result_list
    assert [entry.account for entry in errors] == [telesign_account]
    by_provider = admin_client.get(LOG_CHANGELIST, {"account__provider__exact": "sandbox"}).context["cl"]
    assert list(by_provider.result_list) == [log]

    detail_url = reverse("admin:channels_app_channellog_change", args=[log.pk])
    detail = admin_client.get(detail_url).content.decode()
    assert "&quot;Content-Type&quot;: &quot;application/json&quot;" in detail
    assert "&quot;to&quot;: &quot;+14155550199&quot;" in detail
    assert 'name="_save"' not in detail
    assert admin_client.post(detail_url, {"url": "changed"}).status_code == 403
    assert admin_client.get(reverse("admin:channels_app_channellog_add")).status_code == 403


def test_only_superusers_delete_channel_log_entries(client, django_user_model, sandbox_account):
    write_log(sandbox_account, kind="send", method="POST", url="sandbox://messages", status_code=200)
    log = ChannelLog.objects.get()
    client.force_login(staff_user(django_user_model, "view_channellog", "delete_channellog"))

    assert client.get(reverse("admin:channels_app_channellog_change", args=[log.pk])).status_code == 200
    assert client.post(reverse("admin:channels_app_channellog_delete", args=[log.pk]),
                       {"post": "yes"}).status_code == 403
    assert ChannelLog.objects.filter(pk=log.pk).exists()


def test_message_admin_retries_a_failed_message(admin_client, sandbox_account, django_capture_on_commit_callbacks):
    from channels_app.models import Message
    from channels_app.providers import sandbox
    from channels_app.services.delivery import message_queue
    from channels_app.services.inbound import contact_for

    message = message_queue(phone_number=sandbox_account.numbers.get(), contact=contact_for("+15551234567"),
                            body="Your parcel is delayed")
    Message.objects.filter(pk=message.pk).update(status="failed", error_code="30003")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:channels_app_message_changelist"),
                                     {"action": "retry_messages", "_selected_action": [message.pk]}, follow=True)
    assert "1 message queued to send again." in response.content.decode()
    assert Message.objects.get(pk=message.pk).status == "sent"
    assert [m["body"] for m in sandbox.outbox] == ["Your parcel is delayed"]


def test_event_admin_reprocesses_a_failed_event(admin_client, twilio_sms_account, django_capture_on_commit_callbacks):
    from channels_app.models import InboundEvent

    event = InboundEvent.objects.create(
        account=twilio_sms_account, kind="inbound", event_key="SM1", url="https://hub.example/x", state="failed",
        error="boom", **form_post({"MessageSid": ["SM1"], "From": ["+15551234567"], "To": ["+14155550100"],
                              "Body": ["hello"]}))
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:channels_app_inboundevent_changelist"),
                          {"action": "reprocess", "_selected_action": [event.pk]}, follow=True)
    event.refresh_from_db()
    assert event.state == "processed"
    assert twilio_sms_account.messages.get().body == "hello"


def test_event_admin_gives_a_reprocessed_event_all_its_attempts_again(admin_client, twilio_sms_account, settings,
                                                                     django_capture_on_commit_callbacks):
    from channels_app.models import InboundEvent

    settings.INBOUND_EVENT_MAX_ATTEMPTS = 3
    # A delivery report for a message not stored yet: a retryable failure.
    event = InboundEvent.objects.create(
        account=twilio_sms_account, kind="status", event_key="SM404:delivered", url="https://hub.example/s",
        state="failed", attempts=3, error="no outgoing message with id SM404",
        **form_post({"MessageSid": ["SM404"], "MessageStatus": ["delivered"]}))
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:channels_app_inboundevent_changelist"),
                          {"action": "reprocess", "_selected_action": [event.pk]}, follow=True)
    event.refresh_from_db()
    assert (event.state, event.attempts) == ("pending", 1)  # tried once, and will be tried again
    assert "SM404" in event.error


def test_the_account_page_warns_when_providers_cannot_reach_the_callback_urls(client, django_user_model, settings,
                                                                              telesign_account):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    url = f"/admin/channels_app/messagingaccount/{telesign_account.pk}/change/"

    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    local = client.get(url).content.decode()
    settings.PUBLIC_BASE_URL = "https://hub.example.com"
    public = client.get(url).content.decode()

    assert 'id="callback-url-warning"' in local and "loopback address" in local and "plain http" in local
    assert 'id="callback-url-warning"' not in public


def test_after_errors_the_form_keeps_the_identifiers_and_reports_every_error_at_once(admin_client):
    response = admin_client.post(ADD, telesign_add_data(customer_id=TELESIGN_CUSTOMER_ID, api_key="not base64!",
                                                        channel="whatsapp"))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert set(form.errors) >= {"api_key", "channel"}  # both at once, each on its field
    content = response.content.decode()
    assert f'value="{TELESIGN_CUSTOMER_ID}"' in content  # the identifier is kept
    assert "not base64!" not in content  # the secret is not
    assert "Secrets are never shown back: type it again" in content
    assert not MessagingAccount.objects.exists()


def test_a_missing_credential_is_reported_with_the_others(admin_client):
    response = admin_client.post(ADD, telesign_add_data(customer_id="", api_key=""))

    errors = response.context["adminform"].form.errors
    assert errors["customer_id"] == ["Customer ID is required for TeleSign accounts."]
    assert errors["api_key"] == ["API key is required for TeleSign accounts."]


def test_the_add_form_knows_each_providers_credential_inputs(admin_client):
    content = admin_client.get(ADD).content.decode()
    assert 'data-credential-fields="{&quot;telesign&quot;: [&quot;customer_id&quot;, &quot;api_key&quot;]' in content
