"""The reports' figures, computed by the database: counts grouped by day or dimension, and the median and 90th
percentile of conversation times (``percentile_cont`` on PostgreSQL; elsewhere the same interpolation from the
one or two rows around each percentile, read in order with LIMIT/OFFSET)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_app.models import ConsentRecord, ConsentState, MessageStatus, PhoneNumber
from outbound.models import OutboundBatch, OutboundConfiguration, RecipientState
from workstreams.models import Conversation, Queue

from .access import ReportScope
from .facts import Where, conversation_live_rows, message_counts, outbound_counts, rolled_days
from .histogram import bucket_of, histogram_percentiles
from .models import ConversationDaily, ConversationTimeDaily
from .periods import days_between, time_filter


@dataclass(frozen=True)
class ReportFilters:
    start: date
    end: date
    channel: str = ""
    phone_number_id: int | None = None
    queue_id: int | None = None
    agent_id: int | None = None
    configuration_id: int | None = None


@dataclass
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    #: Columns holding numbers (right-aligned on the page).
    numeric: set[int] = field(default_factory=set)


# --- Percentiles -------------------------------------------------------------------------------


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``; NULLs are left out."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("A percentile is a fraction from 0 to 1.")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def duration(end: str, start: str) -> ExpressionWrapper:
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


def percentiles(queryset, expression, fractions: tuple[float, ...] = (0.5, 0.9)) -> tuple[int, list[timedelta | None]]:
    """How many rows have a value, and the continuous percentiles of ``expression`` (a duration) over them."""
    queryset = queryset.annotate(measure=expression).filter(measure__isnull=False)
    if connection.vendor == "postgresql":
        found = queryset.aggregate(n=Count("pk"), **{f"p{i}": PercentileCont(F("measure"), p,
                                                                              output_field=DurationField())
                                                     for i, p in enumerate(fractions)})
        return found["n"], [found[f"p{i}"] for i in range(len(fractions))]
    n = queryset.count()
    ordered = queryset.order_by("measure").values_list("measure", flat=True)
    results: list[timedelta | None] = []
    for p in fractions:
        if not n:
            results.append(None)
            continue
        k = p * (n - 1)
        low = math.floor(k)
        values = list(ordered[low:low + 2])
        if len(values) == 1 or k == low:
            results.append(values[0])
        else:
            results.append(values[0] + (values[1] - values[0]) * (k - low))
    return n, results


def humanize_duration(value: timedelta | None) -> str:
    """e.g. 45 s, 12 min 5 s, 3 h 20 min, 2 d 4 h."""
    if value is None:
        return "—"
    seconds = round(value.total_seconds())
    if seconds < 60:
        return _("%(s)d s") % {"s": seconds}
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return _("%(m)d min %(s)d s") % {"m": minutes, "s": seconds}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    days, hours = divmod(hours, 24)
    return _("%(d)d d %(h)d h") % {"d": days, "h": hours}


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _day_labels(filters: ReportFilters) -> list[date]:
    return days_between(filters.start, filters.end)


# --- Names --------------------------------------------------------------------------------------


def number_labels(ids) -> dict[Any, str]:
    return {p.pk: str(p) for p in PhoneNumber.objects.filter(pk__in=[i for i in ids if i not in (None, "")])}


def queue_labels(ids) -> dict[Any, str]:
    return dict(Queue.objects.filter(pk__in=[i for i in ids if i not in (None, "")]).values_list("pk", "name"))


def agent_labels(ids) -> dict[Any, str]:
    users = get_user_model().objects.filter(pk__in=[i for i in ids if i not in (None, "")])
    return {u.pk: u.get_full_name() or u.get_username() for u in users}


def configuration_labels(ids) -> dict[Any, str]:
    return dict(OutboundConfiguration.objects.filter(pk__in=[i for i in ids if i not in (None, "")])
                .values_list("pk", "name"))


def batch_labels(ids) -> dict[Any, str]:
    return {b.pk: str(b) for b in OutboundBatch.objects.filter(pk__in=[i for i in ids if i not in (None, "")])}


# --- Conversations ----------------------------------------------------------------------------


TIME_MEASURES = (
    ("first_response", gettext_lazy("First response (opened → an agent's first answer)"),
     "first_response_at", "created_at"),
    ("wait", gettext_lazy("Wait (in the queue → first given to an agent)"), "first_assigned_at", "first_queued_at"),
    ("handle", gettext_lazy("Handle (first given to an agent → ended)"), "ended_at", "first_assigned_at"),
)
#: The measures' names on the chart's axis (the table says what each measures).
SHORT_LABELS = {"first_response": gettext_lazy("First response"), "wait": gettext_lazy("Wait"),
                "handle": gettext_lazy("Handle")}


def conversation_where(filters: ReportFilters, scope: ReportScope) -> Where:
    return Where(equals={"channel": filters.channel, "phone_number_id": filters.phone_number_id,
                         "queue_id": filters.queue_id, "agent_id": filters.agent_id},
                 any_of=scope.conversations())


def conversations_report(filters: ReportFilters, scope: ReportScope) -> dict[str, Any]:
    """Counts per day and times: rolled-up days from the roll-ups (times from their histograms), the other days
    from the conversation table; with no rolled-up day at all, exact percentiles by the database."""
    where = conversation_where(filters, scope)
    days = _day_labels(filters)
    rolled = rolled_days(days)
    live_days = [d for d in days if d not in rolled]
    span = time_filter("created_at", live_days)
    live = Conversation.objects.filter(span, where.q()) if span is not None else Conversation.objects.none()
    empty = {"opened": 0, "ended": 0, "resolved": 0}
    per_day: dict[date, dict[str, int]] = {}
    if span is not None:
        for row in (live.annotate(day=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))
                    .values("day").annotate(opened=Count("pk"), ended=Count("pk", filter=Q(ended_at__isnull=False)),
                                            resolved=Count("pk", filter=Q(resolved=True))).order_by()):
            per_day[row["day"]] = row
    if rolled:
        for row in (ConversationDaily.objects.filter(where.q(), day__in=sorted(rolled)).values("day")
                    .annotate(opened=Sum("opened"), ended=Sum("ended"), resolved=Sum("resolved")).order_by()):
            per_day[row["day"]] = row
    daily = Table("daily", _("Conversations per day"),
                  [_("Day"), _("Opened"), _("Ended"), _("Resolved"), _("Resolution rate (%)")], numeric={1, 2, 3, 4})
    totals = dict(empty)
    for day in days:
        row = per_day.get(day, empty)
        for key in totals:
            totals[key] += row[key]
        daily.rows.append([day.isoformat(), row["opened"], row["ended"], row["resolved"],
                           _rate(row["resolved"], row["ended"])])
    times = Table("times", _("Conversation times"),
                  [_("Measure"), _("Conversations"), _("Median"), _("90th percentile"), _("Median (seconds)"),
                   _("90th percentile (seconds)")], numeric={1, 4, 5})
    found = _rolled_times(rolled, live, where) if rolled else {
        key: percentiles(live, duration(end, start)) for key, _label, end, start in TIME_MEASURES}
    measured = []
    for key, label, _end, _start in TIME_MEASURES:
        n, (median, p90) = found[key]
        measured.append((key, str(label), n, median, p90))
        times.rows.append([str(label), n, humanize_duration(median), humanize_duration(p90),
                           _seconds(median), _seconds(p90)])
    return {"daily": daily, "times": times, "totals": totals, "measured": measured, "days": days,
            "per_day": [per_day.get(d, empty) for d in days], "exact_times": not rolled,
            "resolution_rate": _rate(totals["resolved"], totals["ended"])}


def _rolled_times(rolled: set[date], live, where: Where) -> dict[str, tuple[int, list]]:
    """Histograms of the rolled-up days, plus the live days' conversations put into the same buckets."""
    buckets: dict[str, list[tuple[int, int, float]]] = {key: [] for key, *_rest in TIME_MEASURES}
    for row in (ConversationTimeDaily.objects.filter(where.q(), day__in=sorted(rolled))
                .values("measure", "bucket").annotate(n=Sum("count"), total=Sum("seconds")).order_by()):
        buckets[row["measure"]].append((row["bucket"], row["n"], row["total"]))
    for _dims, _ended, _resolved, measures in conversation_live_rows(live):
        for key, value in measures.items():
            if value is not None:
                buckets[key].append((bucket_of(value.total_seconds()), 1, value.total_seconds()))
    return {key: histogram_percentiles(values) for key, values in buckets.items()}


