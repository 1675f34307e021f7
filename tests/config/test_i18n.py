"""The hub in its users' languages: the settings, the catalogues (complete, compiled, in step with the code),
the checker of strings left unmarked, date formats, the JavaScript catalog, and the webhooks left out of it."""

from __future__ import annotations

import io
import json
import re
import shutil
from datetime import datetime
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import translation
from django.utils.formats import date_format, get_format

from devtools.i18n_check import check_file, check_python_source, check_template_source

ROOT = Path(settings.BASE_DIR)
LOCALE = ROOT / "locale"
#: Our languages, their locale folders and gettext plural rules (Japanese and Chinese have one form).
LANGUAGES = {
    "zh-hans": ("zh_Hans", "nplurals=1; plural=0;"),
    "zh-hant": ("zh_Hant", "nplurals=1; plural=0;"),
    "ja": ("ja", "nplurals=1; plural=0;"),
    "pt-br": ("pt_BR", "nplurals=2; plural=(n > 1);"),
    "sv": ("sv", "nplurals=2; plural=(n != 1);"),
}
DOMAINS = ("django", "djangojs")
CATALOGUES = [(code, domain) for code in LANGUAGES for domain in DOMAINS]

#: Where the hub's words for people live: its apps and templates. Left out: migrations and tests; management
#: commands (they speak to an operator's terminal, in English); devtools (the emulator, the demo's setup and
#: these checks, for developers).
CHECKED_ROOTS = ["channels_app", "config", "outbound", "privacy", "reports", "workstreams", "templates"]
UNCHECKED_PARTS = {"migrations", "management", "__pycache__"}


def checked_files() -> list[str]:
    files = []
    for root in CHECKED_ROOTS:
        for path in sorted((ROOT / root).rglob("*")):
            if path.suffix in (".py", ".html", ".txt") and not UNCHECKED_PARTS & set(path.parts):
                files.append(str(path.relative_to(ROOT)))
    return files


def catalogue(code: str, domain: str) -> polib.POFile:
    return polib.pofile(str(LOCALE / LANGUAGES[code][0] / "LC_MESSAGES" / f"{domain}.po"))


def entry_key(entry: polib.POEntry) -> tuple[str | None, str]:
    return entry.msgctxt, entry.msgid


# --- Settings -------------------------------------------------------------------------------------


def test_the_languages_are_english_and_the_reference_products_five():
    assert [code for code, _name in settings.LANGUAGES] == ["en", *LANGUAGES]
    assert settings.LANGUAGE_CODE == "en"
    assert [Path(p) for p in settings.LOCALE_PATHS] == [LOCALE]


def test_the_language_is_chosen_after_the_session_and_the_profile_after_the_user_is_known():
    stack = settings.MIDDLEWARE
    locale = stack.index("django.middleware.locale.LocaleMiddleware")
    assert stack.index("django.contrib.sessions.middleware.SessionMiddleware") < locale
    assert locale < stack.index("django.middleware.common.CommonMiddleware")
    assert (stack.index("django.contrib.auth.middleware.AuthenticationMiddleware")
            < stack.index("workstreams.middleware.AgentLanguageMiddleware"))


def test_webhooks_stay_on_their_lean_stack_while_pages_say_their_language(db):
    from config.wsgi import application
    from tests.config.test_wsgi import call

    assert not {"django.middleware.locale.LocaleMiddleware",
                "workstreams.middleware.AgentLanguageMiddleware"} & set(settings.WEBHOOK_MIDDLEWARE)
    _status, webhook, _content = call(application, "POST", "/webhooks/twilio/no-such-token/inbound/", b"",
                                      {"Accept-Language": "ja"})
    assert "Content-Language" not in webhook
    _status, page, _content = call(application, "GET", "/admin/login/", b"", {"Accept-Language": "ja"})
    assert page["Content-Language"] == "ja"


@pytest.mark.parametrize(("code", "month_day_time", "date"), [
    ("en", "May 5, 09:30", "May 5, 2024"),
    ("zh-hans", "5月5日 09:30", "2024年5月5日"),
    ("zh-hant", "5月5日 09:30", "2024年5月5日"),
    ("ja", "5月5日 09:30", "2024年5月5日"),
    ("pt-br", "5 de mai, 09:30", "5 de Maio de 2024"),
    ("sv", "5 maj 09:30", "5 maj 2024"),
])
def test_dates_are_written_in_each_languages_order(code, month_day_time, date):
    moment = datetime(2024, 5, 5, 9, 30)
    with translation.override(code):
        assert get_format("MONTH_DAY_TIME_FORMAT") != "MONTH_DAY_TIME_FORMAT", f"config/formats has no {code}"
        assert date_format(moment, "MONTH_DAY_TIME_FORMAT") == month_day_time
        assert date_format(moment, "DATE_FORMAT") == date


