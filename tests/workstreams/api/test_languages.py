"""The API answers in the request's language: the same stable ``error`` code, the ``detail`` translated by
``Accept-Language`` (what people read), in English when none of ours is asked for."""

from __future__ import annotations

import pytest
from django.utils import translation
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from workstreams.models import AgentProfile


@pytest.fixture
def token_client(make_agent, support_queue):
    from django.contrib.auth.models import Permission

    user = make_agent("ana", queues=[support_queue])
    user.is_staff = True  # the API asks what the console asks: a staff agent who may view and change conversations
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation", "change_conversation"]))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.parametrize(("accept", "language", "detail"), [
    ("en", "en", "No conversation is waiting in your queues."),
    ("ja", "ja", "キューで待機中の会話はありません。"),
    ("sv-SE,sv;q=0.9", "sv", "Ingen konversation väntar i dina köer."),
    ("zh-CN", "zh-hans", "您的队列中没有正在等待的对话。"),
    ("zh-TW", "zh-hant", "您的佇列中沒有等待中的交談。"),
    ("pt-BR", "pt-br", "Nenhuma conversa está em espera nas suas filas."),
    ("de", "en", "No conversation is waiting in your queues."),
])
def test_a_refusal_keeps_its_error_code_and_says_what_is_wrong_in_the_requests_language(token_client, accept,
                                                                                       language, detail):
    response = token_client.post("/api/v1/agents/me/pick/", HTTP_ACCEPT_LANGUAGE=accept)

    assert response.status_code == 409
    assert response.json() == {"error": "queue_empty", "detail": detail, "field": "queue"}
    assert response["Content-Language"] == language


def test_a_token_client_gets_the_language_it_asks_for_not_the_agents_profile_language(token_client):
    AgentProfile.objects.filter(user__username="ana").update(language="sv")

    response = token_client.post("/api/v1/agents/me/pick/", HTTP_ACCEPT_LANGUAGE="ja")

    assert response.json()["detail"] == "キューで待機中の会話はありません。"


def test_the_frameworks_own_refusals_are_translated_too(db):
    response = APIClient().get("/api/v1/agents/me/presence/", HTTP_ACCEPT_LANGUAGE="ja")

    assert response.status_code in (401, 403)
    with translation.override("ja"):
        japanese = translation.gettext("Authentication credentials were not provided.")
    assert japanese != "Authentication credentials were not provided."
    assert response.json()["detail"] == japanese