def _seconds(value: timedelta | None) -> float | None:
    return round(value.total_seconds(), 1) if value is not None else None


# --- Messages ---------------------------------------------------------------------------------

DELIVERED = {MessageStatus.DELIVERED, MessageStatus.READ}
FAILED = {MessageStatus.FAILED, MessageStatus.UNDELIVERED}
AWAITING = {MessageStatus.SENT}
PENDING = {MessageStatus.QUEUED, MessageStatus.SENDING}


def message_bucket(status: str) -> str:
    if status in DELIVERED:
        return "delivered"
    if status in FAILED:
        return "failed"
    if status in AWAITING:
        return "sent"
    if status in PENDING:
        return "pending"
    return "received"


def message_where(filters: ReportFilters, scope: ReportScope) -> Where:
    return Where(equals={"channel": filters.channel, "phone_number_id": filters.phone_number_id,
                         "queue_id": filters.queue_id, "agent_id": filters.agent_id,
                         "configuration_id": filters.configuration_id},
                 any_of=scope.messages())


def messages_report(filters: ReportFilters, scope: ReportScope) -> dict[str, Any]:
    from channels_app.providers import provider_label

    where = message_where(filters, scope)
    days = _day_labels(filters)
    buckets = ("delivered", "sent", "failed", "pending")
    per_day = {d: dict.fromkeys((*buckets, "received"), 0) for d in days}
    for row in message_counts(start=filters.start, end=filters.end, by=("day", "direction", "status"), where=where):
        if row["day"] in per_day:
            per_day[row["day"]][message_bucket(row["status"])] += row["count"]
    daily = Table("daily", _("Messages per day"),
                  [_("Day"), _("Received"), _("Delivered"), _("Sent, no delivery report yet"), _("Failed"),
                   _("Queued or sending")], numeric={1, 2, 3, 4, 5})
    for d in days:
        c = per_day[d]
        daily.rows.append([d.isoformat(), c["received"], c["delivered"], c["sent"], c["failed"], c["pending"]])

    providers: dict[str, dict[str, int]] = {}
    for row in message_counts(start=filters.start, end=filters.end, by=("provider", "status"), where=where):
        counts = providers.setdefault(row["provider"], dict.fromkeys((*buckets, "received"), 0))
        counts[message_bucket(row["status"])] += row["count"]
    by_provider = Table("providers", _("Messages per provider"),
                        [_("Provider"), _("Received"), _("Sent to the provider"), _("Delivered"),
                         _("Sent, no delivery report yet"), _("Failed"), _("Queued or sending"),
                         _("Delivered (%)")], numeric={1, 2, 3, 4, 5, 6, 7})
    for provider, c in sorted(providers.items()):
        outgoing = c["delivered"] + c["sent"] + c["failed"]
        by_provider.rows.append([provider_label(provider), c["received"], outgoing, c["delivered"], c["sent"],
                                 c["failed"], c["pending"], _rate(c["delivered"], outgoing)])

    errors = Table("errors", _("Failures per provider and error code"),
                   [_("Provider"), _("Error code"), _("Messages")], numeric={2})
    failed_rows = [r for r in message_counts(start=filters.start, end=filters.end,
                                             by=("provider", "status", "error_code"), where=where)
                   if r["status"] in FAILED]
    codes: dict[tuple[str, str], int] = {}
    for row in failed_rows:
        key = (row["provider"], row["error_code"] or "")
        codes[key] = codes.get(key, 0) + row["count"]
    for (provider, code), count in sorted(codes.items(), key=lambda item: -item[1]):
        errors.rows.append([provider_label(provider), code or _("(none given)"), count])
    return {"daily": daily, "providers": by_provider, "errors": errors, "days": days,
            "per_day": [per_day[d] for d in days]}


