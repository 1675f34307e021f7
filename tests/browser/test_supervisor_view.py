"""The supervisor view in a real browser at 1400 px: the queues' and agents' live figures are on screen
(each key cell's box inside the window), they update by themselves when a customer writes, and a supervisor
reassigns and force-closes from the view. A screenshot is kept in var/screenshots/."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from playwright.sync_api import expect

from tests.workstreams.conftest import supervisors_group
from workstreams.models import AgentProfile, Conversation, ConversationState

from .conftest import PASSWORD, customer_writes

SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"
WIDE = {"width": 1400, "height": 900}


def assert_on_screen(page, locator):
    """The element is shown and its whole box lies inside the window (no scrolling sideways to find it)."""
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (locator, box, width)


def test_a_supervisor_watches_queues_and_agents_live_and_acts(browser, hub, whatsapp_account, whatsapp_workstream,
                                                              support_queue, agent, django_user_model):
    sue = django_user_model.objects.create_user("sue", password=PASSWORD, first_name="Sue", is_staff=True)
    sue.groups.add(supervisors_group())
    support_queue.supervisors.add(sue)
    tom = django_user_model.objects.create_user("tom", password="x", first_name="Tom", is_staff=True)
    AgentProfile.objects.create(user=tom, presence="away", capacity=50)
    AgentProfile.objects.filter(user=agent).update(capacity=25)  # one conversation fills Ana: the next one waits
    support_queue.members.add(tom)
    served = customer_writes(whatsapp_account, "Where is my parcel?", name="Maria Fernández-Oliveira")
    Conversation.objects.filter(pk=served.pk).update(state=ConversationState.ACTIVE, agent=agent)

    context = browser.new_context(viewport=WIDE, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(hub.url + "/console/supervisor/")
        page.fill("#id_username", "sue")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(hub.url + "/console/supervisor/")

        queue_row = page.locator(f'tr.sup-queue[data-queue="{support_queue.pk}"]')
        expect(queue_row.locator(".sup-active")).to_have_text("1")
        expect(queue_row.locator(".sup-waiting")).to_have_text("0")
        for cell in (".sup-waiting", ".sup-active", ".sup-oldest", ".sup-sl"):
            assert_on_screen(page, queue_row.locator(cell))
        ana_row = page.locator(f'tr.sup-agent[data-agent="{agent.pk}"]')
        expect(ana_row.locator(".sup-presence")).to_contain_text("Available")
        expect(ana_row.locator(".sup-load")).to_contain_text("25 of 25 (100 %)")
        expect(ana_row.locator(".sup-current")).to_contain_text("Maria")
        expect(page.locator(f'tr.sup-agent[data-agent="{tom.pk}"] .sup-presence')).to_contain_text("Away")
        for cell in (".sup-presence", ".sup-load", ".sup-current"):
            assert_on_screen(page, ana_row.locator(cell))
        served_row = page.locator(f'tr.sup-conversation[data-conversation="{served.pk}"]')
        assert_on_screen(page, served_row.locator("summary", has_text="Force-close"))
        assert_on_screen(page, served_row.get_by_role("button", name="Reassign"))

        # A new customer writes: the board shows them waiting without a reload.
        waiting = customer_writes(whatsapp_account, "Hello?", sender="+15557654321", name="Kim")
        expect(queue_row.locator(".sup-waiting")).to_have_text("1")
        expect(page.locator(f'tr.sup-conversation[data-conversation="{waiting.pk}"]')).to_contain_text("Kim")
        expect(queue_row.locator(".sup-oldest time")).to_have_text("under a minute")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "supervisor-view-1400.png"), full_page=True)

        # Work is given only to Available or Busy agents: Tom comes back, Busy, and the board says so.
        AgentProfile.objects.filter(user=tom).update(presence="busy")
        expect(page.locator(f'tr.sup-agent[data-agent="{tom.pk}"] .sup-presence')).to_contain_text("Busy")
        served_row.locator("select[name=agent]").select_option(label="Tom (busy)")
        served_row.get_by_role("button", name="Reassign").click()
        expect(page.locator(".flash")).to_contain_text(f"Conversation #{served.pk} reassigned to Tom.")
        expect(page.locator(f'tr.sup-agent[data-agent="{tom.pk}"] .sup-current')).to_contain_text("Maria")

        waiting_row = page.locator(f'tr.sup-conversation[data-conversation="{waiting.pk}"]')
        waiting_row.locator("summary", has_text="Force-close").click()
        waiting_row.locator("input[name=reason]").fill("test message")
        page.once("dialog", lambda dialog: dialog.accept())
        waiting_row.get_by_role("button", name="Close for good").click()
        expect(page.locator(".flash")).to_contain_text(f"Conversation #{waiting.pk} is closed.")
        expect(page.locator(f'tr.sup-conversation[data-conversation="{waiting.pk}"]')).to_have_count(0)
        expect(queue_row.locator(".sup-waiting")).to_have_text("0")
    finally:
        context.close()
    assert not errors, errors
    assert Conversation.objects.get(pk=waiting.pk).state == ConversationState.CLOSED
    assert Conversation.objects.get(pk=served.pk).agent_id == tom.pk
