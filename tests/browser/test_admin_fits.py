"""The admin at 1400 px: the lists a newcomer reads first show their key columns inside the window (each key
cell's box is within the viewport, so nothing needs scrolling sideways), long text is cut with the whole of it
on hover, and the account pages do not overflow. A screenshot of each is kept in var/screenshots/."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from channels_app.models import Channel, Direction, EventState, InboundEvent, Message, MessageStatus
from channels_app.services import NumberSpec, account_create
from channels_app.services.inbound import contact_for
from outbound.services.batches import outbound_batch_create
from tests.conftest import TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID
from tests.outbound.conftest import make_configuration
from workstreams.models import Conversation, ConversationState

from .conftest import PASSWORD, customer_writes

SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"
WIDE = {"width": 1400, "height": 900}
LONG_TEXT = ("Hello, I ordered a blue winter jacket in size M three weeks ago (order A-17342) and the tracking page "
             "still says it is waiting at the depot; could someone please tell me when it will arrive?")
LONG_ERROR = ("Signature check failed: the X-Twilio-Signature header does not match the request as received at "
              "https://hub.example.com/webhooks/twilio/abcdef/inbound/ — check PUBLIC_BASE_URL and the proxy headers.")


@pytest.fixture
def wide(browser):
    context = browser.new_context(viewport=WIDE, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors


@pytest.fixture
def seeded(transactional_db, whatsapp_account, whatsapp_workstream, agent, django_user_model):
    """A month's worth of the usual things, with long names and texts."""
    telesign = account_create(
        name="TeleSign SMS for the customer service department (United States)", channel=Channel.SMS,
        provider="telesign", credentials={"customer_id": TELESIGN_CUSTOMER_ID, "api_key": TELESIGN_API_KEY},
        numbers=[NumberSpec(number="14252306549", number_type="geographic", description="Support line")])
    phone = telesign.numbers.get()
    contact = contact_for("+15551234567", display_name="Maria Fernández-Oliveira de los Santos")
    for n in range(3):
        Message.objects.create(
            account=telesign, phone_number=phone, contact=contact, provider="telesign", channel=Channel.SMS,
            direction=Direction.OUTBOUND, body=LONG_TEXT, status=MessageStatus.FAILED, error_code="10004",
            provider_message_id=f"TS{uuid.uuid4().hex}", status_updated_at=timezone.now())
    conversation = customer_writes(whatsapp_account, LONG_TEXT, name="Maria Fernández-Oliveira de los Santos")
    Conversation.objects.filter(pk=conversation.pk).update(state=ConversationState.ACTIVE, agent=agent)
    InboundEvent.objects.create(account=telesign, kind="inbound", event_key=uuid.uuid4().hex * 2,
                                url="https://hub.example.com/webhooks/telesign/" + "x" * 40 + "/",
                                state=EventState.FAILED, attempts=5, error=LONG_ERROR)
    configuration = make_configuration(whatsapp_account, name="Parcel delayed notice (WhatsApp, all regions)")
    configuration.channel_type = Channel.WHATSAPP
    configuration.save()
    outbound_batch_create(configuration=configuration, source="admin", name="customers-with-late-parcels-2026-11.csv",
                          contacts=[{"tocontactid": f"+1555000{n:04d}", "channelid": "whatsapp", "optin": "true"}
                                    for n in range(3)])
    django_user_model.objects.create_superuser("lea", password=PASSWORD, first_name="Lea")
    return {"telesign": telesign, "conversation": conversation}


def sign_in(page, hub, path):
    page.goto(hub.url + path)
    page.fill("#id_username", "lea")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(hub.url + path)


