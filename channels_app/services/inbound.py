"""Webhooks in: store each verified event once, then turn it into a contact, a message and consent.

``webhook_accept`` runs in the web request: the provider reads the webhook into its events
(rejecting malformed payloads with a clear message), each is stored raw under a unique
provider id, and processing is enqueued when the transaction commits. ``inbound_event_process``
runs in a worker, in one transaction, and is idempotent. ``inbound_events_requeue`` (beat)
re-enqueues events that were stored but never processed.
"""

from __future__ import annotations

import codecs
import functools
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.db import transaction
from django.utils import timezone

from channels_app.models import (
    Attachment,
    AttachmentState,
    ConsentState,
    Direction,
    EventKind,
    EventState,
    InboundEvent,
    Message,
    MessageKind,
    MessageStatus,
    MessagingAccount,
    PhoneNumber,
)
from channels_app.policy import Received, inbound_handlers, number_policy
from channels_app.providers import (
    InboundMessage,
    WebhookAnswer,
    WebhookPayloadError,
    WebhookRequest,
    WebhookRoute,
    get_provider,
)
from channels_app.providers.base import FORM_CONTENT_TYPE, BaseProvider, media_type
from config import metrics
from config.db.group_commit import GroupCommit
from config.exceptions import ServiceError
from config.logs import current_request_id, log_bind

from . import consent
from .contacts import contact_for, contact_for_sender
from .delivery import StatusApplied, message_queue, message_status_apply

logger = logging.getLogger(__name__)

MAX_EVENT_KEY = 128

__all__ = ["EventOutcome", "contact_for", "inbound_event_process", "inbound_event_reprocess", "webhook_accept"]


class EventOutcome(StrEnum):
    """What processing a stored event did."""

    RECEIVED = "received"  # a new inbound message, handed upward
    DUPLICATE = "duplicate"  # a provider's retry of a message already stored
    STATUS_MOVED = "status moved"  # a status callback moved its message forward
    STATUS_KEPT = "status kept"  # a status callback the message was already past
    SKIPPED = "skipped"  # the event was already processed or failed
    MISSING = "missing"  # no such event
    WILL_RETRY = "will retry"  # it failed this time; the sweep tries again
    FAILED = "failed"  # it failed for good (malformed, or out of attempts); the error is on the event


def form_params(body: bytes, content_type: str) -> dict[str, list[str]]:
    """The form fields of a webhook body, decoded as Django decodes them; {} unless the body is a form.

    The media type is compared case-insensitively (``APPLICATION/X-WWW-FORM-URLENCODED`` is a form).
    """
    if media_type(content_type) != FORM_CONTENT_TYPE:
        return {}
    charset = "utf-8"
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            try:
                charset = codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                pass  # as Django does: an unknown charset is ignored
    # QueryDict's own steps (its decoding, its limit on the number of fields), into a plain dict: the
    # webhook's hot path needs no MultiValueDict.
    raw = bytes(body)
    try:
        text = raw.decode(charset)
    except UnicodeDecodeError:
        text = raw.decode("iso-8859-1")
    params: dict[str, list[str]] = {}
    try:
        for key, value in parse_qsl(text, keep_blank_values=True, encoding=charset,
                                    max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS):
            params.setdefault(key, []).append(value)
    except ValueError as exc:
        raise TooManyFieldsSent("The number of GET/POST parameters exceeded "
                                "settings.DATA_UPLOAD_MAX_NUMBER_FIELDS.") from exc
    return params


