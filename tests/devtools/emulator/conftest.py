"""An in-process emulator per test (ephemeral port) and a small HTTP receiver standing in for the hub."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

import pytest
import requests

from devtools.emulator import ProviderEmulator
from devtools.emulator.signing import telesign_sign_request
from devtools.emulator.tls import self_signed_certificate
from tests.conftest import (
    ACS_ACCESS_KEY,
    ACS_NUMBER,
    TELESIGN_API_KEY,
    TELESIGN_CUSTOMER_ID,
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
)

ACS_RESOURCE = "contoso-sms"

MESSAGES_PATH = f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass
class Receiver:
    """Records every request; answers ``status_for[path]`` (default 200) with ``body``."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    status_for: dict[str, int] = field(default_factory=dict)
    body: bytes = b"OK"
    event: threading.Event = field(default_factory=threading.Event)
    #: Event Grid subscription handshakes answered (validation bodies, or "OPTIONS <origin>").
    validations: list[bytes] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        import time

        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            self.event.wait(0.02)
            self.event.clear()
        assert len(self.received) >= count, f"expected {count} requests, got {len(self.received)}"
        return self.received


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.headers.get("aeg-event-type") == "SubscriptionValidation":  # Event Grid's handshake
                state.validations.append(body)
                self._answer(200, json.dumps({"validationResponse": json.loads(body)[0]["data"]["validationCode"]})
                             .encode())
                return
            state.received.append(Received("POST", self.path, dict(self.headers.items()), body))
            self._answer(state.status_for.get(self.path.split("?")[0], 200), state.body)
            state.event.set()

        def do_OPTIONS(self):  # CloudEvents' abuse-protection handshake
            state.validations.append(b"OPTIONS " + self.headers.get("WebHook-Request-Origin", "").encode())
            self.send_response(200)
            self.send_header("WebHook-Allowed-Origin", self.headers.get("WebHook-Request-Origin", ""))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _answer(self, status, body):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A self-signed certificate for the emulator's HTTPS port: (cert.pem, key.pem)."""
    return self_signed_certificate(tmp_path_factory.mktemp("emulator-tls"))


@pytest.fixture
def emulator(tls_files):
    emu = ProviderEmulator(
        twilio_accounts=[(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)],
        telesign_accounts=[(TELESIGN_CUSTOMER_ID, TELESIGN_API_KEY)],
        acs_resources=[(ACS_RESOURCE, ACS_ACCESS_KEY, {ACS_NUMBER: "tollFree", "+447400123456": "mobile",
                                                       "+14255550123": "geographic"})],
        tls_cert=str(tls_files[0]), tls_key=str(tls_files[1]),
        callback_delay_ms=0, telesign_callback_retry_ms=[], acs_callback_retry_ms=[], seed=7,
    )
    emu.start_in_thread()
    yield emu
    emu.stop()


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def twilio_send(http, emulator, auth=(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN), **fields):
    return http.post(emulator.url + MESSAGES_PATH, data=fields, auth=auth, timeout=5)


def telesign_send(http, emulator, *, customer_id=TELESIGN_CUSTOMER_ID, api_key=TELESIGN_API_KEY, headers=None,
                  **fields):
    fields = {"phone_number": "15551234567", "message": "Your parcel ships today", "message_type": "ARN", **fields}
    fields = {k: v for k, v in fields.items() if v is not None}
    body = urlencode(fields)
    signed = telesign_sign_request(customer_id=customer_id, api_key=api_key, method="POST",
                                   resource="/v1/messaging", body=body)
    return http.post(emulator.url + "/v1/messaging", data=body, headers={**signed, **(headers or {})}, timeout=5)
