"""Play the customer on a sandbox account: send a signed message to the running hub's webhook."""

from __future__ import annotations

import json
import uuid

import requests
from django.core.management.base import BaseCommand, CommandError

from channels_app.models import MessagingAccount, PhoneNumber
from channels_app.providers.sandbox import sign


class Command(BaseCommand):
    help = (
        "Send a customer message to a sandbox number through the hub's real webhook (the web server must be "
        "running, e.g. with `make run`). Example: manage.py sandbox_message --to +15005550006 "
        "--from +15551234567 --text 'Where is my parcel?'"
    )

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, help="The sandbox number the customer texts.")
        parser.add_argument("--from", dest="sender", required=True, help="The customer's number, E.164.")
        parser.add_argument("--text", required=True, help="What the customer writes.")
        parser.add_argument("--name", default="", help="The customer's profile name (WhatsApp).")
        parser.add_argument("--media-url", action="append", default=[], help="An attachment URL (repeatable).")

    def handle(self, *args, **options):
        phone = (PhoneNumber.objects.select_related("account")
                 .filter(provider="sandbox", e164=options["to"]).first()
                 or PhoneNumber.objects.select_related("account")
                 .filter(provider="sandbox", number=options["to"]).first())
        if phone is None:
            numbers = ", ".join(PhoneNumber.objects.filter(provider="sandbox").values_list("number", flat=True))
            raise CommandError(f"--to: {options['to']} is not a sandbox number (sandbox numbers: {numbers or 'none'}).")
        account: MessagingAccount = phone.account
        if not account.is_active:
            raise CommandError(f"--to: account '{account.name}' is inactive.")
        payload = {"message_id": "SB-IN-" + uuid.uuid4().hex, "from": options["sender"], "to": phone.e164,
                   "body": options["text"], "profile_name": options["name"],
                   "media": [{"url": u, "content_type": ""} for u in options["media_url"]]}
        body = json.dumps(payload).encode()
        url = account.callback_urls()["inbound"]
        try:
            response = requests.post(url, data=body, timeout=10, headers={
                "Content-Type": "application/json", "X-Sandbox-Signature": sign(account.webhook_token, body)})
        except requests.RequestException as exc:
            raise CommandError(f"could not reach {url}: {exc.__class__.__name__}. Is the hub running (make run)?")
        if response.status_code != 200:
            raise CommandError(f"the hub answered HTTP {response.status_code}: {response.text[:300]}")
        self.stdout.write(self.style.SUCCESS(f"Delivered {payload['message_id']} to {phone.number} "
                                             f"({account.name}); it will appear as a conversation."))
