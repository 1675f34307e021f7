"""Check messaging accounts' credentials with their providers, for scripts and monitoring."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_app import services
from channels_app.models import MessagingAccount


def find_account(value: str, *, option: str = "--account") -> MessagingAccount:
    """The account named ``value``, or else the one whose id it is; CommandError naming ``option`` if none."""
    value = (value or "").strip()
    account = MessagingAccount.objects.filter(name=value).first()
    if account is None and value.isdigit():
        account = MessagingAccount.objects.filter(pk=int(value)).first()
    if account is None:
        raise CommandError(f"{option}: no messaging account is named or numbered {value!r}.")
    return account


class Command(BaseCommand):
    help = (
        "Ask each provider whether the account's credentials are good, without sending a message, and record "
        "the answer. Checks every active account, or only those given with --account. Prints one line per "
        "account: name, status, the provider's code and its message. Exits non-zero when any account is not "
        "valid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--account", action="append", default=[], dest="accounts", metavar="NAME_OR_ID",
            help="An account's name or id; repeat for several. Given accounts are checked even when inactive.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["accounts"]:
            accounts = list({a.pk: a for a in (find_account(v) for v in options["accounts"])}.values())
        else:
            accounts = list(MessagingAccount.objects.filter(is_active=True).order_by("name"))
            if not accounts:
                self.stdout.write("No active messaging accounts.")
                return

        failed = []
        for account in accounts:
            result = services.account_validate(account=account)
            code = f" ({result.code})" if result.code else ""
            self.stdout.write(f"{account.name}: {result.status}{code} - {result.message}")
            if not result.valid:
                failed.append(account.name)

        if failed:
            raise CommandError(
                f"{len(failed)} of {len(accounts)} accounts are not valid: {', '.join(failed)}."
            )
