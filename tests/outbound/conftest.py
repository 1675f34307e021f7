"""Fixtures for outbound tests: templates, configurations, reference-shaped contacts, a Twilio mock."""

from __future__ import annotations

import json
import uuid
from urllib.parse import parse_qs

import pytest

from channels_app.models import Channel
from outbound.models import MessageTemplate, OutboundConfiguration, TemplateLocalization
from tests.conftest import TWILIO_ACCOUNT_SID

TWILIO_MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"
WHATSAPP_SID = "HX" + "b" * 32


@pytest.fixture(autouse=True)
def _outbound_settings(settings):
    # Unit tests send from the test's own thread (its connection holds the test transaction), and
    # count rate limits under a key of their own when the counters live in Redis.
    settings.OUTBOUND_SEND_CONCURRENCY = 1
    settings.OUTBOUND_RATE_KEY_PREFIX = f"test-outbound:{uuid.uuid4().hex}:"


def make_template(*, name="Case created", channel=Channel.SMS, default_language="en", versions=None):
    versions = versions or {"en": "Hi {CustomerName}, we opened case {CaseName}."}
    template = MessageTemplate.objects.create(name=name, channel=channel, default_language=default_language)
    for language, value in versions.items():
        if isinstance(value, tuple):
            text, variables = value
            TemplateLocalization.objects.create(template=template, language=language, text=text,
                                                content_sid=WHATSAPP_SID, content_variables=variables)
        else:
            TemplateLocalization.objects.create(template=template, language=language, text=value)
    return template


def make_configuration(account, *, template=None, show_in_timeline=False, name="Case created message", **kw):
    phone = account.numbers.get()
    template = template or make_template(channel=phone.channel)
    return OutboundConfiguration.objects.create(name=name, channel_type=phone.channel, phone_number=phone,
                                                template=template, show_in_timeline=show_in_timeline, **kw)


def contact(n: int = 0, **overrides):
    """One contact in the reference product's shape."""
    item = {
        "tocontactid": f"+1555{n:07d}",
        "channelid": "SMS",
        "optin": True,
        "locale": "en-US",
        "contextitems": {"order_id": f"A-{n}"},
        "entityrelationshipname": "incident",
        "CustomerName": f"Customer {n}",
        "CaseName": f"Case {n}",
    }
    item.update(overrides)
    return item


def form_of(call) -> dict[str, list[str]]:
    body = call.request.body
    return parse_qs(body if isinstance(body, str) else body.decode())


def twilio_ok(mocked_http, *, count=None):
    """Answer every Twilio send with a new message sid."""
    counter = {"n": 0}

    def reply(request):
        counter["n"] += 1
        return 201, {}, json.dumps({"sid": f"SM{counter['n']:032d}", "status": "queued"})

    mocked_http.add_callback("POST", TWILIO_MESSAGES_URL, callback=reply, content_type="application/json")
    return counter


@pytest.fixture
def sms_config(twilio_sms_account):
    return make_configuration(twilio_sms_account)


@pytest.fixture
def sandbox_config(sandbox_account):
    return make_configuration(sandbox_account)