# --- Opt-outs ---------------------------------------------------------------------------------


def optouts_report(filters: ReportFilters, scope: ReportScope) -> dict[str, Any]:
    where = Where(equals={"phone_number__channel": filters.channel, "phone_number_id": filters.phone_number_id},
                  any_of=scope.numbers())
    queryset = ConsentRecord.objects.filter(time_filter("created_at", _day_labels(filters)), where.q(),
                                            state=ConsentState.OPTED_OUT)
    days = _day_labels(filters)
    per_day = dict.fromkeys(days, 0)
    for row in (queryset.annotate(day=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))
                .values("day").annotate(n=Count("pk")).order_by()):
        per_day[row["day"]] = row["n"]
    daily = Table("daily", _("Opt-outs per day"), [_("Day"), _("Opt-outs")], numeric={1})
    daily.rows = [[d.isoformat(), per_day[d]] for d in days]
    rows = list(queryset.values("phone_number_id", "source").annotate(n=Count("pk")).order_by("-n"))
    names = number_labels({r["phone_number_id"] for r in rows})
    by_number = Table("numbers", _("Opt-outs per number and source"), [_("Number"), _("Source"), _("Opt-outs")],
                      numeric={2})
    by_number.rows = [[names.get(r["phone_number_id"], r["phone_number_id"]), r["source"], r["n"]] for r in rows]
    return {"daily": daily, "numbers": by_number, "days": days, "per_day": [per_day[d] for d in days],
            "total": sum(per_day.values())}


