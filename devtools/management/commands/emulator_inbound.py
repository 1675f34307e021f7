"""Play the customer through the provider emulator: it posts an inbound webhook as TeleSign, Twilio or ACS would."""

from __future__ import annotations

import base64
import json
import mimetypes
import os
from pathlib import Path

import requests
from django.core.management.base import BaseCommand, CommandError

from devtools.emulator.client import EmulatorClient, EmulatorClientError

DEFAULT_URL = "http://127.0.0.1:8025"


class Command(BaseCommand):
    help = (
        "Make the running provider emulator send a customer's message to the hub, signed as the provider signs "
        "it. Example: manage.py emulator_inbound --provider twilio --from whatsapp:+15551234567 "
        "--to whatsapp:+14155238886 --text 'Where is my parcel?' --profile-name Ana"
    )

    def add_arguments(self, parser):
        parser.add_argument("--emulator-url", default=os.environ.get("EMULATOR_URL", DEFAULT_URL),
                            help=f"The emulator's base URL (default $EMULATOR_URL or {DEFAULT_URL}).")
        parser.add_argument("--provider", required=True, choices=["twilio", "telesign", "acs"])
        parser.add_argument("--account", help="Twilio Account SID, TeleSign Customer ID or ACS resource name (needed "
                                              "when the emulator knows several and the number has no registered "
                                              "account; --from-hub names ACS resources account-<id>).")
        parser.add_argument("--from", dest="sender", required=True,
                            help="The customer: +E164 (Twilio SMS, ACS), whatsapp:+E164, or digits (TeleSign).")
        parser.add_argument("--to", required=True, help="Our number the customer writes to.")
        parser.add_argument("--text", default="", help="What the customer writes.")
        parser.add_argument("--media", action="append", default=[], metavar="CONTENT_TYPE",
                            help="Attach a placeholder file of this type, e.g. image/png (repeatable; Twilio).")
        parser.add_argument("--media-file", action="append", default=[], metavar="PATH",
                            help="Attach this file (repeatable; Twilio).")
        parser.add_argument("--profile-name", help="The customer's WhatsApp profile name.")
        parser.add_argument("--channel", choices=["sms", "whatsapp"], help="Twilio channel (default: from the "
                                                                             "whatsapp: prefix).")
        parser.add_argument("--external-user-id", help="Twilio WhatsApp: the customer's WhatsApp user ID sent beside a "
                            "phone --from (ExternalUserId), e.g. US.13491208655302741918. A customer known by a "
                            "username only: give the user ID as --from whatsapp:US.….")
        parser.add_argument("--button-text", help="Twilio WhatsApp: the quick-reply button tapped (ButtonText).")
        parser.add_argument("--button-payload", help="Twilio WhatsApp: that button's payload (ButtonPayload).")
        parser.add_argument("--url", help="Post to this URL instead of the one registered for the number.")
        parser.add_argument("--no-wait", action="store_true", help="Do not wait for the hub's answer.")

    def handle(self, *args, **options):
        media: list[object] = list(options["media"])
        for name in options["media_file"]:
            path = Path(name)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise CommandError(f"--media-file {name}: {exc.strerror or exc}") from None
            media.append({"content_type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                          "data_base64": base64.b64encode(data).decode("ascii")})
        client = EmulatorClient(options["emulator_url"])
        try:
            result = client.inject_inbound(
                provider=options["provider"], from_=options["sender"], to=options["to"], body=options["text"],
                account=options["account"], media=media or None, profile_name=options["profile_name"],
                channel=options["channel"], url=options["url"], wait=not options["no_wait"],
                external_user_id=options["external_user_id"], button_text=options["button_text"],
                button_payload=options["button_payload"])
        except EmulatorClientError as exc:
            raise CommandError(f"the emulator refused: {exc.message}") from None
        except requests.RequestException as exc:
            raise CommandError(f"could not reach the emulator at {options['emulator_url']}: "
                               f"{exc.__class__.__name__}. Is it running (manage.py run_provider_emulator)?")
        message_id = result.get("message_sid") or result.get("reference_id") or result.get("message_id")
        delivery = result.get("delivery")
        if delivery is None:
            self.stdout.write(f"Queued {message_id} for {result['url']}.")
            return
        if not delivery["ok"]:
            answer = f"HTTP {delivery['http_status']}" if delivery["http_status"] else delivery["error"]
            raise CommandError(f"{message_id} was posted to {result['url']} and the hub answered {answer}: "
                               f"{(delivery.get('response') or '')[:300]}")
        self.stdout.write(self.style.SUCCESS(
            f"Delivered {message_id} to {result['url']} (HTTP {delivery['http_status']})."))
        if options["verbosity"] > 1:
            self.stdout.write(json.dumps(result, indent=2))
