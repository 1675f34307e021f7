import pytest

from config.exceptions import ServiceError
from workstreams.cases import case_create
from workstreams.models import Case
from workstreams.signals import case_created


def test_creating_a_case_tells_listeners_inside_the_transaction(db):
    seen = []

    def listener(sender, case, **kwargs):
        seen.append((case.title, case.contact.address, Case.objects.filter(pk=case.pk).exists()))

    case_created.connect(listener)
    try:
        case_create(title="Broken kettle", contact_address="+15551234567", customer_name="Ana")
    finally:
        case_created.disconnect(listener)
    assert seen == [("Broken kettle", "+15551234567", True)]


def test_a_failing_listener_rolls_the_case_back(db):
    def listener(sender, case, **kwargs):
        raise ServiceError("outbound refused", code="x")

    case_created.connect(listener)
    try:
        with pytest.raises(ServiceError):
            case_create(title="Broken kettle", contact_address="+15551234567")
    finally:
        case_created.disconnect(listener)
    assert not Case.objects.exists()


@pytest.mark.parametrize(("title", "address", "field"), [("", "+15551234567", "title"), ("x", "not-a-number", "contact")])
def test_bad_input_names_the_field(db, title, address, field):
    with pytest.raises(ServiceError) as err:
        case_create(title=title, contact_address=address)
    assert err.value.field == field
