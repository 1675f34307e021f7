"""Create a messaging account with its credentials and numbers, for scripts."""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_app import services
from channels_app.models import Channel, NumberType, Provider
from config.exceptions import ServiceError

#: Environment variables read for each credential when its option is not given.
CREDENTIAL_ENV = {
    Provider.TELESIGN: {"customer_id": "TELESIGN_CUSTOMER_ID", "api_key": "TELESIGN_API_KEY"},
    Provider.TWILIO: {"account_sid": "TWILIO_ACCOUNT_SID", "auth_token": "TWILIO_AUTH_TOKEN"},
    Provider.SANDBOX: {},
}

#: The SMS number type used when --number-type is not given.
DEFAULT_NUMBER_TYPE = {
    Provider.TELESIGN: NumberType.GEOGRAPHIC,
    Provider.TWILIO: NumberType.LONG_CODE,
    Provider.SANDBOX: NumberType.LONG_CODE,
}

#: Service field → the option a user of this command would fix.
OPTION_OF_FIELD = {
    "name": "--name",
    "provider": "--provider",
    "channel": "--channel",
    "customer_id": "--customer-id",
    "api_key": "--api-key",
    "account_sid": "--account-sid",
    "auth_token": "--auth-token",
    "number": "--number",
    "number_type": "--number-type",
}


class Command(BaseCommand):
    help = (
        "Create a messaging account (and optionally its numbers) and print it as one JSON object: "
        "id, name, provider, channel, is_active, numbers and the callback URLs to enter in the provider's "
        "console. Secrets are never printed. Nothing is saved when any part is refused.\n\n"
        "Credentials may come from the environment instead of the command line, so they stay out of shell "
        "history: TELESIGN_CUSTOMER_ID and TELESIGN_API_KEY for TeleSign, TWILIO_ACCOUNT_SID and "
        "TWILIO_AUTH_TOKEN for Twilio. An option given on the command line wins over the environment."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--provider", required=True, choices=Provider.values,
                            help="telesign (SMS only), twilio (SMS or WhatsApp) or sandbox (sends nothing).")
        parser.add_argument("--channel", required=True, choices=Channel.values, help="sms or whatsapp.")
        parser.add_argument("--name", required=True, help="The account's name, unique, e.g. 'Support SMS (US)'.")
        parser.add_argument("--customer-id", default="", help="TeleSign Customer ID (or TELESIGN_CUSTOMER_ID).")
        parser.add_argument("--api-key", default="", help="TeleSign API key, base64 (or TELESIGN_API_KEY).")
        parser.add_argument("--account-sid", default="", help="Twilio Account SID, AC… (or TWILIO_ACCOUNT_SID).")
        parser.add_argument("--auth-token", default="", help="Twilio Auth Token (or TWILIO_AUTH_TOKEN).")
        parser.add_argument(
            "--number", action="append", default=[], dest="numbers", metavar="NUMBER",
            help="A number to add; repeat for several. TeleSign: digits only, country code first "
            "(14252306549). Twilio and Sandbox SMS: E.164 (+14252306549) or a 5-6 digit short code. "
            "WhatsApp: E.164 (+14252306549).",
        )
        parser.add_argument(
            "--number-type", choices=NumberType.values, default="",
            help="SMS only; applies to every --number. TeleSign: geographic (default), short_code or toll_free. "
            "Twilio and Sandbox: long_code (default), short_code or toll_free.",
        )
        parser.add_argument(
            "--number-name", default="",
            help="Name given to every --number; WhatsApp numbers need one and default to the account's name.",
        )
        parser.add_argument("--inactive", action="store_true",
                            help="Create the account inactive: it sends nothing until activated.")

    def handle(self, *args: Any, **options: Any) -> None:
        provider, channel = options["provider"], options["channel"]
        credentials = {}
        for field, variable in CREDENTIAL_ENV[provider].items():
            credentials[field] = options[field] or os.environ.get(variable, "")
        # Options for another provider's credentials are passed on so the service refuses them by name.
        for field in ("customer_id", "api_key", "account_sid", "auth_token"):
            if field not in credentials and options[field]:
                credentials[field] = options[field]

        number_name = options["number_name"].strip()
        if channel == Channel.WHATSAPP:
            if options["number_type"]:
                raise CommandError("--number-type: WhatsApp numbers have no type; leave it out.")
            number_type = ""
            number_name = number_name or options["name"].strip()
        else:
            number_type = options["number_type"] or DEFAULT_NUMBER_TYPE[provider]
        specs = [services.NumberSpec(number=n, number_type=number_type, name=number_name)
                 for n in options["numbers"]]

        try:
            account = services.account_create(
                name=options["name"], channel=channel, provider=provider, credentials=credentials,
                numbers=specs, is_active=not options["inactive"],
            )
        except ServiceError as exc:
            option = OPTION_OF_FIELD.get(exc.field or "", exc.field)
            raise CommandError(f"{option}: {exc.message}" if option else exc.message) from None

        self.stdout.write(json.dumps({
            "id": account.pk,
            "name": account.name,
            "provider": account.provider,
            "channel": account.channel,
            "is_active": account.is_active,
            "numbers": [
                {"id": n.pk, "number": n.number, "type": n.number_type, "name": n.name}
                for n in account.numbers.order_by("pk")
            ],
            "callback_urls": account.callback_urls(),
        }))
