"""Contact lists in the reference format: parsing the fields of one contact, a request body, and CSV files.

The field names are the reference product's, verbatim: ``tocontactid``, ``channelid``, ``optin``
(also the older spelling ``option``), ``locale``, ``contextitems``, ``entityrelationshipname``,
``msdyn_ocoutboundconfigurationid``, ``CustomerName`` and ``CaseName``. Names are matched without
regard to case. A malformed field is a ServiceError naming it, e.g. ``contacts[3].optin``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels_app.models import Channel
from config.exceptions import ServiceError

from .templates import LANGUAGE_TAG

REFERENCE_FIELDS = (
    "tocontactid", "channelid", "optin", "locale", "contextitems", "entityrelationshipname",
    "msdyn_ocoutboundconfigurationid", "CustomerName", "CaseName",
)
#: Lower-cased name → the field it means.
FIELD_NAMES = {name.lower(): name for name in REFERENCE_FIELDS} | {"option": "optin"}
CONTEXT_COLUMN_PREFIX = "contextitems."
CONFIGURATION_FIELD = "msdyn_ocoutboundconfigurationid"
TRUE_WORDS = {"true", "yes", "1", "y", "t"}
FALSE_WORDS = {"false", "no", "0", "n", "f"}
MAX_TEXT = 200
CONTEXT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")


@dataclass(frozen=True)
class ContactInput:
    """One contact of a list, parsed."""

    index: int
    tocontactid: str
    channelid: str  # "sms" or "whatsapp"
    optin: bool
    locale: str = ""
    contextitems: dict[str, str] = field(default_factory=dict)
    entityrelationshipname: str = ""
    configuration_ref: str = ""
    customer_name: str = ""
    case_name: str = ""

    def values(self) -> dict[str, str]:
        """What fills the placeholders: the context items, with CustomerName and CaseName when given."""
        values = dict(self.contextitems)
        if self.customer_name:
            values["CustomerName"] = self.customer_name
        if self.case_name:
            values["CaseName"] = self.case_name
        return values


def field_at(where: str, name: str) -> str:
    """How an error names a field: ``contacts[3].optin`` in a request, ``line 17, column optin`` in a CSV file."""
    if where.endswith("]"):
        return f"{where}.{name}"
    return _("%(line)s, column %(column)s") % {"line": where, "column": name}


def _fields(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """The reference fields of one contact, by canonical name; unknown keys are ignored."""
    found: dict[str, Any] = {}
    for key, value in raw.items():
        name = FIELD_NAMES.get(str(key).lower())
        if name is None:
            continue
        if name in found and found[name] != value:
            raise ServiceError(_("%(field)s gives %(name)s a second, different value.")
                               % {"field": field_at(where, str(key)), "name": name},
                               code="field_duplicate", field=field_at(where, str(key)))
        found[name] = value
    return found


def _text(value: Any, field_name: str, *, max_length: int = MAX_TEXT) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ServiceError(_("%(field)s must be text.") % {"field": field_name}, code="invalid_type",
                           field=field_name)
    text = str(value).strip()
    if len(text) > max_length:
        raise ServiceError(ngettext("%(field)s is %(length)s character; the limit is %(limit)s.",
                                    "%(field)s is %(length)s characters; the limit is %(limit)s.", len(text))
                           % {"field": field_name, "length": len(text), "limit": max_length},
                           code="too_long", field=field_name)
    return text


def _boolean(value: Any, field_name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise ServiceError(_("%(field)s must be true or false, got %(value)s.")
                       % {"field": field_name, "value": repr(value)},
                       code="invalid_boolean", field=field_name)


def _context_items(value: Any, field_name: str) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ServiceError(_('%(field)s must be a JSON object such as {"order_id": "A-17"}: %(problem)s.')
                               % {"field": field_name, "problem": exc},
                               code="invalid_json", field=field_name) from None
    if not isinstance(value, dict):
        raise ServiceError(_('%(field)s must be an object of names and values, e.g. {"order_id": "A-17"}.')
                           % {"field": field_name},
                           code="invalid_type", field=field_name)
    items: dict[str, str] = {}
    for key, item in value.items():
        if not CONTEXT_KEY.match(str(key)):
            raise ServiceError(_("%(field)s: '%(key)s' is not a usable name (letters, digits, _ . -; at most 100).")
                               % {"field": field_name, "key": key},
                               code="invalid_key", field=field_name)
        if isinstance(item, dict | list):
            raise ServiceError(_("%(field)s.%(key)s must be text or a number, not %(type)s.")
                               % {"field": field_name, "key": key, "type": type(item).__name__},
                               code="invalid_type", field=f"{field_name}.{key}")
        if item is None:
            continue
        text = str(item).lower() if isinstance(item, bool) else str(item)
        if len(text) > 1600:
            raise ServiceError(_("%(field)s.%(key)s is longer than 1,600 characters.")
                               % {"field": field_name, "key": key},
                               code="too_long", field=f"{field_name}.{key}")
        items[str(key)] = text
    return items


def configuration_ref_parse(value: Any, field_name: str) -> str:
    """A configuration ID as a canonical UUID string, or "" when none is given."""
    if value in (None, ""):
        return ""
    try:
        return str(uuid.UUID(str(value).strip()))
    except (ValueError, AttributeError, TypeError):
        raise ServiceError(_("%(field)s must be an outbound configuration ID (a UUID), got %(value)s.")
                           % {"field": field_name, "value": repr(value)},
                           code="configuration_id_invalid", field=field_name) from None


def contact_parse(raw: Any, *, index: int, where: str | None = None) -> ContactInput:
    """Parse one contact; raise ServiceError naming the field when it is malformed.

    Whether ``tocontactid`` is a phone number is not checked here: an invalid number rejects
    only that contact, later.
    """
    where = where or f"contacts[{index}]"
    if not isinstance(raw, dict):
        raise ServiceError(_("%(field)s must be an object with the fields tocontactid, channelid, optin, ….")
                           % {"field": where},
                           code="invalid_type", field=where)
    values = _fields(raw, where)
    for required in ("tocontactid", "channelid", "optin"):
        if values.get(required) in (None, ""):
            raise ServiceError(_("%(field)s is required.") % {"field": field_at(where, required)}, code="required",
                               field=field_at(where, required))
    channel = _text(values["channelid"], field_at(where, "channelid")).lower()
    if channel not in Channel.values:
        raise ServiceError(_("%(field)s must be SMS or WhatsApp, got %(value)s.")
                           % {"field": field_at(where, "channelid"), "value": repr(values["channelid"])},
                           code="channel_invalid", field=field_at(where, "channelid"))
    locale = _text(values.get("locale"), field_at(where, "locale"), max_length=16)
    if locale and not LANGUAGE_TAG.match(locale):
        raise ServiceError(_("%(field)s must be a language tag such as en-US, got %(value)s.")
                           % {"field": field_at(where, "locale"), "value": repr(locale)},
                           code="locale_invalid", field=field_at(where, "locale"))
    return ContactInput(
        index=index,
        tocontactid=_text(values["tocontactid"], field_at(where, "tocontactid"), max_length=140),
        channelid=channel,
        optin=_boolean(values["optin"], field_at(where, "optin")),
        locale=locale,
        contextitems=_context_items(values.get("contextitems"), field_at(where, "contextitems")),
        entityrelationshipname=_text(values.get("entityrelationshipname"), field_at(where, "entityrelationshipname")),
        configuration_ref=configuration_ref_parse(values.get(CONFIGURATION_FIELD),
                                                  field_at(where, CONFIGURATION_FIELD)),
        customer_name=_text(values.get("CustomerName"), field_at(where, "CustomerName")),
        case_name=_text(values.get("CaseName"), field_at(where, "CaseName")),
    )


@dataclass(frozen=True)
class RequestPayload:
    configuration_ref: str
    contacts: list[Any]


def payload_parse(payload: Any) -> RequestPayload:
    """The top level of a request body.

    Accepted: ``{"configuration_id": …, "contacts": [...]}``; the reference names
    ``msdyn_ocoutboundconfigurationid`` and ``ContactList`` (an array, or a string holding a JSON
    array, as the reference action takes it); or a bare array of contacts that each carry
    ``msdyn_ocoutboundconfigurationid``.
    """
    if isinstance(payload, list):
        return RequestPayload("", payload)
    if not isinstance(payload, dict):
        raise ServiceError(_("The body must be a JSON object with configuration_id and contacts, or an array of "
                           "contacts."), code="invalid_body")
    keys = {str(k).lower(): k for k in payload}
    refs = [(keys[name], payload[keys[name]]) for name in ("configuration_id", CONFIGURATION_FIELD)
            if name in keys and payload[keys[name]] not in (None, "")]
    parsed = {configuration_ref_parse(value, key) for key, value in refs}
    if len(parsed) > 1:
        raise ServiceError(_("configuration_id and msdyn_ocoutboundconfigurationid name different configurations."),
                           code="configuration_mismatch", field="configuration_id")
    list_keys = [keys[name] for name in ("contacts", "contactlist") if name in keys]
    if not list_keys:
        raise ServiceError(_("contacts is required: a list of at most 100 contacts."), code="required",
                           field="contacts")
    if len(list_keys) > 1:
        raise ServiceError(_("Give the contacts once, as contacts or ContactList."), code="field_duplicate",
                           field="contacts")
    contacts = payload[list_keys[0]]
    if isinstance(contacts, str):
        try:
            contacts = json.loads(contacts)
        except json.JSONDecodeError as exc:
            raise ServiceError(_("%(field)s is not valid JSON: %(problem)s.") % {"field": list_keys[0], "problem": exc},
                               code="invalid_json", field=list_keys[0]) from None
    if not isinstance(contacts, list):
        raise ServiceError(_("%(field)s must be a list of contacts.") % {"field": list_keys[0]}, code="invalid_type",
                           field=list_keys[0])
    return RequestPayload(parsed.pop() if parsed else "", contacts)


# --- CSV -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CsvContacts:
    rows: list[dict[str, Any]]  # contacts in the reference shape
    lines: list[int]  # the CSV line of each row


def _column(name: str) -> str | None:
    key = name.strip()
    if key.lower().startswith(CONTEXT_COLUMN_PREFIX) and len(key) > len(CONTEXT_COLUMN_PREFIX):
        return key
    return FIELD_NAMES.get(key.lower())


def _no_nul(lines: Iterable[str]) -> Iterator[str]:
    for number, text in enumerate(lines, 1):
        if "\x00" in text:
            raise ServiceError(_("Line %(line)s of the CSV file contains a NUL character (\\x00); a contact list is "
                                 "text. Save it again as UTF-8 CSV.") % {"line": number}, code="csv_invalid",
                               field="csv")
        yield text


def contacts_from_csv(source: str | bytes | Iterable[str]) -> CsvContacts:
    """Read a CSV contact list (header row with the reference field names; ``contextitems.<key>`` columns
    add one context item each). Raise ServiceError naming the line and column when it is malformed."""
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ServiceError(_("The CSV file must be UTF-8 text."), code="csv_encoding", field="csv") from None
    if isinstance(source, str):
        if "\x00" in source:
            line = source.count("\n", 0, source.index("\x00")) + 1
            raise ServiceError(_("Line %(line)s of the CSV file contains a NUL character (\\x00); a contact list is "
                                 "text. Save it again as UTF-8 CSV.") % {"line": line}, code="csv_invalid",
                               field="csv")
        source = io.StringIO(source.lstrip("\ufeff"))
    else:
        source = _no_nul(source)
    reader = csv.reader(source)
    try:
        header = next(reader)
    except StopIteration:
        raise ServiceError(_("The CSV file is empty; it needs a header row such as "
                           "tocontactid,channelid,optin,locale,CustomerName,CaseName."), code="csv_empty",
                           field="csv") from None
    except csv.Error as exc:
        raise ServiceError(_("Line 1 of the CSV file: %(problem)s.") % {"problem": exc}, code="csv_invalid",
                           field="csv") from None
    columns = [_column(name) for name in header]
    unknown = [name for name, col in zip(header, columns, strict=True) if col is None and name.strip()]
    if unknown:
        raise ServiceError(
            _("Unknown CSV column(s): %(columns)s. Use %(fields)s (or option for optin) and contextitems.<key> "
              "columns.")
            % {"columns": ", ".join(repr(u) for u in unknown), "fields": ", ".join(REFERENCE_FIELDS)},
            code="csv_columns", field="csv",
        )
    named = [c for c in columns if c]
    duplicated = sorted({c for c in named if named.count(c) > 1})
    if duplicated:
        raise ServiceError(_("CSV column(s) given twice: %(columns)s.") % {"columns": ", ".join(duplicated)},
                           code="csv_columns", field="csv")
    for required in ("tocontactid", "channelid", "optin"):
        if required not in columns:
            raise ServiceError(_("The CSV file has no %(column)s column.") % {"column": required}, code="csv_columns",
                               field="csv")
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            line = reader.line_num
            if len(cells) > len(columns):
                raise ServiceError(_("Line %(line)s of the CSV file has %(cells)s cells; the header has %(columns)s.")
                                   % {"line": line, "cells": len(cells), "columns": len(columns)},
                                   code="csv_invalid", field="csv")
            row: dict[str, Any] = {}
            extra: dict[str, str] = {}
            for column, cell in zip(columns, cells, strict=False):
                if column is None or cell == "":
                    continue
                if column.lower().startswith(CONTEXT_COLUMN_PREFIX):
                    extra[column[len(CONTEXT_COLUMN_PREFIX):]] = cell
                else:
                    row[column] = cell
            if extra:
                items = _context_items(row.get("contextitems"), field_at(f"line {line}", "contextitems"))
                row["contextitems"] = {**items, **extra}
            rows.append(row)
            lines.append(line)
    except csv.Error as exc:
        raise ServiceError(_("Line %(line)s of the CSV file: %(problem)s.") % {"line": reader.line_num, "problem": exc},
                           code="csv_invalid", field="csv") from None
    if not rows:
        raise ServiceError(_("The CSV file has a header but no contacts."), code="csv_empty", field="csv")
    return CsvContacts(rows, lines)
