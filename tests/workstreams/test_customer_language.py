"""What a customer receives is chosen by the conversation's language, never by the language of the agent's
screen: automated messages keep their per-language texts whatever the request or worker speaks."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.utils import translation

from channels_app.models import Message, MessageKind
from channels_app.providers import sandbox
from workstreams.models import AgentProfile, AutomatedMessage, AutomatedMessageKind, Conversation
from workstreams.services import conversation_end
from workstreams.services.automated import automated_send

TEXTS = {"en": "Thanks for contacting us.", "ja": "お問い合わせありがとうございました。",
         "sv": "Tack för att du kontaktade oss."}


@pytest.fixture
def swedish_conversation(workstream, receive, sandbox_account):
    number = workstream.numbers.get()
    for language, text in TEXTS.items():
        AutomatedMessage.objects.create(number=number, kind=AutomatedMessageKind.AGENT_ENDED, language=language,
                                        text=text)
    conversation = receive(sandbox_account, "Hej!")
    Conversation.objects.filter(pk=conversation.pk).update(language="sv")
    conversation.refresh_from_db()
    return conversation


def test_an_automated_message_sent_while_japanese_is_active_is_in_the_conversations_language(
        swedish_conversation, django_capture_on_commit_callbacks):
    with translation.override("ja"), django_capture_on_commit_callbacks(execute=True):
        message = automated_send(conversation=swedish_conversation, kind=AutomatedMessageKind.AGENT_ENDED)

    assert Message.objects.get(pk=message.pk).body == TEXTS["sv"]
    assert [m["body"] for m in sandbox.outbox] == [TEXTS["sv"]]


def test_an_agent_working_in_japanese_ends_a_swedish_conversation_and_the_customer_gets_swedish(
        client, swedish_conversation, make_agent, support_queue, django_capture_on_commit_callbacks):
    agent = make_agent("ana", queues=[support_queue])
    agent.is_staff = True
    agent.save()
    agent.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation", "change_conversation"]))
    AgentProfile.objects.filter(user=agent).update(language="ja")
    Conversation.objects.filter(pk=swedish_conversation.pk).update(agent=agent, state="active")
    client.force_login(agent)

    with django_capture_on_commit_callbacks(execute=True):
        page = client.get(f"/console/conversations/{swedish_conversation.pk}/", HTTP_ACCEPT_LANGUAGE="ja")
        assert '<html lang="ja">' in page.content.decode()
        response = client.post(f"/console/conversations/{swedish_conversation.pk}/end/",
                               HTTP_ACCEPT_LANGUAGE="ja", HTTP_ACCEPT="application/json")

    assert response.status_code == 200, response.content
    assert response["Content-Language"] == "ja"
    sent = Message.objects.get(conversation_link__conversation=swedish_conversation, kind=MessageKind.AUTOMATED)
    assert sent.body == TEXTS["sv"]
    assert [m["body"] for m in sandbox.outbox] == [TEXTS["sv"]]


def test_ending_in_a_worker_without_any_language_active_sends_the_same_text(swedish_conversation,
                                                                           django_capture_on_commit_callbacks):
    translation.deactivate_all()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            conversation_end(conversation=swedish_conversation)
    finally:
        translation.deactivate()

    assert [m["body"] for m in sandbox.outbox] == [TEXTS["sv"]]
