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
from django.utils import formats, timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

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
        if event.processed_at:
            return _("processed %(when)s") % {"when": _stamp(event.processed_at)}
        return _("processed")
    if event.state == EventState.FAILED:
        return ngettext("failed after %(count)d attempt: %(error)s", "failed after %(count)d attempts: %(error)s",
                        event.attempts) % {"count": event.attempts, "error": event.error}
    if event.error:
        return ngettext("waiting to be processed (%(count)d attempt so far: %(error)s)",
                        "waiting to be processed (%(count)d attempts so far: %(error)s)",
                        event.attempts) % {"count": event.attempts, "error": event.error}
    return ngettext("waiting to be processed (%(count)d attempt so far)",
                    "waiting to be processed (%(count)d attempts so far)", event.attempts) % {"count": event.attempts}


def _stamp(when: datetime) -> str:
    """A moment in the page's language and the hub's time zone."""
    local = timezone.localtime(when)
    return f"{formats.date_format(local, 'SHORT_DATE_FORMAT')} {local:%H:%M:%S}"


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
                event.received_at, "webhook",
                _("Webhook from %(provider)s received") % {"provider": message.get_provider_display()},
                _("The customer's message, verified and stored as event #%(id)s; %(state)s.")
                % {"id": event.pk, "state": _event_state(event)},
                _event_tone(event), request_id=event.request_id, event=event,
                link=(_("Event"), "admin:channels_app_inboundevent_change", event.pk)))
        entries.append(TraceEntry(message.created_at, "created", _("Stored as an inbound message"),
                                  _("From %(contact)s to %(number)s.")
                                  % {"contact": message.contact.address, "number": message.phone_number.number},
                                  Tone.OK, request_id=message.request_id))
    else:
        kind = message.get_kind_display().lower()
        if message.author_id:
            title = _("Created (%(kind)s) by %(user)s") % {"kind": kind, "user": message.author.get_username()}
        else:
            title = _("Created (%(kind)s)") % {"kind": kind}
        parts = {"contact": message.contact.address, "number": message.phone_number.number,
                 "count": message.segments, "encoding": message.encoding}
        if message.encoding:
            detail = ngettext("To %(contact)s from %(number)s; %(count)d segment, %(encoding)s.",
                              "To %(contact)s from %(number)s; %(count)d segments, %(encoding)s.",
                              message.segments) % parts
        else:
            detail = _("To %(contact)s from %(number)s; no text.") % parts
        entries.append(TraceEntry(message.created_at, "created", title, detail, request_id=message.request_id))
        entries += _sends(message)
        for event in events:
            status, code = _status_event_parts(event)
            label = str(MessageStatus(status).label if status in MessageStatus.values else status or _("unknown"))
            failed = status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED)
            if code:
                title = _("Status callback: %(status)s (error %(code)s)") % {"status": label.lower(), "code": code}
            else:
                title = _("Status callback: %(status)s") % {"status": label.lower()}
            entries.append(TraceEntry(
                event.received_at, "status_callback", title,
                _("Stored as event #%(id)s; %(state)s.") % {"id": event.pk, "state": _event_state(event)},
                Tone.ERROR if failed or event.state == EventState.FAILED else _event_tone(event),
                request_id=event.request_id, event=event,
                link=(_("Event"), "admin:channels_app_inboundevent_change", event.pk)))
    for entry in entries:  # shown, never saved: rows written before a secret was known are redacted too
        if entry.event is not None:
            entry.event.url = redact(entry.event.url, secrets)
        if entry.exchange is not None:
            for name in ("url", "request_body", "response_body", "error"):
                setattr(entry.exchange, name, redact(getattr(entry.exchange, name) or "", secrets))
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
        ok = log.status_code is not None and log.status_code < 400 and not log.is_error
        parts = {"number": number, "status": log.status_code, "ms": log.duration_ms}
        if not log.status_code:
            title = _("Send attempt %(number)s: no answer") % parts
        elif log.duration_ms is not None:
            title = _("Send attempt %(number)s: HTTP %(status)s in %(ms)s ms") % parts
        else:
            title = _("Send attempt %(number)s: HTTP %(status)s") % parts
        verdict = _("The provider accepted it.") if ok else _("The provider refused it.")
        entries.append(TraceEntry(log.created_at, "send", title, log.error or verdict,
                                  Tone.OK if ok else Tone.ERROR, request_id=log.request_id, exchange=log,
                                  link=(_("Channel log"), "admin:channels_app_channellog_change", log.pk)))
        if not ok and number < len(sends):
            entries.append(TraceEntry(log.created_at, "retry", _("Retried"),
                                      _("The failure was retryable (a timeout, a 5xx or a 429): sent again."),
                                      Tone.WARNING))
    for log in logs:
        if log.kind != ChannelLogKind.SEND:
            entries.append(TraceEntry(log.created_at, log.kind, f"{log.get_kind_display()}: "
                                      f"{log.method} → {log.status_code or log.error[:60]}", log.error,
                                      Tone.ERROR if log.is_error else Tone.INFO, request_id=log.request_id,
                                      exchange=log,
                                      link=(_("Channel log"), "admin:channels_app_channellog_change", log.pk)))
    return entries


def _outcome(message: Message) -> TraceEntry:
    status = MessageStatus(message.status)
    when = message.status_updated_at or message.created_at
    if message.direction == Direction.INBOUND:
        return TraceEntry(when, "outcome", _("Received"), _("The message reached the hub."), Tone.OK)
    error = f" — {message.error_code}: {message.error_message}" if message.error_code or message.error_message \
        else ""
    if status in (MessageStatus.DELIVERED, MessageStatus.READ):
        stamp = message.read_at if status == MessageStatus.READ else message.delivered_at
        return TraceEntry(stamp or when, "outcome", _("Now: %(status)s") % {"status": str(status.label).lower()},
                          _("The provider reported it on the customer's handset."), Tone.OK)
    if status == MessageStatus.SENT:
        return TraceEntry(when, "outcome", _("Now: sent"), _("The provider accepted it; no delivery report yet (not "
                          "every carrier sends one)."), Tone.OK)
    if status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED):
        return TraceEntry(when, "outcome", _("Now: %(status)s") % {"status": str(status.label).lower()} + error,
                          ngettext("After %(count)d attempt. Fix the cause, then retry it (admin action or API).",
                                   "After %(count)d attempts. Fix the cause, then retry it (admin action or API).",
                                   message.attempts) % {"count": message.attempts},
                          Tone.ERROR)
    if status == MessageStatus.QUEUED and message.next_attempt_at:
        return TraceEntry(when, "outcome", _("Now: queued for another attempt"),
                          _("Attempt %(attempt)s of at most %(most)s is due at %(when)s.")
                          % {"attempt": message.attempts + 1, "most": settings.MESSAGE_MAX_ATTEMPTS,
                             "when": _stamp(message.next_attempt_at)} + error, Tone.WARNING)
    return TraceEntry(when, "outcome", _("Now: %(status)s") % {"status": str(status.label).lower()},
                      _("Waiting for a worker.") if status == MessageStatus.QUEUED
                      else _("A worker is talking to the provider."), Tone.INFO)
