"""The agent console's dashboard in each of the five languages, in Chromium: the browser's Accept-Language
picks the language, every string of the page's catalogue is translated, no English text of the catalogue is
left on the page (the server's and the JavaScript's), live updates speak the language, and a screenshot of
each is kept in var/screenshots/. Also: the language switcher, and its choice outliving a reload."""

from __future__ import annotations

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from playwright.sync_api import expect

from workstreams.models import AgentProfile, Conversation, ConversationState, DistributionMode

from .conftest import LAPTOP, PASSWORD, customer_writes

LOCALE = Path(settings.BASE_DIR) / "locale"
SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"
#: The languages, the Accept-Language a browser of that language sends, and the locale folder.
LANGUAGES = [("zh-hans", "zh-CN", "zh_Hans"), ("zh-hant", "zh-TW", "zh_Hant"), ("ja", "ja-JP", "ja"),
             ("pt-br", "pt-BR", "pt_BR"), ("sv", "sv-SE", "sv")]
#: Where the dashboard's words come from (the catalogue's file references).
DASHBOARD_SOURCES = {
    "templates/console/base.html", "templates/console/dashboard.html", "templates/console/_dashboard_lists.html",
    "templates/language_switcher.html", "workstreams/console/selectors.py", "workstreams/console/views.py",
    "workstreams/models.py", "workstreams/services/distribution.py", "workstreams/static/console/console.js",
}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")
PAGE_TEXT = """() => {
  const parts = [document.title, document.body.innerText, document.body.textContent];
  for (const element of document.querySelectorAll("*")) {
    for (const name of ["title", "aria-label", "placeholder", "alt", "label"]) {
      const value = element.getAttribute(name);
      if (value) parts.push(value);
    }
  }
  return parts.join("\\n");
}"""


def dashboard_entries(folder: str) -> list[polib.POEntry]:
    entries = []
    for domain in ("django", "djangojs"):
        po = polib.pofile(str(LOCALE / folder / "LC_MESSAGES" / f"{domain}.po"))
        entries += [e for e in po if {path for path, _line in e.occurrences} & DASHBOARD_SOURCES]
    return entries


def translations(entry: polib.POEntry) -> list[str]:
    return list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]


def english_pattern(msgid: str) -> re.Pattern | None:
    """A pattern for the English text as a page would show it (placeholders filled, markup gone), or None
    when it has no word of its own."""
    visible = re.sub(r"<[^>]+>", " ", msgid)
    parts = [p.strip() for p in PLACEHOLDER.split(visible)]
    if not any(re.search(r"[^\W\d_]{2,}", p) for p in parts):
        return None
    pattern = r".{0,80}?".join(r"\s+".join(map(re.escape, p.split())) for p in parts if p)
    if re.match(r"\w", parts[0] or "x"):
        pattern = r"\b" + pattern
    if re.search(r"\w$", parts[-1] or "x"):
        pattern += r"\b"
    return re.compile(pattern)


def left_in_english(text: str, entries: list[polib.POEntry]) -> list[str]:
    left = []
    for entry in entries:
        for msgid in filter(None, (entry.msgid, entry.msgid_plural)):
            pattern = english_pattern(msgid)
            # A word that is the same in the language (Swedish "Offline", "%(minutes)d min") is not English left.
            if pattern is None or any(pattern.search(t) for t in translations(entry)):
                continue
            if pattern.search(text):
                left.append(msgid)
    return left


@pytest.fixture
def dashboard_data(whatsapp_account, whatsapp_workstream, agent):
    """Two customers waiting in Support, one conversation with the agent, one parked (waiting)."""
    whatsapp_workstream.distribution_mode = DistributionMode.PICK
    whatsapp_workstream.save()
    customer_writes(whatsapp_account, "¿Dónde está mi pedido?", sender="+15550000001", name="Lucía")
    customer_writes(whatsapp_account, "Hola, necesito ayuda", sender="+15550000002", name="Mateo")
    active = customer_writes(whatsapp_account, "Gracias", sender="+15550000003", name="Valentina")
    parked = customer_writes(whatsapp_account, "Un momento", sender="+15550000004", name="Camila")
    Conversation.objects.filter(pk=active.pk).update(agent=agent, state=ConversationState.ACTIVE, queued_at=None)
    Conversation.objects.filter(pk=parked.pk).update(agent=agent, state=ConversationState.WAITING, queued_at=None)
    return whatsapp_account


def sign_in(browser, hub, agent, accept: str):
    context = browser.new_context(viewport=LAPTOP, locale=accept)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(hub.url + "/console/")
    page.fill("#id_username", agent.get_username())
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(hub.url + "/console/")
    return context, page, errors


