"""Outbound requests over REST: parse, authenticate, call a service, render.

Sending needs the permission ``outbound.add_outboundrequest``; following a request needs
``outbound.view_outboundrequest``.
"""

from __future__ import annotations

import math

from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ApiErrorSerializer, ModelPermissions
from outbound import selectors
from outbound.models import OutboundRecipient, OutboundRequest, RecipientState
from outbound.services.ratelimit import RateLimited
from outbound.services.requests import outbound_request_submit

from .serializers import (
    OutboundRequestAcceptedSerializer,
    OutboundRequestInputSerializer,
    OutboundRequestProgressSerializer,
)

_ERRORS = {
    400: "The request was refused and nothing was stored: `field` names the input at fault — a malformed contact "
    "(e.g. `contacts[3].optin`), more than 100 contacts (`too_many_contacts`), an unknown configuration, or a "
    "missing `entityrelationshipname` when the configuration shows messages in the timeline.",
    401: "No valid token or session.",
    403: "The user lacks the permission this request needs.",
    404: "No request with this ID.",
    409: "The configuration is inactive.",
    429: "The hourly limit of requests is reached (`limit`); nothing was stored. Try again after the number of "
    "seconds in the Retry-After header (also `retry_after` in the body).",
}

EXAMPLE_BODY = {
    "configuration_id": "7d1f2a8e-3b7c-4c39-9d62-0f5a8e2b1c44",
    "contacts": [
        {
            "tocontactid": "+14155550123", "channelid": "SMS", "optin": True, "locale": "en-US",
            "contextitems": {"order_id": "A-17"}, "entityrelationshipname": "incident",
            "msdyn_ocoutboundconfigurationid": "7d1f2a8e-3b7c-4c39-9d62-0f5a8e2b1c44",
            "CustomerName": "Ana Lima", "CaseName": "Parcel delayed",
        }
    ],
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ApiErrorSerializer, description=_ERRORS[code]) for code in codes}


def _outcome(recipient: OutboundRecipient) -> str:
    return {RecipientState.REJECTED: "rejected", RecipientState.SKIPPED: "skipped"}.get(recipient.state, "accepted")


class OutboundRequestCreateView(APIView):
    permission_classes = [ModelPermissions]
    queryset = OutboundRequest.objects.all()

    @extend_schema(
        tags=["outbound"], operation_id="outbound_requests_create", summary="Send an outbound configuration",
        description=_("Stores the request with its contacts (at most 100) and sends it from a worker. Each contact "
        "is accepted, rejected (invalid or duplicate number) or skipped (optin false, other channel); the others "
        "are not affected. Follow the sending at the returned URL."),
        request=OutboundRequestInputSerializer,
        responses={202: OutboundRequestAcceptedSerializer, **errors(400, 401, 403, 409, 429)},
        examples=[OpenApiExample("Reference contact list", value=EXAMPLE_BODY, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        try:
            outbound_request = outbound_request_submit(payload=request.data, user=request.user)
        except RateLimited as exc:
            return Response(exc.as_dict(), status=status.HTTP_429_TOO_MANY_REQUESTS,
                            headers={"Retry-After": str(math.ceil(exc.retry_after))})
        recipients = list(outbound_request.recipients.order_by("index"))
        contacts = [{"index": r.index, "tocontactid": r.to_address, "outcome": _outcome(r), "error": r.reason_code,
                     "reason": r.reason} for r in recipients]
        url = request.build_absolute_uri(
            reverse("outbound-request-detail", kwargs={"request_id": outbound_request.request_id}))
        body = {
            "request_id": outbound_request.request_id,
            "url": url,
            "configuration_id": outbound_request.configuration.configuration_id,
            "state": outbound_request.state,
            "accepted": sum(1 for c in contacts if c["outcome"] == "accepted"),
            "rejected": sum(1 for c in contacts if c["outcome"] == "rejected"),
            "skipped": sum(1 for c in contacts if c["outcome"] == "skipped"),
            "contacts": contacts,
        }
        return Response(OutboundRequestAcceptedSerializer(body).data, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": url})


class OutboundRequestDetailView(APIView):
    permission_classes = [ModelPermissions]
    queryset = OutboundRequest.objects.all()

    @extend_schema(
        tags=["outbound"], operation_id="outbound_requests_retrieve", summary="Follow an outbound request",
        description=_("Counts per status (pending, sent, delivered, failed, skipped) and each contact's outcome "
        "with its reason. Delivery comes from the providers' status callbacks."),
        responses={200: OutboundRequestProgressSerializer, **errors(401, 403, 404)},
    )
    def get(self, request: Request, request_id) -> Response:
        outbound_request = get_object_or_404(OutboundRequest.objects.select_related("configuration"),
                                             request_id=request_id)
        progress = selectors.request_progress(request=outbound_request)
        body = {
            "request_id": outbound_request.request_id,
            "configuration_id": outbound_request.configuration.configuration_id,
            "configuration_name": outbound_request.configuration.name,
            "source": outbound_request.source,
            "state": outbound_request.state,
            "created_at": outbound_request.created_at,
            "finished_at": outbound_request.finished_at,
            "counts": progress.counts,
            "contacts": progress.contacts,
        }
        return Response(OutboundRequestProgressSerializer(body).data)