@dataclass
class WebhookAccepted:
    """What a verified webhook left: the answer to give, the events stored (id, newly stored), and the
    events refused with what is wrong with each (the webhook is then answered 400)."""

    answer: WebhookAnswer
    events: list[tuple[int, bool]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    note: str = ""


def webhook_accept(*, account: MessagingAccount, request: WebhookRequest, route: WebhookRoute,
                   provider: BaseProvider | None = None) -> WebhookAccepted:
    """Store every event of a verified webhook once (a provider's retry stores nothing new).

    Raises WebhookPayloadError (a 400) when the payload is malformed as a whole; events of a
    batch that cannot be read are listed in ``refused`` while the others are stored.
    """
    provider = provider or get_provider(account)  # the view's, which verified the signature
    intake = provider.webhook_intake(request, route)
    accepted = WebhookAccepted(answer=intake.answer or route.answer, refused=list(intake.refused), note=intake.note)
    events = []
    for event in intake.events:
        if len(event.key) > MAX_EVENT_KEY:
            accepted.refused.append(f"message id is longer than {MAX_EVENT_KEY} characters")
            continue
        events.append(event)
    # Every event of the webhook in one statement, grouped with other webhooks arriving at the same
    # moment; committed before anything below runs.
    ids = _insert_events([_event_row(account_id=account.pk, kind=event.kind, event_key=event.key, url=request.url,
                                     content_type=event.content_type[:255], body=bytes(event.body))
                          for event in events]) if events else []
    for event, event_id in zip(events, ids, strict=True):
        if event_id is None:
            event_id = InboundEvent.objects.values_list("pk", flat=True).get(account=account, kind=event.kind,
                                                                              event_key=event.key)
            metrics.webhook_accepted(provider=account.provider, kind=event.kind, duplicate=True, event_id=event_id,
                                     account_id=account.pk)
            accepted.events.append((event_id, False))
            continue
        metrics.webhook_accepted(provider=account.provider, kind=event.kind, duplicate=False, event_id=event_id,
                                 account_id=account.pk)
        event_enqueue(event_id=event_id, account_id=account.pk)  # after commit; at once outside a transaction
        accepted.events.append((event_id, True))
    if accepted.refused and not intake.events and len(accepted.refused) == 1:
        raise WebhookPayloadError(accepted.refused[0])
    return accepted


#: The columns a webhook gives values for, then those that start at the model's default; with the
#: id, every column of InboundEvent (a test holds these lists to the model).
_INSERT_COLUMNS = ("account_id", "kind", "event_key", "url", "content_type", "body", "received_at", "request_id")
_DEFAULT_COLUMNS = ("state", "attempts", "error", "processed_at")
_insert_sql: dict[tuple[str, int], str] = {}
#: Rows per INSERT statement (a webhook of more events, or a group of more rows, takes several statements
#: in one transaction): well under SQLite's and PostgreSQL's limits on parameters per statement.
_ROWS_PER_STATEMENT = 500


def _event_row(*, account_id: int, kind: str, event_key: str, url: str, content_type: str, body: bytes) -> tuple:
    """The values of one event's row, in the columns' order; built in the request's own thread (its request id,
    the moment it arrived)."""
    received_at = transaction.get_connection().ops.adapt_datetimefield_value(timezone.now())
    return (account_id, kind, event_key, url, content_type, body, received_at, current_request_id(), *_defaults())


def _insert_once(*, account_id: int, kind: str, event_key: str, url: str, content_type: str,
                 body: bytes) -> int | None:
    """INSERT a new event unless its key is already stored; its id when this call stored it."""
    return _insert_events([_event_row(account_id=account_id, kind=kind, event_key=event_key, url=url,
                                      content_type=content_type, body=body)])[0]


def _insert_events(rows: list[tuple]) -> list[int | None]:
    """Store the rows of one webhook's events unless their keys are already stored; for each, its id when
    this call stored it (None: already there).

    Outside a transaction the rows are committed when this returns, together with those of the webhooks
    other threads of this process are storing at the same moment (``WEBHOOK_GROUP_COMMIT_MAX``). Inside a
    transaction (the caller's to commit) they are written alone, on the caller's connection.
    """
    connection = transaction.get_connection()
    return _group_commit.submit(rows, alone=connection.in_atomic_block or not connection.get_autocommit())


def _write_groups(groups: Sequence[list[tuple]]) -> list[list[int | None]]:
    """Write the rows of several webhooks, atomically; each webhook's ids (None: already stored).

    The webhook's hot path: ``INSERT … VALUES (…), (…) ON CONFLICT DO NOTHING RETURNING …`` (PostgreSQL
    and SQLite), no exception and no savepoint for a provider's retry, one statement (atomic on its own
    and committed at once outside a transaction) unless the rows are many; no model instance is built.
    """
    # One row per key (a provider's retry arriving with its original: the first is written), in key order, so
    # that two processes writing overlapping keys lock them in the same order and cannot deadlock.
    unique: dict[tuple, tuple] = {}
    for group in groups:
        for row in group:
            unique.setdefault((row[0], row[1], row[2]), row)
    rows = [unique[key] for key in sorted(unique)]
    chunks = [rows[i:i + _ROWS_PER_STATEMENT] for i in range(0, len(rows), _ROWS_PER_STATEMENT)]
    connection = transaction.get_connection()
    stored: dict[tuple, int] = {}
    if len(chunks) == 1:
        stored = _insert_rows(connection, chunks[0])
    else:
        with transaction.atomic():
            for chunk in chunks:
                stored.update(_insert_rows(connection, chunk))
    ids: list[list[int | None]] = []
    for group in groups:
        # A key twice in the write (a provider's retry arriving with the original): the first has the id.
        ids.append([stored.pop((row[0], row[1], row[2]), None) for row in group])
    return ids


def _insert_rows(connection, rows: list[tuple]) -> dict[tuple, int]:
    """(account id, kind, event key) → id of each row this statement stored."""
    sql = _insert_sql.get((connection.vendor, len(rows)))
    if sql is None:
        quote = connection.ops.quote_name
        # Identifiers only, from this module and quoted; every value is a parameter.
        columns = _INSERT_COLUMNS + _DEFAULT_COLUMNS
        values = ", ".join([f"({', '.join(['%s'] * len(columns))})"] * len(rows))
        returning = ", ".join(map(quote, ("id", "account_id", "kind", "event_key")))
        sql = (f"INSERT INTO {quote(InboundEvent._meta.db_table)} ({', '.join(map(quote, columns))}) "  # noqa: S608
               f"VALUES {values} ON CONFLICT DO NOTHING RETURNING {returning}")
        if len(_insert_sql) < 256:
            _insert_sql[(connection.vendor, len(rows))] = sql
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])
        return {(account_id, kind, key): pk for pk, account_id, kind, key in cursor.fetchall()}


