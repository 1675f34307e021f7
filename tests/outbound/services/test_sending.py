import json
import threading
from datetime import timedelta
from unittest import mock
from urllib.parse import parse_qs

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels_app.models import ConsentRecord, ConsentState, Message, MessageKind, MessageStatus
from channels_app.providers import StatusUpdate, sandbox
from channels_app.services.delivery import StatusApplied, message_status_apply, messages_requeue_stuck
from channels_app.services.inbound import contact_for
from outbound import selectors
from outbound.models import OutboundRecipient, OutboundRequest, RequestState, Source, TimelineActivity
from outbound.services import sending
from outbound.services.requests import outbound_request_create, outbound_request_rerun
from tests.conftest import TWILIO_ACCOUNT_SID
from tests.outbound.conftest import (
    TWILIO_MESSAGES_URL,
    WHATSAPP_SID,
    contact,
    form_of,
    make_configuration,
    make_template,
    twilio_ok,
)


def _request(configuration, contacts, **kw):
    return outbound_request_create(configuration=configuration, contacts=contacts, source=Source.API, **kw)


def _send(request):
    return sending.outbound_request_send(request_id=request.pk)


def _progress(request):
    return selectors.request_progress(request=OutboundRequest.objects.get(pk=request.pk))


def test_each_contact_gets_an_outbound_message_row_with_the_provider_id(sms_config, mocked_http):
    twilio_ok(mocked_http)
    request = _request(sms_config, [contact(1), contact(2)])

    assert _send(request).startswith("done: 2 sent")

    messages = list(Message.objects.order_by("pk"))
    assert [(m.direction, m.kind, m.status) for m in messages] == [("outbound", MessageKind.OUTBOUND, "sent")] * 2
    assert [m.provider_message_id for m in messages] == ["SM" + "1".zfill(32), "SM" + "2".zfill(32)]
    assert messages[0].body == "Hi Customer 1, we opened case Case 1."
    assert messages[0].contact.address == "+15550000001"
    assert OutboundRequest.objects.get(pk=request.pk).state == RequestState.DONE


def test_the_provider_gets_our_number_the_text_and_a_status_callback_naming_the_message(sms_config, mocked_http,
                                                                                        settings):
    twilio_ok(mocked_http)
    request = _request(sms_config, [contact(1)])
    _send(request)

    message = Message.objects.get()
    token = sms_config.phone_number.account.webhook_token
    assert form_of(mocked_http.calls[0]) == {
        "To": ["+15550000001"], "From": ["+14155550100"], "Body": ["Hi Customer 1, we opened case Case 1."],
        "StatusCallback": [f"{settings.PUBLIC_BASE_URL}/webhooks/twilio/{token}/status/?message={message.pk}"],
    }


def test_telesign_gets_our_message_id_as_external_id(telesign_account, mocked_http, settings):
    mocked_http.post(f"{settings.TELESIGN_API_URL}/v1/messaging", status=200,
                     json={"reference_id": "A" * 32, "status": {"code": 290, "description": "In progress"}})
    configuration = make_configuration(telesign_account)
    _send(_request(configuration, [contact(1)]))

    message = Message.objects.get()
    form = form_of(mocked_http.calls[0])
    assert form["external_id"] == [str(message.pk)]
    assert form["sender_id"] == ["14252306549"]
    assert message.provider_message_id == "A" * 32


def test_the_contacts_locale_picks_the_version_else_the_default_language(sandbox_account):
    template = make_template(versions={"en": "Hello {CustomerName}", "pt-BR": "Olá {CustomerName}",
                                       "sv": "Hej {CustomerName}"})
    configuration = make_configuration(sandbox_account, template=template)
    request = _request(configuration, [contact(1, locale="pt-BR"), contact(2, locale="sv-SE"),
                                       contact(3, locale="de-DE"), contact(4, locale="")])
    _send(request)

    assert [m["body"] for m in sandbox.outbox] == ["Olá Customer 1", "Hej Customer 2", "Hello Customer 3",
                                                    "Hello Customer 4"]
    assert [c["language"] for c in _progress(request).contacts] == ["pt-BR", "sv", "en", "en"]


def test_whatsapp_goes_as_an_approved_template_with_content_variables(twilio_whatsapp_account, mocked_http):
    twilio_ok(mocked_http)
    template = make_template(channel="whatsapp", versions={
        "en": ("Hi {CustomerName}, your order {order_id} is late.", {"1": "CustomerName", "2": "order_id"})})
    configuration = make_configuration(twilio_whatsapp_account, template=template)
    _send(_request(configuration, [contact(7, channelid="WhatsApp")]))

    form = form_of(mocked_http.calls[0])
    assert form["To"] == ["whatsapp:+15550000007"]
    assert form["ContentSid"] == [WHATSAPP_SID]
    assert json.loads(form["ContentVariables"][0]) == {"1": "Customer 7", "2": "A-7"}
    assert "Body" not in form
    message = Message.objects.get()
    assert (message.content_sid, message.body) == (WHATSAPP_SID, "Hi Customer 7, your order A-7 is late.")


