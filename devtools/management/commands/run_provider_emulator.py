"""Run the local TeleSign + Twilio + Azure Communication Services emulator (see docs/emulator.md)."""

from __future__ import annotations

import argparse
import binascii
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from devtools.emulator import ConfigError, EmulatorConfig, ProviderEmulator
from devtools.emulator.state import ACS_NUMBER_TYPES
from devtools.emulator.tls import certificate_in

#: The hub's number types → ACS's (for --from-hub).
ACS_TYPE_OF = {"toll_free": "tollFree", "mobile": "mobile", "short_code": "shortCode"}


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0–65535; 0 picks a free one)")
    return port


def _pair(value: str, sep: str, what: str) -> tuple[str, str]:
    left, found, right = value.partition(sep)
    if not found or not left.strip() or not right.strip():
        raise CommandError(f"expected {what}, got {value!r}")
    return left.strip(), right.strip()


class Command(BaseCommand):
    help = (
        "Run a local emulator of TeleSign, Twilio and Azure Communication Services that the hub "
        "(TELESIGN_API_URL / TWILIO_API_URL, and ACS accounts' endpoint) can use instead of real provider accounts. "
        "Example: manage.py run_provider_emulator --port 8025 --twilio-account AC...:token "
        "--twilio-inbound-url whatsapp:+14155238886=http://127.0.0.1:8000/webhooks/... "
        "or --from-hub to register the hub's own accounts and callback URLs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
        parser.add_argument("--port", type=_port, default=8025, help="Port to listen on (default 8025; 0 = any).")
        parser.add_argument("--tls-port", type=_port, default=None,
                            help="HTTPS port (default: --port + 1, i.e. 8026; any free one with --port 0), where ACS "
                                 "is served: the Azure SDK speaks only HTTPS. A self-signed certificate is made in "
                                 "var/emulator-tls/ unless --tls-cert and --tls-key name one.")
        parser.add_argument("--no-tls", action="store_true", help="Serve no HTTPS port.")
        parser.add_argument("--tls-cert", help="PEM certificate for the HTTPS port.")
        parser.add_argument("--tls-key", help="PEM private key for the HTTPS port.")
        parser.add_argument("--acs-resource", action="append", default=[], metavar="NAME:ACCESS_KEY",
                            help="An ACS resource the emulator accepts, by a name of your choosing and its access "
                                 "key (base64; repeatable).")
        parser.add_argument("--acs-number", action="append", default=[], metavar="NAME=NUMBER[:TYPE]",
                            help="A number of an ACS resource; TYPE is tollFree (default), mobile, geographic or "
                                 "shortCode (repeatable).")
        parser.add_argument("--acs-event-url", action="append", default=[], metavar="NAME=URL",
                            help="A resource's Event Grid subscription endpoint: inbound SMS and delivery reports "
                                 "(repeatable). Its validation handshake runs before the first delivery.")
        parser.add_argument("--acs-schema", choices=["eventgrid", "cloudevents"], default="eventgrid",
                            help="The event schema of the subscriptions (default eventgrid).")
        parser.add_argument("--twilio-account", action="append", default=[], metavar="SID:TOKEN",
                            help="A Twilio account the emulator accepts (repeatable).")
        parser.add_argument("--telesign-account", action="append", default=[], metavar="CUSTOMER_ID:API_KEY",
                            help="A TeleSign customer the emulator accepts (repeatable).")
        parser.add_argument("--twilio-inbound-url", action="append", default=[], metavar="NUMBER=URL",
                            help="Where inbound messages to a Twilio number go, like its 'A message comes in' "
                                 "setting; whatsapp:+E164 for a WhatsApp sender (repeatable).")
        parser.add_argument("--telesign-callback-url", action="append", default=[], metavar="CUSTOMER_ID=URL",
                            help="A TeleSign customer's callback URL: inbound SMS and delivery reports (repeatable).")
        parser.add_argument("--from-hub", action="store_true",
                            help="Also register every active TeleSign, Twilio and ACS account of this hub's "
                                 "database, with its credentials, numbers and callback URLs.")
        parser.add_argument("--latency-ms", type=float, help="Latency added to every provider API request.")
        parser.add_argument("--latency-jitter-ms", type=float, help="Random extra latency, 0..N ms.")
        parser.add_argument("--fail-5xx", type=float, metavar="RATE", help="Share of requests answered 500/503.")
        parser.add_argument("--fail-timeout", type=float, metavar="RATE",
                            help="Share of requests left without an answer (see --timeout-mode).")
        parser.add_argument("--fail-429", type=float, metavar="RATE", help="Share of requests answered 429.")
        parser.add_argument("--timeout-mode", choices=["hold", "close", "accept_then_hold"],
                            help="hold: keep the request open --timeout-hold-ms then close (default); close: close "
                                 "at once; accept_then_hold: accept the send, then never answer.")
        parser.add_argument("--timeout-hold-ms", type=float, help="How long a timed-out request is held (20000).")
        parser.add_argument("--retry-after", type=int, help="Retry-After seconds on 429 answers (1).")
        parser.add_argument("--callback-delay-ms", type=float, help="Time between status steps (100).")
        parser.add_argument("--fail-delivery", type=float, metavar="RATE",
                            help="Share of sends that end undelivered (Twilio 30003, TeleSign 207).")
        parser.add_argument("--undeliverable", action="append", default=None, metavar="NUMBER",
                            help="A recipient whose messages always end undelivered (repeatable).")
        parser.add_argument("--whatsapp-window", choices=["async", "reject", "off"],
                            help="WhatsApp free text outside 24 h: async = 201 then failed/63016 (as Twilio), "
                                 "reject = 400/63016, off = no check.")
        parser.add_argument("--whatsapp-read", action="store_true", default=None,
                            help="Send a 'read' status after 'delivered' for WhatsApp.")
        parser.add_argument("--no-media-redirect", action="store_true",
                            help="Serve inbound media directly instead of a 307 to a pre-signed URL.")
        parser.add_argument("--public-url", help="URL the emulator is reached at, for media URLs.")
        parser.add_argument("--seed", type=int, help="Seed for failure draws (reproducible runs).")
        parser.add_argument("--callback-concurrency", type=int, help="Concurrent callback requests (64).")
        parser.add_argument("--max-records", type=int, help="Requests kept for GET /_emulator/requests (10000).")
        parser.add_argument("--max-messages", type=int, help="Messages kept for GET /_emulator/messages (100000).")
        parser.add_argument("--max-callbacks", type=int, help="Callbacks kept for GET /_emulator/callbacks (10000).")

    def handle(self, *args, **options):
        flags = {
            "latency_ms": options["latency_ms"], "latency_jitter_ms": options["latency_jitter_ms"],
            "fail_5xx": options["fail_5xx"], "fail_timeout": options["fail_timeout"], "fail_429": options["fail_429"],
            "timeout_mode": options["timeout_mode"], "timeout_hold_ms": options["timeout_hold_ms"],
            "retry_after_s": options["retry_after"], "callback_delay_ms": options["callback_delay_ms"],
            "fail_delivery": options["fail_delivery"], "undeliverable_numbers": options["undeliverable"],
            "whatsapp_window": options["whatsapp_window"], "whatsapp_read": options["whatsapp_read"],
            "public_url": options["public_url"], "seed": options["seed"],
            "callback_concurrency": options["callback_concurrency"], "max_records": options["max_records"],
            "max_messages": options["max_messages"], "max_callbacks": options["max_callbacks"],
        }
        if options["no_media_redirect"]:
            flags["media_redirect"] = False
        config = EmulatorConfig()
        try:
            config.update({k: v for k, v in flags.items() if v is not None})
        except ConfigError as exc:
            raise CommandError(str(exc)) from None

        twilio = dict(_pair(v, ":", "SID:TOKEN") for v in options["twilio_account"])
        telesign = dict(_pair(v, ":", "CUSTOMER_ID:API_KEY") for v in options["telesign_account"])
        inbound = dict(_pair(v, "=", "NUMBER=URL") for v in options["twilio_inbound_url"])
        callbacks = dict(_pair(v, "=", "CUSTOMER_ID=URL") for v in options["telesign_callback_url"])
        acs = {name: (key, {}) for name, key in (_pair(v, ":", "NAME:ACCESS_KEY") for v in options["acs_resource"])}
        for value in options["acs_number"]:
            name, number = _pair(value, "=", "NAME=NUMBER[:TYPE]")
            number, _, kind = number.partition(":")
            if name not in acs:
                raise CommandError(f"--acs-number for unknown resource {name}; add it with --acs-resource")
            if (kind or "tollFree") not in ACS_NUMBER_TYPES:
                raise CommandError(f"--acs-number: type must be one of {', '.join(ACS_NUMBER_TYPES)}, got {kind!r}")
            acs[name][1][number] = kind or "tollFree"
        acs_events = dict(_pair(v, "=", "NAME=URL") for v in options["acs_event_url"])
        if options["from_hub"]:
            try:
                self._from_hub(twilio, telesign, inbound, callbacks)
                self._acs_from_hub(acs, acs_events)
            except DatabaseError as exc:
                raise CommandError(f"--from-hub: cannot read the hub's accounts ({exc}); run migrate first?") from None
        unknown_acs = sorted(set(acs_events) - set(acs))
        if unknown_acs:
            raise CommandError(f"--acs-event-url for unknown resource(s) {', '.join(unknown_acs)}; add them with "
                               "--acs-resource")
        tls_cert, tls_key = options["tls_cert"], options["tls_key"]
        if options["no_tls"]:
            tls_cert = tls_key = None
        elif bool(tls_cert) != bool(tls_key):
            raise CommandError("--tls-cert and --tls-key go together")
        elif not tls_cert:
            tls_cert, tls_key = (str(p) for p in certificate_in(Path(settings.VAR_DIR) / "emulator-tls"))
        unknown = sorted(set(callbacks) - set(telesign))
        if unknown:
            raise CommandError(f"--telesign-callback-url for unknown customer(s) {', '.join(unknown)}; "
                               "add them with --telesign-account")
        try:
            emulator = ProviderEmulator(config, twilio_accounts=twilio.items(), telesign_accounts=telesign.items(),
                                        twilio_inbound_urls=inbound, telesign_callback_urls=callbacks,
                                        tls_cert=tls_cert, tls_key=tls_key)
        except (binascii.Error, ValueError) as exc:
            raise CommandError(f"--telesign-account: the API key is not base64 ({exc})") from None
        for name, (key, numbers) in acs.items():
            try:
                resource = emulator.state.add_acs_resource(name, key, numbers)
            except (binascii.Error, ValueError) as exc:
                raise CommandError(f"--acs-resource {name}: the access key is not base64 ({exc})") from None
            resource.event_url, resource.schema = acs_events.get(name), options["acs_schema"]

        def started(url: str) -> None:
            self.stdout.write(self.style.SUCCESS(f"Provider emulator listening on {url}"))
            self.stdout.write(f"  Twilio accounts:    {', '.join(twilio) or 'none'}")
            self.stdout.write(f"  TeleSign customers: {', '.join(telesign) or 'none'}")
            for number, target in inbound.items():
                self.stdout.write(f"  Twilio inbound   {number} -> {target}")
            for customer_id, target in callbacks.items():
                self.stdout.write(f"  TeleSign callback {customer_id} -> {target}")
            self.stdout.write(f"  ACS resources:      {', '.join(acs) or 'none'}")
            for name, target in acs_events.items():
                self.stdout.write(f"  ACS Event Grid   {name} -> {target} ({options['acs_schema']} schema)")
            self.stdout.write(f"  Point the hub at it: TWILIO_API_URL={url} TELESIGN_API_URL={url}")
            if emulator.tls_port:
                self.stdout.write(f"  ACS endpoint (HTTPS): {emulator.tls_url} — trust it with "
                                  f"PROVIDER_CA_BUNDLE={tls_cert} ACS_ENDPOINT_HOSTS=127.0.0.1")
            self.stdout.write(f"  Control API: {url}/_emulator/  (Ctrl-C stops)")
            self.stdout.flush()

        port = options["port"]
        tls_port = options["tls_port"] if options["tls_port"] is not None else (port + 1 if 0 < port < 65535 else 0)
        try:
            emulator.run(options["host"], port, on_started=started, tls_port=tls_port)
        except OSError as exc:
            raise CommandError(f"cannot listen on {options['host']}:{port} (or its HTTPS port {tls_port}): "
                               f"{exc.strerror or exc}") from None
        served = sum(n for key, n in emulator.state.counters.items() if key.startswith("requests."))
        self.stdout.write(f"Provider emulator stopped after {served} provider API requests.")

    def _from_hub(self, twilio, telesign, inbound, callbacks) -> None:
        from channels_app.models import Channel, MessagingAccount

        accounts = MessagingAccount.objects.filter(is_active=True, provider__in=["twilio", "telesign"])
        for account in accounts.prefetch_related("numbers"):
            urls = account.callback_urls()
            if account.provider == "twilio":
                sid, token = account.credential("account_sid"), account.credential("auth_token")
                if not (sid and token):
                    continue
                if twilio.get(sid, token) != token:
                    self.stderr.write(f"warning: Twilio {sid} has two different auth tokens; "
                                      f"using the one of '{account.name}'")
                twilio[sid] = token
                for number in account.numbers.all():
                    key = ("whatsapp:" if account.channel == Channel.WHATSAPP else "") + number.number
                    inbound.setdefault(key, urls["inbound"])
            else:
                if not (account.credential("customer_id") and account.credential("api_key")):
                    continue
                telesign[account.credential("customer_id")] = account.credential("api_key")
                callbacks.setdefault(account.credential("customer_id"), urls["callback"])

    def _acs_from_hub(self, acs, events) -> None:
        from channels_app.models import MessagingAccount

        for account in MessagingAccount.objects.filter(is_active=True, provider="acs").prefetch_related("numbers"):
            key = account.credential("access_key")
            if not key:
                continue
            name = f"account-{account.pk}"
            acs[name] = (key, {n.number: ACS_TYPE_OF.get(n.number_type, "tollFree") for n in account.numbers.all()})
            events.setdefault(name, account.callback_urls()["events"])