_group_commit: GroupCommit[list[tuple], list[int | None]] = GroupCommit(
    _write_groups, max_items=lambda: settings.WEBHOOK_GROUP_COMMIT_MAX,
    wait_seconds=lambda: settings.WEBHOOK_GROUP_COMMIT_WAIT_SECONDS)


@functools.cache
def _defaults() -> tuple:
    """The model's defaults for _DEFAULT_COLUMNS (plain constants), read once."""
    fields = {f.column: f for f in InboundEvent._meta.concrete_fields}
    return tuple(fields[column].get_default() for column in _DEFAULT_COLUMNS)


#: What ``new_webhook_token`` makes (URL-safe base64), with room for older, longer tokens.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: Decrypted accounts by webhook token (and when the row was last looked at): reused while the row's
#: ``updated_at`` is unchanged, looked at again after WEBHOOK_ACCOUNT_RECHECK_SECONDS.
_webhook_accounts: dict[str, tuple[MessagingAccount, float]] = {}
WEBHOOK_ACCOUNT_RECHECK_SECONDS = 2.0


def account_for_webhook(*, token: str, provider: str) -> MessagingAccount | None:
    """The active account behind a webhook URL.

    Under load a web process looks at the row at most every two seconds (so a deactivation or a
    credential change applies within that); the decrypted account is reused while its row has
    not changed.
    """
    cached, checked_at = _webhook_accounts.get(token, (None, 0.0))
    now = time.monotonic()
    if cached is None and not _TOKEN.fullmatch(token):
        return None  # not a token the hub makes (a NUL or a 10 kB path would not even reach the database)
    if cached is not None and cached.provider == provider and now - checked_at < WEBHOOK_ACCOUNT_RECHECK_SECONDS:
        return cached
    row = (MessagingAccount.objects.filter(webhook_token=token, provider=provider, is_active=True)
           .values("pk", "updated_at").first())
    if row is None:
        _webhook_accounts.pop(token, None)
        return None
    if cached is None or cached.pk != row["pk"] or cached.updated_at != row["updated_at"]:
        cached = MessagingAccount.objects.get(pk=row["pk"])
    if len(_webhook_accounts) > 1000:
        _webhook_accounts.clear()
    _webhook_accounts[token] = (cached, now)
    return cached


