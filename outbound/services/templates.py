"""Message templates: the rules a template obeys, choosing a localization, and filling placeholders."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels_app.models import Channel
from channels_app.services.delivery import MAX_MESSAGE_LENGTH
from config.exceptions import ServiceError
from outbound.models import MessageTemplate, TemplateLocalization

#: {Name}: a placeholder. Names start with a letter or underscore; dots and dashes are allowed inside.
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
CUSTOMER_NAME, CASE_NAME = "CustomerName", "CaseName"


class MissingValues(Exception):
    def __init__(self, names: list[str]):
        super().__init__(", ".join(names))
        self.names = names


def language_normalize(tag: str) -> str:
    return (tag or "").strip().replace("_", "-").lower()


def language_check(tag: str, *, field: str = "language") -> str:
    tag = (tag or "").strip()
    if not LANGUAGE_TAG.match(tag):
        raise ServiceError(_("'%(tag)s' is not a language tag such as en, en-US or pt-BR.") % {"tag": tag},
                           code="language_invalid", field=field)
    return tag


@dataclass(frozen=True)
class LocalizationSpec:
    """One localized version as entered, before it is stored."""

    language: str
    text: str
    content_sid: str = ""
    content_variables: Mapping[str, str] | None = None


def localization_check(*, channel: str, spec: LocalizationSpec, prefix: str = "") -> None:
    """The rules for one localized version; raise ServiceError naming the field."""
    language_check(spec.language, field=f"{prefix}language")
    text = spec.text or ""
    if not text.strip():
        raise ServiceError(_("Enter the message text."), code="text_required", field=f"{prefix}text")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise ServiceError(ngettext("The text is %(length)s character; the limit is %(limit)s.",
                                    "The text is %(length)s characters; the limit is %(limit)s.", len(text))
                           % {"length": len(text), "limit": MAX_MESSAGE_LENGTH},
                           code="text_too_long", field=f"{prefix}text")
    variables = spec.content_variables or {}
    if not isinstance(variables, Mapping):
        raise ServiceError(_('Content variables must map variable numbers to placeholder names, e.g. '
                           '{"1": "CustomerName"}.'), code="content_variables_invalid",
                           field=f"{prefix}content_variables")
    if channel == Channel.WHATSAPP:
        if not CONTENT_SID.match(spec.content_sid or ""):
            raise ServiceError(
                _("WhatsApp messages to customers who have not written in the last 24 hours must be approved "
                "templates: enter the template's Twilio Content SID (HX followed by 32 hexadecimal characters)."),
                code="content_sid_required", field=f"{prefix}content_sid",
            )
        for key, name in variables.items():
            if not str(key).isdigit() or not isinstance(name, str) or not PLACEHOLDER.fullmatch("{" + name + "}"):
                raise ServiceError(
                    _("Content variable %(key)s: map a variable number to a placeholder name, e.g. {\"1\": "
                      "\"CustomerName\", \"2\": \"order_id\"}; got %(name)s.") % {"key": repr(key), "name": repr(name)},
                    code="content_variables_invalid", field=f"{prefix}content_variables",
                )
    elif spec.content_sid or variables:
        raise ServiceError(_("Content SID and content variables are for WhatsApp templates only."),
                           code="content_sid_not_sms", field=f"{prefix}content_sid")


def template_check(*, channel: str, default_language: str, localizations: Iterable[LocalizationSpec]) -> None:
    """A template is SMS or WhatsApp, has a version in its default language, and one version per language."""
    if channel not in (Channel.SMS, Channel.WHATSAPP):
        raise ServiceError(_("Outbound templates are for SMS or WhatsApp only."), code="channel_invalid",
                           field="channel")
    language_check(default_language, field="default_language")
    seen: set[str] = set()
    for index, spec in enumerate(localizations):
        localization_check(channel=channel, spec=spec, prefix=f"localizations[{index}].")
        key = language_normalize(spec.language)
        if key in seen:
            raise ServiceError(_("There are two versions in '%(language)s'; keep one per language.")
                               % {"language": spec.language},
                               code="language_duplicate", field=f"localizations[{index}].language")
        seen.add(key)
    if language_normalize(default_language) not in seen:
        raise ServiceError(
            _("Add a version in the default language '%(default_language)s': it is sent when a contact's locale "
              "matches no other version.") % {"default_language": default_language},
            code="default_localization_missing", field="default_language",
        )


def localization_choose(*, localizations: Iterable[TemplateLocalization], locale: str,
                        default_language: str) -> TemplateLocalization | None:
    """The version for ``locale``: the same tag, else the same language, else the default language's."""
    by_tag = {language_normalize(loc.language): loc for loc in localizations}
    for wanted in (locale, default_language):
        tag = language_normalize(wanted)
        if not tag:
            continue
        if tag in by_tag:
            return by_tag[tag]
        primary = tag.split("-")[0]
        if primary in by_tag:
            return by_tag[primary]
        for key in sorted(by_tag):
            if key.split("-")[0] == primary:
                return by_tag[key]
    return None


def _lookup(values: Mapping[str, str]) -> dict[str, str]:
    """Case-insensitive view of the values; empty values count as missing."""
    found: dict[str, str] = {}
    for key, value in values.items():
        if value is None or str(value) == "":
            continue
        found.setdefault(key, str(value))
        found.setdefault(key.lower(), str(value))
    return found


def placeholders(text: str) -> list[str]:
    return PLACEHOLDER.findall(text or "")


def template_render(*, text: str, values: Mapping[str, str]) -> str:
    """Fill every {Name}; raise MissingValues naming the placeholders that have no value."""
    lookup = _lookup(values)
    missing = [name for name in dict.fromkeys(placeholders(text)) if name not in lookup and name.lower() not in lookup]
    if missing:
        raise MissingValues(missing)
    return PLACEHOLDER.sub(lambda m: lookup.get(m.group(1), lookup.get(m.group(1).lower(), "")), text)


def content_variables_render(*, mapping: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    """Twilio ContentVariables: each numbered variable gets the value of the placeholder it maps to."""
    lookup = _lookup(values)
    missing = [name for name in dict.fromkeys(mapping.values()) if name not in lookup and name.lower() not in lookup]
    if missing:
        raise MissingValues(missing)
    return {str(key): lookup.get(name, lookup.get(name.lower(), "")) for key, name in mapping.items()}


def template_channel_check(*, template: MessageTemplate, channel: str) -> None:
    """A template in use keeps the channel of the configurations that send it."""
    users = list(template.configurations.exclude(channel_type=channel))
    if users:
        names = ", ".join(f"'{c.name}' ({Channel(c.channel_type).label})" for c in users)
        raise ServiceError(_("Configuration(s) %(names)s send this template; change them first, or make a new "
                             "template.") % {"names": names},
                           code="template_in_use", field="channel")
