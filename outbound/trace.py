"""The outbound part of a message's trace (``HUB_MESSAGE_TRACE_SOURCES``): the request (and batch) that sent it."""

from __future__ import annotations

from django.utils.translation import gettext as _

from channels_app.models import Message
from channels_app.trace import Tone, TraceEntry
from outbound.models import OutboundRecipient


def message_trace_entries(message: Message) -> list[TraceEntry]:
    recipient = (OutboundRecipient.objects.select_related("request__configuration", "request__batch")
                 .filter(message=message).first())
    if recipient is None:
        return []
    request = recipient.request
    parts = {"configuration": request.configuration.name, "source": request.get_source_display(),
             "batch": request.batch_id, "name": request.batch.name or request.batch.get_source_display()
             if request.batch_id else "", "index": recipient.index + 1, "count": request.contact_count,
             "address": recipient.to_address, "language": recipient.language or _("the default language")}
    if request.batch_id:
        detail = _("Configuration '%(configuration)s' (%(source)s, batch #%(batch)s (%(name)s)); contact %(index)s of "
                   "%(count)s, %(address)s, in %(language)s.") % parts
    else:
        detail = _("Configuration '%(configuration)s' (%(source)s); contact %(index)s of %(count)s, %(address)s, "
                   "in %(language)s.") % parts
    return [TraceEntry(request.created_at, "outbound",
                       _("Outbound request %(id)s") % {"id": request.request_id}, detail, Tone.INFO,
                       link=(_("Request"), "admin:outbound_outboundrequest_change", request.pk))]
