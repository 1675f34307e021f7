"""Use cases of the wire layer: accounts, credentials, numbers, validation, test sends, log trimming.

Every caller (admin, API, management commands, tasks) goes through these functions,
so the rules live in one place. Refusals raise ``config.exceptions.ServiceError``
naming the field at fault.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.fields import EncryptedTextField
from channels_app.models import (
    Channel,
    ChannelLog,
    Contact,
    Message,
    MessageKind,
    MessagingAccount,
    PhoneNumber,
    ValidationStatus,
)
from channels_app.numbers import check_number, to_e164
from channels_app.providers import (
    ProviderError,
    RemoteNumber,
    ValidationResult,
    credential_fields,
    get_provider,
    provider_class,
    provider_classes,
    provider_label,
)
from config.exceptions import ServiceError
from config.redaction import redact

from .delivery import Draft, message_send_now

logger = logging.getLogger(__name__)

CREDENTIALS_PERMISSION = "channels_app.manage_credentials"


@dataclass(frozen=True)
class NumberSpec:
    number: str
    number_type: str = ""
    name: str = ""
    description: str = ""


NAME_MAX_LENGTH = MessagingAccount._meta.get_field("name").max_length


def _check_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise ServiceError(_("Enter a name for the account."), code="name_required", field="name")
    if len(name) > NAME_MAX_LENGTH:
        raise ServiceError(_("The name is %(length)s characters; the limit is %(limit)s.")
                           % {"length": len(name), "limit": NAME_MAX_LENGTH},
                           code="name_too_long", field="name", extra={"limit": NAME_MAX_LENGTH})
    if "\x00" in name:
        raise ServiceError(_("The name holds a NUL character; remove it."), code="name_invalid", field="name")
    return name


def _check_provider_channel(provider: str, channel: str) -> None:
    classes = provider_classes()
    if provider not in classes:
        raise ServiceError(
            _("Unknown provider '%(provider)s'; choose one of: %(choices)s.")
            % {"provider": provider, "choices": ", ".join(classes)},
            code="provider_invalid", field="provider",
        )
    if channel not in Channel.values:
        raise ServiceError(
            _("Unknown channel '%(channel)s'; choose one of: %(choices)s.")
            % {"channel": channel, "choices": ", ".join(Channel.values)},
            code="channel_invalid", field="channel",
        )
    cls = classes[provider]
    if channel not in cls.channels:
        carried = _(" and ").join(str(Channel(c).label) for c in cls.channels)
        raise ServiceError(
            _("%(provider)s carries %(carried)s only, not %(channel)s.")
            % {"provider": cls.label, "carried": carried, "channel": Channel(channel).label},
            code="provider_channel_invalid", field="channel",
        )


def _check_credentials(provider: str, credentials: Mapping[str, str],
                       checked: Iterable[str] | None = None) -> dict[str, str]:
    """The provider's credential values from ``credentials``; every required one must be given, and each of
    ``checked`` (default: all) must pass the field's rules."""
    cls = provider_class(provider)
    own = {spec.name: spec for spec in cls.credential_fields}
    everyone = credential_fields()
    unknown = [k for k, v in credentials.items() if v and k not in own]
    if unknown:
        labels = ", ".join(str(everyone[k][1].label) if k in everyone else k for k in unknown)
        raise ServiceError(_("%(provider)s accounts do not use "
                             "%(fields)s.") % {"provider": cls.label, "fields": labels},
                           code="credentials_invalid", field=unknown[0])
    values = {}
    for name, spec in own.items():
        value = (credentials.get(name) or "").strip()
        if not value and not spec.required:
            continue
        if not value:
            raise ServiceError(_("%(field)s is required for %(provider)s accounts.")
                               % {"field": spec.label, "provider": cls.label},
                               code="credentials_required", field=name)
        if checked is not None and name not in checked:
            values[name] = value
            continue
        try:
            values[name] = spec.clean(value)
        except ValueError as exc:
            raise ServiceError(str(exc), code="credentials_invalid", field=name) from None
    return values


def _prepared(provider: str, credentials: Mapping[str, str]) -> dict[str, str]:
    """Non-empty input values, passed through the provider's own input forms (e.g. a connection string)."""
    values = {k: v for k, v in credentials.items() if isinstance(v, str) and v.strip()}
    return provider_class(provider).normalize_credentials(values) if provider in provider_classes() else values


