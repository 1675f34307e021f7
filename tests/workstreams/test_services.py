import pytest

from config.exceptions import ServiceError
from workstreams.models import ConversationState
from workstreams.services import conversation_close, conversation_end, conversation_reply


def test_an_agents_reply_takes_an_open_conversation(sandbox_account, receive, make_agent):
    conversation = receive(sandbox_account)
    agent = make_agent("agent", queues=[conversation.queue])
    message = conversation_reply(conversation=conversation, author=agent, body="On it!")
    conversation.refresh_from_db()
    assert (conversation.state, conversation.agent) == (ConversationState.ACTIVE, agent)
    assert message.author == agent and message.status == "queued"
    assert conversation.entries.filter(message=message).exists()


def test_a_closed_conversation_refuses_replies(sandbox_account, receive):
    conversation = conversation_close(conversation=receive(sandbox_account))
    with pytest.raises(ServiceError) as err:
        conversation_reply(conversation=conversation, author=None, body="hi")
    assert (err.value.code, err.value.http_status) == ("conversation_closed", 409)


def test_ending_resolves_and_wraps_up_once(sandbox_account, receive):
    conversation = conversation_end(conversation=receive(sandbox_account))
    assert (conversation.state, conversation.resolved) == (ConversationState.WRAP_UP, True)
    assert conversation.ended_at
    with pytest.raises(ServiceError, match="already ended"):
        conversation_end(conversation=conversation)
