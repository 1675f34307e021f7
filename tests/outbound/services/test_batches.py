import pytest

from config.exceptions import ServiceError
from outbound import selectors
from outbound.models import BatchState, OutboundBatch, OutboundBatchChunk, OutboundRequest, Source
from outbound.services.batches import outbound_batch_advance, outbound_batch_create, outbound_batch_submit_next
from outbound.services.contacts import contacts_from_csv
from tests.outbound.conftest import contact, make_configuration


def _csv(n, start=0):
    rows = [f"+1555{i:07d},SMS,true,Customer {i}" for i in range(start, start + n)]
    return "tocontactid,channelid,optin,CustomerName\n" + "\n".join(rows) + "\n"


def _batch(configuration, n=250, source=Source.ADMIN):
    parsed = contacts_from_csv(_csv(n))
    return outbound_batch_create(configuration=configuration, contacts=parsed.rows, lines=parsed.lines,
                                 source=source, name="list.csv")


def test_a_list_is_split_into_requests_of_100(sandbox_config):
    batch = _batch(sandbox_config, 250)
    assert (batch.contact_count, batch.chunk_count) == (250, 3)
    assert outbound_batch_advance(batch_id=batch.pk) == "3 submitted; finished"
    assert [r.contact_count for r in OutboundRequest.objects.order_by("pk")] == [100, 100, 50]
    batch.refresh_from_db()
    assert batch.state == BatchState.SUBMITTED
    progress = selectors.batch_progress(batch=batch)
    assert (progress.submitted, progress.requests, progress.counts["pending"]) == (250, 3, 250)


def test_a_bad_row_refuses_the_whole_list_naming_its_line(sandbox_config):
    parsed = contacts_from_csv(_csv(3) + "+15559999999,SMS,perhaps,Zed\n")
    with pytest.raises(ServiceError) as err:
        outbound_batch_create(configuration=sandbox_config, contacts=parsed.rows, lines=parsed.lines,
                              source=Source.ADMIN)
    assert err.value.field == "line 5, column optin"
    assert "line 5, column optin must be true or false" in err.value.message
    assert not OutboundBatch.objects.exists()


def test_timeline_configurations_need_entityrelationshipname_on_every_row(sandbox_account):
    configuration = make_configuration(sandbox_account, show_in_timeline=True)
    with pytest.raises(ServiceError) as err:
        outbound_batch_create(configuration=configuration, contacts=[contact(1), contact(2, entityrelationshipname="")],
                              source=Source.ADMIN)
    assert err.value.field == "contacts[1].entityrelationshipname"


def test_at_the_hourly_limit_the_batch_waits_and_comes_back(sandbox_config, settings,
                                                           django_capture_on_commit_callbacks):
    settings.OUTBOUND_MAX_REQUESTS_PER_HOUR = 2
    batch = _batch(sandbox_config, 250)
    from unittest import mock

    with mock.patch("outbound.tasks.outbound_batch_advance_task.apply_async") as enqueue, \
            django_capture_on_commit_callbacks(execute=True):
        result = outbound_batch_advance(batch_id=batch.pk)
    assert result.startswith("2 submitted; hourly limit reached")
    assert enqueue.call_args.kwargs["countdown"] > 0
    assert OutboundBatchChunk.objects.filter(batch=batch, submitted_at__isnull=True).count() == 1
    batch.refresh_from_db()
    assert batch.next_run_at is not None and batch.state == BatchState.SUBMITTING


def test_a_chunk_is_submitted_once(sandbox_config):
    batch = _batch(sandbox_config, 150)
    first = outbound_batch_submit_next(batch_id=batch.pk)
    second = outbound_batch_submit_next(batch_id=batch.pk)
    assert first.request != second.request
    assert outbound_batch_submit_next(batch_id=batch.pk).finished
    assert OutboundRequest.objects.count() == 2


def test_a_chunk_the_service_refuses_stops_the_batch_with_the_reason(sandbox_config):
    batch = _batch(sandbox_config, 150)
    outbound_batch_submit_next(batch_id=batch.pk)
    sandbox_config.is_active = False
    sandbox_config.save()
    step = outbound_batch_submit_next(batch_id=batch.pk)
    batch.refresh_from_db()
    assert step.finished and batch.state == BatchState.STOPPED
    assert "is inactive" in batch.error and "line 102" in batch.error
