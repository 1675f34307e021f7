"""Redis goes away three times during an outbound run — killed, as a crash or an out-of-memory kill would,
and started again empty — and the run finishes by itself: every contact delivered once, none twice.

The hub runs as ``make run`` runs it (``run_hub``: web server, worker and beat, each started again if it
dies) against a Redis server of the test's own, the configured database (PostgreSQL, or SQLite on the
embedded defaults) and the provider emulator, which records every send."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import requests
from django.contrib.auth import get_user_model
from django.db.models import Count
from rest_framework.authtoken.models import Token

from channels_app.services import NumberSpec, account_create
from devtools.emulator.server import ProviderEmulator
from tests.e2e.conftest import free_port, wait_until
from tests.integration.conftest import ROOT, _database_url
from tests.outbound.conftest import contact, make_configuration

# Real processes on a machine others share: a bound well above the minute and a half it takes alone.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("real-worker"), pytest.mark.timeout(900)]

TWILIO_SID, TWILIO_TOKEN = "AC" + "3" * 32, "outage-test-token"
REQUESTS, PER_REQUEST = 5, 100
TOTAL = REQUESTS * PER_REQUEST


class Redis:
    """A redis-server of the test's own, without persistence: started again, it is empty."""

    def __init__(self, folder):
        self.port = free_port()
        self.folder = folder
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.folder)],
                                     stdout=(self.folder / "redis.log").open("ab"), stderr=subprocess.STDOUT)
        wait_until(self.answers, timeout=20, what="redis-server to answer")

    def answers(self) -> bool:
        return subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout.strip() \
            == b"PONG"

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def hub(transactional_db, tmp_path, request):
    if not subprocess.run(["which", "redis-server"], capture_output=True).returncode == 0:
        pytest.skip("redis-server is not installed")
    redis = Redis(tmp_path)
    redis.start()
    emulator = ProviderEmulator(callback_delay_ms=20, seed=11)
    emulator_url = emulator.start_in_thread()
    emulator.add_twilio_account(TWILIO_SID, TWILIO_TOKEN)
    # Slow enough for the outages to land inside the run; callbacks retried as a provider does when the hub
    # could not take one (here: a database that refuses connections on a machine others share).
    emulator.configure(latency_ms=150, callback_concurrency=8, twilio_callback_retry_ms=[1000, 3000, 10000])
    port = free_port()
    web_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": _database_url(), "REDIS_URL": redis.url, "CELERY_BROKER_URL": redis.url,
           "PUBLIC_BASE_URL": web_url, "TWILIO_API_URL": emulator_url, "TELESIGN_API_URL": emulator_url,
           "HUB_VAR_DIR": str(tmp_path / "var"), "PYTHONUNBUFFERED": "1",
           "HUB_SWEEP_SECONDS": "2", "MESSAGE_REQUEUE_AFTER_SECONDS": "3", "MESSAGE_SENDING_STALE_SECONDS": "6",
           "INBOUND_EVENT_REQUEUE_AFTER_SECONDS": "3", "OUTBOUND_REQUEUE_AFTER_SECONDS": "3",
           "OUTBOUND_REQUEST_LEASE_SECONDS": "5", "OUTBOUND_SEND_CONCURRENCY": "2", "PROVIDER_READ_TIMEOUT": "3"}
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    log = tmp_path / "run_hub.log"
    from django.conf import settings

    settings.PUBLIC_BASE_URL = web_url
    runner = subprocess.Popen([sys.executable, "manage.py", "run_hub", "--addr", f"127.0.0.1:{port}"], cwd=ROOT,
                              env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    account = account_create(name="Twilio SMS", channel="sms", provider="twilio",
                             credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
                             numbers=[NumberSpec("+14155550100", "long_code")])
    configuration = make_configuration(account)
    admin = get_user_model().objects.create_superuser("admin", password="x")
    state = {"url": web_url, "redis": redis, "emulator": emulator, "log": log, "runner": runner,
             "configuration": str(configuration.configuration_id), "token": Token.objects.create(user=admin).key}
    try:
        wait_until(lambda: "Messaging hub is ready" in log.read_text() and log.read_text().count("ready.") >= 1,
                   timeout=180, what="run_hub to start")
        yield state
    except BaseException:
        print(log.read_text()[-6000:])
        raise
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print(summary(state))
        runner.send_signal(signal.SIGINT)
        try:
            runner.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
        if redis.proc.poll() is None:
            redis.kill()
        emulator.stop()


def summary(state) -> str:
    """What the hub and the emulator say, for a failed run."""
    from channels_app.models import Message
    from outbound.models import OutboundRequest

    text = state["log"].read_text(errors="replace")
    lines = [line for line in text.splitlines() if any(word in line for word in (
        "run_hub |", "Connected to redis", "broker lost", "Unrecoverable", " ERROR ", "CRITICAL"))]
    counts = dict(Message.objects.filter(kind="outbound").values_list("status").annotate(n=Count("pk")))
    requests_ = list(OutboundRequest.objects.values_list("state", "runs", "lease_until", "next_run_at"))
    failed = Counter((c["http_status"], (c["error"] or "")[:80]) for c in state["emulator"].callbacks() if not c["ok"])
    return "\n".join([*lines[-60:], f"messages: {counts}", f"requests: {requests_}",
                      f"emulator sends: {len(accepted(state['emulator']))}", f"callbacks not taken: {dict(failed)}"])


def accepted(emulator) -> list[tuple[str, str]]:
    return [(m["to"], m["body"]) for m in emulator.messages() if m["direction"] == "outbound-api"]


def connections(hub) -> int:
    """How many times a worker connected to the broker (each restart of a worker connects once more)."""
    return hub["log"].read_text(errors="replace").count("celery.worker.consumer.connection Connected to redis")


def handed_over(hub) -> int:
    from channels_app.models import Message, MessageStatus

    return Message.objects.filter(kind="outbound", status__in=[MessageStatus.SENT, MessageStatus.DELIVERED]).count()


def all_done() -> bool:
    from outbound.models import OutboundRequest, RequestState

    return not OutboundRequest.objects.exclude(state=RequestState.DONE).exists()


def delivered(hub) -> int:
    from channels_app.models import Message, MessageStatus

    return Message.objects.filter(kind="outbound", status=MessageStatus.DELIVERED).count()


def test_three_redis_outages_during_an_outbound_run_lose_nothing_and_send_nothing_twice(hub):
    session = requests.Session()
    session.headers["Authorization"] = f"Token {hub['token']}"
    for n in range(REQUESTS):
        response = session.post(f"{hub['url']}/api/v1/outbound/requests/", timeout=30, json={
            "configuration_id": hub["configuration"],
            "contacts": [contact(n * PER_REQUEST + i) for i in range(PER_REQUEST)]})
        assert response.status_code == 202, response.text
    emulator, redis = hub["emulator"], hub["redis"]
    outages = []
    for round_ in range(3):
        # Each outage starts once the worker is back on the broker and sending again.
        wait_until(lambda r=round_: connections(hub) > r, timeout=180, what=f"the worker to be connected ({round_})")
        floor = len(accepted(emulator)) + TOTAL // 10
        wait_until(lambda f=floor: len(accepted(emulator)) >= f, timeout=180,
                   what=f"sends to go on before outage {round_ + 1}")
        outages.append(len(accepted(emulator)))
        redis.kill()
        time.sleep(3)
        redis.start()
    assert outages[-1] < TOTAL, "the run finished before the last outage; nothing was interrupted"
    wait_until(lambda: connections(hub) > 3, timeout=180, what="the worker to reconnect after the last outage")

    # Every contact handed to the provider once, its request done, and its delivery report applied, with no
    # manual action.
    wait_until(lambda: handed_over(hub) == TOTAL and all_done(), timeout=420, interval=1,
               what=f"all {TOTAL} contacts to be sent after the outages")
    sends = accepted(emulator)
    assert len(set(sends)) == TOTAL, "a contact was left out"
    assert len(sends) == TOTAL, f"{len(sends) - TOTAL} contacts were sent twice"
    wait_until(lambda: delivered(hub) == TOTAL, timeout=180, interval=1,
               what=f"all {TOTAL} delivery reports to be applied")
    assert hub["runner"].poll() is None, "run_hub stopped"
    text = hub["log"].read_text()
    assert "Connection to broker lost" in text or "worker exited" in text
