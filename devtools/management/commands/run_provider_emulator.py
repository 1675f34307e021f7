"""Run the local TeleSign + Twilio emulator (see docs/emulator.md)."""

from __future__ import annotations

import binascii

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from devtools.emulator import ConfigError, EmulatorConfig, ProviderEmulator


def _pair(value: str, sep: str, what: str) -> tuple[str, str]:
    left, found, right = value.partition(sep)
    if not found or not left.strip() or not right.strip():
        raise CommandError(f"expected {what}, got {value!r}")
    return left.strip(), right.strip()


class Command(BaseCommand):
    help = (
        "Run a local emulator of TeleSign and Twilio that the hub (TELESIGN_API_URL / TWILIO_API_URL) can use "
        "instead of real provider accounts. Example: manage.py run_provider_emulator --port 8025 "
        "--twilio-account AC...:token --twilio-inbound-url whatsapp:+14155238886=http://127.0.0.1:8000/webhooks/... "
        "or --from-hub to register the hub's own accounts and callback URLs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8025, help="Port to listen on (default 8025; 0 = any).")
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
                            help="Also register every active TeleSign and Twilio account of this hub's database, "
                                 "with its credentials and callback URLs.")
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
        if options["from_hub"]:
            try:
                self._from_hub(twilio, telesign, inbound, callbacks)
            except DatabaseError as exc:
                raise CommandError(f"--from-hub: cannot read the hub's accounts ({exc}); run migrate first?") from None
        unknown = sorted(set(callbacks) - set(telesign))
        if unknown:
            raise CommandError(f"--telesign-callback-url for unknown customer(s) {', '.join(unknown)}; "
                               "add them with --telesign-account")
        try:
            emulator = ProviderEmulator(config, twilio_accounts=twilio.items(), telesign_accounts=telesign.items(),
                                        twilio_inbound_urls=inbound, telesign_callback_urls=callbacks)
        except (binascii.Error, ValueError) as exc:
            raise CommandError(f"--telesign-account: the API key is not base64 ({exc})") from None

        def started(url: str) -> None:
            self.stdout.write(self.style.SUCCESS(f"Provider emulator listening on {url}"))
            self.stdout.write(f"  Twilio accounts:    {', '.join(twilio) or 'none'}")
            self.stdout.write(f"  TeleSign customers: {', '.join(telesign) or 'none'}")
            for number, target in inbound.items():
                self.stdout.write(f"  Twilio inbound   {number} -> {target}")
            for customer_id, target in callbacks.items():
                self.stdout.write(f"  TeleSign callback {customer_id} -> {target}")
            self.stdout.write(f"  Point the hub at it: TWILIO_API_URL={url} TELESIGN_API_URL={url}")
            self.stdout.write(f"  Control API: {url}/_emulator/  (Ctrl-C stops)")
            self.stdout.flush()

        try:
            emulator.run(options["host"], options["port"], on_started=started)
        except OSError as exc:
            raise CommandError(f"cannot listen on {options['host']}:{options['port']}: {exc.strerror or exc}")
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
