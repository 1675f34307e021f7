"""Query parameters past what a column holds — a NUL, a number past a bigint, digits that are not ASCII — are
answered with a 4xx or ignored, never a 500, on every list the API and the admin offer."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from config.inputs import db_count, db_id

LISTS = ["/api/v1/accounts/", "/api/v1/conversations/", "/api/v1/queues/", "/api/v1/accounts/1/numbers/",
         "/api/v1/conversations/1/messages/"]
PARAMS = [
    {"limit": "99999999999999999999"}, {"offset": "99999999999999999999"}, {"offset": "9223372036854775807"},
    {"limit": "-1"}, {"offset": "-5"}, {"limit": "²"}, {"provider": "a\x00b"}, {"channel": "\x00"},
    {"state": "\x00"}, {"contact": "\x00"}, {"contact": "99999999999999999999"}, {"contact": "²"},
    {"number": "\x00"}, {"a\x00": "1"},
]


@pytest.fixture
def token(db, django_user_model, sandbox_account, receive):
    receive(sandbox_account, "hello")
    user = django_user_model.objects.create_superuser("root", password="pw-unused-in-tests")
    return Token.objects.create(user=user).key


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("params", PARAMS, ids=repr)
def test_list_parameters_past_what_a_column_holds_are_no_500(client, token, path, params):
    response = client.get(path, params, HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code < 500
    if any("\x00" in k + v for k, v in params.items()):
        assert (response.status_code, response.json()["error"]) == (400, "nul_character")


def test_a_page_holds_at_most_the_largest_page_size(client, token, settings):
    settings.API_MAX_PAGE_SIZE = 1
    from channels_app.models import MessagingAccount

    assert MessagingAccount.objects.count() == 1
    response = client.get("/api/v1/accounts/", {"limit": "99999999999999999999"}, HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200 and len(response.json()["results"]) == 1


@pytest.mark.parametrize("path", ["/api/v1/conversations/99999999999999999999/",
                                  "/api/v1/messages/99999999999999999999/trace/",
                                  "/api/v1/accounts/99999999999999999999/", "/api/v1/outbound/requests/%00/"])
def test_an_id_past_a_bigint_or_a_nul_in_the_path_is_a_4xx(client, token, path):
    assert 400 <= client.get(path, HTTP_AUTHORIZATION=f"Token {token}").status_code < 500


@pytest.mark.parametrize("path", ["/admin/channels_app/message/", "/admin/channels_app/channellog/",
                                  "/admin/channels_app/inboundevent/", "/admin/workstreams/conversation/"])
def test_an_admin_search_with_a_nul_is_a_400(admin_client, path):
    response = admin_client.get(path, {"q": "a\x00b"})
    assert response.status_code == 400 and b"NUL" in response.content


@pytest.mark.parametrize(("value", "as_id", "as_count"), [
    ("1", 1, 1), ("0", None, 0), ("9223372036854775807", 2**63 - 1, 2**63 - 1), ("9223372036854775808", None, None),
    ("²", None, None), ("١٢", None, None), ("-1", None, None), ("", None, None), (None, None, None),
])
def test_ids_and_counts(value, as_id, as_count):
    assert (db_id(value), db_count(value)) == (as_id, as_count)


DEEP = '{"a":' * 20_000 + "1" + "}" * 20_000


@pytest.mark.parametrize("path", ["/api/v1/outbound/requests/", "/api/v1/accounts/"])
@pytest.mark.parametrize("content_type", ["application/json", "APPLICATION/JSON; CHARSET=UTF-8"])
@pytest.mark.parametrize("body", [DEEP, "[" * 5000 + "]" * 5000], ids=["objects", "arrays"])
def test_api_json_nested_past_the_limit_is_a_400(client, token, path, content_type, body):
    response = client.post(path, body, content_type=content_type, HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 400
    assert "deeper than 64 levels" in response.json()["detail"]


def test_api_json_within_the_limit_is_read(client, token):
    nested = '{"name": "Deep", "provider": "sandbox", "channel": "sms", "x": ' + "[" * 60 + "]" * 60 + "}"
    response = client.post("/api/v1/accounts/", nested, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(("accept", "path", "query", "said"), [
    ("en", "/api/v1/accounts/", {"search": "a\x00b"}, "The query parameter “search” contains a NUL character"),
    ("ja", "/api/v1/accounts/", {"search": "a\x00b"}, "クエリ パラメーター「search」"),
    ("sv", "/admin/", {"q\x00": "x"}, "Frågeparametern ”q\\x00”"),
    ("pt-br", "/admin/%00/", {}, "O caminho da solicitação contém um caractere NUL"),
])
def test_a_nul_is_refused_in_the_language_the_request_asks_for(client, token, accept, path, query, said):
    response = client.get(path, query, HTTP_AUTHORIZATION=f"Token {token}", HTTP_ACCEPT_LANGUAGE=accept)

    assert response.status_code == 400
    detail = response.json()["detail"] if path.startswith("/api/") else response.content.decode()
    assert said in detail
    if path.startswith("/api/"):
        assert response.json()["error"] == "nul_character"