def _drain_key(account_id: int, slot: int) -> str:
    from django.db import connection

    return f"inbound-drain:{connection.settings_dict['NAME']}:{account_id}:{slot}"


def drains_coalesce() -> bool:
    """Shared locks need a shared cache: with Redis, events wake a few drains instead of one task each."""
    return bool(settings.REDIS_URL) and settings.INBOUND_DRAIN_SLOTS > 0


def event_enqueue(*, event_id: int, account_id: int) -> None:
    from channels_app.tasks import inbound_drain_task, inbound_event_process_task

    # The event is stored either way: if the broker or Redis cannot be reached, the webhook is still
    # answered (robust=True logs the error) and the sweep processes the event later.
    if not drains_coalesce():
        transaction.on_commit(lambda: inbound_event_process_task.apply_async(args=[event_id], queue="default"),
                              robust=True)
        return

    def wake() -> None:
        from django.core.cache import cache

        memo = settings.INBOUND_WAKE_MEMO_SECONDS
        now = time.monotonic()
        if memo and now - _drain_seen.get(account_id, -memo) < memo:
            # This process saw a drain slot of the account taken less than `memo` seconds ago. That
            # drain lets go of its slot later than that, and looks at the account's pending events
            # once more 2 × `memo` after letting go (a delayed final check), so it sees this event,
            # committed before. Under load this saves a Redis round trip per webhook.
            return
        # One slot per event (spread over the slots): one round trip. A drain holding it will find
        # this event, since every drain looks at all of the account's pending events before it stops.
        slot = event_id % settings.INBOUND_DRAIN_SLOTS
        if cache.add(_drain_key(account_id, slot), 1, timeout=settings.INBOUND_DRAIN_LEASE_SECONDS):
            inbound_drain_task.apply_async(args=[account_id, slot], queue="default")
        if memo:
            if len(_drain_seen) > 10_000:
                _drain_seen.clear()
            _drain_seen[account_id] = now  # taken before the call: the slot was held after this instant

    transaction.on_commit(wake, robust=True)


#: Account id → when (time.monotonic()) this process last saw one of the account's drain slots taken.
_drain_seen: dict[int, float] = {}


def _final_check_later(account_id: int, slot: int) -> None:
    """After a drain lets go of its slot: look at the account's pending events once more, late enough
    to see every event whose webhook skipped the wake-up (see ``event_enqueue``)."""
    from channels_app.tasks import inbound_drain_task

    memo = settings.INBOUND_WAKE_MEMO_SECONDS
    if memo:
        inbound_drain_task.apply_async(args=[account_id, slot], kwargs={"final": True}, countdown=2 * memo,
                                       queue="default")


