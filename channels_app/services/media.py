"""Downloading customers' attachments: only from the provider's media hosts, through the outbound-fetch
policy (config/egress.py), with the credentials the provider's module says its media host wants (only to
its exact credential origins, over https), within a size limit."""

from __future__ import annotations

import logging
import mimetypes
import time
from urllib.parse import urljoin

import requests
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from channels_app.models import Attachment, AttachmentState
from channels_app.providers import get_provider, provider_label
from channels_app.providers.http import log_text, write_log
from config import egress

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 3


def host_allowed(url: str, allowed: list[str]) -> bool:
    """``url`` is a web link (read as the HTTP client reads it) to one of the ``allowed`` hosts."""
    try:
        target = egress.parse(url)
    except egress.EgressRefused:
        return False
    return egress.host_matches(target.host, allowed)


def _finish(attachment_id: int, **fields) -> str:
    with transaction.atomic():
        Attachment.objects.filter(pk=attachment_id).update(**fields)
    return fields.get("state", "")


def _checked(url: str, allowed: list[str], provider_name: str, *, redirected: bool) -> egress.Target | str:
    """The Target for ``url``, or why it is not fetched."""
    try:
        target = egress.parse(url)
    except egress.EgressRefused as exc:
        return f"not downloaded: {exc.message}"
    if not egress.host_matches(target.host, allowed):
        if redirected:
            return f"not downloaded: redirected to {target.host}, not a media host"
        return f"not downloaded: {target.host} is not a media host of {provider_name}"
    try:
        return egress.check_url(url)
    except egress.EgressRefused as exc:
        return f"not downloaded: {exc.message}"


def attachment_download(*, attachment_id: int) -> str:
    """Fetch and store one pending attachment; returns its new state."""
    attachment = Attachment.objects.select_related("message__account").filter(pk=attachment_id).first()
    if attachment is None or attachment.state != AttachmentState.PENDING:
        return "skipped"
    account = attachment.message.account
    provider = get_provider(account)
    provider_name = str(provider_label(account.provider))
    allowed = provider.media_hosts()
    limit = settings.ATTACHMENT_MAX_BYTES
    url = attachment.url
    target = _checked(url, allowed, provider_name, redirected=False)
    if isinstance(target, str):
        return _finish(attachment.pk, state=AttachmentState.REFUSED, error=log_text(target))
    auth = provider.media_auth()
    origins = provider.media_credential_origins()
    first = (target.scheme, target.host, target.port)
    started = time.monotonic()
    response = None
    try:
        for _ in range(MAX_REDIRECTS + 1):
            # Credentials only to the provider's exact origin, over https; redirects go to pre-signed URLs.
            send_auth = auth if (auth and (target.scheme, target.host, target.port) == first
                                 and egress.credentials_allowed(target, origins)) else None
            session = egress.pinned_session(target)
            response = session.get(target.url, auth=send_auth, stream=True, allow_redirects=False,
                                   timeout=(settings.PROVIDER_CONNECT_TIMEOUT, settings.PROVIDER_READ_TIMEOUT))
            if response.is_redirect:
                url = urljoin(target.url, response.headers.get("Location", ""))
                response.close()
                target = _checked(url, allowed, provider_name, redirected=True)
                if isinstance(target, str):
                    return _finish(attachment.pk, state=AttachmentState.REFUSED, error=log_text(target))
                continue
            break
        else:
            return _finish(attachment.pk, state=AttachmentState.FAILED, error="too many redirects")
        write_log(account, kind="media", method="GET", url=attachment.url, status_code=response.status_code,
                  duration_ms=int((time.monotonic() - started) * 1000), is_error=response.status_code >= 400)
        if response.status_code != 200:
            return _finish(attachment.pk, state=AttachmentState.FAILED,
                           error=f"the media host answered HTTP {response.status_code}")
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            response.close()
            return _finish(attachment.pk, state=AttachmentState.REFUSED, size=int(declared),
                           error=f"not stored: {int(declared)} bytes is over the {limit}-byte limit")
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > limit:
                response.close()
                return _finish(attachment.pk, state=AttachmentState.REFUSED,
                               error=f"not stored: larger than the {limit}-byte limit")
            chunks.append(chunk)
    except requests.RequestException as exc:
        write_log(account, kind="media", method="GET", url=attachment.url, error=str(exc), is_error=True,
                  duration_ms=int((time.monotonic() - started) * 1000))
        return _finish(attachment.pk, state=AttachmentState.FAILED,
                       error=f"could not reach {target.host}: {exc.__class__.__name__}")
    content_type = (attachment.content_type or response.headers.get("Content-Type", "")).split(";")[0].strip()
    extension = mimetypes.guess_extension(content_type) or ".bin"
    attachment.content_type = content_type
    attachment.size = size
    attachment.state = AttachmentState.STORED
    attachment.error = ""
    attachment.file.save(f"{attachment.message_id}-{attachment.pk}{extension}", ContentFile(b"".join(chunks)),
                         save=False)
    attachment.save(update_fields=["content_type", "size", "state", "error", "file"])
    return AttachmentState.STORED
