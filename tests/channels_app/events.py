"""Stored webhook events as the web request stores them: the raw form body and its content type."""

from urllib.parse import urlencode


def form_post(params: dict[str, list[str]]) -> dict:
    """``InboundEvent`` fields for a form-encoded webhook carrying ``params``."""
    return {"body": urlencode(params, doseq=True).encode(), "content_type": "application/x-www-form-urlencoded"}
