"""Send one message right now through an account, to check it end to end."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_app import services
from config.exceptions import ServiceError

from .validate_accounts import find_account

#: Service field → the option a user of this command would fix.
OPTION_OF_FIELD = {"account": "--account", "to": "--to", "text": "--text", "from_number": "--from",
                   "media_urls": "--media-url"}


class Command(BaseCommand):
    help = (
        "Send one message right now (not queued, not retried) through a messaging account and print the "
        "provider's message id. It obeys every rule a reply obeys (length, consent, the WhatsApp 24-hour window, "
        "attachments). Exits non-zero with the reason when the account, a rule or the provider refuses it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, metavar="NAME_OR_ID", help="The account's name or id.")
        parser.add_argument("--to", required=True, metavar="+E164", help="The recipient, e.g. +14155550100.")
        parser.add_argument("--text", required=True, help="The message, up to 1,600 characters.")
        parser.add_argument("--from", dest="from_number", default="", metavar="NUMBER",
                            help="One of the account's numbers to send from; the first one by default.")
        parser.add_argument("--media-url", dest="media_urls", action="append", default=[], metavar="URL",
                            help="A public link to a file to attach; repeat it for several.")

    def handle(self, *args: Any, **options: Any) -> None:
        account = find_account(options["account"])
        try:
            sent = services.account_send_test_message(
                account=account, to=options["to"], text=options["text"],
                from_number=options["from_number"] or None, media_urls=options["media_urls"],
            )
        except ServiceError as exc:
            option = OPTION_OF_FIELD.get(exc.field or "", exc.field)
            raise CommandError(f"{option}: {exc.message}" if option else exc.message) from None
        self.stdout.write(sent.provider_message_id)
