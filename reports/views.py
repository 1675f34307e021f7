"""The report pages: a filter form, charts and tables; ``?export=<table>`` downloads a table as CSV."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.exceptions import ServiceError

from . import charts, figures
from .access import report_scope
from .csvexport import csv_response
from .forms import ReportFilterForm


@dataclass(frozen=True)
class ReportPage:
    slug: str
    title: Any
    description: Any
    fields: tuple[str, ...]
    build: Callable[..., dict[str, Any]]
    tables: tuple[str, ...]
    draw: Callable[[dict[str, Any]], list]


def _day_names(days) -> list[str]:
    return [d.strftime("%m-%d") for d in days]


def _conversation_charts(data: dict[str, Any]) -> list:
    days = data["days"]
    volume = charts.bar_chart(
        title=_("Conversations per day"), categories=_day_names(days), stacked=False, x_label=_("Day (month-day)"),
        y_label=_("Conversations"),
        series=[charts.Series(_("Opened"), [d["opened"] for d in data["per_day"]]),
                charts.Series(_("Resolved"), [d["resolved"] for d in data["per_day"]])])
    times = charts.hbar_chart(
        title=_("Conversation times (minutes)"), categories=[str(figures.SHORT_LABELS[key]) for key, *_rest in
                                                              data["measured"]],
        x_label=_("Minutes"), y_label=_("Measure"), unit=" min",
        series=[charts.Series(_("Median"), [_minutes(m[3]) for m in data["measured"]]),
                charts.Series(_("90th percentile"), [_minutes(m[4]) for m in data["measured"]])])
    return [volume, times]


def _minutes(value) -> float:
    return round(value.total_seconds() / 60, 1) if value is not None else 0


def _message_charts(data: dict[str, Any]) -> list:
    per_day = data["per_day"]
    return [charts.bar_chart(
        title=_("Outgoing messages per day, by outcome"), categories=_day_names(data["days"]),
        x_label=_("Day (month-day)"), y_label=_("Messages"),
        series=[charts.Series(_("Delivered"), [d["delivered"] for d in per_day], "#009E73"),
                charts.Series(_("Sent, no delivery report yet"), [d["sent"] for d in per_day], "#56B4E9"),
                charts.Series(_("Failed"), [d["failed"] for d in per_day], "#D55E00"),
                charts.Series(_("Queued or sending"), [d["pending"] for d in per_day], "#E69F00")]),
        charts.bar_chart(
        title=_("Incoming messages per day"), categories=_day_names(data["days"]), x_label=_("Day (month-day)"),
        y_label=_("Messages"), series=[charts.Series(_("Received"), [d["received"] for d in per_day], "#0072B2")])]


def _optout_charts(data: dict[str, Any]) -> list:
    return [charts.bar_chart(title=_("Opt-outs per day"), categories=_day_names(data["days"]),
                             x_label=_("Day (month-day)"), y_label=_("Opt-outs"),
                             series=[charts.Series(_("Opt-outs"), data["per_day"], "#CC79A7")])]


def _outbound_charts(data: dict[str, Any]) -> list:
    return [charts.hbar_chart(title=_("Outbound funnel"), categories=[label for label, _n in data["stages"]],
                              x_label=_("Contacts"), y_label=_("Stage"),
                              series=[charts.Series(_("Contacts"), [n for _label, n in data["stages"]])])]


PAGES = {page.slug: page for page in (
    ReportPage("conversations", gettext_lazy("Conversations"),
               gettext_lazy("Volume per day, resolution rate, and first-response, wait and handle times."),
               ("channel", "phone_number", "queue", "agent"), figures.conversations_report, ("daily", "times"),
               _conversation_charts),
    ReportPage("messages", gettext_lazy("Messages and delivery"),
               gettext_lazy("Messages received, sent, delivered and failed, per day, per provider and per error "
                            "code."),
               ("channel", "phone_number", "queue", "agent", "configuration"), figures.messages_report,
               ("daily", "providers", "errors"), _message_charts),
    ReportPage("opt-outs", gettext_lazy("Opt-outs"), gettext_lazy("Customers who opted out, per day and number."),
               ("channel", "phone_number"), figures.optouts_report, ("daily", "numbers"), _optout_charts),
    ReportPage("outbound", gettext_lazy("Outbound funnel"),
               gettext_lazy("Per configuration and batch: accepted → sent → delivered, failed or skipped with "
                            "reasons, and replies."),
               ("channel", "phone_number", "configuration"), figures.outbound_report,
               ("configurations", "batches", "reasons"), _outbound_charts),
)}


def _forbidden(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    return render(request, "reports/forbidden.html", {**admin.site.each_context(request), "title": _("Reports"),
                                                      "message": exc.message}, status=exc.http_status)


@staff_member_required(login_url="admin:login")
def report_index(request: HttpRequest) -> HttpResponse:
    try:
        report_scope(request.user)
    except ServiceError as exc:
        return _forbidden(request, exc)
    return render(request, "reports/index.html", {**admin.site.each_context(request), "title": _("Reports"),
                                                  "pages": PAGES.values()})


@staff_member_required(login_url="admin:login")
def report_page(request: HttpRequest, slug: str) -> HttpResponse:
    page = PAGES.get(slug)
    if page is None:
        raise Http404(_("There is no such report."))
    try:
        scope = report_scope(request.user)
    except ServiceError as exc:
        return _forbidden(request, exc)
    params = request.GET.copy()
    export = params.pop("export", [""])[-1]
    form = ReportFilterForm(params, scope=scope, fields=page.fields)
    context = {**admin.site.each_context(request), "title": page.title, "page": page, "form": form,
               "pages": PAGES.values(), "query": params.urlencode(), "scope": scope}
    if not form.is_valid():
        return render(request, "reports/report.html", context, status=400)
    filters = form.filters()
    data = page.build(filters, scope)
    if export:
        if export not in page.tables:
            return render(request, "reports/report.html", {
                **context, "export_error": _("There is no table “%(name)s” in this report; the tables are: "
                                             "%(names)s.") % {"name": export, "names": ", ".join(page.tables)}},
                status=400)
        table = data[export]
        return csv_response(filename=f"{page.slug}-{table.key}-{filters.start}-{filters.end}.csv",
                            header=table.columns, rows=table.rows)
    context.update(data=data, filters=filters, charts=page.draw(data), tables=[data[key] for key in page.tables])
    return render(request, "reports/report.html", context)
