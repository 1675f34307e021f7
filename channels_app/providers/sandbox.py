"""The sandbox provider: sends nothing, like Django's console e-mail backend.

Each send is printed to the log, written to the channel log, and appended to
``outbox`` (a list tests can inspect). Its webhooks take JSON signed with
HMAC-SHA256 of the body, keyed with the account's webhook token, in
``X-Sandbox-Signature`` — so a local script can inject customer messages.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from channels_app.models import Channel, ValidationStatus

from .base import (
    INBOUND,
    STATUS,
    BaseProvider,
    InboundMedia,
    InboundMessage,
    OutgoingMessage,
    SendResult,
    StatusUpdate,
    ValidationResult,
    WebhookPayloadError,
    WebhookRequest,
    WebhookRoute,
    load_json_object,
)
from .http import write_log

logger = logging.getLogger(__name__)

#: The messages the sandbox "sent" in this process, oldest first (the last OUTBOX_MAX).
outbox: list[dict[str, Any]] = []
OUTBOX_MAX = 1000

STATUSES = {"sent", "delivered", "read", "undelivered", "failed"}


def sign(token: str, body: bytes) -> str:
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


class SandboxProvider(BaseProvider):
    name = "sandbox"
    label = "Sandbox"
    choice_label = _("Sandbox (sends nothing)")
    description = _("Sandbox carries SMS and WhatsApp, sends nothing and records what it would send.")
    channels = (Channel.SMS, Channel.WHATSAPP)
    webhook_routes = (
        WebhookRoute("inbound", "inbound/", _("Inbound "
                                              "URL"), _("POST signed JSON here to simulate a customer's "
                                                                "message."),
                     kind=INBOUND),
        WebhookRoute("status", "status/", _("Status URL"), _("POST signed JSON here to simulate a delivery report."),
                     kind=STATUS),
    )
    sends_nothing = True
    connect_help = _("Sandbox accounts need no credentials: they send nothing and record what they would send.")

    def media_hosts(self) -> list[str]:
        return list(settings.SANDBOX_MEDIA_HOSTS)

    def send(self, message: OutgoingMessage) -> SendResult:
        message_id = "SB" + uuid.uuid4().hex
        record = {
            "id": message_id,
            "account": self.account.name,
            "channel": message.channel,
            "from": message.from_,
            "to": message.to,
            "body": message.body,
            "media_urls": list(message.media_urls),
            "content_sid": message.content_sid,
            "content_variables": message.content_variables,
        }
        outbox.append(record)
        if len(outbox) > OUTBOX_MAX:  # a long-running worker keeps a bounded memory
            del outbox[:-OUTBOX_MAX]
        logger.info("sandbox send %s", json.dumps(record, ensure_ascii=False))
        write_log(self.account, kind="send", method="POST", url="sandbox://messages", status_code=200,
                  duration_ms=0, request_body=json.dumps(record, ensure_ascii=False),
                  response_body=json.dumps({"id": message_id, "status": "sent"}))
        return SendResult(provider_message_id=message_id, status="sent", raw=record)

    def validate_credentials(self) -> ValidationResult:
        return ValidationResult(ValidationStatus.VALID, "", "Sandbox accounts need no credentials.")

    def signature_present(self, request: WebhookRequest) -> bool:
        return bool(request.headers.get("x-sandbox-signature"))

    def verify_webhook(self, request: WebhookRequest) -> bool:
        signature = request.headers.get("x-sandbox-signature", "")
        expected = sign(self.account.webhook_token, request.body)
        return bool(signature) and hmac.compare_digest(signature.encode(), expected.encode())

    @staticmethod
    def _payload(request: WebhookRequest) -> dict[str, Any]:
        return load_json_object(request.body)

    def parse_inbound(self, request: WebhookRequest) -> InboundMessage:
        data = self._payload(request)
        missing = [k for k in ("message_id", "from", "to") if not data.get(k)]
        if missing:
            raise WebhookPayloadError("missing fields: " + ", ".join(missing))
        media = data.get("media") or []
        if not isinstance(media, list) or not all(isinstance(m, dict) and m.get("url") for m in media):
            raise WebhookPayloadError("media must be a list of objects with a url")
        return InboundMessage(
            provider_message_id=str(data["message_id"]),
            from_address=str(data["from"]),
            to_address=str(data["to"]),
            channel=self.account.channel if self.account.channel in Channel.values else Channel.SMS,
            body=str(data.get("body") or ""),
            profile_name=str(data.get("profile_name") or ""),
            media=tuple(InboundMedia(str(m["url"]), str(m.get("content_type") or "")) for m in media),
            raw=data,
        )

    def parse_status(self, request: WebhookRequest) -> StatusUpdate:
        data = self._payload(request)
        missing = [k for k in ("message_id", "status") if not data.get(k)]
        if missing:
            raise WebhookPayloadError("missing fields: " + ", ".join(missing))
        if data["status"] not in STATUSES:
            raise WebhookPayloadError(f"status must be one of {', '.join(sorted(STATUSES))}")
        return StatusUpdate(str(data["message_id"]), data["status"], str(data.get("error_code") or ""),
                            str(data.get("error_message") or ""), raw=data)
