"""Shared fixtures. Unit tests run Celery tasks eagerly and mock HTTP with ``responses``."""

from __future__ import annotations

import pytest
import responses as responses_lib

from channels_app.models import Channel
from channels_app.providers import http as provider_http
from channels_app.providers import sandbox
from channels_app.services import NumberSpec, account_create
from config.celery import app as celery_app

# A strictly valid base64 TeleSign key (the docs' example) and Twilio-shaped credentials.
TELESIGN_CUSTOMER_ID = "FFFFFFFF-EEEE-DDDD-1234-AB1234567890"
TELESIGN_API_KEY = "ABC12345yusumoN6BYsBVkh+yRJ5czgsnCehZaOYldPJdmFh6NeX8kunZ2zU1YWaUw/0wV6xfw=="
TWILIO_ACCOUNT_SID = "AC" + "a" * 32
TWILIO_AUTH_TOKEN = "twilio-auth-token-0123456789abcdef"
# An Azure Communication Services resource: its endpoint and a base64 access key.
ACS_ENDPOINT = "https://contoso-sms.communication.azure.com"
ACS_ACCESS_KEY = "c2VjcmV0LWFjY2Vzcy1rZXktZm9yLXRoZS1odWItdGVzdHM="
ACS_NUMBER = "+18005550100"


@pytest.fixture(autouse=True)
def _eager_celery(settings):
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    # Eager tasks run at once, countdown or not: a drain's delayed final check would run before the
    # next webhook arrives, so the wake-up memo (which relies on that delay) is off here; its own
    # tests switch it on.
    settings.INBOUND_WAKE_MEMO_SECONDS = 0
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _fresh_log_context():
    # Each test is its own unit of work, as a request or a task is: ids bound in one never reach the next.
    from config.logs import context_end, context_start

    token = context_start()
    yield
    context_end(token)


@pytest.fixture(autouse=True)
def _fresh_provider_state():
    sandbox.outbox.clear()
    provider_http._sessions.clear()
    from channels_app.services import inbound

    inbound._webhook_accounts.clear()
    inbound._drain_seen.clear()
    yield
    sandbox.outbox.clear()


@pytest.fixture(autouse=True)
def _english_after_each_test():
    """A test-client request activates its language in the test's thread and leaves it active (a real server
    activates one per request): each test starts and ends in the default language."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


#: What the tests' resolver answers for a name (config/egress.py resolves every fetched host once); a test
#: adds names to ``egress_dns``. Any other name resolves to a public address, an address written in digits
#: (``127.1``, ``2130706433``) to what the system's resolver makes of it.
PUBLIC_ADDRESS = "93.184.215.14"


@pytest.fixture(autouse=True)
def egress_dns(monkeypatch):
    import socket

    from config import egress

    table: dict[str, list[str]] = {}

    def resolve(host, port):
        if host in table:
            return list(table[host])
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        except socket.gaierror:
            return [PUBLIC_ADDRESS]
        return [str(info[4][0]) for info in infos]

    monkeypatch.setattr(egress, "resolve", resolve)
    return table


@pytest.fixture
def mocked_http():
    """Every provider HTTP call must be registered; an unexpected one fails the test."""
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def telesign_account(db):
    return account_create(
        name="TeleSign SMS", channel=Channel.SMS, provider="telesign",
        credentials={"customer_id": TELESIGN_CUSTOMER_ID, "api_key": TELESIGN_API_KEY},
        numbers=[NumberSpec(number="14252306549", number_type="geographic", description="Support line")],
    )


@pytest.fixture
def twilio_sms_account(db):
    return account_create(
        name="Twilio SMS", channel=Channel.SMS, provider="twilio",
        credentials={"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN},
        numbers=[NumberSpec(number="+14155550100", number_type="long_code")],
    )


@pytest.fixture
def twilio_whatsapp_account(db):
    return account_create(
        name="Twilio WhatsApp", channel=Channel.WHATSAPP, provider="twilio",
        credentials={"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN},
        numbers=[NumberSpec(number="+14155238886", name="Support WhatsApp")],
    )


@pytest.fixture
def acs_account(db):
    return account_create(
        name="ACS SMS", channel=Channel.SMS, provider="acs",
        credentials={"endpoint": ACS_ENDPOINT, "access_key": ACS_ACCESS_KEY},
        numbers=[NumberSpec(number=ACS_NUMBER, number_type="toll_free", description="Support line")],
    )


@pytest.fixture
def sandbox_account(db):
    return account_create(
        name="Sandbox SMS", channel=Channel.SMS, provider="sandbox",
        numbers=[NumberSpec(number="+15005550006", number_type="long_code", description="Demo")],
    )


@pytest.fixture(scope="session", autouse=True)
def _throttle_counts_in_memory():
    """Failed API tokens are counted in this process's memory while testing: the configured store (Redis or
    files under var/) outlives a test run and is shared with other runs. Set once, before any test patches
    a cache: changing CACHES replaces every cache instance."""
    from django.conf import settings
    from django.test import override_settings

    with override_settings(CACHES={**settings.CACHES, "throttle": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests-throttle"}}):
        yield


@pytest.fixture(autouse=True)
def _own_throttle_counts():
    """Each test counts failed API tokens afresh."""
    from django.core.cache import caches

    caches["throttle"].clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Test users only: PBKDF2's deliberate slowness buys nothing here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def receive(db):
    """Simulate channels_app handing an inbound message upward (as event processing does)."""
    from channels_app.models import Direction, Message, MessageStatus
    from channels_app.policy import Received
    from channels_app.services.inbound import contact_for
    from workstreams.inbound import conversation_inbound

    counter = {"n": 0}

    def _receive(account, body="hello", sender="+15551234567", keyword=None, name=""):
        counter["n"] += 1
        phone = account.numbers.first()
        message = Message.objects.create(
            account=account, phone_number=phone, contact=contact_for(sender, display_name=name),
            provider=account.provider, channel=phone.channel, direction=Direction.INBOUND, body=body,
            status=MessageStatus.RECEIVED, provider_message_id=f"in-{counter['n']}")
        # As channels_app hands it over; a STOP or START here is taken as changing the consent in force.
        return conversation_inbound.one(Received(message=message, keyword=keyword,
                                                 consent_changed=keyword in ("opt_out", "opt_in")))

    return _receive