def _can_manage_credentials(user: Any) -> bool:
    return user is None or user.has_perm(CREDENTIALS_PERMISSION)


def _require_credentials_permission(user: Any) -> None:
    if not _can_manage_credentials(user):
        raise ServiceError(
            _("You do not have permission to set or change provider credentials "
              "(ask for 'Can set or change provider credentials')."),
            code="credentials_permission", field="credentials", http_status=403,
        )


@transaction.atomic
def account_create(*, name: str, channel: str, provider: str, credentials: Mapping[str, str] | None = None,
                   numbers: Iterable[NumberSpec] = (), is_active: bool = True, user: Any = None) -> MessagingAccount:
    """Create an account with its credentials and numbers, all or nothing.

    ``user`` (None for trusted callers such as management commands) must hold the
    credentials permission to set credentials.
    """
    name = _check_name(name)
    _check_provider_channel(provider, channel)
    credentials = _prepared(provider, credentials or {})
    if credentials:
        _require_credentials_permission(user)
    values = _check_credentials(provider, credentials)
    if MessagingAccount.objects.filter(name=name).exists():
        raise ServiceError(_("An account named '%(name)s' already exists.") % {"name": name}, code="name_taken",
                           field="name")
    account = MessagingAccount(name=name, channel=channel, provider=provider, is_active=is_active, config=values)
    if values:
        account.credentials_updated_at = timezone.now()
    _account_save(account)
    for spec in numbers:
        number_add(account=account, **spec.__dict__)
    return account


@transaction.atomic
def account_update(*, account: MessagingAccount, user: Any = None, name: str | None = None,
                   is_active: bool | None = None, credentials: Mapping[str, str] | None = None) -> MessagingAccount:
    """Rename, (de)activate or change credentials. Provider and channel never change."""
    if name is not None:
        name = _check_name(name)
        if MessagingAccount.objects.filter(name=name).exclude(pk=account.pk).exists():
            raise ServiceError(_("An account named '%(name)s' already exists.") % {"name": name}, code="name_taken",
                               field="name")
        account.name = name
    if is_active is not None:
        account.is_active = is_active
    _account_save(account)
    changes = {k: v for k, v in (credentials or {}).items() if isinstance(v, str) and v.strip()}
    if changes:
        account_set_credentials(account=account, user=user, credentials=changes)
    return account


def _account_save(account: MessagingAccount) -> None:
    """Save; two people taking the same name at once get the same clear error as one."""
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        raise ServiceError(_("An account named '%(name)s' already exists.") % {"name": account.name}, code="name_taken",
                           field="name") from None


@transaction.atomic
def account_set_credentials(*, account: MessagingAccount, credentials: Mapping[str, str],
                            user: Any = None) -> MessagingAccount:
    """Replace some or all of the account's secrets; the validation state is reset."""
    _require_credentials_permission(user)
    changes = _prepared(account.provider, credentials)
    if not changes:
        return account
    current = account.credentials()
    # A value already stored is not checked again: only what changes must pass today's rules.
    account.config = _check_credentials(account.provider, {**current, **changes}, checked=changes)
    account.credentials_updated_at = timezone.now()
    account.validation_status = ValidationStatus.UNKNOWN
    account.validated_at = None
    account.validation_code = ""
    account.validation_message = ""
    account.save()
    logger.info("credentials of account %s changed (%s)", account.pk, ", ".join(sorted(changes)))
    return account


def number_add(*, account: MessagingAccount, number: str, number_type: str = "", name: str = "",
               description: str = "") -> PhoneNumber:
    checked = check_number(provider=account.provider, channel=account.channel, number=number,
                           number_type=number_type)
    if account.channel == Channel.WHATSAPP and not (name or "").strip():
        raise ServiceError(_("Give the WhatsApp number a name."), code="name_required", field="name")
    phone = PhoneNumber(account=account, provider=account.provider, channel=account.channel,
                        number=checked.number, e164=checked.e164, number_type=checked.number_type,
                        name=(name or "").strip(), description=(description or "").strip())
    _number_save(phone)
    return phone


