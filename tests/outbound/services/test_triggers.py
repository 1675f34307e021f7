import pytest

from channels_app.models import Message
from channels_app.providers import sandbox
from config.exceptions import ServiceError
from outbound.models import OutboundRequest, OutboundTrigger, TimelineActivity, TriggerEvent
from outbound.services.sending import outbound_request_send
from tests.outbound.conftest import make_configuration, make_template
from workstreams.cases import case_create
from workstreams.signals import case_created


@pytest.fixture
def case_trigger(sandbox_account):
    template = make_template(versions={"en": "Hi {CustomerName}, your case '{CaseName}' is open."})
    configuration = make_configuration(sandbox_account, template=template, show_in_timeline=True)
    OutboundTrigger.objects.create(event=TriggerEvent.CASE_CREATED, configuration=configuration)
    return configuration


def test_creating_a_case_sends_the_attached_configuration_to_its_customer(case_trigger,
                                                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        case = case_create(title="Broken kettle", contact_address="+15551234567", customer_name="Ana")

    request = OutboundRequest.objects.get()
    assert (request.source, request.case, request.configuration) == ("trigger", case, case_trigger)
    assert [m["body"] for m in sandbox.outbox] == ["Hi Ana, your case 'Broken kettle' is open."]
    activity = TimelineActivity.objects.get()
    assert (activity.contact, activity.case, activity.regarding) == (case.contact, case, f"case:{case.pk}")


def test_a_case_rolled_back_sends_nothing(case_trigger, django_capture_on_commit_callbacks):
    def refuse(sender, case, **kwargs):
        raise ServiceError("refused", code="x")

    case_created.connect(refuse)
    try:
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(ServiceError):
            case_create(title="Broken kettle", contact_address="+15551234567")
    finally:
        case_created.disconnect(refuse)
    assert not OutboundRequest.objects.exists()
    assert sandbox.outbox == []


def test_inactive_triggers_and_configurations_do_not_fire(case_trigger):
    OutboundTrigger.objects.update(is_active=False)
    case_create(title="One", contact_address="+15551234567")
    OutboundTrigger.objects.update(is_active=True)
    case_trigger.is_active = False
    case_trigger.save()
    case_create(title="Two", contact_address="+15551234567")
    assert not OutboundRequest.objects.exists()


def test_a_customer_without_a_name_fails_that_message_not_the_case(case_trigger):
    case = case_create(title="Broken kettle", contact_address="+15551234567")
    outbound_request_send(request_id=OutboundRequest.objects.get(case=case).pk)
    recipient = OutboundRequest.objects.get().recipients.get()
    assert (recipient.state, recipient.reason_code) == ("rejected", "missing_values")
    assert not Message.objects.exists()