def inbound_drain(*, account_id: int, slot: int, final: bool = False) -> int:
    """Process the account's pending events, batch after batch, until none is left; returns how many.

    Holds drain slot ``slot`` while it works (refreshed as it goes); releases it, then looks
    once more, so an event stored while it was finishing is never left waiting, and schedules a
    delayed final check (``final=True``: takes the slot only if events are waiting). After a batch
    that was not full, and before letting go, it waits ``INBOUND_DRAIN_GATHER_SECONDS`` once, so that
    events arriving at a steady pace are taken in batches by the running drain.
    """
    from django.core.cache import cache

    from .inbound_batch import inbound_events_take_batch
    from .status_batch import status_events_process_batch

    key = _drain_key(account_id, slot)
    waiting = InboundEvent.objects.filter(account_id=account_id, state=EventState.PENDING, attempts=0)
    if final and (not waiting.exists()
                  or not cache.add(key, 1, timeout=settings.INBOUND_DRAIN_LEASE_SECONDS)):
        return 0  # nothing left, or a running drain has them (and will check again itself)
    deadline = time.monotonic() + settings.INBOUND_DRAIN_MAX_SECONDS
    gather = settings.INBOUND_DRAIN_GATHER_SECONDS
    processed = 0
    gathered = False  # the drain waited for more events since its last batch
    try:
        while True:
            # Events that already failed an attempt wait for the sweep's delayed retry.
            head = waiting.order_by("pk").values_list("pk", "kind").first()
            if head is None and gather and not gathered and time.monotonic() + gather < deadline:
                # Nothing waiting: under a steady trickle more arrives in a moment, and is taken by this
                # drain in one batch rather than by a fresh task per event or two.
                gathered = True
                time.sleep(gather)
                continue
            if head is None:
                cache.delete(key)
                _final_check_later(account_id, slot)
                if not waiting.exists():
                    return processed
                if not cache.add(key, 1, timeout=settings.INBOUND_DRAIN_LEASE_SECONDS):
                    return processed  # another drain has taken over
                continue
            if processed and time.monotonic() > deadline:
                # A bounded slice (one batch at least): let other tasks run, hand the slot to a fresh
                # task queued behind them.
                from channels_app.tasks import inbound_drain_task

                cache.touch(key, settings.INBOUND_DRAIN_LEASE_SECONDS)
                inbound_drain_task.apply_async(args=[account_id, slot], queue="default")
                key = None
                return processed
            cache.touch(key, settings.INBOUND_DRAIN_LEASE_SECONDS)
            taken = settings.INBOUND_PROCESS_BATCH
            if head[1] == EventKind.INBOUND:
                taken = inbound_events_take_batch(event_id=head[0])[1]
            else:
                status_events_process_batch(event_id=head[0])
            processed += 1
            gathered = False
            if waiting.filter(pk=head[0]).exists():
                # Still untouched: another drain's batch holds it (SKIP LOCKED). That drain looks at all
                # pending events again before it stops; taking the same head again would only spin.
                cache.delete(key)
                key = None
                _final_check_later(account_id, slot)
                return processed
            if gather and taken < settings.INBOUND_PROCESS_BATCH and time.monotonic() + gather < deadline:
                gathered = True  # a batch that was not full: let the next one gather (bounded by the slice)
                time.sleep(gather)
    except Exception:
        if key:
            cache.delete(key)
            _final_check_later(account_id, slot)
        raise


def _request_of(event: InboundEvent) -> WebhookRequest:
    """The webhook as it arrived. Form fields are parsed again from the stored body (as Django
    parsed them in the web request), so they are not stored twice."""
    body = bytes(event.body)
    headers = {"content-type": event.content_type} if event.content_type else {}
    return WebhookRequest(method="POST", url=event.url, headers=headers, body=body,
                          params=form_params(body, event.content_type))


def inbound_event_process(*, event_id: int) -> EventOutcome:
    """Process one stored event; running it again changes nothing. Returns what happened."""
    try:
        with transaction.atomic():
            event = (InboundEvent.objects.select_for_update().select_related("account")
                     .filter(pk=event_id).first())
            if event is None:
                return EventOutcome.MISSING
            if event.state != EventState.PENDING:
                return EventOutcome.SKIPPED
            log_bind(event_id=event.pk, account_id=event.account_id, request_id=event.request_id)
            provider = get_provider(event.account)
            request = _request_of(event)
            if event.kind == EventKind.INBOUND:
                outcome = _receive(event.account, provider.parse_inbound(request))
            else:
                update = provider.parse_status(request)
                # Our own message id rides in the callback when the provider carries it back.
                hint = provider.status_message_hint(request)
                applied = message_status_apply(account_id=event.account_id, update=update, message_hint=hint,
                                               provider=event.account.provider)
                if applied == StatusApplied.UNKNOWN_MESSAGE:
                    raise LookupError(f"no outgoing message with id {update.provider_message_id}")
                moved = applied in (StatusApplied.MOVED, StatusApplied.RETRYING)
                outcome = EventOutcome.STATUS_MOVED if moved else EventOutcome.STATUS_KEPT
            event.state = EventState.PROCESSED
            event.processed_at = timezone.now()
            event.attempts += 1
            event.error = ""
            event.save(update_fields=["state", "processed_at", "attempts", "error"])
            metrics.inbound_processed(provider=event.account.provider, kind=event.kind, received_at=[event.received_at])
            return outcome
    except (WebhookPayloadError, LookupError, ServiceError) as exc:
        return _record_failure(event_id, str(exc), permanent=isinstance(exc, WebhookPayloadError))
    except Exception as exc:
        logger.exception("processing inbound event %s failed", event_id)
        _record_failure(event_id, f"{exc.__class__.__name__}: {exc}", permanent=False)
        raise


