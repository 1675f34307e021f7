import pytest

from channels_app.models import Attachment, ConsentRecord, InboundEvent, Message
from channels_app.services.inbound_batch import inbound_events_process_batch
from tests.channels_app.events import form_post
from tests.conftest import TWILIO_ACCOUNT_SID
from workstreams.models import Conversation

MEDIA = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages/SMx/Media/ME1"


def event(account, sid, body="hi", sender="+15551230001", to="+14155550100", **extra):
    params = {"MessageSid": [sid], "AccountSid": [TWILIO_ACCOUNT_SID], "From": [sender], "To": [to],
              "Body": [body], "NumMedia": ["0"], **{k: [v] for k, v in extra.items()}}
    return InboundEvent.objects.create(account=account, kind="inbound", event_key=sid, url="https://hub/x",
                                       **form_post(params))


def test_a_mixed_batch_is_handled_like_one_by_one(twilio_sms_account, receive_existing, mocked_http,
                                                  django_capture_on_commit_callbacks):
    mocked_http.get(MEDIA, body=b"img", content_type="image/jpeg")
    existing = receive_existing
    events = [
        event(twilio_sms_account, "SM1", "first", sender="+15551230001"),
        event(twilio_sms_account, "SM2", "second", sender="+15551230001"),
        event(twilio_sms_account, "SM3", "new customer", sender="+15551230002"),
        event(twilio_sms_account, "SM4", "again", sender=existing.contact.address),
        event(twilio_sms_account, "SM5", "STOP", sender="+15551230003"),
        event(twilio_sms_account, "SM6", "photo", sender="+15551230004", NumMedia="1", MediaUrl0=MEDIA,
              MediaContentType0="image/jpeg"),
        event(twilio_sms_account, "SM7", "wrong number", to="+14155550199"),
        event(twilio_sms_account, existing.entries.get().message.provider_message_id, "a provider retry"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        summary = inbound_events_process_batch(event_id=events[0].pk)
    assert summary == "processed 5 in a batch, 3 one by one"
    states = dict(InboundEvent.objects.filter(pk__in=[e.pk for e in events]).values_list("event_key", "state"))
    assert states.pop("SM7") == "failed"
    assert set(states.values()) == {"processed"}
    # One conversation per customer, messages in order, the existing conversation joined.
    first = Conversation.objects.get(contact__address="+15551230001")
    assert [e.message.body for e in first.entries.order_by("message__id")] == ["first", "second"]
    assert existing.entries.count() == 2
    assert Conversation.objects.filter(contact__address="+15551230002").count() == 1
    assert ConsentRecord.objects.get().state == "opted_out"
    assert Attachment.objects.get().state == "stored"
    assert Message.objects.filter(body="a provider retry").count() == 0


def test_a_failing_batch_falls_back_to_one_by_one(twilio_sms_account, monkeypatch):
    from channels_app.services import inbound_batch

    events = [event(twilio_sms_account, f"SM{i}", sender=f"+1555123000{i}") for i in range(3)]

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(inbound_batch, "contacts_for", broken)
    assert inbound_events_process_batch(event_id=events[0].pk) == "processed 0 in a batch, 3 one by one"
    assert Message.objects.count() == 3


def test_an_already_processed_event_is_skipped(twilio_sms_account):
    e = event(twilio_sms_account, "SM1")
    inbound_events_process_batch(event_id=e.pk)
    assert inbound_events_process_batch(event_id=e.pk) == "skipped: already processed"
    assert Message.objects.count() == 1


def test_status_events_take_the_one_by_one_path(twilio_sms_account):
    e = InboundEvent.objects.create(account=twilio_sms_account, kind="status", event_key="SMz:delivered:",
                                    url="https://hub/x", **form_post({"MessageSid": ["SMz"],
                                                                 "MessageStatus": ["delivered"]}))
    inbound_events_process_batch(event_id=e.pk)
    e.refresh_from_db()
    assert e.attempts == 1 and "no outgoing message" in e.error


@pytest.fixture
def receive_existing(twilio_sms_account, receive):
    return receive(twilio_sms_account, "earlier", sender="+15559990000")


def test_a_batch_costs_the_same_queries_whatever_its_size(twilio_sms_account):
    """First messages (new contacts, addresses, conversations routed by a rule asking for a skill) and later
    ones: a batch of 12 events makes as many queries as a batch of 3."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from workstreams.models import Queue, RoutingRule, Skill, Workstream, WorkstreamNumber

    workstream = Workstream.objects.create(name="SMS support", channel="sms")
    WorkstreamNumber.objects.create(workstream=workstream, phone_number=twilio_sms_account.numbers.get())
    rule = RoutingRule.objects.create(workstream=workstream, name="All", queue=Queue.objects.create(name="Support"))
    rule.required_skills.add(Skill.objects.create(name="Orders"))
    counter = iter(range(10_000))

    def queries(customers):
        events = [event(twilio_sms_account, f"SM{next(counter)}", f"message {n}", sender=sender)
                  for n, sender in enumerate(customers)]
        with CaptureQueriesContext(connection) as captured:
            assert inbound_events_process_batch(event_id=events[0].pk) == f"processed {len(events)} in a batch, " \
                                                                          "0 one by one"
        return len(captured)

    small = [f"+1555100{n:04d}" for n in range(3)]
    large = [f"+1555200{n:04d}" for n in range(12)]
    first = queries(small), queries(large)
    later = queries(small), queries(large)
    assert first[0] == first[1]
    assert later[0] == later[1]
    assert Conversation.objects.filter(queue__name="Support", required_skills__name="Orders").count() == 15
    assert Message.objects.filter(direction="inbound", conversation_link__isnull=False).count() == 30
