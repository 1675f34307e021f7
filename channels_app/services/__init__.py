"""Use cases of the wire layer, one module per subject.

Accounts and numbers are re-exported here; the other subjects are imported by module:
``consent``, ``delivery`` (outgoing messages), ``inbound`` (webhooks in), ``media`` (attachments).
"""

from .accounts import (
    CREDENTIALS_PERMISSION,
    NumberSpec,
    account_check_provider_channel,
    account_create,
    account_import_numbers,
    account_remote_numbers,
    account_send_test_message,
    account_set_credentials,
    account_update,
    account_validate,
    channel_log_trim,
    encryption_keys_rotate,
    number_add,
    number_delete,
    number_update,
    phone_number_carries_attachments,
    phone_number_provider_label,
)
from .delivery import MAX_MESSAGE_LENGTH  # the one limit every send obeys

__all__ = [
    "CREDENTIALS_PERMISSION",
    "MAX_MESSAGE_LENGTH",
    "NumberSpec",
    "account_check_provider_channel",
    "account_create",
    "account_import_numbers",
    "account_remote_numbers",
    "account_send_test_message",
    "account_set_credentials",
    "account_update",
    "account_validate",
    "channel_log_trim",
    "encryption_keys_rotate",
    "number_add",
    "number_delete",
    "number_update",
    "phone_number_carries_attachments",
    "phone_number_provider_label",
]

