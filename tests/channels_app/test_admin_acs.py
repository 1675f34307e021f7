"""Connecting an Azure Communication Services resource in the admin: credentials (or a connection string), the
Event Grid endpoint with where to paste it, and numbers pulled from Azure instead of typed."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from channels_app.models import MessagingAccount
from tests.channels_app.test_admin import add_data
from tests.conftest import ACS_ACCESS_KEY, ACS_ENDPOINT, ACS_NUMBER

pytestmark = pytest.mark.django_db

NUMBERS_URL = f"{ACS_ENDPOINT}/phoneNumbers?api-version=2022-12-01"
LISTING = {"phoneNumbers": [
    {"phoneNumber": ACS_NUMBER, "phoneNumberType": "tollFree", "countryCode": "US",
     "capabilities": {"calling": "none", "sms": "inbound+outbound"}},
    {"phoneNumber": "+18005550177", "phoneNumberType": "tollFree", "countryCode": "US",
     "capabilities": {"calling": "none", "sms": "inbound+outbound"}},
    {"phoneNumber": "+447400123456", "phoneNumberType": "mobile", "countryCode": "GB",
     "capabilities": {"calling": "none", "sms": "inbound+outbound"}},
    {"phoneNumber": "+14255550123", "phoneNumberType": "geographic", "countryCode": "US",
     "capabilities": {"calling": "inbound+outbound", "sms": "none"}},
]}


def test_an_acs_account_is_created_from_its_connection_string(admin_client):
    response = admin_client.post(reverse("admin:channels_app_messagingaccount_add"), add_data(
        name="Azure SMS", provider="acs", channel="sms",
        endpoint=f"endpoint={ACS_ENDPOINT}/;accesskey={ACS_ACCESS_KEY}"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    account = MessagingAccount.objects.get()
    assert account.credentials() == {"endpoint": ACS_ENDPOINT, "access_key": ACS_ACCESS_KEY}


def test_whatsapp_is_refused_for_acs_by_what_its_module_declares(admin_client):
    response = admin_client.post(reverse("admin:channels_app_messagingaccount_add"), add_data(
        name="Azure WA", provider="acs", channel="whatsapp", endpoint=ACS_ENDPOINT, access_key=ACS_ACCESS_KEY))
    assert "Azure Communication Services carries SMS only, not WhatsApp." in str(
        response.context["adminform"].form.errors)


def test_the_change_page_explains_the_event_grid_subscription_and_offers_the_sync(admin_client, acs_account):
    page = admin_client.get(reverse("admin:channels_app_messagingaccount_change", args=[acs_account.pk]))
    html = page.content.decode()
    assert acs_account.callback_urls()["events"] in html
    assert "Event Grid endpoint" in html and "SMS Delivery Report Received" in html
    assert "Sync numbers from Azure" in html
    assert ACS_ACCESS_KEY not in html


def test_numbers_are_synced_from_azure(admin_client, acs_account, mocked_http):
    mocked_http.get(NUMBERS_URL, json=LISTING)
    url = reverse("admin:channels_app_messagingaccount_import_numbers", args=[acs_account.pk])
    page = admin_client.get(url).content.decode()
    assert "+18005550177 — Toll-free" in page and "+447400123456 — Mobile" in page
    assert f"{ACS_NUMBER} — Toll-free (US SMS inbound+outbound): already on this account" in page
    assert "+14255550123" in page and "do not carry SMS" in page
    response = admin_client.post(url, {"numbers": ["+18005550177", "+447400123456"]})
    assert response.status_code == 302
    assert sorted(acs_account.numbers.values_list("number", "number_type")) == [
        ("+18005550100", "toll_free"), ("+18005550177", "toll_free"), ("+447400123456", "mobile")]
    assert "2 numbers added to ACS SMS" in next(str(m) for m in get_messages(response.wsgi_request))


def test_a_number_that_carries_no_sms_cannot_be_chosen(admin_client, acs_account, mocked_http):
    mocked_http.get(NUMBERS_URL, json=LISTING)
    url = reverse("admin:channels_app_messagingaccount_import_numbers", args=[acs_account.pk])
    response = admin_client.post(url, {"numbers": ["+14255550123"]})
    assert response.status_code == 200
    assert "Select a valid choice" in str(response.context["form"].errors["numbers"])
    assert acs_account.numbers.count() == 1


def test_when_azure_cannot_be_asked_the_page_says_why(admin_client, acs_account, mocked_http):
    mocked_http.get(NUMBERS_URL, status=401, json={"error": {"code": "Denied", "message": "Denied by the resource "
                                                                                          "provider."}})
    response = admin_client.get(reverse("admin:channels_app_messagingaccount_import_numbers",
                                        args=[acs_account.pk]), follow=True)
    assert "could not list the numbers: Denied: Denied by the resource provider." in next(
        str(m) for m in get_messages(response.wsgi_request))


def test_providers_that_list_no_numbers_get_no_sync(admin_client, twilio_sms_account):
    page = admin_client.get(reverse("admin:channels_app_messagingaccount_change", args=[twilio_sms_account.pk]))
    assert "import-numbers" not in page.content.decode()
    response = admin_client.post(reverse("admin:channels_app_messagingaccount_changelist"),
                                 {"action": "import_numbers", "_selected_action": [twilio_sms_account.pk]},
                                 follow=True)
    assert "does not list an account's numbers" in next(str(m) for m in get_messages(response.wsgi_request))