# --- Catalogues -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "domain"), CATALOGUES)
def test_each_catalogue_says_its_language_and_plural_rule(code, domain):
    po = catalogue(code, domain)

    assert not po.metadata_is_fuzzy, "the header is marked fuzzy: msgfmt would skip it"
    assert po.metadata["Plural-Forms"] == LANGUAGES[code][1]
    assert po.metadata["Content-Type"] == "text/plain; charset=UTF-8"


@pytest.mark.parametrize(("code", "domain"), CATALOGUES)
def test_no_catalogue_has_an_untranslated_fuzzy_or_obsolete_entry(code, domain):
    po = catalogue(code, domain)
    forms = int(LANGUAGES[code][1].split("nplurals=")[1].split(";")[0])

    untranslated = [e.msgid for e in po.untranslated_entries()]
    untranslated += [e.msgid for e in po if e.msgid_plural and (len(e.msgstr_plural) != forms
                                                                or not all(e.msgstr_plural.values()))]
    assert not untranslated, f"untranslated in {code} {domain}.po: {untranslated}"
    assert not [e.msgid for e in po.fuzzy_entries()], f"fuzzy in {code} {domain}.po"
    assert not [e.msgid for e in po.obsolete_entries()], f"obsolete in {code} {domain}.po"


PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\{\s*\w+\s*\}\}|\{\w*\}")
TAG = re.compile(r"</?[a-z][^>]*>")


def _shape(text: str) -> tuple[list[str], list[str]]:
    return sorted(PLACEHOLDER.findall(text)), sorted(TAG.findall(text))


@pytest.mark.parametrize(("code", "domain"), CATALOGUES)
def test_translations_keep_their_placeholders_and_markup(code, domain):
    wrong = []
    for entry in catalogue(code, domain).translated_entries():
        translations = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        for text in translations:
            # A plural form may leave out the count ("one day"), but never bring in a new placeholder.
            if (entry.msgid_plural and not set(_shape(text)[0]) <= set(_shape(entry.msgid_plural)[0])) or \
                    (not entry.msgid_plural and _shape(text) != _shape(entry.msgid)):
                wrong.append((entry.msgid, text))
    assert not wrong


@pytest.mark.parametrize(("code", "domain"), CATALOGUES)
def test_the_compiled_catalogues_are_current(code, domain):
    po = catalogue(code, domain)
    mo_path = LOCALE / LANGUAGES[code][0] / "LC_MESSAGES" / f"{domain}.mo"
    assert mo_path.exists(), f"{mo_path.relative_to(ROOT)} is missing: run make compilemessages"
    mo = polib.mofile(str(mo_path))

    def messages(catalog):
        return {entry_key(e): (e.msgstr, dict(sorted((int(k), v) for k, v in e.msgstr_plural.items())))
                for e in catalog if e.msgid and not e.obsolete and (e.msgstr or e.msgstr_plural)
                and "fuzzy" not in e.flags}

    assert messages(mo) == messages(po), f"{mo_path.relative_to(ROOT)} is not compiled from its .po: " \
                                         "run make compilemessages"
    assert mo.metadata["Plural-Forms"] == po.metadata["Plural-Forms"]


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU gettext is not installed (apt-get install gettext)")
@pytest.mark.parametrize("domain", DOMAINS)
def test_the_catalogues_hold_every_marked_string_and_no_other(domain, tmp_path, settings, monkeypatch):
    """What `make messages` would extract now is what the catalogues hold: a string marked since the last
    run, or one no longer used, fails here until the catalogues are brought up to date."""
    # makemessages writes next to the sources it reads: it reads a copy, so the catalogues are not touched.
    skipped = {".git", ".venv", "var", "staticfiles", "locale", "tests", "bench", "devtools", "node_modules"}
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=lambda folder, names: [
        n for n in names if n in skipped or n.startswith(".") or n.endswith((".pyc", ".mo", ".po"))])
    settings.LOCALE_PATHS = [tmp_path / "extracted"]
    monkeypatch.chdir(source)
    extensions = ["js"] if domain == "djangojs" else ["html", "txt", "py"]
    call_command("makemessages", domain=domain, locale=["ja"], extensions=extensions, verbosity=0,
                 no_obsolete=True, stdout=io.StringIO())
    po_file = tmp_path / "extracted" / "ja" / "LC_MESSAGES" / f"{domain}.po"
    assert po_file.exists()
    extracted = polib.pofile(str(po_file))

    def keys(po):
        return {(e.msgctxt, e.msgid, e.msgid_plural) for e in po if not e.obsolete}

    committed = keys(catalogue("ja", domain))
    assert keys(extracted) - committed == set(), "marked but not in the catalogues: run make messages, translate"
    assert committed - keys(extracted) == set(), "in the catalogues but no longer marked: run make messages"