# --- Outbound funnel --------------------------------------------------------------------------

SENT_STATUSES = {MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.UNDELIVERED}
STAGES = ("accepted", "sent", "delivered", "failed", "skipped", "pending", "replied")


def funnel_stage_counts(rows) -> dict[str, int]:
    """Stages from recipient rows (state, message_status, count, replied): accepted → sent → delivered, and the
    ones that failed, were skipped or are still pending; replies."""
    c = dict.fromkeys(STAGES, 0)
    for row in rows:
        n, state, status = row["count"], row["state"], row.get("message_status") or ""
        c["accepted"] += n
        c["replied"] += row["replied"]
        if state == RecipientState.SKIPPED:
            c["skipped"] += n
        elif state == RecipientState.REJECTED:
            c["failed"] += n
        elif state == RecipientState.PENDING or status in PENDING or not status:
            c["pending"] += n
        else:
            if status in SENT_STATUSES:
                c["sent"] += n
            if status in DELIVERED:
                c["delivered"] += n
            if status in FAILED:
                c["failed"] += n
    return c


def stage_labels() -> dict[str, str]:
    return {"accepted": _("Accepted"), "sent": _("Sent"), "delivered": _("Delivered"),
            "failed": _("Failed"), "skipped": _("Skipped"), "pending": _("Not sent yet"), "replied": _("Replied")}


def outbound_report(filters: ReportFilters, scope: ReportScope) -> dict[str, Any]:
    where = Where(equals={"configuration_id": filters.configuration_id, "channel": filters.channel,
                          "phone_number_id": filters.phone_number_id}, any_of=scope.numbers())
    labels = stage_labels()
    rows = outbound_counts(start=filters.start, end=filters.end,
                           by=("configuration_id", "batch_id", "state", "message_status"), where=where)
    total = funnel_stage_counts(rows)
    per_configuration: dict[Any, list] = {}
    per_batch: dict[tuple, list] = {}
    for row in rows:
        per_configuration.setdefault(row["configuration_id"], []).append(row)
        if row["batch_id"] not in (None, ""):
            per_batch.setdefault((row["configuration_id"], row["batch_id"]), []).append(row)
    config_names = configuration_labels(per_configuration)
    batch_names = batch_labels({b for _c, b in per_batch})
    stage_columns = [labels[s] for s in STAGES]
    configurations = Table("configurations", _("Funnel per outbound configuration"),
                           [_("Outbound configuration"), *stage_columns, _("Delivered (%)")],
                           numeric=set(range(1, len(STAGES) + 2)))
    for config_id, group in sorted(per_configuration.items(), key=lambda item: config_names.get(item[0], "")):
        c = funnel_stage_counts(group)
        configurations.rows.append([config_names.get(config_id, config_id), *(c[s] for s in STAGES),
                                    _rate(c["delivered"], c["accepted"])])
    batches = Table("batches", _("Funnel per batch"),
                    [_("Batch"), _("Outbound configuration"), *stage_columns, _("Delivered (%)")],
                    numeric=set(range(2, len(STAGES) + 3)))
    for (config_id, batch_id), group in sorted(per_batch.items(), key=lambda item: -int(item[0][1])):
        c = funnel_stage_counts(group)
        batches.rows.append([batch_names.get(batch_id, batch_id), config_names.get(config_id, config_id),
                             *(c[s] for s in STAGES), _rate(c["delivered"], c["accepted"])])
    reasons = Table("reasons", _("Why contacts were skipped or failed"),
                    [_("Outcome"), _("Code"), _("Contacts")], numeric={2})
    found: dict[tuple[str, str], int] = {}
    for row in outbound_counts(start=filters.start, end=filters.end,
                               by=("state", "reason_code", "message_status", "error_code"), where=where):
        if row["state"] == RecipientState.SKIPPED:
            key = (labels["skipped"], row["reason_code"])
        elif row["state"] == RecipientState.REJECTED:
            key = (_("Not sent (failed before sending)"), row["reason_code"])
        elif row["message_status"] in FAILED:
            key = (_("Failed at the provider"), row["error_code"])
        else:
            continue
        found[key] = found.get(key, 0) + row["count"]
    for (outcome, code), count in sorted(found.items(), key=lambda item: -item[1]):
        reasons.rows.append([outcome, code or _("(none given)"), count])
    return {"total": total, "stages": [(labels[s], total[s]) for s in STAGES], "configurations": configurations,
            "batches": batches, "reasons": reasons}