def test_whatsapp_tocontactid_may_be_a_whatsapp_user_id_and_sms_refuses_one(twilio_whatsapp_account, mocked_http):
    twilio_ok(mocked_http)
    template = make_template(channel="whatsapp", versions={
        "en": ("Hi {CustomerName}, your order {order_id} is late.", {"1": "CustomerName", "2": "order_id"})})
    configuration = make_configuration(twilio_whatsapp_account, template=template)
    request = _request(configuration, [contact(7, channelid="WhatsApp", tocontactid="US.13491208655302741918"),
                                       contact(8, channelid="WhatsApp", tocontactid="whatsapp:BR.1502576394655843"),
                                       contact(9, channelid="WhatsApp", tocontactid="US.not valid")])
    _send(request)
    assert sorted(form_of(call)["To"][0] for call in mocked_http.calls) == [
        "whatsapp:BR.1502576394655843", "whatsapp:US.13491208655302741918"]
    rejected = OutboundRecipient.objects.get(request=request, index=2)
    assert rejected.reason_code == "invalid_number" and "WhatsApp user ID" in rejected.reason
    assert Message.objects.get(address="US.13491208655302741918").contact.address == "US.13491208655302741918"


def test_a_missing_value_fails_that_contact_only_with_the_reason(sandbox_account):
    template = make_template(versions={"en": "Order {order_id} for {CustomerName}"})
    configuration = make_configuration(sandbox_account, template=template)
    request = _request(configuration, [contact(1), contact(2, contextitems={}), contact(3)])
    _send(request)

    progress = _progress(request)
    assert [c["status"] for c in progress.contacts] == ["sent", "failed", "sent"]
    assert progress.contacts[1]["error"] == "missing_values"
    assert "{order_id}" in progress.contacts[1]["reason"]
    assert len(sandbox.outbox) == 2


def test_an_opted_out_contact_is_skipped_with_the_reason(sandbox_config):
    opted_out = contact_for("+15550000002")
    ConsentRecord.objects.create(contact=opted_out, phone_number=sandbox_config.phone_number,
                                 state=ConsentState.OPTED_OUT, source="keyword")
    request = _request(sandbox_config, [contact(1), contact(2)])
    _send(request)

    progress = _progress(request)
    assert [(c["status"], c["error"]) for c in progress.contacts] == [("sent", ""), ("skipped", "opted_out")]
    assert "opted out" in progress.contacts[1]["reason"]
    assert [m["to"] for m in sandbox.outbox] == ["+15550000001"]


def test_a_provider_refusal_fails_that_contact_and_the_others_are_sent(sms_config, mocked_http):
    answers = iter([
        (201, {"sid": "SM" + "1" * 32, "status": "queued"}),
        (400, {"code": 21211, "message": "The 'To' number is not a valid phone number."}),
        (201, {"sid": "SM" + "3" * 32, "status": "queued"}),
    ])

    def reply(request):
        status, body = next(answers)
        return status, {}, json.dumps(body)

    mocked_http.add_callback("POST", TWILIO_MESSAGES_URL, callback=reply, content_type="application/json")
    request = _request(sms_config, [contact(1), contact(2), contact(3)])
    _send(request)

    progress = _progress(request)
    assert [c["status"] for c in progress.contacts] == ["sent", "failed", "sent"]
    assert (progress.contacts[1]["error"], progress.contacts[1]["reason"]) == (
        "21211", "The 'To' number is not a valid phone number.")
    assert OutboundRequest.objects.get(pk=request.pk).state == RequestState.DONE


