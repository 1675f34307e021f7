"""Create the demo admin and two sandbox accounts, once; print how to log in."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from channels_app.models import Channel, MessagingAccount, PhoneNumber
from channels_app.services import NumberSpec, account_create
from config.exceptions import ServiceError
from workstreams.services.readiness import agent_make_ready, workstreams_for_numbers

DEMO_ACCOUNTS = [
    ("Demo SMS (sandbox)", Channel.SMS, NumberSpec("+15005550006", "long_code", description=_("Demo support line"))),
    ("Demo WhatsApp (sandbox)", Channel.WHATSAPP, NumberSpec("+14155238886", name="Demo WhatsApp")),
]

# Made-up credentials the provider emulator is started with (`make run EMULATOR=1`).
EMULATED_TWILIO = {"account_sid": "AC" + "0" * 31 + "1", "auth_token": "emulated-twilio-auth-token"}
EMULATED_TELESIGN = {"customer_id": "11111111-2222-3333-4444-555555555555",
                     "api_key": "ZW11bGF0ZWQtdGVsZXNpZ24ta2V5LTAxMjM0NTY3ODk="}
# The emulator serves ACS on its HTTPS port (8026), with the certificate made in var/emulator-tls/.
EMULATED_ACS = {"endpoint": "https://127.0.0.1:8026", "access_key": "ZW11bGF0ZWQtYWNzLWFjY2Vzcy1rZXktMDEyMzQ1"}
EMULATED_ACCOUNTS = [
    ("Emulated SMS (TeleSign)", Channel.SMS, "telesign", EMULATED_TELESIGN,
     NumberSpec("14252306549", "geographic", description=_("Emulated TeleSign number"))),
    ("Emulated SMS (Twilio)", Channel.SMS, "twilio", EMULATED_TWILIO,
     NumberSpec("+14155550100", "long_code", description=_("Emulated Twilio number"))),
    ("Emulated WhatsApp (Twilio)", Channel.WHATSAPP, "twilio", EMULATED_TWILIO,
     NumberSpec("+14155238886", name="Emulated WhatsApp")),
    ("Emulated SMS (Azure)", Channel.SMS, "acs", EMULATED_ACS,
     NumberSpec("+18005550100", "toll_free", description=_("Emulated ACS toll-free number"))),
]


class Command(BaseCommand):
    help = (
        "Create a demo superuser (username from DEMO_ADMIN_USERNAME, default 'admin'; password from "
        "DEMO_ADMIN_PASSWORD or generated once and kept in var/demo-admin-password) and a sandbox SMS and "
        "WhatsApp account with a number each, each number in a workstream; the admin is an Available agent in the "
        "default queue, ready to answer in the console. Safe to run again: it creates only what is missing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default=os.environ.get("HUB_URL", "http://127.0.0.1:8000"),
                            help="The base URL to print (default http://127.0.0.1:8000).")
        parser.add_argument("--no-banner", dest="banner", action="store_false",
                            help="Do not print how to log in (run_hub prints it once the web server answers).")
        parser.add_argument("--emulator", action="store_true",
                            help="Also create TeleSign, Twilio and ACS accounts with the made-up credentials the "
                                 "provider emulator accepts (run the hub with TWILIO_API_URL / TELESIGN_API_URL "
                                 "pointing at the emulator, and PROVIDER_CA_BUNDLE at its certificate).")

    def handle(self, *args, **options):
        username = os.environ.get("DEMO_ADMIN_USERNAME", "admin")
        password_file = Path(settings.VAR_DIR) / "demo-admin-password"
        password = os.environ.get("DEMO_ADMIN_PASSWORD") or (
            password_file.read_text().strip() if password_file.exists() else secrets.token_urlsafe(12)
        )
        user_model = get_user_model()
        with transaction.atomic():
            user = user_model.objects.filter(username=username).first()
            if user is None:
                user = user_model.objects.create_superuser(username=username, email="", password=password,
                                                           first_name="Demo", last_name="Admin")
                password_file.write_text(password + "\n")
                password_file.chmod(0o600)
            for name, channel, number in DEMO_ACCOUNTS:
                self._ensure(name, channel, "sandbox", None, number)
            if options["emulator"]:
                from devtools.emulator.tls import certificate_in

                certificate_in(Path(settings.VAR_DIR) / "emulator-tls")  # the emulator's HTTPS port serves it
                for name, channel, provider, credentials, number in EMULATED_ACCOUNTS:
                    self._ensure(name, channel, provider, credentials, number)
            # Ready to answer in the console at once: an Available agent in the default queue, and every demo
            # number in a workstream (so its customers reach the default queue and the admin).
            agent_make_ready(user=user)
            workstreams_for_numbers(numbers=list(PhoneNumber.objects.filter(
                account__name__in=[a[0] for a in (*DEMO_ACCOUNTS, *EMULATED_ACCOUNTS)]).order_by("pk")))

        if options["banner"]:
            demo_banner(self.stdout, self.style, url=options["url"], emulator=options["emulator"])

    def _ensure(self, name: str, channel: str, provider: str, credentials: dict[str, str] | None,
                number: NumberSpec) -> None:
        """Create one demo account unless it (or its number, on another account) is there already: whatever the
        database holds, the command goes on and says what it left alone."""
        if MessagingAccount.objects.filter(name=name).exists():
            return
        try:
            with transaction.atomic():
                account_create(name=name, channel=channel, provider=provider, credentials=credentials,
                               numbers=[number])
        except ServiceError as exc:
            self.stderr.write(self.style.WARNING(
                f"Skipped the demo account {name!r}: {exc.message} The rest of the demo is set up; to have this "
                f"account too, remove or rename what is in its way in the admin (Channels → Messaging accounts) "
                f"and run setup_demo again."))


def _login() -> tuple[str, str | None]:
    """The demo admin's username, and its password when the generated (or configured) one still works."""
    username = os.environ.get("DEMO_ADMIN_USERNAME", "admin")
    password_file = Path(settings.VAR_DIR) / "demo-admin-password"
    password = os.environ.get("DEMO_ADMIN_PASSWORD") or (
        password_file.read_text().strip() if password_file.exists() else None)
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        return username, None
    return username, password if password and user.check_password(password) else None