def number_update(*, phone: PhoneNumber, number: str | None = None, number_type: str | None = None,
                  name: str | None = None, description: str | None = None) -> PhoneNumber:
    account = phone.account
    checked = check_number(provider=account.provider, channel=account.channel,
                           number=phone.number if number is None else number,
                           number_type=phone.number_type if number_type is None else number_type)
    phone.number, phone.e164, phone.number_type = checked.number, checked.e164, checked.number_type
    if name is not None:
        phone.name = name.strip()
    if description is not None:
        phone.description = description.strip()
    if account.channel == Channel.WHATSAPP and not phone.name:
        raise ServiceError(_("Give the WhatsApp number a name."), code="name_required", field="name")
    _number_save(phone)
    return phone


def _number_save(phone: PhoneNumber) -> None:
    clash = PhoneNumber.objects.filter(provider=phone.provider, channel=phone.channel, e164=phone.e164)
    if phone.pk:
        clash = clash.exclude(pk=phone.pk)
    other = clash.select_related("account").first()
    if other:
        raise ServiceError(
            _("%(number)s is already configured on %(provider)s account '%(account)s'.")
            % {"number": phone.number, "provider": provider_label(phone.provider), "account": other.account.name},
            code="number_taken", field="number",
        )
    try:
        with transaction.atomic():
            phone.save()
    except IntegrityError:
        raise ServiceError(_("%(number)s is already configured on another account.") % {"number": phone.number},
                           code="number_taken",
                           field="number") from None


def account_validate(*, account: MessagingAccount) -> ValidationResult:
    """Ask the provider whether the credentials are good, without sending a message; record the answer."""
    result = get_provider(account).validate_credentials()
    # A provider may quote a credential back (a URL holding an account id): never store it.
    result = ValidationResult(result.status, redact(result.code, account.secret_values())[:32],
                              redact(result.message, account.secret_values()))
    MessagingAccount.objects.filter(pk=account.pk).update(
        validation_status=result.status, validated_at=timezone.now(),
        validation_code=result.code, validation_message=result.message,
    )
    account.refresh_from_db(fields=["validation_status", "validated_at", "validation_code", "validation_message"])
    return result


#: The test message's inputs, by what the send rules name (so each refusal shows on the input to fix).
_TEST_MESSAGE_FIELDS = {"body": "text", "attachments": "media_urls", "contact": "to"}
_TEST_MESSAGE_RULE_FIELDS = {"whatsapp_window_closed": "to"}


def account_send_test_message(*, account: MessagingAccount, to: str, text: str, from_number: str | None = None,
                              media_urls: Iterable[str] = ()) -> Message:
    """Send one message right now (not queued, not retried) to check the account end to end.

    It obeys every rule any other send obeys (length, consent, the WhatsApp 24-hour window,
    attachments), is stored as a test message, and its delivery reports update it. A provider
    refusal is answered 502 with the provider's reason.
    """
    recipient = to_e164(to)
    if not recipient or not recipient.startswith("+"):
        raise ServiceError(_("'%(to)s' is not a phone number in E.164 form, e.g. +14155550100.") % {"to": to},
                           code="to_invalid", field="to")
    numbers = list(account.numbers.all())
    if from_number:
        sender = next((n for n in numbers if from_number in (n.number, n.e164)), None)
        if sender is None:
            raise ServiceError(_("%(number)s is not a number of account '%(account)s'.")
                               % {"number": from_number, "account": account.name},
                               code="from_invalid", field="from_number")
    else:
        sender = numbers[0] if numbers else None
        if sender is None:
            raise ServiceError(_("Account '%(account)s' has no number to send from; add one first.")
                               % {"account": account.name},
                               code="no_number", field="from_number")
    sender.account = account
    contact = Contact.objects.filter(address=recipient).first() or Contact(address=recipient)
    draft = Draft(phone_number=sender, contact=contact, body=text or "", media_urls=tuple(media_urls),
                  kind=MessageKind.TEST)
    try:
        message, error = message_send_now(draft=draft)
    except ServiceError as exc:
        exc.field = _TEST_MESSAGE_RULE_FIELDS.get(exc.code) or _TEST_MESSAGE_FIELDS.get(exc.field or "", exc.field)
        raise
    if error is not None:
        reason = redact(str(error), account.secret_values())
        logger.warning("test message %s from account %s to %s refused: %s", message.pk, account.pk, recipient,
                       reason)
        raise ServiceError(_("%(provider)s refused the message: %(reason)s")
                           % {"provider": provider_label(account.provider), "reason": reason},
                           code="provider_error", field="account", http_status=502,
                           extra={"message_id": message.pk})
    logger.info("test message %s sent from account %s (%s) to %s; provider message id %s", message.pk, account.pk,
                sender.number, recipient, message.provider_message_id)
    return message