# --- Strings left unmarked --------------------------------------------------------------------------


def test_the_check_covers_every_app_and_template():
    files = checked_files()
    assert {"channels_app/models.py", "outbound/admin.py", "workstreams/models.py", "templates/console/conversation.html",
            "templates/admin/index.html", "reports/templates/reports/report.html", "config/api.py"} <= set(files)
    assert not [f for f in files if "/migrations/" in f or "/management/" in f]


def test_every_model_and_field_of_the_hub_has_a_name_in_the_catalogues():
    """Django makes an English name for a model or field that has none of its own ("Channel logs",
    "Validated at"): each of ours is named, marked, and in the catalogues."""
    from django.apps import apps
    from django.utils.functional import Promise

    msgids = {entry.msgid for entry in catalogue("ja", "django")}
    unnamed = []
    for model in apps.get_models():
        if model.__module__.split(".")[0] not in {"channels_app", "config", "outbound", "privacy", "reports",
                                                   "workstreams"}:
            continue
        names = [("model", model._meta.original_attrs.get("verbose_name")),
                 ("model plural", model._meta.original_attrs.get("verbose_name_plural"))]
        names += [(field.name, field.verbose_name) for field in model._meta.get_fields()
                  if field.concrete and not field.auto_created]
        for what, name in names:
            with translation.override(None):  # the English it was marked with
                if not isinstance(name, Promise) or str(name) not in msgids:
                    unnamed.append(f"{model.__name__}.{what}")
    assert unnamed == []


@pytest.mark.parametrize("path", checked_files())
def test_every_string_shown_to_people_is_marked_for_translation(path):
    findings = check_file(path)

    assert not findings, "\n".join(str(f) for f in findings)


@pytest.mark.parametrize(("source", "found"), [
    ("<p>Hello</p>", ["Hello"]),
    ('<button title="Close it">×</button>', ["Close it"]),
    ('<input type="submit" value="Send">', ["Send"]),
    ('<img alt="Logo of {{ name }}" src="x.png">', ["Logo of …"]),
    ('<span aria-label="{{ n }} unread">{{ n }}</span>', ["… unread"]),
    ("<p>{{ body|default:'(no text)' }}</p>", ["…(no text)…"]),
    ("<title>{% block title %}Console{% endblock %}</title>", ["…Console…"]),
    ("{% firstof name 'Someone' %}", ["…Someone…"]),
])
def test_the_checker_finds_unmarked_template_text(source, found):
    assert [f.text for f in check_template_source("{% load i18n %}" + source)] == found


@pytest.mark.parametrize("source", [
    "<p>{% translate 'Hello' %}</p>",
    "<p>{% blocktranslate with n=count %}You have {{ n }} messages{% endblocktranslate %}</p>",
    "<p>{% blocktrans count n=count %}{{ n }} day{% plural %}{{ n }} days{% endblocktrans %}</p>",
    '<p class="badge state-waiting" data-page="dashboard" id="main">{{ value }} · 12 ×</p>',
    "<p>{{ body|default:_('(no text)') }}</p>",
    '<p class="flash-{{ tags|default:"info" }}"></p>',
    "{% comment %}Words for the people who read this file.{% endcomment %}",
    "<script>const words = 'not for people';</script><style>.a::after { content: 'x'; }</style>",
    '<input type="hidden" name="next" value="/console/">',
])
def test_the_checker_leaves_marked_and_unread_text_alone(source):
    assert check_template_source("{% load i18n %}" + source) == []


def test_the_checker_skips_what_a_child_template_puts_into_its_parents_attributes():
    source = ('{% extends "console/base.html" %}{% block page %}dashboard{% endblock %}'
              "{% block content %}<h1>Not marked</h1>{% endblock %}")
    assert [f.text for f in check_template_source(source)] == ["Not marked"]


def test_the_checker_skips_attribute_blocks_of_the_templates_the_parent_extends():
    # admin/base_site.html extends Django's admin/base.html, where bodyclass sits in <body class="…">.
    source = ('{% extends "admin/base_site.html" %}{% block bodyclass %}{{ block.super }} login{% endblock %}'
              "{% block content %}<h1>Not marked</h1>{% endblock %}")
    assert [f.text for f in check_template_source(source)] == ["Not marked"]


