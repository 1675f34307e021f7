"""Browser tests: Debian's Chromium (``/usr/bin/chromium``) driven by Playwright against pytest-django's
live server, with Twilio played by the ProviderStub HTTP server and Celery tasks run eagerly.

No browser is ever downloaded: Playwright launches the system Chromium. Without it the whole folder is
skipped, saying so.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone
from twilio.request_validator import RequestValidator

from channels_app.models import Channel, Direction, Message, MessageStatus
from channels_app.policy import Received
from channels_app.services import NumberSpec, account_create
from channels_app.services.inbound import contact_for
from tests.conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from tests.integration.conftest import ProviderStub
from workstreams.inbound import conversation_inbound
from workstreams.models import AgentProfile, Queue, RoutingRule, Workstream, WorkstreamNumber

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach the internet.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
HERE = Path(__file__).resolve().parent
LAPTOP = {"width": 1366, "height": 768}
PASSWORD = "correct horse battery staple"
WHATSAPP_NUMBER = "+14155238886"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE not in item.path.resolve().parents:
            continue
        item.add_marker(pytest.mark.browser)
        if not CHROMIUM.exists():
            item.add_marker(pytest.mark.skip(reason=f"Debian's Chromium is not installed at {CHROMIUM} "
                                                    "(apt-get install -y chromium)"))


@pytest.fixture(scope="package")
def browser():
    # Package scope: Playwright's event loop stops once this folder's tests are done, so later tests
    # in the same process may start their own (asyncio.run refuses to run inside a running loop).
    from playwright.sync_api import expect, sync_playwright

    # Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls from a thread
    # with a running loop unless told that this is fine (it reads the variable at each call).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    expect.set_options(timeout=10_000)
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=LAPTOP, locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def twilio_stub():
    stub = ProviderStub()
    yield stub
    stub.close()


@pytest.fixture
def hub(live_server, settings, twilio_stub):
    """The live server as providers see it: signatures are checked against its URL; Twilio is the stub."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.TWILIO_API_URL = twilio_stub.url
    return live_server


@pytest.fixture
def support_queue(transactional_db):
    return Queue.objects.create(name="Support", priority=1)


@pytest.fixture
def whatsapp_account(transactional_db):
    return account_create(
        name="Twilio WhatsApp", channel=Channel.WHATSAPP, provider="twilio",
        credentials={"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN},
        numbers=[NumberSpec(number=WHATSAPP_NUMBER, name="Support WhatsApp")],
    )


@pytest.fixture
def whatsapp_workstream(whatsapp_account, support_queue):
    workstream = Workstream.objects.create(name="WhatsApp support", channel=Channel.WHATSAPP)
    WorkstreamNumber.objects.create(workstream=workstream, phone_number=whatsapp_account.numbers.get())
    RoutingRule.objects.create(workstream=workstream, name="Everything to Support", queue=support_queue)
    return workstream


@pytest.fixture
def agent(transactional_db, django_user_model, support_queue):
    """A staff agent in the Support queue, available, with the console's permissions."""
    user = django_user_model.objects.create_user("ana", password=PASSWORD, first_name="Ana", last_name="Agent",
                                                 is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation",
                                                                        "change_conversation"]))
    AgentProfile.objects.create(user=user, presence="available")
    support_queue.members.add(user)
    return user


@pytest.fixture
def login(page, hub, agent):
    """Sign in through the admin's login page, arriving at the console (or at ``path``)."""

    def _login(path="/console/"):
        page.goto(hub.url + path)
        assert "/admin/login/" in page.url  # anonymous: the admin login, coming back here afterwards
        page.fill("#id_username", agent.get_username())
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(hub.url + path)
        return page

    return _login


def twilio_post(hub, path: str, params: dict[str, str]) -> requests.Response:
    """POST form data to the hub signed as Twilio signs it: over PUBLIC_BASE_URL + path and the params."""
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(hub.url + path, params)
    return requests.post(hub.url + path, data=urlencode(params), timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                  "X-Twilio-Signature": signature})


def customer_writes(account, body: str, *, sender: str = "+15551234567", name: str = "",
                    ago: timedelta | None = None):
    """A customer's message handed to the work layer directly (no webhook), optionally some time ago."""
    phone = account.numbers.get()
    with transaction.atomic():
        message = Message.objects.create(
            account=account, phone_number=phone, contact=contact_for(sender, display_name=name),
            provider=account.provider, channel=phone.channel, direction=Direction.INBOUND, body=body,
            status=MessageStatus.RECEIVED, provider_message_id=f"SM{uuid.uuid4().hex}",
            status_updated_at=timezone.now())
        if ago:
            Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - ago)
        return conversation_inbound.one(Received(message=message))
