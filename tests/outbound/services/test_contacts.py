import pytest

from config.exceptions import ServiceError
from outbound.services.contacts import contact_parse, contacts_from_csv, payload_parse

REFERENCE = {
    "tocontactid": "+14155550123",
    "channelid": "SMS",
    "optin": True,
    "locale": "en-US",
    "contextitems": {"order_id": "A-17", "count": 3},
    "entityrelationshipname": "incident",
    "msdyn_ocoutboundconfigurationid": "7D1F2A8E-3B7C-4C39-9D62-0F5A8E2B1C44",
    "CustomerName": "Ana Lima",
    "CaseName": "Parcel delayed",
}


def test_the_reference_fields_are_read_verbatim():
    parsed = contact_parse(REFERENCE, index=0)
    assert parsed.tocontactid == "+14155550123"
    assert (parsed.channelid, parsed.optin, parsed.locale) == ("sms", True, "en-US")
    assert parsed.contextitems == {"order_id": "A-17", "count": "3"}
    assert parsed.entityrelationshipname == "incident"
    assert parsed.configuration_ref == "7d1f2a8e-3b7c-4c39-9d62-0f5a8e2b1c44"
    assert parsed.values() == {"order_id": "A-17", "count": "3", "CustomerName": "Ana Lima",
                               "CaseName": "Parcel delayed"}


def test_the_older_spelling_option_and_any_letter_case_are_accepted():
    raw = {"ToContactId": "+14155550123", "ChannelId": "whatsapp", "option": "false", "customername": "Ana"}
    parsed = contact_parse(raw, index=0)
    assert (parsed.channelid, parsed.optin, parsed.customer_name) == ("whatsapp", False, "Ana")


def test_contextitems_may_be_a_json_string():
    parsed = contact_parse({**REFERENCE, "contextitems": '{"order_id": "B-2"}'}, index=0)
    assert parsed.contextitems == {"order_id": "B-2"}


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"tocontactid": ""}, "contacts[4].tocontactid", "required"),
        ({"optin": None}, "contacts[4].optin", "required"),
        ({"optin": "maybe"}, "contacts[4].optin", "invalid_boolean"),
        ({"channelid": "email"}, "contacts[4].channelid", "channel_invalid"),
        ({"locale": "English please"}, "contacts[4].locale", "locale_invalid"),
        ({"contextitems": "{not json"}, "contacts[4].contextitems", "invalid_json"),
        ({"contextitems": {"a": {"nested": 1}}}, "contacts[4].contextitems.a", "invalid_type"),
        ({"msdyn_ocoutboundconfigurationid": "nope"}, "contacts[4].msdyn_ocoutboundconfigurationid",
         "configuration_id_invalid"),
        ({"optin": True, "option": False}, "contacts[4].option", "field_duplicate"),
    ],
)
def test_a_malformed_field_is_named(change, field, code):
    with pytest.raises(ServiceError) as err:
        contact_parse({**REFERENCE, **change}, index=4)
    assert (err.value.field, err.value.code) == (field, code)
    assert field in err.value.message


def test_a_contact_that_is_not_an_object_is_refused():
    with pytest.raises(ServiceError) as err:
        contact_parse("+14155550123", index=2)
    assert err.value.field == "contacts[2]"


@pytest.mark.parametrize(
    "payload",
    [
        {"configuration_id": "7d1f2a8e-3b7c-4c39-9d62-0f5a8e2b1c44", "contacts": [REFERENCE]},
        {"msdyn_ocoutboundconfigurationid": "7d1f2a8e-3b7c-4c39-9d62-0f5a8e2b1c44", "ContactList": [REFERENCE]},
        {"msdyn_ocoutboundconfigurationid": "7d1f2a8e-3b7c-4c39-9d62-0f5a8e2b1c44",
         "ContactList": '[{"tocontactid": "+14155550123", "channelid": "SMS", "optin": true}]'},
    ],
)
def test_request_bodies_in_our_shape_and_the_reference_shape(payload):
    parsed = payload_parse(payload)
    assert parsed.configuration_ref == "7d1f2a8e-3b7c-4c39-9d62-0f5a8e2b1c44"
    assert parsed.contacts[0]["tocontactid"] == "+14155550123"


def test_a_bare_array_of_contacts_is_a_request_too():
    parsed = payload_parse([REFERENCE])
    assert (parsed.configuration_ref, len(parsed.contacts)) == ("", 1)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"configuration_id": "7d1f2a8e-3b7c-4c39-9d62-0f5a8e2b1c44"}, "contacts"),
        ({"configuration_id": "7d1f2a8e-3b7c-4c39-9d62-0f5a8e2b1c44", "contacts": {"a": 1}}, "contacts"),
        ({"configuration_id": "x", "contacts": []}, "configuration_id"),
        ({"configuration_id": "7d1f2a8e-3b7c-4c39-9d62-0f5a8e2b1c44",
          "msdyn_ocoutboundconfigurationid": "8d1f2a8e-3b7c-4c39-9d62-0f5a8e2b1c44", "contacts": []},
         "configuration_id"),
        ({"contacts": [], "ContactList": []}, "contacts"),
    ],
)
def test_a_malformed_body_names_the_field(payload, field):
    with pytest.raises(ServiceError) as err:
        payload_parse(payload)
    assert err.value.field == field


def test_csv_rows_use_the_reference_columns_and_context_item_columns():
    text = ("tocontactid,channelid,option,locale,contextitems,contextitems.order_id,CustomerName,CaseName\n"
            '+14155550123,SMS,true,pt-BR,"{""tier"": ""gold""}",A-17,Ana,Parcel\n'
            "\n"
            "+14155550124,SMS,no,,,,Bo,\n")
    parsed = contacts_from_csv(text.encode())
    assert parsed.lines == [2, 4]
    assert parsed.rows[0] == {"tocontactid": "+14155550123", "channelid": "SMS", "optin": "true", "locale": "pt-BR",
                              "contextitems": {"tier": "gold", "order_id": "A-17"}, "CustomerName": "Ana",
                              "CaseName": "Parcel"}
    assert contact_parse(parsed.rows[1], index=1).optin is False


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("tocontactid,channelid,optin\n", "no contacts"),
        ("tocontactid,channelid,opt_in\n+1,SMS,true\n", "Unknown CSV column(s): 'opt_in'"),
        ("tocontactid,optin\n+1,true\n", "no channelid column"),
        ("tocontactid,channelid,optin,optin\n", "given twice"),
        ("tocontactid,channelid,optin\n+1,SMS,true,extra\n", "Line 2"),
    ],
)
def test_a_malformed_csv_is_refused_with_the_line_or_column(text, words):
    with pytest.raises(ServiceError) as err:
        contacts_from_csv(text)
    assert words in err.value.message


def test_a_csv_that_is_not_utf8_is_refused():
    with pytest.raises(ServiceError) as err:
        contacts_from_csv("tocontactid,channelid,optin\n+1,SMS,sí\n".encode("latin-1"))
    assert err.value.code == "csv_encoding"
