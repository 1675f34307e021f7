"""The report pages: who may open them, filters, charts and CSV downloads."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Permission

from reports.csvexport import csv_safe

from .world import DAYS

PAGES = ["conversations", "messages", "opt-outs", "outbound"]


def read_csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


@pytest.mark.parametrize("slug", PAGES)
def test_each_report_renders_its_charts_and_tables(client, world, report_admin, slug):
    client.force_login(report_admin)
    response = client.get(f"/reports/{slug}/", {"start": world.first_day, "end": world.last_day})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<svg class="chart"') >= 1
    assert 'role="img"' in html and "<title" in html and "<desc" in html
    assert "cdn" not in html.lower() and "<script src=\"http" not in html


def test_the_conversation_report_shows_the_month(client, world, report_admin):
    client.force_login(report_admin)
    response = client.get("/reports/conversations/", {"start": world.first_day, "end": world.last_day})
    html = response.content.decode()
    assert f"<strong>{4 * DAYS}</strong>" in html and "75.0 %" in html
    assert "3 min 30 s" in html  # the median first response
    assert f"<title>{world.last_day:%m-%d} — Opened: 4</title>" in html


def test_csv_export_of_a_table(client, world, report_admin):
    client.force_login(report_admin)
    response = client.get("/reports/conversations/", {"start": world.first_day, "end": world.last_day,
                                                       "export": "daily"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"conversations-daily-{world.first_day}-{world.last_day}.csv" in response["Content-Disposition"]
    rows = read_csv(response)
    assert rows[0] == ["Day", "Opened", "Ended", "Resolved", "Resolution rate (%)"]
    assert rows[1] == [world.first_day.isoformat(), "4", "4", "3", "75.0"]
    assert len(rows) == DAYS + 1


def test_csv_cells_that_a_spreadsheet_would_run_are_defused(client, world, report_admin):
    from outbound.models import OutboundConfiguration

    OutboundConfiguration.objects.filter(pk=world.configuration.pk).update(name="=HYPERLINK(\"http://x\")")
    assert csv_safe("+1 555") == "'+1 555" and csv_safe("@sum") == "'@sum" and csv_safe(-3) == -3
    client.force_login(report_admin)
    response = client.get("/reports/outbound/", {"start": world.first_day, "end": world.last_day,
                                                  "export": "configurations"})
    assert read_csv(response)[1][0] == "'=HYPERLINK(\"http://x\")"


def test_unknown_table_and_bad_filters_say_what_is_wrong(client, world, report_admin):
    client.force_login(report_admin)
    response = client.get("/reports/messages/", {"export": "nope"})
    assert response.status_code == 400
    assert "There is no table “nope” in this report" in response.content.decode()
    response = client.get("/reports/messages/", {"start": "2026-11-30", "end": "2026-11-01"})
    assert response.status_code == 400
    assert "is after the last" in response.content.decode()
    response = client.get("/reports/messages/", {"start": "yesterday"})
    assert response.status_code == 400 and "Enter a valid date" in response.content.decode()
    response = client.get("/reports/messages/", {"queue": "999999"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert client.get("/reports/nothing-here/").status_code == 404


def test_who_may_open_the_reports(client, world, django_user_model, supervisor):
    assert client.get("/reports/").status_code == 302  # anonymous: to the sign-in page
    staff = django_user_model.objects.create_user("sam", password="pw", is_staff=True)
    client.force_login(staff)
    response = client.get("/reports/conversations/")
    assert response.status_code == 403 and "Can view reports" in response.content.decode()
    staff.user_permissions.add(Permission.objects.get(codename="view_reports"))
    staff = django_user_model.objects.get(pk=staff.pk)
    client.force_login(staff)
    response = client.get("/reports/conversations/")
    assert response.status_code == 403 and "you supervise none" in response.content.decode()
    client.force_login(supervisor)
    response = client.get("/reports/conversations/", {"start": world.first_day, "end": world.last_day})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Only the queues and workstreams you supervise are counted." in html
    assert f"<strong>{3 * DAYS}</strong>" in html
    # A supervisor is offered only their queues, and a queue of someone else's is refused.
    assert "Billing" not in html.split('id="report-filters"')[1].split("</form>")[0]
    assert client.get("/reports/conversations/", {"queue": world.billing.pk}).status_code == 400