@pytest.mark.parametrize(("code", "accept", "folder"), LANGUAGES)
def test_the_dashboard_speaks_the_browsers_language_with_no_english_left(browser, hub, agent, dashboard_data,
                                                                        code, accept, folder):
    entries = dashboard_entries(folder)
    assert all(all(translations(e)) for e in entries), "an untranslated entry in the dashboard's catalogue"
    context, page, errors = sign_in(browser, hub, agent, accept)
    try:
        expect(page.locator("html")).to_have_attribute("lang", code)
        by_id = {(e.msgctxt, e.msgid): e for e in entries}
        expect(page.get_by_role("heading", level=1)).to_have_text(by_id[(None, "My work")].msgstr)
        expect(page.locator("#presence-select option:checked")).to_have_text(by_id[(None, "Available")].msgstr)
        expect(page.locator(".conv-row")).to_have_count(4)

        # The JavaScript catalog is the page's language: every string of the console's script, translated.
        for entry in entries:
            if "workstreams/static/console/console.js" not in {p for p, _line in entry.occurrences}:
                continue
            shown = page.evaluate("([s, p]) => p ? ngettext(s, p, 1) : gettext(s)",
                                  [entry.msgid, entry.msgid_plural or None])
            assert shown == translations(entry)[0], entry.msgid

        # Live updates: a new customer is announced, and a presence change confirmed, in the language.
        customer_writes(dashboard_data, "Buenas tardes", sender="+15550000005", name="Sofía")
        announced = by_id[(None, "New conversation waiting: %(customer)s")].msgstr.replace("%(customer)s", "Sofía")
        expect(page.locator("#announcer")).to_contain_text(announced)
        expect(page.locator(".conv-row")).to_have_count(5)
        page.locator("#presence-select").select_option("busy")
        busy = by_id[(None, "Busy")].msgstr
        confirmed = by_id[(None, "You are now %(presence)s.")].msgstr.replace("%(presence)s", busy.lower())
        expect(page.locator("#announcer")).to_contain_text(confirmed)

        text = page.evaluate(PAGE_TEXT)
        assert left_in_english(text, entries) == [], f"English left on the {code} dashboard"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"console-dashboard-{code}.png"), full_page=True)
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_the_check_finds_english_left_on_a_page():
    entries = dashboard_entries("ja")

    found = left_in_english("自分の作業 Take next waiting 12 min ago", entries)
    assert {"Take next waiting", "%(duration)s ago", "%(minutes)d min", "Take"} <= set(found)
    assert left_in_english("自分の作業 · 次の待機中の会話を担当する · 12 分前 · Lucía · Support", entries) == []


def test_the_switcher_changes_the_language_and_the_choice_stays(browser, hub, agent, dashboard_data):
    AgentProfile.objects.filter(user=agent).update(language="sv")
    context, page, errors = sign_in(browser, hub, agent, "en-US")
    try:
        expect(page.locator("html")).to_have_attribute("lang", "sv")  # the profile's language
        page.get_by_label("Språk").select_option("ja")
        page.get_by_role("button", name="Använd").click()
        expect(page.locator("html")).to_have_attribute("lang", "ja")
        expect(page.get_by_role("heading", level=1)).to_have_text("自分の作業")
        assert page.url == hub.url + "/console/"
        page.reload()
        expect(page.locator("html")).to_have_attribute("lang", "ja")
        page.goto(hub.url + "/admin/")
        expect(page.locator("html")).to_have_attribute("lang", "ja")
        expect(page.locator("#user-tools").get_by_role("link", name="エージェント コンソール")).to_be_visible()
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.mark.parametrize(("accept", "counted", "one"), [
    ("en-US", "1,601 / 1,600 characters · 1 over the limit",
     "1 / 1,600 characters"),
    ("pt-BR", "1.601 / 1.600 caracteres · 1 acima do limite",
     "1 / 1.600 caracteres"),
    ("sv-SE", "1\u00a0601 / 1\u00a0600 tecken · 1 över gränsen",
     "1 / 1\u00a0600 tecken"),
    ("ja-JP", "1,601 / 1,600 文字 · 上限を 1 文字超過", "1 / 1,600 文字"),
])
def test_the_reply_counter_counts_in_the_pages_language_and_number_format(browser, hub, agent, whatsapp_account,
                                                                         whatsapp_workstream, accept, counted, one):
    conversation = customer_writes(whatsapp_account, "Hej", name="Maria")
    context, page, errors = sign_in(browser, hub, agent, accept)
    try:
        page.goto(f"{hub.url}/console/conversations/{conversation.pk}/")
        page.locator("#reply-body").fill("a" * 1601)
        expect(page.locator("#reply-count")).to_have_text(counted)
        page.locator("#reply-body").fill("a")
        expect(page.locator("#reply-count")).to_have_text(one)
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
