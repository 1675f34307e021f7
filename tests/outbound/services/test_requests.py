from unittest import mock

import pytest
import time_machine

from channels_app.models import Contact
from config.exceptions import ServiceError
from outbound.models import OutboundRecipient, OutboundRequest, RequestState, Source
from outbound.services import ratelimit
from outbound.services.ratelimit import RateLimited
from outbound.services.requests import outbound_request_create, outbound_request_rerun, outbound_request_submit
from tests.outbound.conftest import contact, make_configuration
from workstreams.models import Case


def _create(configuration, contacts, **kw):
    return outbound_request_create(configuration=configuration, contacts=contacts, source=Source.API, **kw)


def test_a_request_and_its_contacts_are_stored_and_sent_after_commit(sandbox_config,
                                                                     django_capture_on_commit_callbacks):
    with mock.patch("outbound.tasks.outbound_request_send_task.apply_async") as enqueue, \
            django_capture_on_commit_callbacks(execute=True):
        request = _create(sandbox_config, [contact(1), contact(2)])
    assert enqueue.call_args.kwargs == {"args": [request.pk], "queue": "bulk", "countdown": None}
    assert list(request.recipients.values_list("to_address", "state")) == [("+15550000001", "pending"),
                                                                           ("+15550000002", "pending")]
    assert Contact.objects.get(address="+15550000001").display_name == "Customer 1"


def test_nothing_is_stored_when_the_transaction_fails(sandbox_config):
    with mock.patch("outbound.services.requests.bulk_insert", side_effect=RuntimeError("disk full")), \
            pytest.raises(RuntimeError):
        _create(sandbox_config, [contact(1)])
    assert not OutboundRequest.objects.exists()
    assert ratelimit.requests_in_last_hour() == 0


def test_more_than_100_contacts_are_refused_naming_the_limit(sandbox_config):
    with pytest.raises(ServiceError) as err:
        _create(sandbox_config, [contact(i) for i in range(101)])
    assert (err.value.code, err.value.field, err.value.extra["limit"]) == ("too_many_contacts", "contacts", 100)
    assert "at most 100 contacts" in err.value.message
    assert not OutboundRequest.objects.exists()


def test_an_invalid_number_rejects_that_contact_and_the_others_are_accepted(sandbox_config):
    request = _create(sandbox_config, [contact(1), contact(2, tocontactid="12ab"), contact(3),
                                       contact(4, tocontactid="+15550000001"), contact(5, optin=False),
                                       contact(6, channelid="WhatsApp")])
    rows = {r.index: r for r in OutboundRecipient.objects.filter(request=request)}
    assert [(rows[i].state, rows[i].reason_code) for i in range(6)] == [
        ("pending", ""), ("rejected", "invalid_number"), ("pending", ""), ("rejected", "duplicate"),
        ("skipped", "optin_false"), ("skipped", "channel_mismatch")]
    assert "'12ab' is not a phone number" in rows[1].reason
    assert rows[1].contact is None


def test_a_request_with_nothing_to_send_is_done_at_once(sandbox_config):
    request = _create(sandbox_config, [contact(1, optin=False)])
    assert request.state == RequestState.DONE


def test_show_in_timeline_requires_entityrelationshipname(sandbox_account):
    configuration = make_configuration(sandbox_account, show_in_timeline=True)
    with pytest.raises(ServiceError) as err:
        _create(configuration, [contact(1), contact(2, entityrelationshipname="")])
    assert (err.value.code, err.value.field) == ("entityrelationshipname_required", "contacts[1].entityrelationshipname")
    assert not OutboundRequest.objects.exists()


def test_entityrelationshipname_can_name_a_case(sandbox_config):
    case = Case.objects.create(title="Broken kettle", contact=Contact.objects.create(address="+15550000001"))
    request = _create(sandbox_config, [contact(1, entityrelationshipname=f"case:{case.pk}")])
    assert request.recipients.get().case == case
    with pytest.raises(ServiceError) as err:
        _create(sandbox_config, [contact(1, entityrelationshipname="incident:999999")])
    assert err.value.code == "case_not_found"


