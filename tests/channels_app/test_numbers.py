import pytest

from channels_app.numbers import check_number, to_e164
from config.exceptions import ServiceError


@pytest.mark.parametrize(
    ("provider", "channel", "number", "number_type", "expected"),
    [
        ("telesign", "sms", "14252306549", "geographic", ("14252306549", "+14252306549")),
        ("telesign", "sms", "18005550199", "toll_free", ("18005550199", "+18005550199")),
        ("telesign", "sms", "44222", "short_code", ("44222", "44222")),
        ("twilio", "sms", "+14252306549", "long_code", ("+14252306549", "+14252306549")),
        ("twilio", "sms", "894546", "short_code", ("894546", "894546")),
        ("twilio", "whatsapp", "+14155238886", "", ("+14155238886", "+14155238886")),
        ("sandbox", "whatsapp", "+447911123456", "", ("+447911123456", "+447911123456")),
    ],
)
def test_accepted_numbers(provider, channel, number, number_type, expected):
    checked = check_number(provider=provider, channel=channel, number=number, number_type=number_type)
    assert (checked.number, checked.e164) == expected


@pytest.mark.parametrize(
    ("provider", "channel", "number", "number_type", "field", "says"),
    [
        ("telesign", "sms", "+14252306549", "geographic", "number", "digits only"),
        ("telesign", "sms", "1 425 230 6549", "geographic", "number", "digits only"),
        ("telesign", "sms", "1-425-230-6549", "geographic", "number", "e.g. 14252306549"),
        ("telesign", "sms", "10000000000", "geographic", "number", "not a valid phone number"),
        ("telesign", "sms", "14252306549", "long_code", "number_type", "Geographic, Short code, Toll-free"),
        ("telesign", "sms", "14252306549", "", "number_type", "Choose the number's type"),
        ("twilio", "sms", "14252306549", "long_code", "number", "E.164"),
        ("twilio", "sms", "1234", "short_code", "number", "5 or 6 digits"),
        ("twilio", "sms", "+14252306549", "geographic", "number_type", "Long code"),
        ("twilio", "whatsapp", "14155238886", "", "number", "leading +"),
        ("twilio", "whatsapp", "", "", "number", "Enter a number"),
    ],
)
def test_refused_numbers_name_the_field_and_the_accepted_form(provider, channel, number, number_type, field, says):
    with pytest.raises(ServiceError) as err:
        check_number(provider=provider, channel=channel, number=number, number_type=number_type)
    assert err.value.field == field
    assert says in err.value.message


@pytest.mark.parametrize(
    ("address", "expected"),
    [("+14155550100", "+14155550100"), ("whatsapp:+14155550100", "+14155550100"), ("14155550100", "+14155550100"),
     ("44222", "44222"), ("not a number", None), ("+1", None)],
)
def test_to_e164(address, expected):
    assert to_e164(address) == expected
