"""Write everything the hub holds about one contact to a zip file."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from config.exceptions import ServiceError
from privacy.services import contact_export, contact_find, export_filename


class Command(BaseCommand):
    help = ("Export all data about one contact (messages, conversations, consent, outbound, attachments) as a zip "
            "of contact.json and the attachment files.")

    def add_arguments(self, parser):
        parser.add_argument("contact", help="The contact's id or phone number (+14155550123).")
        parser.add_argument("--output", "-o", help="The zip file to write (default: contact-<id>-<time>.zip here).")

    def handle(self, *args, contact, output=None, **options):
        try:
            found = contact_find(ref=contact)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        path = Path(output or export_filename(found))
        if path.is_dir():
            path = path / export_filename(found)
        if not path.parent.exists():
            raise CommandError(_("The folder %(folder)s does not exist.") % {"folder": path.parent})
        try:
            path.write_bytes(contact_export(contact=found))
        except OSError as exc:
            raise CommandError(_("Could not write %(path)s: %(error)s") % {"path": path, "error": exc}) from None
        self.stdout.write(_("Wrote %(path)s (contact #%(id)d).") % {"path": path, "id": found.pk})
