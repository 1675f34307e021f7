"""A provider that exists only in the tests: proof that adding one is one module and one HUB_PROVIDERS line."""

from __future__ import annotations

import hmac

from channels_app.providers import (
    INBOUND,
    BaseProvider,
    CredentialField,
    InboundMessage,
    OutgoingMessage,
    SendResult,
    ValidationResult,
    WebhookAnswer,
    WebhookRequest,
    WebhookRoute,
)
from channels_app.providers.base import load_json_object

sent: list[OutgoingMessage] = []


def _check_key(value: str) -> str:
    if not value.startswith("toy_"):
        raise ValueError("Toy key starts with toy_.")
    return value


class ToyProvider(BaseProvider):
    name = "toy"
    label = "Toy Telecom"
    description = "Toy Telecom carries SMS."
    channels = ("sms",)
    credential_fields = (CredentialField("toy_key", "Toy key", "The key from the Toy console.", env="TOY_KEY",
                                         check=_check_key),)
    number_types = (("vanity", "Vanity number"),)
    url_prefix = "toy-telecom"
    webhook_routes = (WebhookRoute("in", "in/", "Toy inbound URL", "Paste it into the Toy console.", kind=INBOUND,
                                   answer=WebhookAnswer(body=b"OK", content_type="text/plain")),)
    max_attachments = 0

    def signature_present(self, request: WebhookRequest) -> bool:
        return "x-toy-key" in request.headers

    def verify_webhook(self, request: WebhookRequest) -> bool:
        return hmac.compare_digest(request.headers.get("x-toy-key", ""), self.credential("toy_key"))

    def parse_inbound(self, request: WebhookRequest) -> InboundMessage:
        data = load_json_object(request.body)
        return InboundMessage(str(data["id"]), data["from"], data["to"], "sms", data["text"])

    def send(self, message: OutgoingMessage) -> SendResult:
        sent.append(message)
        return SendResult(f"toy-{len(sent)}", "sent")

    def validate_credentials(self) -> ValidationResult:
        return ValidationResult("valid", "", "Toy says yes.")
