"""A message's whole story, in order: "why didn't my SMS arrive?" on one page (admin) or in one answer (API).

Read from the rows the work already leaves behind — nothing extra is written on the hot paths:

- the **event store** (``InboundEvent``, *Channels → Inbound events*): every verified webhook as it
  arrived — the customer's message that created an inbound message, and each status callback about an
  outgoing one (found by the provider's message id);
- the **channel log** (``ChannelLog``): every HTTP exchange with the provider about this message (each
  send attempt, with what was sent and what came back), linked to the message when it was made;
- the message itself: when it was created and by which request, its attempts, the next retry, its
  status and error now;
- what higher apps add through ``HUB_MESSAGE_TRACE_SOURCES`` (the conversation it belongs to, the
  outbound request and batch that sent it), as functions ``(message) -> list[TraceEntry]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from channels_app.models import (
    ChannelLog,
    ChannelLogKind,
    Direction,
    EventKind,
    EventState,
    InboundEvent,
    Message,
    MessageStatus,
)
from channels_app.providers.http import log_text
from config.redaction import redact

LATER = datetime.max.replace(tzinfo=UTC)


class Tone:
    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass
class TraceEntry:
    at: datetime | None
    kind: str  # webhook, created, send, retry, status_callback, outcome, conversation, outbound …
    title: str
    detail: str = ""
    tone: str = Tone.INFO
    request_id: str = ""
    #: A provider HTTP exchange (the channel-log row), shown with its request and response.
    exchange: ChannelLog | None = None
    #: A stored webhook (the event store), shown with its raw body.
    event: InboundEvent | None = None
    #: (label, admin URL name, object id) of a page with more.
    link: tuple[str, str, int] | None = None
    order: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _status_event_parts(event: InboundEvent) -> tuple[str, str]:
    """The status and error code a status callback reported (its key is ``<id>:<status>:<error code>``)."""
    parts = event.event_key.rsplit(":", 2)
    return (parts[1], parts[2]) if len(parts) == 3 else ("", "")


def _event_tone(event: InboundEvent) -> str:
    return {EventState.FAILED: Tone.ERROR, EventState.PENDING: Tone.WARNING}.get(event.state, Tone.OK)


def _event_state(event: InboundEvent) -> str:
    if event.state == EventState.PROCESSED:
        return f"processed {event.processed_at:%Y-%m-%d %H:%M:%S}" if event.processed_at else "processed"
    if event.state == EventState.FAILED:
        return f"failed after {event.attempts} attempt(s): {event.error}"
    return f"waiting to be processed ({event.attempts} attempt(s) so far{': ' + event.error if event.error else ''})"


def message_events(message: Message) -> list[InboundEvent]:
    """The stored webhooks about this message: the one that brought it (inbound), its status callbacks."""
    if not message.provider_message_id:
        return []
    events = InboundEvent.objects.filter(account_id=message.account_id)
    if message.direction == Direction.INBOUND:
        events = events.filter(kind=EventKind.INBOUND, event_key=message.provider_message_id)
    else:
        events = events.filter(kind=EventKind.STATUS, event_key__startswith=f"{message.provider_message_id}:")
    return list(events.order_by("received_at", "pk")[:200])


def message_trace(*, message: Message) -> list[TraceEntry]:
    """Everything known about ``message``, oldest first."""
    secrets = message.account.secret_values()
    entries: list[TraceEntry] = []
    events = message_events(message)
    for event in events:
        # Shown as text (bytes that are not UTF-8 as \\xNN escapes); a provider may quote the account's id in it.
        event.body_text = redact(log_text(bytes(event.body or b"")), secrets)
    if message.direction == Direction.INBOUND:
        for event in events:
            entries.append(TraceEntry(
                event.received_at, "webhook", f"Webhook from {message.get_provider_display()} received",
                f"The customer's message, verified and stored as event #{event.pk}; {_event_state(event)}.",
                _event_tone(event), request_id=event.request_id, event=event,
                link=("Event", "admin:channels_app_inboundevent_change", event.pk)))
        entries.append(TraceEntry(message.created_at, "created", "Stored as an inbound message",
                                  f"From {message.contact.address} to {message.phone_number.number}.", Tone.OK,
                                  request_id=message.request_id))
    else:
        who = f" by {message.author.get_username()}" if message.author_id else ""
        entries.append(TraceEntry(message.created_at, "created",
                                  f"Created ({message.get_kind_display().lower()}){who}",
                                  f"To {message.contact.address} from {message.phone_number.number}; "
                                  f"{message.segments} segment(s), {message.encoding or 'no text'}.",
                                  request_id=message.request_id))
        entries += _sends(message)
        for event in events:
            status, code = _status_event_parts(event)
            label = MessageStatus(status).label if status in MessageStatus.values else status or "unknown"
            failed = status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED)
            entries.append(TraceEntry(
                event.received_at, "status_callback", f"Status callback: {label.lower()}"
                + (f" (error {code})" if code else ""),
                f"Stored as event #{event.pk}; {_event_state(event)}.",
                Tone.ERROR if failed or event.state == EventState.FAILED else _event_tone(event),
                request_id=event.request_id, event=event,
                link=("Event", "admin:channels_app_inboundevent_change", event.pk)))
    for path in getattr(settings, "HUB_MESSAGE_TRACE_SOURCES", []):
        entries += import_string(path)(message)
    entries.append(_outcome(message))
    for index, entry in enumerate(entries):
        entry.order = index
    return sorted(entries, key=lambda e: (e.kind == "outcome", e.at or LATER, e.order))


def _sends(message: Message) -> list[TraceEntry]:
    logs = list(ChannelLog.objects.filter(message=message).order_by("created_at", "pk"))
    entries = []
    sends = [log for log in logs if log.kind == ChannelLogKind.SEND]
    for number, log in enumerate(sends, start=1):
        answer = f"HTTP {log.status_code}" if log.status_code else "no answer"
        took = f" in {log.duration_ms} ms" if log.duration_ms is not None else ""
        ok = log.status_code is not None and log.status_code < 400 and not log.is_error
        entries.append(TraceEntry(log.created_at, "send", f"Send attempt {number}: {answer}{took}",
                                  log.error or ("The provider accepted it." if ok else "The provider refused it."),
                                  Tone.OK if ok else Tone.ERROR, request_id=log.request_id, exchange=log,
                                  link=("Channel log", "admin:channels_app_channellog_change", log.pk)))
        if not ok and number < len(sends):
            entries.append(TraceEntry(log.created_at, "retry", "Retried",
                                      "The failure was retryable (a timeout, a 5xx or a 429): sent again.",
                                      Tone.WARNING))
    for log in logs:
        if log.kind != ChannelLogKind.SEND:
            entries.append(TraceEntry(log.created_at, log.kind, f"{log.get_kind_display()}: "
                                      f"{log.method} → {log.status_code or log.error[:60]}", log.error,
                                      Tone.ERROR if log.is_error else Tone.INFO, request_id=log.request_id,
                                      exchange=log,
                                      link=("Channel log", "admin:channels_app_channellog_change", log.pk)))
    return entries


def _outcome(message: Message) -> TraceEntry:
    status = MessageStatus(message.status)
    when = message.status_updated_at or message.created_at
    if message.direction == Direction.INBOUND:
        return TraceEntry(when, "outcome", "Received", "The message reached the hub.", Tone.OK)
    error = f" — {message.error_code}: {message.error_message}" if message.error_code or message.error_message \
        else ""
    if status in (MessageStatus.DELIVERED, MessageStatus.READ):
        stamp = message.read_at if status == MessageStatus.READ else message.delivered_at
        return TraceEntry(stamp or when, "outcome", f"Now: {status.label.lower()}",
                          "The provider reported it on the customer's handset.", Tone.OK)
    if status == MessageStatus.SENT:
        return TraceEntry(when, "outcome", "Now: sent", "The provider accepted it; no delivery report yet (not "
                          "every carrier sends one).", Tone.OK)
    if status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED):
        return TraceEntry(when, "outcome", f"Now: {status.label.lower()}{error}",
                          f"After {message.attempts} attempt(s). Fix the cause, then retry it (admin action or API).",
                          Tone.ERROR)
    if status == MessageStatus.QUEUED and message.next_attempt_at:
        return TraceEntry(when, "outcome", "Now: queued for another attempt",
                          f"Attempt {message.attempts + 1} of at most {settings.MESSAGE_MAX_ATTEMPTS} is due at "
                          f"{message.next_attempt_at:%Y-%m-%d %H:%M:%S}{error}.", Tone.WARNING)
    return TraceEntry(when, "outcome", f"Now: {status.label.lower()}", "Waiting for a worker." if status ==
                      MessageStatus.QUEUED else "A worker is talking to the provider.", Tone.INFO)
