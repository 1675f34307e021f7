"""Erase one contact's data: their messages' text and attachments and what was given about them; the rows the
reports count and the consent history stay."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from config.exceptions import ServiceError
from privacy.services import contact_erase, contact_find


class Command(BaseCommand):
    help = ("Erase a contact: messages' text, attachments, name, outbound details and case texts are removed; "
            "message statuses, conversations' figures and the consent history are kept. Cannot be undone.")

    def add_arguments(self, parser):
        parser.add_argument("contact", help="The contact's id or phone number (+14155550123).")
        parser.add_argument("--yes", action="store_true", help="Do it without asking (erasure cannot be undone).")

    def handle(self, *args, contact, yes=False, **options):
        try:
            found = contact_find(ref=contact)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        if not yes:
            answer = input(_("Erase the data of %(contact)s? This cannot be undone. Type yes: ")
                           % {"contact": found})
            if answer.strip().lower() != "yes":
                raise CommandError(_("Nothing was erased."))
        erasure = contact_erase(contact=found)
        counts = ", ".join(f"{k}: {v}" for k, v in erasure.counts.items())
        self.stdout.write(_("Erased contact #%(id)d (%(counts)s).") % {"id": found.pk, "counts": counts})