def test_the_configuration_is_named_by_its_id_at_top_level_or_per_contact(sandbox_config):
    ref = str(sandbox_config.configuration_id)
    top = outbound_request_submit(payload={"msdyn_ocoutboundconfigurationid": ref, "ContactList": [contact(1)]})
    per_contact = outbound_request_submit(payload=[contact(2, msdyn_ocoutboundconfigurationid=ref)])
    assert top.configuration == per_contact.configuration == sandbox_config


@pytest.mark.parametrize(
    ("payload", "code", "status"),
    [
        ({"configuration_id": "7d1f2a8e-3b7c-4c39-9d62-0f5a8e2b1c44", "contacts": [contact(1)]},
         "configuration_not_found", 400),
        ({"contacts": [contact(1)]}, "required", 400),
    ],
)
def test_an_unknown_or_missing_configuration_is_refused(sandbox_config, payload, code, status):
    with pytest.raises(ServiceError) as err:
        outbound_request_submit(payload=payload)
    assert (err.value.code, err.value.http_status) == (code, status)


def test_contacts_naming_another_configuration_are_refused(sandbox_config):
    with pytest.raises(ServiceError) as err:
        _create(sandbox_config, [contact(1, msdyn_ocoutboundconfigurationid="7d1f2a8e-3b7c-4c39-9d62-0f5a8e2b1c44")])
    assert (err.value.code, err.value.field) == ("configuration_mismatch",
                                                 "contacts[0].msdyn_ocoutboundconfigurationid")


def test_an_inactive_configuration_refuses_requests(sandbox_config):
    sandbox_config.is_active = False
    sandbox_config.save()
    with pytest.raises(ServiceError) as err:
        _create(sandbox_config, [contact(1)])
    assert (err.value.code, err.value.http_status) == ("configuration_inactive", 409)


def test_the_hourly_limit_refuses_the_next_request_until_the_hour_has_moved_on(sandbox_config, settings):
    settings.OUTBOUND_MAX_REQUESTS_PER_HOUR = 2
    with time_machine.travel("2026-03-02 10:00:30Z", tick=False):
        _create(sandbox_config, [contact(1)])
    with time_machine.travel("2026-03-02 10:20:10Z", tick=False):
        _create(sandbox_config, [contact(2)])
        with pytest.raises(RateLimited) as err:
            _create(sandbox_config, [contact(3)])
    # Counted by minute, the first request leaves the last hour at 11:00: 39 min 50 s later.
    assert err.value.retry_after == 39 * 60 + 50
    assert (err.value.http_status, err.value.extra["limit"]) == (429, 2)
    assert OutboundRequest.objects.count() == 2
    with time_machine.travel("2026-03-02 10:59:59Z", tick=False), pytest.raises(RateLimited):
        _create(sandbox_config, [contact(3)])
    with time_machine.travel("2026-03-02 11:00:00Z", tick=False):
        _create(sandbox_config, [contact(3)])
    assert OutboundRequest.objects.count() == 3


def test_automated_requests_are_counted_but_never_refused(sandbox_config, settings,
                                                          django_capture_on_commit_callbacks):
    settings.OUTBOUND_MAX_REQUESTS_PER_HOUR = 1
    _create(sandbox_config, [contact(1)])
    with django_capture_on_commit_callbacks(execute=True):
        _create(sandbox_config, [contact(2)], enforce_limit=False)
    assert ratelimit.requests_in_last_hour() == 2
    with pytest.raises(RateLimited):
        _create(sandbox_config, [contact(3)])


def test_rerun_does_nothing_for_a_request_with_nothing_left(sandbox_config):
    request = _create(sandbox_config, [contact(1, optin=False)])
    assert outbound_request_rerun(request=request) is False
