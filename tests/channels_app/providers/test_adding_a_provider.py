"""Adding a provider is one module plus one line in HUB_PROVIDERS: no migration, and the models, the webhook
URLs, the admin, the API and the command take it as it declares itself."""

import importlib
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import clear_url_caches

from channels_app.models import InboundEvent, Message, MessagingAccount
from channels_app.providers import providers_reset
from tests.channels_app.providers import toy

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_toy(settings):
    """HUB_PROVIDERS with one more line; the URLs are built again from the declared routes."""
    import channels_app.urls
    import config.urls

    settings.HUB_PROVIDERS = {**settings.HUB_PROVIDERS, "toy": "tests.channels_app.providers.toy.ToyProvider"}
    providers_reset()
    importlib.reload(channels_app.urls)
    importlib.reload(config.urls)
    clear_url_caches()
    toy.sent.clear()
    yield
    del settings.HUB_PROVIDERS["toy"]
    providers_reset()
    importlib.reload(channels_app.urls)
    importlib.reload(config.urls)
    clear_url_caches()


def test_no_migration_is_needed(with_toy):
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)  # exits non-zero on any change
    assert "No changes detected" in out.getvalue()


def test_the_new_provider_works_through_every_door(with_toy, client, admin_client, admin_user,
                                                   django_capture_on_commit_callbacks):
    # The command takes its credential option and environment variable, and its number type.
    out = StringIO()
    call_command("create_messaging_account", "--provider", "toy", "--channel", "sms", "--name", "Toy",
                 "--toy-key", "toy_secret", "--number", "+14155550111", stdout=out)
    data = json.loads(out.getvalue())
    account = MessagingAccount.objects.get(pk=data["id"])
    assert data["numbers"][0]["type"] == "vanity"
    assert data["callback_urls"] == {"in": f"http://127.0.0.1:8000/webhooks/toy-telecom/{account.webhook_token}/in/"}
    assert account.credentials() == {"toy_key": "toy_secret"}

    # Its webhook URL is served by the one webhook view, with its own signature check and answer.
    payload = json.dumps({"id": "T1", "from": "+15551234567", "to": "+14155550111", "text": "hi"}).encode()
    url = f"/webhooks/toy-telecom/{account.webhook_token}/in/"
    assert client.post(url, payload, content_type="application/json", HTTP_X_TOY_KEY="wrong").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, payload, content_type="application/json", HTTP_X_TOY_KEY="toy_secret")
    assert (response.status_code, response.content) == (200, b"OK")
    assert InboundEvent.objects.get().state == "processed"
    assert Message.objects.get().body == "hi"

    # The admin offers its credential input, label and help text; its field validation applies.
    page = admin_client.get("/admin/channels_app/messagingaccount/add/").content.decode()
    assert 'name="toy_key"' in page and "The key from the Toy console." in page and "Toy Telecom" in page

    # The API takes its credential field and its provider name.
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(admin_user)
    refused = api.post("/api/v1/accounts/", {"name": "Toy 2", "provider": "toy", "channel": "sms",
                                             "toy_key": "nope"}, format="json")
    assert refused.status_code == 400 and refused.json() == {
        "error": "credentials_invalid", "detail": "Toy key starts with toy_.", "field": "toy_key"}
    created = api.post("/api/v1/accounts/", {"name": "Toy 2", "provider": "toy", "channel": "sms",
                                             "toy_key": "toy_other"}, format="json")
    assert created.status_code == 201 and created.json()["provider"] == "toy"


@override_settings()
def test_a_provider_may_not_reuse_another_ones_credential_name(settings):
    from django.core.exceptions import ImproperlyConfigured

    from channels_app.providers import credential_fields

    settings.HUB_PROVIDERS = {**settings.HUB_PROVIDERS, "toy": "tests.channels_app.providers.toy.ToyProvider"}
    providers_reset()
    original = toy.ToyProvider.credential_fields
    toy.ToyProvider.credential_fields = (toy.CredentialField("api_key", "API key", "Clashes."),)
    try:
        with pytest.raises(ImproperlyConfigured, match="both declare a credential named 'api_key'"):
            credential_fields()
    finally:
        toy.ToyProvider.credential_fields = original
        del settings.HUB_PROVIDERS["toy"]
        providers_reset()