def test_a_server_error_is_retried_later_and_the_rerun_sends_only_that_contact(sms_config, mocked_http):
    answers = iter([(201, "1"), (503, None), (201, "3"), (201, "4")])

    def reply(request):
        status, sid = next(answers)
        body = {"sid": "SM" + sid * 32, "status": "queued"} if sid else {"message": "Service unavailable"}
        return status, {}, json.dumps(body)

    mocked_http.add_callback("POST", TWILIO_MESSAGES_URL, callback=reply, content_type="application/json")
    request = _request(sms_config, [contact(1), contact(2), contact(3)])
    _send(request)

    stored = OutboundRequest.objects.get(pk=request.pk)
    retry = Message.objects.get(status=MessageStatus.QUEUED)
    assert stored.state == RequestState.WAITING and stored.next_run_at == retry.next_attempt_at
    assert [c["status"] for c in _progress(request).contacts] == ["sent", "pending", "sent"]

    assert _send(request) == "skipped: not due"
    assert outbound_request_rerun(request=stored) is True  # the admin's "send what was not sent yet"
    _send(request)
    assert len(mocked_http.calls) == 4
    assert form_of(mocked_http.calls[3])["To"] == ["+15550000002"]
    assert Message.objects.get(pk=retry.pk).attempts == 2
    assert OutboundRequest.objects.get(pk=request.pk).state == RequestState.DONE


def test_a_429_stops_the_request_and_it_waits_for_retry_after(sms_config, mocked_http):
    answers = iter([201, 429])

    def reply(request):
        status = next(answers, 201)
        if status == 429:
            return 429, {"Retry-After": "30"}, json.dumps({"code": 20429, "message": "Too Many Requests"})
        return 201, {}, json.dumps({"sid": "SM" + "1" * 32, "status": "queued"})

    mocked_http.add_callback("POST", TWILIO_MESSAGES_URL, callback=reply, content_type="application/json")
    request = _request(sms_config, [contact(i) for i in range(5)])
    before = timezone.now()
    _send(request)

    assert len(mocked_http.calls) == 2  # the three after the 429 were not tried
    queued = Message.objects.filter(status=MessageStatus.QUEUED)
    assert queued.count() == 4
    assert all(m.next_attempt_at >= before + timedelta(seconds=29) for m in queued)
    assert sorted(m.attempts for m in queued) == [0, 0, 0, 1]
    stored = OutboundRequest.objects.get(pk=request.pk)
    assert stored.state == RequestState.WAITING and stored.next_run_at >= before + timedelta(seconds=29)
    assert _send(request) == "skipped: not due"


def test_the_per_number_rate_spreads_sends_over_seconds(sandbox_config, settings):
    settings.OUTBOUND_SEND_RATE_PER_NUMBER = 2
    request = _request(sandbox_config, [contact(i) for i in range(5)])
    clock = iter([1000.0, 1000.1, 1001.0, 1001.2, 1002.0])
    with mock.patch("outbound.services.sending.time") as sending_time, \
            mock.patch("outbound.services.ratelimit.time") as rate_time:
        rate_time.time.side_effect = lambda: next(clock)
        _send(request)
    assert len(sandbox.outbox) == 5
    # Two per second: two at once, then a wait for the next second, two more, a wait, the last one.
    assert [c.args[0] for c in sending_time.sleep.call_args_list] == [pytest.approx(0.9), pytest.approx(0.8)]


def test_status_callbacks_move_the_contacts_to_delivered_and_failed(sms_config, mocked_http):
    twilio_ok(mocked_http)
    request = _request(sms_config, [contact(1), contact(2)])
    _send(request)
    first, second = Message.objects.order_by("pk")
    account_id = sms_config.phone_number.account_id

    assert message_status_apply(account_id=account_id,
                                update=StatusUpdate(first.provider_message_id, "delivered")) == StatusApplied.MOVED
    message_status_apply(account_id=account_id,
                         update=StatusUpdate(second.provider_message_id, "undelivered", "30003", "Unreachable"))

    progress = _progress(request)
    assert progress.counts == {"total": 2, "pending": 0, "sent": 0, "delivered": 1, "failed": 1, "skipped": 0}
    assert (progress.contacts[1]["error"], progress.contacts[1]["reason"]) == ("30003", "Unreachable")


def test_an_early_status_callback_is_not_overwritten_by_the_send_bookkeeping(sms_config, mocked_http):
    account_id = sms_config.phone_number.account_id

    def reply(request):
        # The provider's "delivered" callback arrives before the send's own outcome is written.
        message = Message.objects.get()
        message_status_apply(account_id=account_id, update=StatusUpdate("SM" + "9" * 32, "delivered"),
                             message_hint=str(message.pk))
        return 201, {}, json.dumps({"sid": "SM" + "9" * 32, "status": "queued"})

    mocked_http.add_callback("POST", TWILIO_MESSAGES_URL, callback=reply, content_type="application/json")
    _send(_request(sms_config, [contact(1)]))

    message = Message.objects.get()
    assert (message.status, message.provider_message_id) == ("delivered", "SM" + "9" * 32)
    assert message.sent_at is not None


