"""Create a messaging account with its credentials and numbers, for scripts."""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_app import services
from channels_app.models import Channel
from channels_app.providers import credential_fields, number_type_choices, provider_class, provider_classes
from config.exceptions import ServiceError
from config.public_url import public_url_problems

#: Service field → the option a user of this command would fix (credential fields: their own option).
OPTION_OF_FIELD = {
    "name": "--name",
    "provider": "--provider",
    "channel": "--channel",
    "number": "--number",
    "numbers": "--number",
    "number_type": "--number-type",
}


def _env_help() -> str:
    parts = []
    for cls in provider_classes().values():
        names = [spec.env for spec in cls.credential_fields if spec.env]
        if names:
            parts.append(f"{' and '.join(names)} for {cls.label}")
    return "; ".join(parts)


class Command(BaseCommand):
    help = (
        "Create a messaging account (and optionally its numbers) and print it as one JSON object: "
        "id, name, provider, channel, is_active, numbers and the callback URLs to enter in the provider's "
        "console. Secrets are never printed. Nothing is saved when any part is refused.\n\n"
        "Credentials may come from the environment instead of the command line, so they stay out of shell "
        "history. An option given on the command line wins over the environment."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        classes = provider_classes()
        parser.add_argument("--provider", required=True, choices=list(classes),
                            help=" ".join(f"{name}: {cls.description}" for name, cls in classes.items()))
        parser.add_argument("--channel", required=True, choices=Channel.values, help="sms or whatsapp.")
        parser.add_argument("--name", required=True, help="The account's name, unique, e.g. 'Support SMS (US)'.")
        for name, (provider, spec) in credential_fields().items():
            env = f" (or {spec.env})" if spec.env else ""
            parser.add_argument(spec.option, dest=name, default="",
                                help=f"{classes[provider].label} accounts: {spec.help_text}{env}")
        parser.add_argument(
            "--number", action="append", default=[], dest="numbers", metavar="NUMBER",
            help="A number to add; repeat for several. SMS: " + " ".join(
                f"{cls.label}: {cls.number_help('sms')[0]}" for cls in classes.values())
            + " WhatsApp: E.164 (+14252306549).",
        )
        parser.add_argument(
            "--number-type", choices=[value for value, _ in number_type_choices()], default="",
            help="SMS only; applies to every --number. " + " ".join(
                f"{cls.label}: {', '.join(v for v, _ in cls.number_types)} (default {cls.number_types[0][0]})."
                for cls in classes.values() if cls.number_types),
        )
        parser.add_argument(
            "--number-name", default="",
            help="Name given to every --number; WhatsApp numbers need one and default to the account's name.",
        )
        parser.add_argument("--inactive", action="store_true",
                            help="Create the account inactive: it sends nothing until activated.")

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        if _env_help():
            parser.epilog = f"Environment variables read for credentials: {_env_help()}."
        return parser

    def handle(self, *args: Any, **options: Any) -> None:
        provider, channel = options["provider"], options["channel"]
        cls = provider_class(provider)
        credentials = {}
        for spec in cls.credential_fields:
            credentials[spec.name] = options[spec.name] or (os.environ.get(spec.env, "") if spec.env else "")
        # Options for another provider's credentials are passed on so the service refuses them by name.
        for name in credential_fields():
            if name not in credentials and options[name]:
                credentials[name] = options[name]

        number_name = options["number_name"].strip()
        if channel == Channel.WHATSAPP:
            if options["number_type"]:
                raise CommandError("--number-type: WhatsApp numbers have no type; leave it out.")
            number_type = ""
            number_name = number_name or options["name"].strip()
        else:
            number_type = options["number_type"] or (cls.number_types[0][0] if cls.number_types else "")
        specs = [services.NumberSpec(number=n, number_type=number_type, name=number_name)
                 for n in options["numbers"]]

        try:
            account = services.account_create(
                name=options["name"], channel=channel, provider=provider, credentials=credentials,
                numbers=specs, is_active=not options["inactive"],
            )
        except ServiceError as exc:
            fields = credential_fields()
            option = fields[exc.field][1].option if exc.field in fields else OPTION_OF_FIELD.get(exc.field or "",
                                                                                                  exc.field)
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
        urls = list(account.callback_urls().values())
        for problem in public_url_problems(urls[0]) if urls else []:
            self.stderr.write(self.style.WARNING(f"Warning: {problem}"))
