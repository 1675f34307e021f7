import pytest


@pytest.mark.django_db
def test_schema_describes_the_accounts_api(client):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    schema = response.content.decode()
    for path in ("/api/v1/accounts/:", "/api/v1/accounts/{id}/validate/:", "/api/v1/accounts/{id}/test-message/:",
                 "/api/v1/accounts/{account_pk}/numbers/{id}/:"):
        assert path in schema


@pytest.mark.django_db
def test_schema_documents_secrets_as_write_only(client):
    schemas = client.get("/api/schema/?format=json").json()["components"]["schemas"]

    assert {"customer_id", "api_key", "account_sid", "auth_token"} <= set(
        schemas["MessagingAccountCreateRequest"]["properties"]
    )
    shown = set(schemas["MessagingAccount"]["properties"])
    assert {"has_credentials", "credentials_set_at", "callback_urls", "numbers"} <= shown
    assert not shown & {"customer_id", "api_key", "account_sid", "auth_token"}


@pytest.mark.django_db
def test_docs_page_loads_without_any_cdn(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    for host in ("cdn.jsdelivr", "unpkg", "cdnjs"):
        assert host not in page
