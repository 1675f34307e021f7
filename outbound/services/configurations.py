"""Outbound configurations: which template goes from which number."""

from __future__ import annotations

from django.utils.translation import gettext as _

from channels_app.models import Channel, PhoneNumber
from config.exceptions import ServiceError
from outbound.models import MessageTemplate

from .templates import language_normalize


def configuration_check(*, channel_type: str, phone_number: PhoneNumber, template: MessageTemplate) -> None:
    """The number and the template carry the configuration's channel type; the template can be sent."""
    if channel_type not in (Channel.SMS, Channel.WHATSAPP):
        raise ServiceError(_("Outbound messages go by SMS or WhatsApp only."), code="channel_invalid",
                           field="channel_type")
    label = Channel(channel_type).label
    if phone_number.channel != channel_type:
        raise ServiceError(
            _("%(number)s is a %(number_channel)s number; choose a %(channel)s number for a %(channel)s "
              "configuration.") % {"number": phone_number.number, "number_channel": Channel(phone_number.channel).label,
                                   "channel": label},
            code="channel_mismatch", field="phone_number",
        )
    if template.channel != channel_type:
        raise ServiceError(
            _("Template '%(template)s' is for %(template_channel)s; choose a %(channel)s template.")
            % {"template": template.name, "template_channel": Channel(template.channel).label, "channel": label},
            code="template_channel_mismatch", field="template",
        )
    languages = {language_normalize(loc.language) for loc in template.localizations.all()}
    if language_normalize(template.default_language) not in languages:
        raise ServiceError(
            _("Template '%(template)s' has no version in its default language '%(default_language)s'; add one before "
              "using it.") % {"template": template.name, "default_language": template.default_language},
            code="default_localization_missing", field="template",
        )
