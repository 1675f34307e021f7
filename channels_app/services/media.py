"""Downloading customers' attachments: only from the provider's media hosts, with the credentials
the provider's module says its media host wants, within a size limit."""

from __future__ import annotations

import logging
import mimetypes
import time
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from channels_app.models import Attachment, AttachmentState
from channels_app.providers import get_provider, provider_label
from channels_app.providers.http import session_for, write_log

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 3


def host_allowed(url: str, allowed: list[str]) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        return False
    for entry in allowed:
        entry = entry.lower()
        if entry.startswith(".") and host.endswith(entry):
            return True
        if host == entry:
            return True
    return False


def _finish(attachment_id: int, **fields) -> str:
    with transaction.atomic():
        Attachment.objects.filter(pk=attachment_id).update(**fields)
    return fields.get("state", "")


def attachment_download(*, attachment_id: int) -> str:
    """Fetch and store one pending attachment; returns its new state."""
    attachment = Attachment.objects.select_related("message__account").filter(pk=attachment_id).first()
    if attachment is None or attachment.state != AttachmentState.PENDING:
        return "skipped"
    account = attachment.message.account
    provider = get_provider(account)
    allowed = provider.media_hosts()
    limit = settings.ATTACHMENT_MAX_BYTES
    url = attachment.url
    if not host_allowed(url, allowed):
        return _finish(attachment.pk, state=AttachmentState.REFUSED,
                       error=f"not downloaded: {urlsplit(url).hostname or url} is not a media host of "
                             f"{provider_label(account.provider)}")
    first_host = urlsplit(url).hostname
    auth = provider.media_auth()
    session = session_for(account)
    started = time.monotonic()
    try:
        for _ in range(MAX_REDIRECTS + 1):
            # Credentials only go to the host the provider named; redirects go to pre-signed URLs.
            response = session.get(url, auth=auth if urlsplit(url).hostname == first_host else None,
                                   stream=True, allow_redirects=False,
                                   timeout=(settings.PROVIDER_CONNECT_TIMEOUT, settings.PROVIDER_READ_TIMEOUT))
            if response.is_redirect:
                url = urljoin(url, response.headers.get("Location", ""))
                response.close()
                if not host_allowed(url, allowed):
                    return _finish(attachment.pk, state=AttachmentState.REFUSED,
                                   error=f"not downloaded: redirected to {urlsplit(url).hostname}, not a media host")
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
                       error=f"could not reach {urlsplit(url).hostname}: {exc.__class__.__name__}")
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
