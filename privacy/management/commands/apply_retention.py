"""Apply the retention settings now, slice after slice until nothing is left (beat applies one slice a run)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from privacy.services import retention_apply


class Command(BaseCommand):
    help = ("Remove message text, attachments and webhook events older than MESSAGE_RETENTION_DAYS, "
            "ATTACHMENT_RETENTION_DAYS and INBOUND_EVENT_RETENTION_DAYS (0: kept), RETENTION_SLICE rows at a time.")

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One slice only, as beat does.")

    def handle(self, *args, once=False, **options):
        totals = {"messages": 0, "attachments": 0, "inbound_events": 0}
        while True:
            done = retention_apply()
            for key, value in done.items():
                totals[key] += value
            if once or not any(done.values()):
                break
        self.stdout.write(_("Retention (messages %(m)d days, attachments %(a)d days, events %(e)d days; 0: kept): "
                            "%(messages)d message text(s), %(attachments)d attachment(s) and %(inbound_events)d "
                            "event(s) removed.")
                          % {"m": settings.MESSAGE_RETENTION_DAYS, "a": settings.ATTACHMENT_RETENTION_DAYS,
                             "e": settings.INBOUND_EVENT_RETENTION_DAYS, **totals})
