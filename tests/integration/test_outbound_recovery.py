"""A worker killed in the middle of a request: the messages it had sent are known (from its write-backs or
from the provider's status callbacks), the one whose call was cut off is sent again by the recovery sweep and
a new worker, and no customer gets a message twice."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings
from twilio.request_validator import RequestValidator

from channels_app.models import Message, MessageStatus
from outbound.models import OutboundRequest, RequestState, Source
from outbound.services.requests import outbound_request_create
from outbound.services.sending import outbound_recover
from tests.conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from tests.integration.conftest import ROOT, _database_url, wait_for
from tests.outbound.conftest import contact, make_configuration

HELD = "+15550000040"


class GateStub:
    """Twilio stand-in that holds the send to HELD until released, then drops it unanswered (never sent)."""

    def __init__(self):
        self.answered: list[dict] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                to = form["To"][0]
                if to == HELD and not stub.release.is_set():
                    stub.release.wait(60)
                    self.close_connection = True
                    return
                sid = "SM" + uuid.uuid4().hex
                with stub._lock:
                    stub.answered.append({"to": to, "sid": sid, "callback": form["StatusCallback"][0]})
                data = json.dumps({"sid": sid, "status": "queued"}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gate_stub():
    stub = GateStub()
    yield stub
    stub.close()


@pytest.fixture
def worker_env(gate_stub):
    return {"TWILIO_API_URL": gate_stub.url, "OUTBOUND_SEND_CONCURRENCY": "4", "OUTBOUND_REQUEST_LEASE_SECONDS": "2"}


@pytest.fixture(autouse=True)
def _settings(settings, gate_stub):
    settings.TWILIO_API_URL = gate_stub.url
    settings.OUTBOUND_RATE_KEY_PREFIX = f"test-outbound:{uuid.uuid4().hex}:"
    settings.MESSAGE_SENDING_STALE_SECONDS = 0


def _descendants(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children += [int(entry.name), *_descendants(int(entry.name))]
    return children


def _kill_hard(proc):
    for pid in [*_descendants(proc.pid), proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=20)


def _start_worker(env_extra, log_path):
    env = {**os.environ, **env_extra, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
           "HUB_VAR_DIR": str(settings.VAR_DIR), "PYTHONUNBUFFERED": "1"}
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "1",
         "-Q", ",".join(settings.CELERY_TASK_QUEUES_ALL), "--without-mingle", "--without-gossip",
         "--hostname", f"test2-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "ready." not in log_path.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("second worker did not start:\n" + log_path.read_text()[-3000:])
        time.sleep(0.2)
    return proc, log


def test_a_killed_worker_leaves_nothing_out_and_nothing_sent_twice(celery_worker_process, gate_stub, worker_env,
                                                                   twilio_sms_account, client, tmp_path):
    configuration = make_configuration(twilio_sms_account)
    request = outbound_request_create(configuration=configuration, contacts=[contact(i) for i in range(100)],
                                      source=Source.API)

    # Every send but the held one is answered; then the worker dies with that call under way.
    wait_for(lambda: len(gate_stub.answered) == 99, timeout=60, what="99 sends to be answered")
    wait_for(lambda: Message.objects.filter(status=MessageStatus.SENT).count() >= 75,
             what="the worker to write back the sends answered (every 25)")
    _kill_hard(celery_worker_process)
    gate_stub.release.set()
    unrecorded = list(Message.objects.filter(status=MessageStatus.SENDING).values_list("contact__address", flat=True))
    assert HELD in unrecorded and len(unrecorded) < 26

    second, log = _start_worker(worker_env, tmp_path / "worker2.log")
    try:
        # The provider reports the sends it accepted (status callbacks), so their messages are known to be sent.
        validator = RequestValidator(TWILIO_AUTH_TOKEN)
        for sent in gate_stub.answered:
            if sent["to"] in unrecorded:
                params = {"MessageSid": sent["sid"], "MessageStatus": "sent", "AccountSid": TWILIO_ACCOUNT_SID}
                url = urlsplit(sent["callback"])
                response = client.post(f"{url.path}?{url.query}", data=urlencode(params),
                                       content_type="application/x-www-form-urlencoded",
                                       HTTP_X_TWILIO_SIGNATURE=validator.compute_signature(sent["callback"], params))
                assert response.status_code == 200
        wait_for(lambda: list(Message.objects.filter(status=MessageStatus.SENDING)
                              .values_list("contact__address", flat=True)) == [HELD],
                 what="the callbacks to mark the accepted sends as sent")

        # The sweep queues the cut-off send again (its lease has expired), and the new worker sends it.
        time.sleep(2)
        assert outbound_recover()["messages_requeued"] == 1
        wait_for(lambda: OutboundRequest.objects.get(pk=request.pk).state == RequestState.DONE, timeout=60,
                 what="the request to be finished by the second worker")
    finally:
        second.terminate()
        second.wait(timeout=20)
        log.close()

    sends = Counter(sent["to"] for sent in gate_stub.answered)
    assert len(sends) == 100 and set(sends.values()) == {1}
    assert Message.objects.filter(status=MessageStatus.SENT).count() == 100
