from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from channels_app.models import ConsentState, Message
from channels_app.providers import sandbox
from channels_app.services.consent import consent_record
from channels_app.services.inbound import contact_for
from config.exceptions import ServiceError
from workstreams.models import (
    AutomatedMessage,
    Conversation,
    ConversationState,
    OperatingHours,
    RoutingRule,
    WhatsAppTemplate,
    Workstream,
    WorkstreamNumber,
)
from workstreams.services import assignment_cycle, conversation_end, conversation_reply, conversation_wait
from workstreams.services.autoclose import conversations_auto_close
from workstreams.services.automated import render


@pytest.fixture
def texts(workstream):
    number = workstream.numbers.get()

    def _set(kind, text, language="en", **kw):
        return AutomatedMessage.objects.create(number=number, kind=kind, language=language, text=text, **kw)

    return _set


def sent():
    return [m["body"] for m in sandbox.outbox]


def run(capture, fn, *args, **kwargs):
    with capture(execute=True):
        return fn(*args, **kwargs)


def test_placeholders():
    assert render("Hi {CustomerName}, you are #{Position} in {QueueName}. {Unknown}",
                  {"CustomerName": "Ana", "Position": "3", "QueueName": "Support"}) == \
        "Hi Ana, you are #3 in Support. {Unknown}"


def test_greeting_then_agent_assigned(workstream, support_queue, texts, receive, sandbox_account, make_agent,
                                      django_capture_on_commit_callbacks):
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    make_agent("ana", queues=[support_queue], first_name="Ana")
    texts("greeting", "Hi {CustomerName}, thanks for writing.")
    texts("agent_assigned", "{AgentName} from {QueueName} is here to help.")
    run(django_capture_on_commit_callbacks, receive, sandbox_account, "hello", name="Bea")
    assert sent() == ["Hi Bea, thanks for writing.", "Ana from Support is here to help."]
    assert Message.objects.filter(kind="automated").count() == 2


def test_in_queue_with_position_when_agents_are_full(workstream, support_queue, texts, receive, sandbox_account,
                                                     make_agent, django_capture_on_commit_callbacks):
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    make_agent("ana", queues=[support_queue], capacity=50)
    texts("in_queue", "You are number {Position} in line.")
    run(django_capture_on_commit_callbacks, receive, sandbox_account, "one", sender="+15550000001")
    run(django_capture_on_commit_callbacks, receive, sandbox_account, "two", sender="+15550000002")
    run(django_capture_on_commit_callbacks, receive, sandbox_account, "three", sender="+15550000003")
    assert sent() == ["You are number 1 in line.", "You are number 2 in line."]


def test_no_agent_and_out_of_hours(workstream, support_queue, texts, receive, sandbox_account,
                                   django_capture_on_commit_callbacks):
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    texts("no_agent", "No one is available right now; we will answer soon.")
    texts("out_of_hours", "We are closed; we open at 9.")
    run(django_capture_on_commit_callbacks, receive, sandbox_account, "hi", sender="+15550000001")
    support_queue.operating_hours = OperatingHours.objects.create(name="Never")  # no slots: always closed
    support_queue.save()
    run(django_capture_on_commit_callbacks, receive, sandbox_account, "hi", sender="+15550000002")
    assert sent() == ["No one is available right now; we will answer soon.", "We are closed; we open at 9."]


def test_the_customers_language_is_chosen(workstream, texts, receive, sandbox_account,
                                          django_capture_on_commit_callbacks):
    texts("greeting", "Hello!")
    texts("greeting", "¡Hola!", language="es")
    contact = contact_for("+15551234567")
    contact.locale = "es-MX"
    contact.save()
    run(django_capture_on_commit_callbacks, receive, sandbox_account, "hola")
    assert sent() == ["¡Hola!"]


def test_switched_off_messages_are_not_sent(workstream, texts, receive, sandbox_account,
                                            django_capture_on_commit_callbacks):
    texts("greeting", "Hello!", enabled=False)
    run(django_capture_on_commit_callbacks, receive, sandbox_account, "hi")
    assert sent() == []