def test_timeline_activities_are_written_only_when_the_configuration_shows_them(sandbox_account):
    shown = make_configuration(sandbox_account, show_in_timeline=True)
    hidden = make_configuration(sandbox_account, template=shown.template, name="Mass send")
    _send(_request(shown, [contact(1, entityrelationshipname="incident")]))
    _send(_request(hidden, [contact(2)]))

    activity = TimelineActivity.objects.select_related("message").get()
    assert activity.contact.address == "+15550000001"
    assert (activity.text, activity.channel, activity.language) == ("Hi Customer 1, we opened case Case 1.", "sms",
                                                                    "en")
    assert (activity.regarding, activity.configuration_ref) == ("incident", shown.configuration_id)
    assert activity.message.status == "sent"
    assert Message.objects.count() == 2


def test_sending_100_contacts_costs_a_few_queries_not_one_per_contact(sandbox_config):
    counts = []
    for size in (10, 100):
        request = _request(sandbox_config, [contact(1000 * size + i) for i in range(size)])
        with CaptureQueriesContext(connection) as queries:
            _send(request)
        # The sandbox provider writes one channel-log row per message; everything else is per chunk, plus
        # one write-back per WRITE_BACK_EVERY messages. The messages' insert is left out: SQLite splits it,
        # and PostgreSQL takes a large chunk's ids from the sequence before streaming it with COPY.
        counts.append(len([q for q in queries.captured_queries if "channels_app_channellog" not in q["sql"]
                           and not q["sql"].startswith('INSERT INTO "channels_app_message"')
                           and "pg_get_serial_sequence" not in q["sql"]]))  # only messages need their ids
    assert counts[1] - counts[0] == 100 // sending.WRITE_BACK_EVERY - 1
    assert counts[1] <= 25


def test_an_interrupted_request_rerun_sends_each_contact_exactly_once(sms_config, mocked_http, settings):
    settings.OUTBOUND_SEND_CHUNK = 25
    sent_to = []
    interrupt = [59]

    def reply(request):
        to = parse_qs(request.body)["To"][0]
        if interrupt and len(sent_to) == interrupt[0]:
            interrupt.clear()
            raise KeyboardInterrupt  # the worker is stopped during the 60th call (it never reached the provider)
        sent_to.append(to)
        return 201, {}, json.dumps({"sid": f"SM{len(sent_to):032d}", "status": "queued"})

    mocked_http.add_callback("POST", TWILIO_MESSAGES_URL, callback=reply, content_type="application/json")
    request = _request(sms_config, [contact(i) for i in range(100)])
    with pytest.raises(KeyboardInterrupt):
        _send(request)

    assert len(sent_to) == 59
    stuck = Message.objects.get(status=MessageStatus.SENDING)  # the call under way: outcome unknown
    assert Message.objects.filter(status=MessageStatus.SENT).count() == 59
    assert OutboundRecipient.objects.filter(state="pending").count() == 25  # the fourth chunk was never claimed

    assert _send(request).startswith("waiting: 40 sent")
    assert len(sent_to) == 99 and len(set(sent_to)) == 99
    assert stuck.contact.address not in sent_to

    # The stuck send is found by the sweep once stale, and its request re-run.
    Message.objects.filter(pk=stuck.pk).update(status_updated_at=timezone.now() - timedelta(hours=1))
    assert sending.outbound_recover()["messages_requeued"] == 1
    _send(request)
    assert sorted(sent_to) == sorted(contact(i)["tocontactid"] for i in range(100))
    assert OutboundRequest.objects.get(pk=request.pk).state == RequestState.DONE


def test_a_finished_request_sends_nothing_when_run_again(sandbox_config):
    request = _request(sandbox_config, [contact(1), contact(2)])
    _send(request)
    assert _send(request) == "skipped: already done"
    assert len(sandbox.outbox) == 2


def test_a_request_held_by_another_worker_is_left_alone(sandbox_config):
    request = _request(sandbox_config, [contact(1)])
    OutboundRequest.objects.filter(pk=request.pk).update(
        state=RequestState.SENDING, lease_until=timezone.now() + timedelta(minutes=5))
    assert _send(request) == "skipped: another worker is sending it"
    assert sandbox.outbox == []


def test_a_crash_in_one_send_is_isolated_and_retried(sandbox_config):
    real_send = sandbox.SandboxProvider.send
    calls = []

    def flaky(self, message):
        calls.append(message.to)
        if len(calls) == 1:
            raise RuntimeError("bug")
        return real_send(self, message)

    with mock.patch.object(sandbox.SandboxProvider, "send", flaky):
        request = _request(sandbox_config, [contact(1), contact(2)])
        _send(request)
    crashed = Message.objects.get(contact__address="+15550000001")
    assert (crashed.status, crashed.error_message) == ("queued", "unexpected error: RuntimeError")
    assert Message.objects.get(contact__address="+15550000002").status == "sent"


