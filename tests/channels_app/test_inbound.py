from datetime import timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from twilio.request_validator import RequestValidator

from channels_app.models import Attachment, ConsentRecord, InboundEvent, Message
from channels_app.providers import sandbox
from channels_app.services import consent, inbound
from tests.channels_app.events import form_post
from tests.conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from workstreams.models import Conversation, Workstream, WorkstreamNumber

MEDIA = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages/SM1/Media/ME1"


def send(client, account, body, sid, *, sender="+15551234567", media=None, capture=None):
    params = {"MessageSid": sid, "AccountSid": TWILIO_ACCOUNT_SID, "From": sender,
              "To": account.numbers.first().number, "Body": body, "NumMedia": "0"}
    if media:
        params.update({"NumMedia": "1", "MediaUrl0": media, "MediaContentType0": "image/jpeg"})
    path = f"/webhooks/twilio/{account.webhook_token}/inbound/"
    sig = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(settings.PUBLIC_BASE_URL + path, params)
    post = lambda: client.post(path, data=urlencode(params), content_type="application/x-www-form-urlencoded",  # noqa: E731
                               HTTP_X_TWILIO_SIGNATURE=sig)
    if capture is None:
        return post()
    with capture(execute=True):
        return post()


@pytest.mark.parametrize(
    ("body", "action"),
    [("STOP", "opt_out"), (" stop ", "opt_out"), ("Stop.", "opt_out"), ("unsubscribe", "opt_out"),
     ("OPTOUT", "opt_out"), ("Revoke", "opt_out"), ("STOPALL", "opt_out"), ("start", "opt_in"), ("YES", "opt_in"),
     ("unstop", "opt_in"), ("help", "help"), ("INFO", "help"), ("stop please", None), ("Please stop", None),
     ("", None)],
)
def test_keywords(body, action):
    assert consent.keyword_action(body) == action


def test_stop_then_start_records_consent_with_time_and_source(client, twilio_sms_account,
                                                              django_capture_on_commit_callbacks):
    send(client, twilio_sms_account, "STOP", "SM1", capture=django_capture_on_commit_callbacks)
    phone = twilio_sms_account.numbers.get()
    contact = Message.objects.get().contact
    assert consent.consent_state(contact=contact, phone_number=phone) == "opted_out"
    record = ConsentRecord.objects.get()
    assert (record.source, record.detail) == ("keyword", "STOP") and record.created_at
    send(client, twilio_sms_account, "start", "SM2", capture=django_capture_on_commit_callbacks)
    assert consent.consent_state(contact=contact, phone_number=phone) == "opted_in"
    assert ConsentRecord.objects.count() == 2
    # The keyword messages are still part of the conversation.
    assert Conversation.objects.get().entries.count() == 2


def test_help_gets_the_configured_reply(client, sandbox_account, django_capture_on_commit_callbacks):
    sandbox_account.help_reply = "Support: reply with your question. Text STOP to opt out."
    sandbox_account.save()
    payload = b'{"message_id": "h1", "from": "+15551234567", "to": "+15005550006", "body": "HELP"}'
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/webhooks/sandbox/{sandbox_account.webhook_token}/inbound/", data=payload,
                               content_type="application/json",
                               HTTP_X_SANDBOX_SIGNATURE=sandbox.sign(sandbox_account.webhook_token, payload))
    assert response.status_code == 200
    assert [m["body"] for m in sandbox.outbox] == ["Support: reply with your question. Text STOP to opt out."]
    assert Message.objects.get(direction="outbound").kind == "automated"


def test_processing_twice_changes_nothing(client, twilio_sms_account, django_capture_on_commit_callbacks):
    send(client, twilio_sms_account, "hello", "SM1", capture=django_capture_on_commit_callbacks)
    event = InboundEvent.objects.get()
    InboundEvent.objects.filter(pk=event.pk).update(state="pending")  # as if the task ran again
    with django_capture_on_commit_callbacks(execute=True):
        assert inbound.inbound_event_process(event_id=event.pk) == "duplicate"
    assert Message.objects.count() == 1
    assert Conversation.objects.get().entries.count() == 1