def _record_failure(event_id: int, error: str, *, permanent: bool) -> EventOutcome:
    """Count a failed attempt; an event out of attempts (or malformed) is kept as failed with its reason,
    counted and logged (``metrics.inbound_failed``): nothing a provider was answered 200 for is lost silently."""
    with transaction.atomic():
        event = InboundEvent.objects.select_for_update().select_related("account").filter(pk=event_id).first()
        if event is None or event.state != EventState.PENDING:
            return EventOutcome.SKIPPED
        event.attempts += 1
        event.error = error.replace("\x00", "\\x00")[:2000]  # PostgreSQL text holds no NUL
        if permanent or event.attempts >= settings.INBOUND_EVENT_MAX_ATTEMPTS:
            event.state = EventState.FAILED
            event.processed_at = timezone.now()
        event.save(update_fields=["attempts", "error", "state", "processed_at"])
        if event.state == EventState.FAILED:
            metrics.inbound_failed(provider=event.account.provider, kind=event.kind,
                                   reason="invalid_payload" if permanent else "attempts_exhausted",
                                   error=event.error, event_id=event.pk, account_id=event.account_id)
            return EventOutcome.FAILED
        return EventOutcome.WILL_RETRY


def _find_number(account: MessagingAccount, inbound: InboundMessage) -> PhoneNumber:
    """The account's number a message was sent to: the number itself, else (a sender of a provider's sender
    pool) the number the account holds for the pool, else the account's own number
    on the channel when the provider says the pool is the account's."""
    numbers = list(account.numbers.all())
    for phone in numbers:
        if inbound.to_address in (phone.e164, phone.number):
            return phone
    if inbound.service_id:
        provider = get_provider(account)
        for phone in numbers:
            if inbound.service_id in (phone.e164, phone.number):
                return phone
        if provider.service_belongs_to_account(inbound.service_id):
            on_channel = [p for p in numbers if p.channel == inbound.channel] or numbers
            if on_channel:
                return on_channel[0]
        raise WebhookPayloadError(f"{inbound.to_address} (a sender of {inbound.service_id}) is not a number of "
                                  f"account '{account.name}', and the account does not hold {inbound.service_id}")
    raise WebhookPayloadError(f"{inbound.to_address} is not a number of account '{account.name}'")