def inside(page, selector):
    """The first element matching ``selector`` is shown with its whole box inside the window and inside the
    list's own scrolling area (a column scrolled out of a narrower box is not visible either)."""
    locator = page.locator(selector).first
    assert locator.is_visible(), selector
    box = locator.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDE["width"], (selector, box)
    clip = locator.evaluate("""el => { const area = el.closest('.results') || document.body;
                                      const r = area.getBoundingClientRect();
                                      return {left: r.left, right: r.right, scrolls: area.scrollWidth > area.clientWidth}; }""")
    assert not clip["scrolls"], f"{selector}: the list scrolls sideways"
    assert clip["left"] <= box["x"] and box["x"] + box["width"] <= clip["right"] + 0.5, (selector, box, clip)
    return locator


def no_sideways_scroll(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDE["width"], f"the page is {width} px wide"


LISTS = [
    ("messages", "/admin/channels_app/message/", ["created", "direction", "contact_short", "short_body",
                                                   "status_badge", "error_code"]),
    ("conversations", "/admin/workstreams/conversation/", ["contact_short", "state_badge", "queue", "agent",
                                                           "last_activity"]),
    ("inbound-events", "/admin/channels_app/inboundevent/", ["received", "account_short", "state", "short_error"]),
    ("outbound-batches", "/admin/outbound/outboundbatch/", ["batch_name", "configuration_short", "state",
                                                            "list_progress"]),
    ("accounts", "/admin/channels_app/messagingaccount/", ["name_short", "channel", "provider", "validation_badge",
                                                           "number_count"]),
]


@pytest.mark.parametrize("name, path, columns", LISTS, ids=[item[0] for item in LISTS])
def test_the_lists_key_columns_are_inside_the_window(wide, hub, seeded, name, path, columns):
    sign_in(wide, hub, path)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    wide.screenshot(path=str(SCREENSHOTS / f"admin-{name}-1400.png"), full_page=True)
    for column in columns:
        inside(wide, f"#result_list thead th.column-{column}")
        inside(wide, f"#result_list tbody tr:first-child .field-{column}")
    no_sideways_scroll(wide)


def test_long_text_is_cut_with_the_whole_of_it_on_hover(wide, hub, seeded):
    sign_in(wide, hub, "/admin/channels_app/message/")
    cell = wide.locator("#result_list tbody tr:first-child .field-short_body span")
    assert cell.get_attribute("title") == LONG_TEXT
    assert cell.inner_text().endswith("…") and len(cell.inner_text()) < 50
    moment = wide.locator("#result_list tbody tr:first-child .field-created time")
    assert moment.inner_text().startswith("today ")  # not an ISO timestamp
    assert moment.get_attribute("title")  # the full date and time on hover


def test_the_account_pages_fit_and_warn_about_unreachable_callback_urls(wide, hub, seeded, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"  # what a laptop install has
    account = seeded["telesign"]
    sign_in(wide, hub, f"/admin/channels_app/messagingaccount/{account.pk}/change/")
    warning = wide.locator("#callback-url-warning")
    assert "Providers cannot reach these URLs." in warning.inner_text()
    assert "loopback address" in warning.inner_text() and "plain http" in warning.inner_text()
    wide.screenshot(path=str(SCREENSHOTS / "admin-account-change-1400.png"), full_page=True)
    no_sideways_scroll(wide)
    inside(wide, "#callback-url-callback")

    wide.goto(hub.url + "/admin/channels_app/messagingaccount/add/")
    no_sideways_scroll(wide)
    wide.select_option("#id_provider", "telesign")
    assert wide.locator(".form-row.field-customer_id").is_visible()
    assert wide.locator(".form-row.field-api_key").is_visible()
    assert not wide.locator(".form-row.field-account_sid").is_visible()  # Twilio's
    wide.select_option("#id_provider", "twilio")
    assert wide.locator(".form-row.field-account_sid").is_visible()
    assert not wide.locator(".form-row.field-customer_id").is_visible()
    wide.screenshot(path=str(SCREENSHOTS / "admin-account-add-1400.png"), full_page=True)


def test_view_site_leads_to_the_console(wide, hub, seeded):
    sign_in(wide, hub, "/admin/")
    wide.locator("#user-tools").get_by_role("link", name="Agent console").click()
    wide.wait_for_url(hub.url + "/console/")
    assert "404" not in wide.title()