def test_a_lost_processing_task_is_recovered_by_the_sweep(client, twilio_sms_account,
                                                          django_capture_on_commit_callbacks):
    send(client, twilio_sms_account, "anyone there?", "SM1")  # no capture: the queued task is lost
    event = InboundEvent.objects.get()
    assert event.state == "pending" and not Message.objects.exists()
    assert inbound.inbound_events_requeue() == 0  # not stale yet
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        with django_capture_on_commit_callbacks(execute=True):
            assert inbound.inbound_events_requeue() == 1
    event.refresh_from_db()
    assert event.state == "processed"
    assert Message.objects.get().body == "anyone there?"


def test_a_customer_attachment_where_not_allowed_is_not_stored(client, twilio_sms_account, mocked_http,
                                                                django_capture_on_commit_callbacks):
    workstream = Workstream.objects.create(name="SMS support", channel="sms")
    WorkstreamNumber.objects.create(workstream=workstream, phone_number=twilio_sms_account.numbers.get(),
                                    customers_may_send_attachments=False)
    send(client, twilio_sms_account, "see photo", "SM1", media=MEDIA, capture=django_capture_on_commit_callbacks)
    attachment = Attachment.objects.get()
    assert attachment.state == "refused" and not attachment.file
    assert "Customers may not send attachments" in attachment.error
    assert len(mocked_http.calls) == 0


@pytest.mark.parametrize(
    ("media", "state", "error"),
    [
        ("https://evil.example/steal.jpg", "refused", "evil.example is not a media host"),
        ("http://169.254.169.254/latest/meta-data", "refused", "not a media host"),
    ],
)
def test_media_is_only_fetched_from_provider_hosts(client, twilio_sms_account, mocked_http, media, state, error,
                                                   django_capture_on_commit_callbacks):
    send(client, twilio_sms_account, "pic", "SM1", media=media, capture=django_capture_on_commit_callbacks)
    attachment = Attachment.objects.get()
    assert attachment.state == state and error in attachment.error
    assert len(mocked_http.calls) == 0


def test_media_over_the_size_limit_is_not_stored(client, twilio_sms_account, mocked_http, settings,
                                                 django_capture_on_commit_callbacks):
    settings.ATTACHMENT_MAX_BYTES = 1000
    mocked_http.get(MEDIA, body=b"x" * 1001, content_type="image/jpeg")
    send(client, twilio_sms_account, "big", "SM1", media=MEDIA, capture=django_capture_on_commit_callbacks)
    attachment = Attachment.objects.get()
    assert attachment.state == "refused" and "1000-byte limit" in attachment.error
    assert not attachment.file


def test_a_redirect_to_a_foreign_host_is_not_followed(client, twilio_sms_account, mocked_http,
                                                      django_capture_on_commit_callbacks):
    mocked_http.get(MEDIA, status=307, headers={"Location": "https://attacker.example/x"})
    send(client, twilio_sms_account, "pic", "SM1", media=MEDIA, capture=django_capture_on_commit_callbacks)
    attachment = Attachment.objects.get()
    assert attachment.state == "refused" and "redirected to attacker.example" in attachment.error
    assert len(mocked_http.calls) == 1


def test_a_redirect_to_the_cdn_is_followed_without_credentials(client, twilio_sms_account, mocked_http,
                                                               django_capture_on_commit_callbacks):
    cdn = "https://media.twiliocdn.com/AC/abc?Expires=1"
    mocked_http.get(MEDIA, status=307, headers={"Location": cdn})
    mocked_http.get(cdn, body=b"jpegdata", content_type="image/jpeg")
    send(client, twilio_sms_account, "pic", "SM1", media=MEDIA, capture=django_capture_on_commit_callbacks)
    assert Attachment.objects.get().state == "stored"
    assert "Authorization" in mocked_http.calls[0].request.headers
    assert "Authorization" not in mocked_http.calls[1].request.headers


