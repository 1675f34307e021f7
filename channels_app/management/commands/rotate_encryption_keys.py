"""Re-encrypt every stored provider secret with the first key of FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from channels_app import services


class Command(BaseCommand):
    help = (
        "Re-encrypt every account's provider secrets with the first key of FIELD_ENCRYPTION_KEYS. To rotate: "
        "put the new key first and keep the old one after it, run this command, then remove the old key. "
        "Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = services.encryption_keys_rotate()
        except ImproperlyConfigured as exc:
            raise CommandError(f"FIELD_ENCRYPTION_KEYS: {exc}") from None
        noun = "account" if count == 1 else "accounts"
        self.stdout.write(f"Re-encrypted the secrets of {count} {noun} with the first key.")
