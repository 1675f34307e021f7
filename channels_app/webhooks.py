"""Webhook endpoints providers call, one set per account, found by the account's token.

Order of work: find the account (unknown or inactive token → 404), check the signature in
constant time (→ 403 and a channel-log row), validate the payload (→ 400 saying what is
wrong), store the raw event once, commit, enqueue, answer 200.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from channels_app.models import EventKind, MessagingAccount, Provider
from channels_app.providers import WebhookPayloadError, WebhookRequest, get_provider
from channels_app.providers.http import write_log
from channels_app.services.inbound import account_for_webhook, webhook_accept

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def public_urls(request) -> list[str]:
    """The URLs the provider may have signed: PUBLIC_BASE_URL + path, and (behind a trusted proxy)
    the URL rebuilt from the forwarded headers."""
    path = request.get_full_path()
    urls = [settings.PUBLIC_BASE_URL + path]
    if getattr(settings, "USE_X_FORWARDED_HOST", False):
        forwarded = request.build_absolute_uri(path)
        if forwarded not in urls:
            urls.append(forwarded)
    return urls


def _headers(meta: dict) -> dict[str, str]:
    """The request's headers, names in lower case (what ``request.headers`` gives, built directly
    from the WSGI environ: this runs on every webhook)."""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in meta.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if meta.get(key):
            headers[key.replace("_", "-").lower()] = meta[key]
    return headers


@method_decorator(csrf_exempt, name="dispatch")
class WebhookView(View):
    """Base: a plain Django view, no session or token auth (the provider's signature is the
    authentication) and no API framework: this is the hottest path of the hub, and a provider
    needs nothing from content negotiation."""

    http_method_names = ["post"]
    provider: str = ""
    route_kind: str | None = None

    def _account(self, token: str) -> MessagingAccount | None:
        return account_for_webhook(token=token, provider=self.provider)

    def http_method_not_allowed(self, request, *args, **kwargs) -> HttpResponse:
        response = JsonResponse({"error": "method_not_allowed",
                                 "detail": f"Method {request.method} not allowed; providers POST here."}, status=405)
        response["Allow"] = "POST"
        return response

    def _requests(self, raw) -> list[WebhookRequest]:
        body = raw.body
        params = {k: raw.POST.getlist(k) for k in raw.POST} if raw.content_type == "application/x-www-form-urlencoded" \
            else {}
        headers = _headers(raw.META)
        return [WebhookRequest(method=raw.method, url=url, headers=headers, body=body, params=params)
                for url in public_urls(raw)]

    def ok(self) -> HttpResponse:
        return JsonResponse({"status": "accepted"})

    def post(self, request, token: str):
        account = self._account(token)
        if account is None:
            return JsonResponse({"error": "not_found", "detail": "No active account has this callback URL."},
                                status=404)
        provider = get_provider(account)
        candidates = self._requests(request)
        verified = next((c for c in candidates if provider.verify_webhook(c)), None)
        if verified is None:
            first = candidates[0]
            reason = "missing signature" if not (first.headers.get("authorization")
                                                 or first.headers.get("x-twilio-signature")
                                                 or first.headers.get("x-sandbox-signature")) else "bad signature"
            write_log(account, kind="webhook", method="POST", url=first.url, status_code=403,
                      request_headers=first.headers, request_body=first.body,
                      error=f"webhook refused: {reason}", is_error=True)
            logger.warning("webhook for account %s refused: %s", account.pk, reason)
            return JsonResponse({"error": "forbidden", "detail": f"Webhook refused: {reason}."}, status=403)
        try:
            webhook_accept(account=account, request=verified, route_kind=self.route_kind)
        except WebhookPayloadError as exc:
            return JsonResponse({"error": "invalid_payload", "detail": str(exc)}, status=400)
        return self.ok()


class TeleSignCallbackView(WebhookView):
    """Inbound SMS (``sub_resource`` mo_sms) and delivery reports (``sms``) on one URL."""

    provider = Provider.TELESIGN


class TwilioInboundView(WebhookView):
    provider = Provider.TWILIO
    route_kind = EventKind.INBOUND

    def ok(self) -> HttpResponse:
        return HttpResponse(EMPTY_TWIML, content_type="text/xml")


class TwilioStatusView(WebhookView):
    provider = Provider.TWILIO
    route_kind = EventKind.STATUS

    def ok(self) -> HttpResponse:
        return HttpResponse(status=200)


class SandboxInboundView(WebhookView):
    provider = Provider.SANDBOX
    route_kind = EventKind.INBOUND


class SandboxStatusView(WebhookView):
    provider = Provider.SANDBOX
    route_kind = EventKind.STATUS


