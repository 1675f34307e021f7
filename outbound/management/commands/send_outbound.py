"""Send an outbound configuration to a CSV contact list of any size, with progress bars."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from config.exceptions import ServiceError
from outbound import selectors
from outbound.models import BatchState, OutboundBatch, Source
from outbound.progress import ProgressBar
from outbound.services.batches import (
    contacts_validate,
    outbound_batch_create,
    outbound_batch_resume,
    outbound_batch_submit_next,
)
from outbound.services.contacts import configuration_ref_parse, contacts_from_csv
from outbound.services.requests import configuration_for

EXIT_INTERRUPTED = 130
EXIT_TIMEOUT = 3


def _seconds(value: str) -> float:
    """A number of seconds, 0 or more (argparse turns the ValueError's text into the error shown)."""
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise argparse.ArgumentTypeError(f"{value} is not a number of seconds (0 or more; 0 follows until done)")
    return seconds


class Command(BaseCommand):
    help = (
        "Send an outbound configuration to the contacts of a CSV file (header row with the reference field names: "
        "tocontactid, channelid, optin, locale, contextitems or contextitems.<key>, entityrelationshipname, "
        "CustomerName, CaseName). The list is checked whole, split into requests of OUTBOUND_MAX_CONTACTS_PER_REQUEST "
        "contacts (100 by default) that stay inside the hourly limit (waiting when it is reached), and sent by the "
        "workers; progress bars show submitting and sending."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--configuration", help="The outbound configuration ID (a UUID, shown in the admin).")
        parser.add_argument("--csv", help="The CSV file of contacts ('-' reads standard input).")
        parser.add_argument("--resume", type=int, metavar="BATCH",
                            help="Continue submitting a batch this command started and was stopped.")
        parser.add_argument("--dry-run", action="store_true", help="Check the list and stop; send nothing.")
        parser.add_argument("--no-wait", action="store_true",
                            help="Return once every request is submitted, without following the sending.")
        parser.add_argument("--timeout", type=_seconds, default=0,
                            help="Seconds to follow the sending before giving up (0: until done).")
        parser.add_argument("--poll", type=float, default=0.5, help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            batch = self._batch(options)
            if batch is None:
                return
            self._submit(batch)
            if not options["no_wait"]:
                self._follow(batch, timeout=options["timeout"], poll=options["poll"])
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self._summary(batch)

    # --- Steps -------------------------------------------------------------------------------------

    def _batch(self, options: dict[str, Any]) -> OutboundBatch | None:
        if options["resume"] is not None:
            if options["configuration"] or options["csv"]:
                raise CommandError("--resume continues a stored batch: give it alone, without --configuration "
                                   "and --csv.")
            batch = OutboundBatch.objects.select_related("configuration").filter(pk=options["resume"]).first()
            if batch is None or batch.source != Source.COMMAND:
                raise CommandError(f"No batch #{options['resume']} started by this command.")
            if batch.state != BatchState.SUBMITTED:
                outbound_batch_resume(batch=batch)
            batch.refresh_from_db()
            return batch
        if not options["configuration"] or not options["csv"]:
            raise CommandError("Give --configuration <configuration ID> and --csv <file> (or --resume <batch>).")
        configuration = configuration_for(configuration_ref_parse(options["configuration"], "--configuration"))
        name, data = self._read(options["csv"])
        contacts = contacts_from_csv(data)
        if options["dry_run"]:
            contacts_validate(configuration=configuration, rows=contacts.rows, lines=contacts.lines)
            size = settings.OUTBOUND_MAX_CONTACTS_PER_REQUEST
            requests = -(-len(contacts.rows) // size)
            self.stdout.write(f"{len(contacts.rows)} contacts are valid for '{configuration.name}'; they would go in "
                              f"{requests} request(s). Nothing was sent.")
            return None
        batch = outbound_batch_create(configuration=configuration, contacts=contacts.rows, lines=contacts.lines,
                                      source=Source.COMMAND, name=name)
        self.stdout.write(f"Batch #{batch.pk}: {batch.contact_count} contacts in {batch.chunk_count} request(s) for "
                          f"'{configuration.name}'.")
        return batch

    def _read(self, path: str) -> tuple[str, bytes]:
        if path == "-":
            return "standard input", sys.stdin.buffer.read()
        file = Path(path)
        try:
            return file.name, file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}.") from None

    def _submit(self, batch: OutboundBatch) -> None:
        bar = ProgressBar(self.stdout, total=batch.contact_count, label=_("Submitting"))
        submitted = selectors.batch_progress(batch=batch).submitted
        try:
            bar.update(submitted)
            while True:
                step = outbound_batch_submit_next(batch_id=batch.pk)
                if step.finished:
                    if step.error:
                        raise CommandError(step.error)
                    break
                if step.retry_after is not None:
                    bar.update(submitted, f"hourly limit reached; next request in {step.retry_after:.0f}s", force=True)
                    time.sleep(min(step.retry_after, 5.0))
                    continue
                submitted += step.request.contact_count
                bar.update(submitted)
        except KeyboardInterrupt:
            bar.close()
            OutboundBatch.objects.filter(pk=batch.pk, state=BatchState.SUBMITTING).update(
                state=BatchState.STOPPED, error="Stopped from the command line.", finished_at=timezone.now())
            raise CommandError(
                f"Stopped: {submitted} of {batch.contact_count} contacts submitted (they are being sent). Continue "
                f"with: manage.py send_outbound --resume {batch.pk}", returncode=EXIT_INTERRUPTED) from None
        finally:
            bar.close()

    def _follow(self, batch: OutboundBatch, *, timeout: float, poll: float) -> None:
        bar = ProgressBar(self.stdout, total=batch.contact_count, label=_("Sending").ljust(len(_("Submitting"))))
        deadline = time.monotonic() + timeout if timeout > 0 else None
        try:
            while True:
                progress = selectors.batch_progress(batch=batch)
                counts = progress.counts
                done = counts["total"] - counts["pending"]
                bar.update(done, f"sent {counts['sent']}, delivered {counts['delivered']}, failed {counts['failed']}, "
                                 f"skipped {counts['skipped']}")
                if done >= batch.contact_count:
                    return
                if deadline is not None and time.monotonic() > deadline:
                    bar.close()
                    raise CommandError(
                        f"Timed out after {timeout:g}s with {batch.contact_count - done} contacts still pending; the "
                        f"workers go on sending. Follow batch #{batch.pk} in the admin.", returncode=EXIT_TIMEOUT)
                time.sleep(poll)
        except KeyboardInterrupt:
            raise CommandError(f"Stopped following; the workers go on sending. Follow batch #{batch.pk} in the admin.",
                               returncode=EXIT_INTERRUPTED) from None
        finally:
            bar.close()

    def _summary(self, batch: OutboundBatch) -> None:
        progress = selectors.batch_progress(batch=batch)
        counts = progress.counts
        self.stdout.write(self.style.SUCCESS(
            f"Batch #{batch.pk}: {progress.submitted} contacts in {progress.requests} request(s): {counts['sent']} "
            f"sent, {counts['delivered']} delivered, {counts['failed']} failed, {counts['skipped']} skipped, "
            f"{counts['pending']} pending."))
