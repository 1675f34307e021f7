"""The language of a page: the switcher's choice, else the agent's profile language, else the browser's
Accept-Language, else English — and none of it on the webhooks' lean stack."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission

from workstreams.models import AgentProfile


def page_language(response) -> str:
    """The language a page says it is in (<html lang>), checked against its Content-Language header."""
    match = re.search(r'<html lang="([^"]+)"', response.content.decode())
    assert match, "the page has no <html lang>"
    assert response["Content-Language"] == match.group(1)
    return match.group(1)


@pytest.fixture
def agent(db, django_user_model, client):
    user = django_user_model.objects.create_user("ana", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation", "change_conversation"]))
    AgentProfile.objects.create(user=user, presence="available")
    client.force_login(user)
    return user


def set_profile_language(user, language: str) -> None:
    AgentProfile.objects.filter(user=user).update(language=language)


@pytest.mark.parametrize(("accept", "language"), [
    ("ja", "ja"),
    ("ja-JP,ja;q=0.9,en;q=0.5", "ja"),
    ("zh-CN,zh;q=0.9", "zh-hans"),
    ("zh-Hans", "zh-hans"),
    ("zh-TW", "zh-hant"),
    ("zh-HK", "zh-hant"),
    ("pt-BR", "pt-br"),
    ("pt", "pt-br"),
    ("sv-SE,sv;q=0.9", "sv"),
    ("de-DE,fr;q=0.8", "en"),  # no language of ours: English
    ("", "en"),
])
def test_without_a_choice_the_browsers_accept_language_picks_the_language(client, db, accept, language):
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE=accept)

    assert response.status_code == 200
    assert page_language(response) == language


def test_an_agents_profile_language_wins_over_the_browsers(client, agent):
    set_profile_language(agent, "sv")

    response = client.get("/console/", HTTP_ACCEPT_LANGUAGE="ja")

    assert page_language(response) == "sv"
    assert "Mitt arbete" in response.content.decode()


def test_a_blank_profile_language_leaves_the_browsers(client, agent):
    response = client.get("/console/", HTTP_ACCEPT_LANGUAGE="ja")

    assert page_language(response) == "ja"


def test_the_switchers_choice_wins_over_the_profile_and_the_browser(client, agent):
    set_profile_language(agent, "sv")

    switched = client.post("/i18n/setlang/", {"language": "pt-br", "next": "/console/"},
                           HTTP_ACCEPT_LANGUAGE="ja")

    assert switched.status_code == 302 and switched["Location"] == "/console/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "pt-br"
    response = client.get("/console/", HTTP_ACCEPT_LANGUAGE="ja")
    assert page_language(response) == "pt-br"
    assert "Meu trabalho" in response.content.decode()


def test_a_cookie_naming_no_language_of_ours_is_ignored(client, agent):
    set_profile_language(agent, "zh-hant")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "xx-unknown"

    response = client.get("/console/", HTTP_ACCEPT_LANGUAGE="ja")

    assert page_language(response) == "zh-hant"


def test_a_switcher_post_for_a_language_that_is_not_offered_changes_nothing(client, agent):
    set_profile_language(agent, "sv")

    client.post("/i18n/setlang/", {"language": "de", "next": "/console/"})  # Django knows German; we do not offer it

    assert page_language(client.get("/console/", HTTP_ACCEPT_LANGUAGE="de")) == "sv"


def test_the_switcher_does_not_send_people_to_another_site(client, agent):
    response = client.post("/i18n/setlang/", {"language": "ja", "next": "https://evil.example.com/"})

    assert response.status_code == 302
    assert "evil.example.com" not in response["Location"]


def test_a_profile_language_applies_only_to_its_agent(client, agent, django_user_model):
    set_profile_language(agent, "sv")
    other = django_user_model.objects.create_user("bo", password="pw", is_staff=True)
    other.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation"]))
    AgentProfile.objects.create(user=other)
    client.force_login(other)

    assert page_language(client.get("/console/", HTTP_ACCEPT_LANGUAGE="ja")) == "ja"


def test_the_profile_offers_every_language_by_its_own_name_and_the_browsers_by_default(db):
    field = AgentProfile._meta.get_field("language")

    assert dict(field.choices) == {"": "The browser's language", "en": "English", "zh-hans": "简体中文",
                                   "zh-hant": "繁體中文", "ja": "日本語", "pt-br": "Português Brasileiro",
                                   "sv": "Svenska"}
    assert AgentProfile().language == ""


def test_the_admin_saves_an_agents_language(admin_client, agent):
    profile = AgentProfile.objects.get(user=agent)
    page = admin_client.get(f"/admin/workstreams/agentprofile/{profile.pk}/change/").content.decode()
    assert 'name="language"' in page and '<option value="ja">日本語</option>' in page

    form = {"user": agent.pk, "language": "ja", "capacity": 100, "presence": "available",
            "skills-TOTAL_FORMS": 0, "skills-INITIAL_FORMS": 0}
    response = admin_client.post(f"/admin/workstreams/agentprofile/{profile.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert AgentProfile.objects.get(pk=profile.pk).language == "ja"
