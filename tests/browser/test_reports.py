"""The reports in a real browser at 1400 px, over a seeded month: each page's charts (SVG drawn by the server,
with their hover titles), figures and tables; a CSV download; a contact's data exported from the admin.
Screenshots are kept in var/screenshots/."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from channels_app.models import Contact
from tests.reports.world import DAYS, seed_month

from .conftest import PASSWORD

SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"
WIDE = {"width": 1400, "height": 900}


@pytest.fixture
def month(transactional_db, django_user_model):
    return seed_month(django_user_model)


@pytest.fixture
def wide_page(browser):
    context = browser.new_context(viewport=WIDE, locale="en-US", accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def signed_in(wide_page, live_server, django_user_model):
    django_user_model.objects.create_superuser("boss", password=PASSWORD)

    def _open(path: str):
        wide_page.goto(live_server.url + path)
        if "/admin/login/" in wide_page.url:
            wide_page.fill("#id_username", "boss")
            wide_page.fill("#id_password", PASSWORD)
            wide_page.click("input[type=submit]")
        return wide_page

    return _open


def fits(page, selector: str) -> None:
    """The element is not cut off at 1400 px: no horizontal scrolling needed to see it."""
    box = page.locator(selector).first.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDE["width"], (selector, box)


def test_each_report_over_a_seeded_month(signed_in, live_server, month):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    period = f"?start={month.first_day}&end={month.last_day}"
    page = signed_in("/reports/")
    expect(page.get_by_role("link", name="Outbound funnel")).to_be_visible()

    page = signed_in("/reports/conversations/" + period)
    expect(page.locator("#report-figures")).to_contain_text(f"Opened{4 * DAYS}")
    expect(page.locator("#report-figures")).to_contain_text("75.0 %")
    chart = page.locator("svg.chart").first
    expect(chart).to_have_attribute("role", "img")
    expect(chart.locator("title").first).to_have_text("Conversations per day")
    expect(chart.locator("text.axis-label")).to_have_text(["Day (month-day)", "Conversations"])
    # Every bar says its value on hover.
    expect(chart.locator(f"rect.bar >> title:text-is('{month.last_day:%m-%d} — Opened: 4')")).to_have_count(1)
    expect(page.locator("#table-times")).to_contain_text("3 min 30 s")
    fits(page, "svg.chart")
    fits(page, "#table-times table")
    page.screenshot(path=str(SCREENSHOTS / "report-conversations.png"), full_page=True)

    page = signed_in("/reports/messages/" + period)
    expect(page.locator("#table-providers")).to_contain_text("Twilio")
    expect(page.locator("#table-errors")).to_contain_text("30003")
    bars = page.locator("svg.chart").first.locator("rect.bar >> title")
    expect(bars.filter(has_text=f"{month.last_day:%m-%d} — Delivered: 3")).to_have_count(1)
    fits(page, "#table-providers table")
    page.screenshot(path=str(SCREENSHOTS / "report-messages.png"), full_page=True)

    page = signed_in("/reports/opt-outs/" + period)
    expect(page.locator("#report-figures")).to_contain_text(f"Opt-outs{DAYS // 5}")
    page.screenshot(path=str(SCREENSHOTS / "report-opt-outs.png"), full_page=True)

    page = signed_in("/reports/outbound/" + period)
    expect(page.locator("svg.chart title").first).to_have_text("Outbound funnel")
    expect(page.locator("svg.chart rect.bar >> title").first).to_have_text(f"Accepted — Contacts: {4 * DAYS}")
    expect(page.locator("#table-batches")).to_contain_text("November list")
    expect(page.locator("#table-reasons")).to_contain_text("invalid_number")
    fits(page, "#table-configurations table")
    page.screenshot(path=str(SCREENSHOTS / "report-outbound.png"), full_page=True)

    # Filtering by queue through the form, then downloading the table as CSV.
    page = signed_in("/reports/conversations/" + period)
    page.select_option("#id_queue", label="Billing")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#report-figures")).to_contain_text(f"Opened{DAYS}")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download “Conversations per day” as CSV").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert rows[0][:2] == ["Day", "Opened"] and rows[1][1] == "1" and len(rows) == DAYS + 1


def test_a_contacts_data_exported_from_the_admin(signed_in, month):
    contact = Contact.objects.get(address="+15550000000")
    page = signed_in(f"/admin/channels_app/contact/{contact.pk}/change/")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "contact-export.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Export data (zip)").click()
    assert download.value.suggested_filename.startswith(f"contact-{contact.pk}-")
    archive = zipfile.ZipFile(download.value.path())
    data = json.loads(archive.read("contact.json"))
    assert data["contact"]["address"] == "+15550000000"
    assert [m["body"] for m in data["messages"]] == ["Where is parcel 0-0?", "It left the depot, 0-0."]
    assert data["consent"][0]["state"] == "opted_out"

    page.get_by_role("link", name="Erase data…").click()
    page.fill("#confirm", "+15550000000")
    page.get_by_role("button", name="Erase for good").click()
    expect(page.locator(".messagelist")).to_contain_text("was erased")
    expect(page.locator("#contact-erased")).to_be_visible()
    assert set(contact.messages.values_list("body", flat=True)) == {""}
