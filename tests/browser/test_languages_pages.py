"""The pages people spend their day on, in each of the five languages, in Chromium: the admin's index, a
messaging account's change page and an outbound configuration's change page (for an administrator), and a
conversation in the agent console. The browser's Accept-Language picks the language; no English text of the
hub's catalogues is left on the page (what people typed — names, messages, addresses — is theirs and is set
aside first); a screenshot of each is kept in var/screenshots/. The console's dashboard has its own test
(test_languages.py)."""

from __future__ import annotations

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils.text import capfirst
from playwright.sync_api import expect

from outbound.models import OutboundConfiguration
from tests.outbound.conftest import make_configuration
from workstreams.models import Conversation, ConversationState

from .conftest import LAPTOP, PASSWORD, customer_writes
from .test_languages import LANGUAGES, LOCALE, PAGE_TEXT, PLACEHOLDER, english_pattern, translations

SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"
WIDE = {"width": 1400, "height": 900}
#: What people typed into this test's data: shown as they wrote it, in whatever language that was.
TYPED = ["Twilio WhatsApp", "Support WhatsApp", "WhatsApp support", "Everything to Support", "Support",
         "Case created message", "Case created", "Hi {CustomerName}, we opened case {CaseName}.", "Ana Agent",
         "Lea", "Valentina", "¿Dónde está mi pedido?", "Gracias"]
#: The providers' own names for their pages and settings, which their consoles show in English and the help texts
#: quote as they are.
PROVIDERS_WORDS = ["Twilio Console", "Status callback URL", "A message comes in", "Messaging Service", "Account SID",
                   "Auth Token"]
#: What people type as it is: addresses and paths, field and option names (configuration_id, --configuration).
CODE = re.compile(r"\S*[/_]\S*|--[\w-]+")


def catalogue_entries(folder: str) -> list[polib.POEntry]:
    """Every entry of the hub's own catalogues (Django's own words come from Django's catalogues)."""
    entries = []
    for domain in ("django", "djangojs"):
        entries += list(polib.pofile(str(LOCALE / folder / "LC_MESSAGES" / f"{domain}.po")))
    return entries


def english_left(text: str, entries: list[polib.POEntry], context: dict[str, str] | None = None) -> list[str]:
    """The msgids whose English is on the page; ``context``, when given, gets where each was found."""
    context = {} if context is None else context
    for typed in sorted(TYPED + PROVIDERS_WORDS, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(typed)}(?!\w)", " ", text)
    text = CODE.sub(" ", text)
    left = []
    for entry in entries:
        for msgid in filter(None, (entry.msgid, entry.msgid_plural)):
            if max(map(len, re.findall(r"[^\W\d_]+", PLACEHOLDER.sub(" ", msgid))), default=0) <= 2:
                continue  # "%(n)s of %(m)s", "in": words every language has (Swedish "in", Portuguese "a")
            # Django shows a model's names with a capital first letter (capfirst).
            for shown in {msgid, capfirst(msgid)}:
                pattern = english_pattern(shown)
                # A word that is the same in the language (Swedish "Status", "SMS", "ID") is not English left.
                if pattern is None or any(pattern.search(capfirst(t)) or pattern.search(t)
                                          for t in translations(entry) if t):
                    continue
                found = pattern.search(text)
                if found:
                    left.append(msgid)
                    context.setdefault(msgid, " ".join(text[max(0, found.start() - 40):found.end() + 40].split()))
    return sorted(set(left))


@pytest.fixture
def administrator(transactional_db, django_user_model):
    return django_user_model.objects.create_superuser("lea", password=PASSWORD, first_name="Lea")


@pytest.fixture
def configuration(whatsapp_account) -> OutboundConfiguration:
    return make_configuration(whatsapp_account)


def signed_in(browser, hub, username: str, accept: str, path: str, viewport=WIDE):
    context = browser.new_context(viewport=viewport, locale=accept)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(hub.url + path)
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(hub.url + path)
    return context, page, errors


def check_page(page, code: str, folder: str, name: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", code)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{code}.png"), full_page=True)
    # What is marked as another language (the switcher names each language in its own) is not read as ours.
    page.evaluate("""() => document.querySelectorAll("body [lang]").forEach(element => {
      if (element.lang !== document.documentElement.lang) element.remove(); })""")
    text = page.evaluate(PAGE_TEXT)
    where: dict[str, str] = {}
    left = english_left(text, catalogue_entries(folder), where)
    assert not left, f"English left on the {code} {name} page: {where}"


#: The administrator's pages: a name (the screenshot's), and the path given this test's account and configuration.
ADMIN_PAGES = [
    ("admin-index", lambda account, configuration: "/admin/"),
    ("admin-account", lambda account, configuration: f"/admin/channels_app/messagingaccount/{account.pk}/change/"),
    ("admin-outbound-configuration",
     lambda account, configuration: f"/admin/outbound/outboundconfiguration/{configuration.pk}/change/"),
]


@pytest.mark.parametrize(("name", "path"), ADMIN_PAGES, ids=[name for name, _path in ADMIN_PAGES])
@pytest.mark.parametrize(("code", "accept", "folder"), LANGUAGES)
def test_the_administrators_pages_speak_the_browsers_language(browser, hub, administrator, whatsapp_account,
                                                              whatsapp_workstream, configuration, name, path, code,
                                                              accept, folder):
    context, page, errors = signed_in(browser, hub, "lea", accept, path(whatsapp_account, configuration))
    try:
        check_page(page, code, folder, name)
    finally:
        context.close()
    assert not errors, errors


@pytest.mark.parametrize(("code", "accept", "folder"), LANGUAGES)
def test_a_conversation_in_the_console_speaks_the_browsers_language(browser, hub, agent, whatsapp_account,
                                                                    whatsapp_workstream, code, accept, folder):
    customer_writes(whatsapp_account, "¿Dónde está mi pedido?", sender="+15550000003", name="Valentina")
    conversation = customer_writes(whatsapp_account, "Gracias", sender="+15550000003", name="Valentina")
    Conversation.objects.filter(pk=conversation.pk).update(agent=agent, state=ConversationState.ACTIVE,
                                                           queued_at=None)
    path = f"/console/conversations/{conversation.pk}/"
    context, page, errors = signed_in(browser, hub, agent.get_username(), accept, path, viewport=LAPTOP)
    try:
        expect(page.locator("#reply-body")).to_be_visible()
        check_page(page, code, folder, "console-conversation")
    finally:
        context.close()
    assert not errors, errors


def test_the_check_sets_typed_words_aside_and_finds_the_hubs_english():
    entries = catalogue_entries("ja")
    assert english_left("サポート Support WhatsApp https://hub.example/webhooks/twilio/x/status/", entries) == []
    assert "messaging accounts" in english_left("Messaging accounts", entries)