def test_deactivating_the_configuration_skips_what_was_not_sent(sandbox_config):
    request = _request(sandbox_config, [contact(1)])
    sandbox_config.is_active = False
    sandbox_config.save()
    _send(request)
    assert _progress(request).contacts[0]["error"] == "configuration_inactive"
    assert sandbox.outbox == []


def test_a_provider_opt_out_error_records_the_opt_out(sms_config, mocked_http):
    mocked_http.post(TWILIO_MESSAGES_URL, status=400,
                     json={"code": 21610, "message": "Attempt to send to unsubscribed recipient"})
    _send(_request(sms_config, [contact(1)]))
    record = ConsentRecord.objects.get()
    assert (record.state, record.contact.address) == ("opted_out", "+15550000001")


def test_the_reply_path_sweep_leaves_fresh_outbound_retries_to_the_request(sms_config, mocked_http):
    mocked_http.post(TWILIO_MESSAGES_URL, status=503, json={"message": "down"})
    _send(_request(sms_config, [contact(1)]))
    assert Message.objects.get().status == MessageStatus.QUEUED
    assert messages_requeue_stuck() == 0


@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_same_request_never_send_a_contact_twice(sandbox_account, settings):
    settings.OUTBOUND_SEND_CHUNK = 10
    configuration = make_configuration(sandbox_account)
    request = _request(configuration, [contact(i) for i in range(60)])
    results = []

    def worker():
        try:
            # Each run takes the request over as if the other's lease had expired.
            OutboundRequest.objects.filter(pk=request.pk).update(state=RequestState.PENDING, lease_until=None)
            results.append(_send(request))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    recipients = sorted(m["to"] for m in sandbox.outbox)
    assert recipients == sorted(contact(i)["tocontactid"] for i in range(60))
    assert Message.objects.count() == 60


def test_provider_errors_are_stored_without_secrets(sms_config, mocked_http):
    mocked_http.post(TWILIO_MESSAGES_URL, status=404,
                     json={"code": 20404, "message": f"The requested resource /Accounts/{TWILIO_ACCOUNT_SID} was "
                                                     "not found"})
    _send(_request(sms_config, [contact(1)]))
    assert TWILIO_ACCOUNT_SID not in Message.objects.get().error_message



def test_a_request_found_locked_is_tried_again_shortly_not_left_to_the_sweep(sms_config, mocked_http, monkeypatch,
                                                                            django_capture_on_commit_callbacks):
    twilio_ok(mocked_http)
    request = _request(sms_config, [contact(1), contact(2)])
    real_claim, calls = sending._claim_request, []

    def claim_once_locked(request_id):
        calls.append(request_id)
        return sending.CLAIM_LOCKED if len(calls) == 1 else real_claim(request_id)

    monkeypatch.setattr(sending, "_claim_request", claim_once_locked)
    retried = []
    monkeypatch.setattr("outbound.services.requests.outbound_request_enqueue",
                        lambda request_id, countdown=None: retried.append((request_id, countdown)))
    assert _send(request) == "skipped: the request is locked; trying again in 2 s"
    assert retried == [(request.pk, sending.CLAIM_RETRY_SECONDS)]
    assert _send(request).startswith("done: 2 sent")  # the retry


def test_a_long_request_is_sent_in_bounded_slices_each_contact_once(sms_config, mocked_http, settings, monkeypatch,
                                                                    django_capture_on_commit_callbacks):
    from outbound import tasks

    settings.OUTBOUND_SEND_CHUNK = 25
    settings.OUTBOUND_SEND_SLICE_SECONDS = 0  # one chunk per run
    twilio_ok(mocked_http)
    queued = []
    monkeypatch.setattr(tasks.outbound_request_send_task, "apply_async", lambda args, **kw: queued.append(args))
    request = _request(sms_config, [contact(i) for i in range(100)])
    queued.clear()
    runs = []
    with django_capture_on_commit_callbacks(execute=True):
        runs.append(_send(request))
    assert runs == ["waiting: 25 sent"]
    assert queued == [[request.pk]]  # the rest queued again, behind whatever else waits on "bulk"
    while queued:
        queued.pop()
        with django_capture_on_commit_callbacks(execute=True):
            runs.append(_send(request))
    assert runs[-1] == "done: 25 sent" and len(runs) == 4
    sent = [parse_qs(c.request.body)["To"][0] for c in mocked_http.calls]
    assert sorted(sent) == sorted(contact(i)["tocontactid"] for i in range(100))
