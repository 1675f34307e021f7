"""The outbound API's shapes.

The input serializers document the body for the OpenAPI schema; the body itself is parsed by
``outbound.services.contacts`` (one parser for the API, CSV files and schedules), which accepts
the reference field names verbatim and answers a malformed field with a 400 naming it.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers


class OutboundContactSerializer(serializers.Serializer):
    """One contact, with the reference product's field names (matched without regard to case)."""

    tocontactid = serializers.CharField(
        max_length=64, help_text=_("The customer's phone number, in E.164 (+14155550123). An invalid number rejects "
        "this contact only; the response lists it."))
    channelid = serializers.CharField(help_text=_("The customer's preferred channel: SMS or WhatsApp. A channel "
                                      "other than the configuration's skips the contact."))
    optin = serializers.BooleanField(help_text=_("Whether the customer agreed to be contacted. false skips the "
                                     "contact. The older spelling `option` is accepted too."))
    option = serializers.BooleanField(required=False, help_text=_("Older spelling of optin."))
    locale = serializers.CharField(required=False, allow_blank=True, max_length=16,
                                   help_text=_("The message language, e.g. en-US. Without it (or without a version "
                                   "in it) the template's default language is used."))
    contextitems = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False,
        help_text=_("Values for this contact's placeholders, e.g. {\"order_id\": \"A-17\"} fills {order_id}. A JSON "
        "string holding such an object is accepted too."))
    entityrelationshipname = serializers.CharField(
        required=False, allow_blank=True, max_length=200,
        help_text=_("The record the timeline activity is attached to; required when the configuration shows "
        "messages in the timeline. `case:<id>` (or `incident:<id>`) attaches it to that case too."))
    msdyn_ocoutboundconfigurationid = serializers.UUIDField(
        required=False, help_text=_("The configuration ID; when given it must be the request's configuration."))
    CustomerName = serializers.CharField(required=False, allow_blank=True, max_length=200,
                                         help_text=_("The customer's name; fills {CustomerName}."))
    CaseName = serializers.CharField(required=False, allow_blank=True, max_length=200,
                                     help_text=_("The case's name; fills {CaseName}."))


class OutboundRequestInputSerializer(serializers.Serializer):
    """The body of POST /api/v1/outbound/requests/.

    Also accepted: `msdyn_ocoutboundconfigurationid` for `configuration_id`; `ContactList` (an array, or a
    string holding a JSON array) for `contacts`; a bare array of contacts that each carry
    `msdyn_ocoutboundconfigurationid`.
    """

    configuration_id = serializers.UUIDField(
        required=False, help_text=_("The outbound configuration's ID (shown in the admin). May be omitted when "
        "every contact carries msdyn_ocoutboundconfigurationid."))
    msdyn_ocoutboundconfigurationid = serializers.UUIDField(required=False,
                                                            help_text=_("Reference name of configuration_id."))
    contacts = OutboundContactSerializer(many=True, max_length=100,
                                         help_text=_("1 to 100 contacts. `ContactList` is accepted as well."))


class CountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    pending = serializers.IntegerField(help_text=_("Not sent yet, or being sent, or waiting for a retry."))
    sent = serializers.IntegerField(help_text=_("Accepted by the provider."))
    delivered = serializers.IntegerField(help_text=_("Delivered (or read) on the customer's phone."))
    failed = serializers.IntegerField(help_text=_("Rejected (invalid number, missing value…) or failed at the "
                                      "provider."))
    skipped = serializers.IntegerField(help_text=_("Not sent on purpose: optin false, opted out, other channel."))


class AcceptedContactSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text=_("Position in the contact list."))
    tocontactid = serializers.CharField()
    outcome = serializers.ChoiceField(choices=["accepted", "rejected", "skipped"])
    error = serializers.CharField(allow_blank=True, help_text=_("Why it was rejected or skipped, as a code."))
    reason = serializers.CharField(allow_blank=True, help_text=_("Why it was rejected or skipped, in words."))


class OutboundRequestAcceptedSerializer(serializers.Serializer):
    request_id = serializers.UUIDField(
        help_text=_("Follow the request at GET /api/v1/outbound/requests/{request_id}/."),
    )
    url = serializers.URLField()
    configuration_id = serializers.UUIDField()
    state = serializers.CharField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    skipped = serializers.IntegerField()
    contacts = AcceptedContactSerializer(many=True)


class ProgressContactSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    tocontactid = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "sent", "delivered", "failed", "skipped"])
    error = serializers.CharField(allow_blank=True, help_text=_("The rule or the provider's error code."))
    reason = serializers.CharField(allow_blank=True)
    language = serializers.CharField(allow_blank=True, help_text=_("The template version sent."))
    message_id = serializers.IntegerField(allow_null=True)
    sent_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)


class OutboundRequestProgressSerializer(serializers.Serializer):
    request_id = serializers.UUIDField()
    configuration_id = serializers.UUIDField()
    configuration_name = serializers.CharField()
    source = serializers.CharField(help_text=_("api, admin, command, trigger or schedule."))
    state = serializers.CharField(help_text=_("pending, sending, waiting (retries, throttling) or done."))
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    counts = CountsSerializer()
    contacts = ProgressContactSerializer(many=True)
