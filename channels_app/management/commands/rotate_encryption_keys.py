"""Re-encrypt every encrypted column (provider credentials, bot secrets …) with the first key of
FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from channels_app import services


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted value stored by any installed app (provider credentials, HTTP bot secrets) "
        "with the first key of FIELD_ENCRYPTION_KEYS. To rotate: put the new key first and keep the old one after "
        "it, run this command, then remove the old key. All or nothing; safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            counts = services.encryption_keys_rotate()
        except ImproperlyConfigured as exc:
            raise CommandError(f"FIELD_ENCRYPTION_KEYS: {exc}") from None
        done = ", ".join(f"{label} {count} {'row' if count == 1 else 'rows'}" for label, count in counts.items())
        self.stdout.write(f"Re-encrypted with the first key: {done or 'nothing (no encrypted fields)'}.")
