from __future__ import annotations

import json
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


class EncryptedJSONField(EncryptedTextField):
    """A JSON object encrypted at rest as one Fernet token (``fernet:<token>``; empty: ``""``).

    The Python value is a dict of plain values. Being an EncryptedTextField, it is found and
    re-encrypted by ``rotate_encryption_keys`` like the others.
    """

    description = "JSON object encrypted at rest"

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("default", dict)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def get_prep_value(self, value: Any) -> Any:
        if value in (None, "", {}):
            return ""
        if isinstance(value, str) and value.startswith(crypto.PREFIX):
            return value  # already ciphertext (loaddata, rotation)
        return crypto.encrypt(json.dumps(value, sort_keys=True, separators=(",", ":")))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value in (None, ""):
            return {}
        return json.loads(crypto.decrypt(value))

    def to_python(self, value: Any) -> Any:
        if value in (None, ""):
            return {}
        if isinstance(value, str):
            return json.loads(crypto.decrypt(value) if value.startswith(crypto.PREFIX) else value)
        return value
