"""The outbound part of a message's trace (``HUB_MESSAGE_TRACE_SOURCES``): the request (and batch) that sent it."""

from __future__ import annotations

from channels_app.models import Message
from channels_app.trace import Tone, TraceEntry
from outbound.models import OutboundRecipient


def message_trace_entries(message: Message) -> list[TraceEntry]:
    recipient = (OutboundRecipient.objects.select_related("request__configuration", "request__batch")
                 .filter(message=message).first())
    if recipient is None:
        return []
    request = recipient.request
    batch = f", batch #{request.batch_id} ({request.batch.name or request.batch.get_source_display()})" \
        if request.batch_id else ""
    return [TraceEntry(request.created_at, "outbound", f"Outbound request {request.request_id}",
                       f"Configuration '{request.configuration.name}' ({request.get_source_display()}{batch}); "
                       f"contact {recipient.index + 1} of {request.contact_count}, {recipient.to_address}, "
                       f"in {recipient.language or 'the default language'}.", Tone.INFO,
                       link=("Request", "admin:outbound_outboundrequest_change", request.pk))]
