import pytest

from channels_app.models import Channel
from config.exceptions import ServiceError
from outbound.models import TemplateLocalization
from outbound.services.templates import (
    LocalizationSpec,
    MissingValues,
    content_variables_render,
    localization_choose,
    template_check,
    template_render,
)
from tests.outbound.conftest import WHATSAPP_SID


def test_placeholders_are_filled_from_the_contacts_values():
    text = template_render(text="Hi {CustomerName}, case {CaseName}: order {order_id} ({order_id}).",
                           values={"CustomerName": "Ana", "CaseName": "Late parcel", "order_id": "A-17"})
    assert text == "Hi Ana, case Late parcel: order A-17 (A-17)."


def test_placeholder_names_match_without_regard_to_case():
    assert template_render(text="Hi {customername}", values={"CustomerName": "Ana"}) == "Hi Ana"


def test_missing_or_empty_values_are_named():
    with pytest.raises(MissingValues) as err:
        template_render(text="{CustomerName} {order_id} {CaseName}", values={"CustomerName": "", "CaseName": "x"})
    assert err.value.names == ["CustomerName", "order_id"]


def test_text_in_braces_that_is_not_a_name_is_left_alone():
    assert template_render(text='JSON {"a": 1} and { }', values={}) == 'JSON {"a": 1} and { }'


def test_whatsapp_variables_take_the_values_of_their_placeholders():
    assert content_variables_render(mapping={"1": "CustomerName", "2": "order_id"},
                                    values={"CustomerName": "Ana", "order_id": "A-17"}) == {"1": "Ana", "2": "A-17"}
    with pytest.raises(MissingValues):
        content_variables_render(mapping={"1": "order_id"}, values={})


def _versions(*languages):
    return [TemplateLocalization(language=language, text=language) for language in languages]


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("pt-BR", "pt-BR"), ("PT_br", "pt-BR"), ("pt-PT", "pt"), ("pt", "pt"), ("sv-FI", "sv-SE"), ("de", "en"),
     ("", "en")],
)
def test_the_locale_picks_the_closest_version_else_the_default_language(locale, expected):
    chosen = localization_choose(localizations=_versions("en", "pt", "pt-BR", "sv-SE"), locale=locale,
                                 default_language="en")
    assert chosen.language == expected


def test_template_rules():
    template_check(channel=Channel.SMS, default_language="en",
                   localizations=[LocalizationSpec("en", "Hi"), LocalizationSpec("pt-BR", "Olá")])
    template_check(channel=Channel.WHATSAPP, default_language="en",
                   localizations=[LocalizationSpec("en", "Hi {{1}}", WHATSAPP_SID, {"1": "CustomerName"})])


@pytest.mark.parametrize(
    ("channel", "default", "specs", "field", "code"),
    [
        (Channel.SMS, "en", [LocalizationSpec("pt", "Olá")], "default_language", "default_localization_missing"),
        (Channel.SMS, "en", [LocalizationSpec("en", "a"), LocalizationSpec("EN", "b")], "localizations[1].language",
         "language_duplicate"),
        (Channel.SMS, "en", [LocalizationSpec("en", "x" * 1601)], "localizations[0].text", "text_too_long"),
        (Channel.SMS, "en", [LocalizationSpec("en", "Hi", WHATSAPP_SID)], "localizations[0].content_sid",
         "content_sid_not_sms"),
        (Channel.WHATSAPP, "en", [LocalizationSpec("en", "Hi")], "localizations[0].content_sid",
         "content_sid_required"),
        (Channel.WHATSAPP, "en", [LocalizationSpec("en", "Hi", WHATSAPP_SID, {"one": "CustomerName"})],
         "localizations[0].content_variables", "content_variables_invalid"),
        (Channel.SMS, "english", [LocalizationSpec("en", "Hi")], "default_language", "language_invalid"),
        ("email", "en", [LocalizationSpec("en", "Hi")], "channel", "channel_invalid"),
    ],
)
def test_template_refusals_name_the_field(channel, default, specs, field, code):
    with pytest.raises(ServiceError) as err:
        template_check(channel=channel, default_language=default, localizations=specs)
    assert (err.value.field, err.value.code) == (field, code)
