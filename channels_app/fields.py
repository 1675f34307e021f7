from __future__ import annotations

from typing import Any

from django.db import models

from . import crypto


class EncryptedTextField(models.TextField):
    """A text column whose value is Fernet-encrypted in the database.

    The Python value is the plaintext; the column holds ``fernet:<token>``. An empty
    string is stored as an empty string (nothing to hide). Lookups other than
    ``isnull``/exact-empty make no sense on ciphertext and are not supported.
    """

    description = "Text encrypted at rest"

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return crypto.encrypt(str(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value in (None, ""):
            return value
        return crypto.decrypt(value)

    def value_to_string(self, obj: Any) -> str:
        # Serialized dumps (dumpdata) carry the ciphertext, never the secret; loaddata decrypts it.
        return self.get_prep_value(self.value_from_object(obj)) or ""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(crypto.PREFIX):
            return crypto.decrypt(value)
        return value