PYTHON_UNMARKED = '''
from django.contrib import admin, messages as flash
from django.db import models
from config.exceptions import ServiceError


class Kind(models.TextChoices):
    ONE = "one", "First kind"
    TWO = "two"


class Thing(models.Model):
    name = models.CharField("thing name", max_length=10, help_text="What people call it.")
    owner = models.ForeignKey("auth.User", on_delete=models.CASCADE, verbose_name="owner")
    size = models.IntegerField(choices=[(1, "Small"), (2, "Large")])

    class Meta:
        verbose_name_plural = "things"


def view(request, thing):
    flash.success(request, f"Saved {thing}.")
    raise ServiceError("Thing " + thing.name + " is broken.", code="broken")


class ThingAdmin(admin.ModelAdmin):
    @admin.action(description="Mark as done")
    def done(self, request, queryset):
        self.message_user(request, "Done.")
'''

PYTHON_MARKED = '''
from django.contrib import messages
from django.db import models
from django.utils.translation import gettext as _, gettext_lazy, ngettext
from config.exceptions import ServiceError


class Kind(models.TextChoices):
    ONE = "one", gettext_lazy("First kind")


class Thing(models.Model):
    name = models.CharField(gettext_lazy("thing name"), max_length=10, help_text=gettext_lazy("What."))
    owner = models.ForeignKey("auth.User", on_delete=models.CASCADE)
    slug = models.SlugField(default="a-default-value")

    class Meta:
        verbose_name_plural = gettext_lazy("things")


def view(request, thing, n):
    messages.success(request, _("Saved %(thing)s.") % {"thing": thing})
    messages.info(request, ngettext("%(n)s day", "%(n)s days", n) % {"n": n})
    raise ServiceError(_("Thing {name} is broken.").format(name=thing.name), code="broken_thing")
'''


def test_the_checker_finds_unmarked_python_text():
    found = [(f.line, f.text) for f in check_python_source(PYTHON_UNMARKED)]

    assert found == [
        (8, "First kind"), (9, "TWO"), (13, "What people call it."), (13, "thing name"), (14, "owner"),
        (15, "Small"), (15, "Large"), (18, "things"), (22, "Saved {…}."), (23, "Thing {…} is broken."),
        (27, "Mark as done"), (29, "Done."),
    ]


def test_the_checker_leaves_marked_python_text_and_values_alone():
    assert check_python_source(PYTHON_MARKED) == []


def test_the_checker_runs_from_the_command_line_and_says_what_is_left(capsys, tmp_path):
    from devtools import i18n_check

    assert i18n_check.main(checked_files()) == 0
    unmarked = tmp_path / "admin.py"
    unmarked.write_text('from django.db import models\nname = models.CharField("the name", max_length=9)\n')
    assert i18n_check.main([str(unmarked)]) == 1
    assert "admin.py:2: the verbose name of a CharField" in capsys.readouterr().out


# --- The JavaScript catalog -----------------------------------------------------------------------


def javascript_catalog(client, accept: str) -> tuple[dict, str]:
    response = client.get("/i18n/js/", HTTP_ACCEPT_LANGUAGE=accept)
    assert response.status_code == 200
    text = response.content.decode()
    found = re.search(r"const newcatalog = (\{.*?\});", text, re.S)  # absent when there is nothing to translate
    strings = json.loads(found.group(1)) if found else {}
    plural = re.search(r"const v = (.*?);", text)
    return strings, plural.group(1) if plural else None


def test_the_javascript_catalog_comes_in_the_pages_language_with_its_plural_rule(client, db):
    japanese, rule = javascript_catalog(client, "ja")
    assert japanese["Template sent."] == "テンプレートを送信しました。"
    assert japanese["%(count)s segment"] == ["%(count)s セグメント"]
    assert rule == "0"

    portuguese, rule = javascript_catalog(client, "pt-BR")
    assert portuguese["%(count)s segment"] == ["%(count)s segmento", "%(count)s segmentos"]
    assert rule == "(n > 1)"

    english, rule = javascript_catalog(client, "en")
    assert (english, rule) == ({}, None)  # English is the source: the console's words as written


def test_every_string_of_the_consoles_javascript_is_in_the_catalog(client, db):
    po = catalogue("sv", "djangojs")
    swedish, _rule = javascript_catalog(client, "sv")

    assert {e.msgid for e in po} == set(swedish)
    sources = {path for e in po for path, _line in e.occurrences}
    assert {"workstreams/static/console/console.js", "workstreams/static/console/offers.js"} <= sources
    assert all(path.startswith("workstreams/static/console/") for path in sources)

