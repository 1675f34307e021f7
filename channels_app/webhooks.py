"""The one webhook view every provider's URLs lead to, found by the account's token.

Order of work: the route must allow the method (→ 405), find the account (unknown or inactive
token → 404), check the signature in constant time (→ 403 and a channel-log row), let the
provider read the webhook into its events (→ 400 saying what is wrong, and a channel-log row),
store each event once, commit, enqueue, answer as the provider expects (200).
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from channels_app.providers import WebhookAnswer, WebhookPayloadError, WebhookRequest, get_provider, provider_class
from channels_app.providers.http import write_log
from channels_app.services.inbound import account_for_webhook, form_params, webhook_accept
from config import metrics

logger = logging.getLogger(__name__)


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


def _error(status: int, error: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": error, "detail": detail}, status=status)


def _render(answer: WebhookAnswer) -> HttpResponse:
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    for name, value in answer.headers:
        response[name] = value
    return response


@method_decorator(csrf_exempt, name="dispatch")
class WebhookView(View):
    """A plain Django view, no session or token auth (the provider's signature, or the unguessable
    token in the URL, is the authentication) and no API framework: this is the hottest path of the
    hub, and a provider needs nothing from content negotiation.

    ``provider`` and ``route`` name the provider and the route its module declares.
    """

    provider: str = ""
    route: str = ""

    def dispatch(self, request, token: str):
        route = provider_class(self.provider).route(self.route)
        if request.method not in route.methods:
            allowed = ", ".join(route.methods)
            response = _error(405, "method_not_allowed",
                              f"Method {request.method} not allowed; providers use {allowed} here.")
            response["Allow"] = allowed
            return response
        account = account_for_webhook(token=token, provider=self.provider)
        if account is None:
            metrics.webhook_refused(provider=self.provider, reason="not_found")
            return _error(404, "not_found", "No active account has this callback URL.")
        provider = get_provider(account)
        candidates = self._requests(request)
        if request.method == "OPTIONS":
            answer = provider.webhook_options(candidates[0], route)
            self._log(account, candidates[0], answer.status, note="handshake (OPTIONS)", is_error=answer.status >= 400)
            return _render(answer)
        verified = next((c for c in candidates if provider.verify_webhook(c)), None)
        if verified is None:
            first = candidates[0]
            reason = "bad signature" if provider.signature_present(first) else "missing signature"
            self._log(account, first, 403, note=f"webhook refused: {reason}", is_error=True)
            logger.warning("webhook for account %s refused: %s", account.pk, reason)
            metrics.webhook_refused(provider=self.provider, reason=reason.replace(" ", "_"))
            return _error(403, "forbidden", f"Webhook refused: {reason}.")
        try:
            accepted = webhook_accept(account=account, request=verified, route=route, provider=provider)
        except WebhookPayloadError as exc:
            self._log(account, verified, 400, note=f"webhook refused: {exc}", is_error=True)
            metrics.webhook_refused(provider=self.provider, reason="invalid_payload")
            return _error(400, "invalid_payload", str(exc))
        if accepted.refused:
            stored = len(accepted.events)
            detail = "; ".join(accepted.refused)
            if stored:
                detail += f" ({stored} other event{'s' if stored != 1 else ''} of the request stored)"
            self._log(account, verified, 400, note=f"webhook refused in part: {detail}", is_error=True)
            metrics.webhook_refused(provider=self.provider, reason="invalid_payload")
            return _error(400, "invalid_payload", detail)
        if accepted.note:
            self._log(account, verified, accepted.answer.status, note=accepted.note)
        return _render(accepted.answer)

    @staticmethod
    def _requests(raw) -> list[WebhookRequest]:
        body = raw.body
        headers = _headers(raw.META)
        params = form_params(body, headers.get("content-type", ""))
        return [WebhookRequest(method=raw.method, url=url, headers=headers, body=body, params=params)
                for url in public_urls(raw)]

    @staticmethod
    def _log(account, request: WebhookRequest, status: int, *, note: str, is_error: bool = False) -> None:
        write_log(account, kind="webhook", method=request.method, url=request.url, status_code=status,
                  request_headers=request.headers, request_body=request.body, error=note if is_error else "",
                  response_body="" if is_error else json.dumps({"note": note}), is_error=is_error)
