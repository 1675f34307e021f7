"""Outbound configurations: which template goes from which number."""

from __future__ import annotations

from channels_app.models import Channel, PhoneNumber
from config.exceptions import ServiceError
from outbound.models import MessageTemplate

from .templates import language_normalize


def configuration_check(*, channel_type: str, phone_number: PhoneNumber, template: MessageTemplate) -> None:
    """The number and the template carry the configuration's channel type; the template can be sent."""
    if channel_type not in (Channel.SMS, Channel.WHATSAPP):
        raise ServiceError("Outbound messages go by SMS or WhatsApp only.", code="channel_invalid",
                           field="channel_type")
    label = Channel(channel_type).label
    if phone_number.channel != channel_type:
        raise ServiceError(
            f"{phone_number.number} is a {Channel(phone_number.channel).label} number; choose a {label} number "
            f"for a {label} configuration.", code="channel_mismatch", field="phone_number",
        )
    if template.channel != channel_type:
        raise ServiceError(
            f"Template '{template.name}' is for {Channel(template.channel).label}; choose a {label} template.",
            code="template_channel_mismatch", field="template",
        )
    languages = {language_normalize(loc.language) for loc in template.localizations.all()}
    if language_normalize(template.default_language) not in languages:
        raise ServiceError(
            f"Template '{template.name}' has no version in its default language '{template.default_language}'; "
            "add one before using it.", code="default_localization_missing", field="template",
        )
