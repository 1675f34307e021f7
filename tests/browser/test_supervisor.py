"""A supervisor in a real browser: signs in with no agent profile, finds an agent's conversation in the queue
they supervise, reassigns it, and force-closes it after confirming — while an agent of another queue gets 404."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.workstreams.conftest import supervisors_group
from workstreams.models import AgentProfile, Conversation, ConversationState

from .conftest import PASSWORD, customer_writes


def test_a_supervisor_reassigns_and_force_closes(page, hub, whatsapp_account, whatsapp_workstream, support_queue,
                                                 agent, django_user_model):
    sue = django_user_model.objects.create_user("sue", password=PASSWORD, first_name="Sue", is_staff=True)
    sue.groups.add(supervisors_group())
    support_queue.supervisors.add(sue)
    tom = django_user_model.objects.create_user("tom", password="x", first_name="Tom", is_staff=True)
    AgentProfile.objects.create(user=tom, presence="available")
    support_queue.members.add(tom)
    conversation = customer_writes(whatsapp_account, "Where is my parcel?", name="Maria")
    Conversation.objects.filter(pk=conversation.pk).update(state=ConversationState.ACTIVE, agent=agent)

    page.goto(hub.url + "/console/")
    page.fill("#id_username", "sue")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(hub.url + "/console/")
    supervised = page.locator("section.supervised")
    expect(supervised).to_contain_text("Maria")
    expect(page.locator("#no-profile-hint")).to_contain_text("no work is assigned to you")
    supervised.get_by_role("link").click()

    expect(page.locator("#reply-form")).to_have_count(0)  # supervisors monitor; the agent replies
    page.locator("summary", has_text="Reassign").click()
    page.select_option("#reassign-agent", label="Tom (available)")
    page.get_by_role("button", name="Reassign", exact=True).click()
    expect(page.locator(".flash")).to_contain_text(f"Conversation #{conversation.pk} reassigned to Tom.")
    expect(page.locator(".conv-meta")).to_contain_text("Agent: Tom")

    page.locator("summary", has_text="Force-close").click()
    page.fill("#force-close-reason", "duplicate of another request")
    asked: list[str] = []

    def change_mind(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", change_mind)  # changing one's mind leaves it open
    page.get_by_role("button", name="Close for good").click()
    assert asked == [f"Close conversation #{conversation.pk} for good? The customer's next message opens a new one."]
    expect(page.locator("#conv-state")).to_have_text("Active (with an agent)")
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ACTIVE
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Close for good").click()
    expect(page.locator("#conv-state")).to_have_text("Closed")
    expect(page.locator(".routing")).to_contain_text("force-closed by sue: duplicate of another request")
    conversation.refresh_from_db()
    assert (conversation.state, conversation.agent_id) == (ConversationState.CLOSED, tom.pk)