def test_opt_out_confirmation_is_the_one_message_after_stop(workstream, texts, receive, sandbox_account,
                                                            django_capture_on_commit_callbacks):
    texts("opted_out", "You will get no more messages. Text START to resume.")
    texts("greeting", "Hello!")
    consent_record(contact=contact_for("+15551234567"), phone_number=sandbox_account.numbers.get(),
                   state=ConsentState.OPTED_OUT, source="keyword")
    run(django_capture_on_commit_callbacks, receive, sandbox_account, "STOP", keyword="opt_out")
    # The greeting obeys consent; only the confirmation goes out.
    assert sent() == ["You will get no more messages. Text START to resume."]


def test_help_and_attachment_not_allowed(workstream, texts, receive, sandbox_account,
                                         django_capture_on_commit_callbacks):
    texts("help", "Reply with your question; text STOP to opt out.")
    run(django_capture_on_commit_callbacks, receive, sandbox_account, "HELP", keyword="help")
    assert sent() == ["Reply with your question; text STOP to opt out."]

    from channels_app.models import Attachment
    from channels_app.policy import Received
    from workstreams.inbound import conversation_inbound

    texts("attachment_not_allowed", "We cannot accept files here; please describe it in words.")
    phone = sandbox_account.numbers.get()
    message = Message.objects.create(account=sandbox_account, phone_number=phone, contact=contact_for("+15551234567"),
                                     provider="sandbox", channel="sms", direction="inbound", body="photo",
                                     status="received", provider_message_id="with-file")
    Attachment.objects.create(message=message, url="https://x.example/a.jpg", state="refused")
    run(django_capture_on_commit_callbacks, conversation_inbound.one, Received(message=message, refused_attachments=1))
    assert sent()[-1] == "We cannot accept files here; please describe it in words."


def test_agent_ended_survey_and_closed(workstream, texts, receive, sandbox_account,
                                       django_capture_on_commit_callbacks):
    number = workstream.numbers.get()
    number.survey_enabled = True
    number.survey_url = "https://survey.example/s?c={ConversationId}"
    number.save()
    texts("agent_ended", "Thanks for contacting us.")
    texts("closed", "This conversation is closed.")
    conversation = receive(sandbox_account, "hi")
    run(django_capture_on_commit_callbacks, conversation_end, conversation=conversation)
    assert sent() == ["Thanks for contacting us.", f"How did we do? https://survey.example/s?c={conversation.pk}"]
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        run(django_capture_on_commit_callbacks, conversations_auto_close)
    assert Conversation.objects.get(pk=conversation.pk).state == ConversationState.CLOSED
    assert sent()[-1] == "This conversation is closed."


@pytest.fixture
def whatsapp(twilio_whatsapp_account, mocked_http):
    from tests.conftest import TWILIO_ACCOUNT_SID

    ws = Workstream.objects.create(name="WhatsApp", channel="whatsapp")
    number = WorkstreamNumber.objects.create(workstream=ws, phone_number=twilio_whatsapp_account.numbers.get())
    mocked_http.post(f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json", status=201,
                     json={"sid": "SM" + "7" * 32, "status": "queued"})
    return number


def test_automated_messages_obey_the_whatsapp_window(whatsapp, receive, twilio_whatsapp_account, mocked_http,
                                                     django_capture_on_commit_callbacks):
    AutomatedMessage.objects.create(number=whatsapp, kind="closed", text="Closed.")
    conversation = receive(twilio_whatsapp_account, "hi")
    Message.objects.filter(conversation_link__conversation=conversation).update(
        created_at=timezone.now() - timedelta(days=2))
    from workstreams.services import conversation_close

    run(django_capture_on_commit_callbacks, conversation_close, conversation=conversation)
    assert len(mocked_http.calls) == 0  # free text outside the window is never sent