def channel_log_trim(*, older_than_days: int | None = None) -> int:
    """Delete channel-log rows older than the retention setting; return how many went."""
    days = settings.CHANNEL_LOG_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = ChannelLog.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def encrypted_fields() -> dict[type[models.Model], list[str]]:
    """Every installed model with EncryptedTextField columns, and those columns' attribute names."""
    found = {}
    for model in apps.get_models():
        if model._meta.proxy:
            continue  # its table is its concrete model's
        names = [f.attname for f in model._meta.local_concrete_fields if isinstance(f, EncryptedTextField)]
        if names:
            found[model] = names
    return found


@transaction.atomic
def encryption_keys_rotate() -> dict[str, int]:
    """Re-encrypt every EncryptedTextField of every installed model with the first key of FIELD_ENCRYPTION_KEYS.

    Returns the rows re-encrypted per model label (rows holding no secret are left alone), for
    every model that has such a field. All or nothing: a value no key decrypts stops it.
    """
    counts = {}
    for model, names in encrypted_fields().items():
        manager = model._base_manager
        count = 0
        # Reading decrypts with any key; writing encrypts with the first one. Few rows: no server-side cursor.
        for pk, *values in list(manager.order_by("pk").values_list("pk", *names)):
            stored = {name: value for name, value in zip(names, values, strict=True) if value}
            if stored:
                manager.filter(pk=pk).update(**stored)
                count += 1
        counts[model._meta.label] = count
    return counts


def number_delete(*, phone: PhoneNumber) -> None:
    """Remove a number from its account; a number that stored records still point to stays."""
    from django.db.models import ProtectedError, RestrictedError

    from config.exceptions import ConflictError

    try:
        with transaction.atomic():
            phone.delete()
    except (ProtectedError, RestrictedError):
        raise ConflictError(
            _("%(number)s is still referenced by stored messages; it cannot be removed.") % {"number": phone.number},
            code="number_in_use", field="number",
        ) from None


def account_check_provider_channel(*, provider: str, channel: str) -> None:
    """Refuse a provider that does not carry the channel, before anything is saved (for forms)."""
    _check_provider_channel(provider, channel)


def account_remote_numbers(*, account: MessagingAccount) -> list[RemoteNumber]:
    """The numbers on the provider's side of the account (for importing), each marked when it is already
    on this account. ServiceError when the provider lists no numbers or cannot be asked."""
    provider = get_provider(account)
    if not provider.lists_numbers:
        raise ServiceError(_("%(provider)s does not list an account's numbers; add them by hand.")
                           % {"provider": provider.label},
                           code="numbers_not_listed", field="account")
    try:
        found = provider.remote_numbers()
    except ProviderError as exc:
        reason = redact(str(exc), account.secret_values())
        raise ServiceError(_("%(provider)s could not list the numbers: %(reason)s")
                           % {"provider": provider.label, "reason": reason}, code="provider_error",
                           field="account", http_status=502) from None
    return found


@transaction.atomic
def account_import_numbers(*, account: MessagingAccount, numbers: Iterable[str]) -> list[PhoneNumber]:
    """Add the given numbers of the provider's listing to the account, with the type the provider reports.

    Numbers already on the account are left alone; a number the listing does not hold is refused.
    """
    listing = {n.number: n for n in account_remote_numbers(account=account)}
    existing = set(account.numbers.values_list("number", flat=True))
    added = []
    for number in numbers:
        remote = listing.get(number)
        if remote is None:
            raise ServiceError(_("%(number)s is not a number of the provider's account.") % {"number": number},
                               code="number_unknown",
                               field="numbers")
        if not remote.usable:
            raise ServiceError(_("%(number)s cannot be used: %(note)s") % {"number": number, "note": remote.note},
                               code="number_unusable", field="numbers")
        if number in existing:
            continue
        added.append(number_add(account=account, number=remote.number, number_type=remote.number_type,
                                description=remote.description))
    return added


def phone_number_carries_attachments(*, phone_number: PhoneNumber) -> bool:
    """Whether messages on this number can carry attachments (a fact of its provider)."""
    return provider_class(phone_number.provider).max_attachments > 0


def phone_number_provider_label(*, phone_number: PhoneNumber) -> str:
    return provider_label(phone_number.provider)
