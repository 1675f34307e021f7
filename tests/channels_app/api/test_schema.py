import pytest


@pytest.mark.django_db
def test_schema_describes_the_accounts_api(admin_client):
    response = admin_client.get("/api/schema/")

    assert response.status_code == 200
    schema = response.content.decode()
    for path in ("/api/v1/accounts/:", "/api/v1/accounts/{id}/validate/:", "/api/v1/accounts/{id}/test-message/:",
                 "/api/v1/accounts/{account_pk}/numbers/{id}/:"):
        assert path in schema


@pytest.mark.django_db
def test_schema_documents_secrets_as_write_only(admin_client):
    schemas = admin_client.get("/api/schema/?format=json").json()["components"]["schemas"]

    assert {"customer_id", "api_key", "account_sid", "auth_token"} <= set(
        schemas["MessagingAccountCreateRequest"]["properties"]
    )
    shown = set(schemas["MessagingAccount"]["properties"])
    assert {"has_credentials", "credentials_set_at", "callback_urls", "numbers"} <= shown
    assert not shown & {"customer_id", "api_key", "account_sid", "auth_token"}


@pytest.mark.django_db
def test_docs_page_loads_without_any_cdn(admin_client):
    response = admin_client.get("/api/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    for host in ("cdn.jsdelivr", "unpkg", "cdnjs"):
        assert host not in page


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_outside_debug_the_schema_and_docs_need_a_signed_in_user(client, settings, django_user_model, path):
    settings.DEBUG = False
    assert client.get(path).status_code in (401, 403)
    user = django_user_model.objects.create_user("reader", password="x" * 12)
    from rest_framework.authtoken.models import Token

    assert client.get(path, HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}").status_code == 200
    client.force_login(user)
    assert client.get(path).status_code == 200


@pytest.mark.django_db
def test_in_debug_mode_the_schema_is_open(client, settings):
    settings.DEBUG = True
    assert client.get("/api/schema/").status_code == 200