def test_a_refused_whatsapp_reply_sends_the_invitation_template(whatsapp, receive, twilio_whatsapp_account,
                                                                mocked_http, django_capture_on_commit_callbacks):
    AutomatedMessage.objects.create(number=whatsapp, kind="outside_window", text="Can we continue?",
                                    content_sid="HX" + "c" * 32)
    conversation = receive(twilio_whatsapp_account, "hi")
    Message.objects.filter(conversation_link__conversation=conversation).update(
        created_at=timezone.now() - timedelta(days=2))
    with pytest.raises(ServiceError) as err, django_capture_on_commit_callbacks(execute=True):
        conversation_reply(conversation=conversation, author=None, body="Are you there?")
    assert err.value.code == "whatsapp_window_closed"
    assert "invitation template" in err.value.message
    assert "ContentSid=HX" in mocked_http.calls[0].request.body


def test_templates_can_be_sent_outside_the_window(whatsapp, receive, twilio_whatsapp_account, mocked_http,
                                                  django_capture_on_commit_callbacks):
    from workstreams.services import conversation_send_template

    template = WhatsAppTemplate.objects.create(number=whatsapp, name="order_update", language="en",
                                               text="Hi {{1}}, your order {{2}} shipped.",
                                               content_sid="HX" + "d" * 32)
    conversation = receive(twilio_whatsapp_account, "hi")
    Message.objects.filter(conversation_link__conversation=conversation).update(
        created_at=timezone.now() - timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        message = conversation_send_template(conversation=conversation, author=None, template=template,
                                             variables={"1": "Ana", "2": "A-17"})
    assert message.body == "Hi Ana, your order A-17 shipped."
    assert "ContentVariables" in mocked_http.calls[0].request.body


@pytest.mark.parametrize(
    ("state", "age", "closed"),
    [("open", timedelta(days=31), True), ("open", timedelta(days=29), False),
     ("active", timedelta(days=31), True), ("wrap_up", timedelta(days=2), True),
     ("wrap_up", timedelta(hours=12), False), ("waiting", timedelta(days=8), True),
     ("waiting", timedelta(days=6), False)],
)
def test_auto_close_defaults(workstream, receive, sandbox_account, state, age, closed):
    conversation = receive(sandbox_account, "hi")
    Conversation.objects.filter(pk=conversation.pk).update(state=state, ended_at=timezone.now())
    with time_machine.travel(timezone.now() + age):
        conversations_auto_close()
    assert (Conversation.objects.get(pk=conversation.pk).state == "closed") is closed


def test_waiting_auto_close_follows_the_workstream(workstream, receive, sandbox_account, make_agent, support_queue):
    workstream.waiting_auto_close = timedelta(hours=1)
    workstream.save()
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    make_agent("ana", queues=[support_queue])
    conversation = receive(sandbox_account, "hi")
    assignment_cycle()
    conversation_wait(conversation=Conversation.objects.get(pk=conversation.pk))
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert conversations_auto_close() == 1


def test_the_invitation_goes_once_per_closed_window(whatsapp, receive, twilio_whatsapp_account, mocked_http,
                                                    django_capture_on_commit_callbacks):
    AutomatedMessage.objects.create(number=whatsapp, kind="outside_window", text="Can we continue?",
                                    content_sid="HX" + "c" * 32)
    conversation = receive(twilio_whatsapp_account, "hi")
    Message.objects.filter(conversation_link__conversation=conversation).update(
        created_at=timezone.now() - timedelta(days=2))
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=timezone.now() - timedelta(days=2))
    for _ in range(3):
        with pytest.raises(ServiceError), django_capture_on_commit_callbacks(execute=True):
            conversation_reply(conversation=conversation, author=None, body="Are you there?")
    assert len(mocked_http.calls) == 1


def test_template_variables_may_be_written_with_spaces(whatsapp, receive, twilio_whatsapp_account):
    from workstreams.services import conversation_send_template

    template = WhatsAppTemplate.objects.create(number=whatsapp, name="spaced", text="Hi {{ 1 }}, order {{2}}.",
                                               content_sid="HX" + "f" * 32)
    conversation = receive(twilio_whatsapp_account, "hi")
    message = conversation_send_template(conversation=conversation, author=None, template=template,
                                         variables={"1": "Ana", "2": "A-17"})
    assert message.body == "Hi Ana, order A-17."
