"""Roll up days of messages and outbound recipients for the reports (beat does the last few days itself)."""

from __future__ import annotations

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from reports.periods import days_between, today
from reports.services import reports_rollup


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(_("'%(value)s' is not a date like 2026-11-30.") % {"value": value}) from None


class Command(BaseCommand):
    help = "Count days of messages and outbound recipients into the reports' daily roll-ups."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", help="First day (YYYY-MM-DD). Default: --days ago.")
        parser.add_argument("--to", dest="end", help="Last day (YYYY-MM-DD). Default: yesterday.")
        parser.add_argument("--days", type=int, default=31, help="Without --from: this many days up to --to.")

    def handle(self, *args, start=None, end=None, days=31, **options):
        if days < 1:
            raise CommandError(_("--days must be at least 1."))
        last = _date(end) if end else today() - timedelta(days=1)
        first = _date(start) if start else last - timedelta(days=days - 1)
        if first > last:
            raise CommandError(_("--from (%(first)s) is after --to (%(last)s).") % {"first": first, "last": last})
        if last >= today():
            raise CommandError(_("Today is not over: roll up days up to yesterday (%(day)s); the reports count "
                                 "today from the live tables.") % {"day": today() - timedelta(days=1)})
        done = reports_rollup(days=days_between(first, last))
        total = sum(done.values())
        self.stdout.write(_("Rolled up %(days)d day(s) from %(first)s to %(last)s: %(messages)d message(s).")
                          % {"days": len(done), "first": first, "last": last, "messages": total})
