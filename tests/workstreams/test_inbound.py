from workstreams.models import Conversation, ConversationState
from workstreams.services import conversation_close, conversation_end


def test_messages_join_the_live_conversation(sandbox_account, receive):
    first = receive(sandbox_account, "one")
    second = receive(sandbox_account, "two")
    assert first.pk == second.pk
    assert Conversation.objects.get().entries.count() == 2
    assert Conversation.objects.get().state == ConversationState.OPEN


def test_another_customer_gets_their_own_conversation(sandbox_account, receive):
    assert receive(sandbox_account, sender="+15551234567").pk != receive(sandbox_account, sender="+15557654321").pk


def test_a_closed_conversation_never_reopens(sandbox_account, receive):
    first = receive(sandbox_account)
    conversation_close(conversation=first)
    second = receive(sandbox_account, "back again")
    assert second.pk != first.pk
    assert Conversation.objects.get(pk=first.pk).state == ConversationState.CLOSED
    assert second.state == ConversationState.OPEN


def test_a_message_after_the_agent_ended_opens_a_new_conversation(sandbox_account, receive):
    first = receive(sandbox_account)
    conversation_end(conversation=first)
    second = receive(sandbox_account, "one more thing")
    assert second.pk != first.pk
    first.refresh_from_db()
    assert (first.state, first.resolved) == (ConversationState.CLOSED, True)


def test_a_waiting_conversation_goes_back_to_its_agent(sandbox_account, receive, django_user_model):
    agent = django_user_model.objects.create_user("agent")
    conversation = receive(sandbox_account)
    Conversation.objects.filter(pk=conversation.pk).update(state=ConversationState.WAITING, agent=agent)
    assert receive(sandbox_account, "hello?").state == ConversationState.ACTIVE


def test_new_conversations_go_to_the_default_queue_with_a_diagnosis(sandbox_account, receive):
    conversation = receive(sandbox_account)
    assert conversation.queue.name == "Default queue"
    assert conversation.routing_diagnosis["reason"] == "the number is in no workstream; fallback queue"