def test_reprocessing_gives_a_failed_event_a_fresh_start(twilio_sms_account, django_capture_on_commit_callbacks):
    event = InboundEvent.objects.create(
        account=twilio_sms_account, kind="status", event_key="SM404:delivered", url="https://hub.example/s",
        state="failed", attempts=settings.INBOUND_EVENT_MAX_ATTEMPTS, error="no outgoing message with id SM404",
        processed_at=timezone.now(), **form_post({"MessageSid": ["SM404"], "MessageStatus": ["delivered"]}))
    with django_capture_on_commit_callbacks() as queued:
        assert inbound.inbound_event_reprocess(event=event) is True
    assert len(queued) == 1
    assert (event.state, event.attempts, event.error, event.processed_at) == ("pending", 0, "", None)


def test_reprocessing_leaves_a_processed_event_alone(twilio_sms_account, django_capture_on_commit_callbacks):
    event = InboundEvent.objects.create(account=twilio_sms_account, kind="inbound", event_key="SM1",
                                        url="https://hub.example/x", state="processed", attempts=1)
    with django_capture_on_commit_callbacks() as queued:
        assert inbound.inbound_event_reprocess(event=event) is False
    assert queued == []
    assert (event.state, event.attempts) == ("processed", 1)


def test_a_second_stop_gets_no_second_confirmation(client, twilio_sms_account, mocked_http,
                                                   django_capture_on_commit_callbacks):
    from channels_app.models import Direction
    from workstreams.models import AutomatedMessage, Workstream, WorkstreamNumber

    ws = Workstream.objects.create(name="SMS", channel="sms")
    number = WorkstreamNumber.objects.create(workstream=ws, phone_number=twilio_sms_account.numbers.get())
    AutomatedMessage.objects.create(number=number, kind="opted_out", text="You will get no more messages.")
    mocked_http.post(f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json", status=201,
                     json={"sid": "SM" + "5" * 32, "status": "queued"})
    send(client, twilio_sms_account, "STOP", "SM1", capture=django_capture_on_commit_callbacks)
    send(client, twilio_sms_account, "stop", "SM2", capture=django_capture_on_commit_callbacks)
    confirmations = Message.objects.filter(direction=Direction.OUTBOUND, kind="opt_out_confirmation")
    assert confirmations.count() == 1
    assert ConsentRecord.objects.count() == 1


def test_the_webhook_insert_writes_every_column_with_the_model_defaults(twilio_sms_account):
    model = {f.column: f for f in InboundEvent._meta.concrete_fields if not f.primary_key}
    assert set(inbound._INSERT_COLUMNS + inbound._DEFAULT_COLUMNS) == set(model)
    event_id = inbound._insert_once(account_id=twilio_sms_account.pk, kind="inbound", event_key="SMx",
                                    url="https://hub/x", content_type="text/plain", body=b"b")
    stored = InboundEvent.objects.get(pk=event_id)
    for column in ("state", "attempts", "error", "processed_at"):
        assert getattr(stored, model[column].attname) == model[column].get_default()
    assert stored.received_at is not None
    assert inbound._insert_once(account_id=twilio_sms_account.pk, kind="inbound", event_key="SMx",
                                url="https://hub/x", content_type="text/plain", body=b"b") is None


def test_a_webhook_of_more_events_than_one_statement_holds_is_stored_whole(twilio_sms_account):
    rows = [inbound._event_row(account_id=twilio_sms_account.pk, kind="status", event_key=f"SM{i}:delivered:",
                               url="https://hub/x", content_type="application/json", body=b"{}")
            for i in range(inbound._ROWS_PER_STATEMENT + 20)]
    rows.append(rows[3])  # the same event twice in one webhook: stored once
    ids = inbound._insert_events(rows)
    assert len(ids) == len(rows) and ids[-1] is None and None not in ids[:-1]
    assert InboundEvent.objects.count() == inbound._ROWS_PER_STATEMENT + 20
    assert set(InboundEvent.objects.values_list("pk", flat=True)) == set(ids[:-1])
    assert inbound._insert_events(rows[:2]) == [None, None]  # a retry of the webhook stores nothing new