def demo_banner(stdout, style, *, url: str, emulator: bool = False) -> None:
    """How to log in and what to try (printed by run_hub once the web server answers)."""
    url = url.rstrip("/")
    username, login = _login()
    stdout.write("")
    stdout.write(style.SUCCESS("Messaging hub is ready"))
    stdout.write(f"  Console:  {url}/console/  (answer customers here: you are an Available agent)")
    stdout.write(f"  Admin:    {url}/admin/")
    stdout.write(f"  Username: {username}")
    if login:
        stdout.write(f"  Password: {login}")
    else:
        stdout.write(f"  Password: changed since it was generated (reset it: manage.py changepassword {username})")
    stdout.write(f"  API docs: {url}/api/docs/")
    stdout.write("")
    if emulator:
        stdout.write("Provider emulator on http://127.0.0.1:8025 — play a customer in another terminal:")
        stdout.write("  .venv/bin/python manage.py emulator_inbound --provider twilio "
                     "--from whatsapp:+15551234567 --to whatsapp:+14155238886 --text 'Hi!'")
        stdout.write("  .venv/bin/python manage.py emulator_inbound --provider telesign "
                     "--from 15551234567 --to 14252306549 --text 'Where is my order?'")
        stdout.write("  .venv/bin/python manage.py emulator_inbound --provider acs "
                     "--from +15551234567 --to +18005550100 --text 'Is it shipped?'")
    else:
        stdout.write("Play a customer in another terminal:")
        stdout.write("  .venv/bin/python manage.py sandbox_message --to +15005550006 --from +15551234567 "
                     "--text 'Hi!'")
    stdout.write("")