def _receive(account: MessagingAccount, inbound: InboundMessage) -> EventOutcome:
    phone = _find_number(account, inbound)
    if Message.objects.filter(provider=account.provider, provider_message_id=inbound.provider_message_id).exists():
        return EventOutcome.DUPLICATE
    now = timezone.now()
    contact, address = contact_for_sender(address=inbound.from_address, linked=inbound.user_id,
                                          display_name=inbound.profile_name, when=now)
    message = Message.objects.create(
        account=account, phone_number=phone, contact=contact, provider=account.provider, channel=phone.channel,
        direction=Direction.INBOUND, body=inbound.body, status=MessageStatus.RECEIVED, address=address,
        button_payload=inbound.button_payload[:1000],
        provider_message_id=inbound.provider_message_id, status_updated_at=now,
    )
    refused = _attachments(message, inbound)
    keyword = consent.keyword_action(inbound.body)
    consent_changed = False
    if keyword in (consent.Keyword.OPT_OUT, consent.Keyword.OPT_IN):
        state = ConsentState.OPTED_OUT if keyword == consent.Keyword.OPT_OUT else ConsentState.OPTED_IN
        consent_changed = consent.consent_record(
            contact=contact, phone_number=phone, state=state, source="keyword",
            detail=inbound.body.strip()[:40]) is not None
    elif keyword == consent.Keyword.HELP and account.help_reply.strip() and not number_policy(phone).answers_help:
        try:
            message_queue(phone_number=phone, contact=contact, body=account.help_reply, kind=MessageKind.AUTOMATED)
        except ServiceError as exc:
            logger.info("help reply to %s not sent: %s", contact.address, exc.message)
    logger.info("inbound message %s received", message.pk, extra={"message_id": message.pk})
    log_bind(message_id=message.pk)
    received = Received(message=message, keyword=keyword, consent_changed=consent_changed,
                        refused_attachments=refused)
    for handler in inbound_handlers():
        handler.one(received)
    return EventOutcome.RECEIVED


def _attachments(message: Message, inbound: InboundMessage) -> int:
    """Record the message's attachments; returns how many were refused."""
    if not inbound.media:
        return 0
    allowed = number_policy(message.phone_number).customers_may_send_attachments
    for media in inbound.media:
        attachment = Attachment.objects.create(
            message=message, url=media.url, content_type=media.content_type[:100],
            state=AttachmentState.PENDING if allowed else AttachmentState.REFUSED,
            error="" if allowed else "Customers may not send attachments on this number; the file was not stored.",
        )
        if allowed:
            from channels_app.tasks import attachment_download_task

            attachment_id = attachment.pk
            transaction.on_commit(lambda a=attachment_id: attachment_download_task.apply_async(args=[a]))
    return 0 if allowed else len(inbound.media)


def inbound_events_requeue() -> int:
    """Re-enqueue events stored but not processed within INBOUND_EVENT_REQUEUE_AFTER_SECONDS."""
    from channels_app.tasks import inbound_event_process_task

    cutoff = timezone.now() - timedelta(seconds=settings.INBOUND_EVENT_REQUEUE_AFTER_SECONDS)
    ids = list(InboundEvent.objects.filter(state=EventState.PENDING, received_at__lt=cutoff)
               .order_by("pk").values_list("pk", flat=True)[: settings.INBOUND_EVENT_REQUEUE_LIMIT])
    for event_id in ids:  # one task each: a retried event is processed even while drains run
        transaction.on_commit(lambda e=event_id: inbound_event_process_task.apply_async(args=[e], queue="default"))
    return len(ids)


def status_events_settle(*, limit: int = 5000) -> int:
    """Apply the status callbacks that are stored but not processed yet, here and now.

    A sweep that is about to send again a message whose outcome is unknown (its worker died
    during the provider call) calls this first: the provider may already have said, in a
    callback still waiting in the queue, that the message went out.
    """
    from .status_batch import status_events_process_batch

    ids = list(InboundEvent.objects.filter(kind=EventKind.STATUS, state=EventState.PENDING)
               .order_by("pk").values_list("pk", flat=True)[:limit])
    # In batches (per account); an event a batch already took is skipped by the next look.
    for event_id in ids:
        status_events_process_batch(event_id=event_id)
    return len(ids)


def inbound_event_reprocess(*, event: InboundEvent) -> bool:
    """Give a stored event a fresh start and queue it: pending, no attempts, no error.

    A processed event is left alone (returns False). A failed event gets the full
    INBOUND_EVENT_MAX_ATTEMPTS again, so it is not failed anew after a single try.
    """
    with transaction.atomic():
        reset = (InboundEvent.objects.filter(pk=event.pk).exclude(state=EventState.PROCESSED)
                 .update(state=EventState.PENDING, attempts=0, error="", processed_at=None))
        if reset:
            event_enqueue(event_id=event.pk, account_id=event.account_id)  # runs once this transaction commits
    event.refresh_from_db(fields=["state", "attempts", "error", "processed_at"])
    return bool(reset)
