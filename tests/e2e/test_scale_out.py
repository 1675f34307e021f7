"""Scale-out: the web tier, two workers, beat and the provider as separate hosts against one PostgreSQL and
Redis, so that nothing in the hub assumes one machine.

Each host is a network namespace with its own address on a private bridge (tests/e2e/netns.py): gunicorn
on "web", a Celery worker on "worker-1" and on "worker-2" (beat beside the first), the provider emulator
on "provider". PostgreSQL and Redis, which listen on this machine's loopback only, are offered on the
bridge's address by a TCP forwarder, the way a database host on the network would be; inside a namespace,
127.0.0.1 is that host's own loopback, so a process there reaches the others only by their addresses. The
processes run with the production settings of the README (DEBUG off, the hub's own keys, ALLOWED_HOSTS and
PUBLIC_BASE_URL naming the web host).

Needs root (or CAP_NET_ADMIN) and iproute2: skipped otherwise.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import requests
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.db import connection

from channels_app.models import Message
from channels_app.services import NumberSpec, account_create
from devtools.emulator.client import EmulatorClient
from tests.e2e import netns
from tests.e2e.conftest import Process, answering_admin_token, needs_real_services, wait_for_text, wait_until
from tests.integration.conftest import broker_reset
from tests.outbound.conftest import contact, make_configuration
from workstreams.models import Conversation

TWILIO_SID, TWILIO_TOKEN = "AC" + "5" * 32, "e2e-scale-out-token"
NUMBER = "+14155550100"
WEB_PORT, EMULATOR_PORT = 8000, 8025
HOSTS = ["web", "worker-1", "worker-2", "provider"]
WORKERS = ["worker-1", "worker-2"]
LOOPBACK = ("127.0.0.1", "localhost")


@pytest.fixture(scope="module")
def hosts():
    """The hosts' namespaces on their bridge, and PostgreSQL and Redis offered at the bridge's address;
    removed at the end whatever happened (and any a killed run left, before they are made)."""
    reason = netns.unavailable_reason()
    if reason:
        pytest.skip(f"scale-out test: {reason}")
    db, redis = connection.settings_dict, urlsplit(django_settings.REDIS_URL or "redis://")
    if db["HOST"] not in LOOPBACK or redis.hostname not in LOOPBACK:
        pytest.skip("scale-out test: offers this machine's PostgreSQL and Redis (on 127.0.0.1) to the hosts")
    try:
        made = netns.make_hosts(HOSTS)
        forwarder = netns.TcpForwarder(netns.GATEWAY, [int(db["PORT"] or 5432), redis.port or 6379])
        forwarder.start()
    except BaseException:
        netns.cleanup()
        raise
    try:
        yield made
    finally:
        try:
            forwarder.stop()
        finally:
            netns.cleanup()


def _on_gateway(url: str) -> str:
    """``url`` (PostgreSQL or Redis on this machine's loopback) as the hosts reach it: at the bridge's address."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    netloc[-1] = f"{netns.GATEWAY}:{parts.port or ''}".rstrip(":")
    return urlunsplit(parts._replace(netloc="@".join(netloc)))


def _database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return _on_gateway(f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}")


class Hosts:
    """The running hub over the hosts: its processes (with their logs), the web URL and the emulator."""

    def __init__(self, hosts: dict[str, netns.Host], tmp_path) -> None:
        self.hosts, self.tmp_path = hosts, tmp_path
        self.web_url = f"http://{hosts['web'].address}:{WEB_PORT}"
        self.emulator_url = f"http://{hosts['provider'].address}:{EMULATOR_PORT}"
        self.emulator = EmulatorClient(self.emulator_url)
        self.emulator.session.trust_env = False  # straight to the provider host, never through a proxy
        self.processes: dict[str, Process] = {}
        redis_url = _on_gateway(django_settings.REDIS_URL)
        # The README's production settings (Running in production), naming the hosts by their addresses.
        # The test database's rows were encrypted with this process's keys: they follow the hub's own key.
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
            "DEBUG": "false",
            "SECRET_KEY": "scale-out-e2e-" + Fernet.generate_key().decode(),
            "FIELD_ENCRYPTION_KEYS": ",".join([Fernet.generate_key().decode(), *django_settings.FIELD_ENCRYPTION_KEYS]),
            "ALLOWED_HOSTS": hosts["web"].address,
            "PUBLIC_BASE_URL": self.web_url,
            "DATABASE_URL": _database_url(),
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "LOG_FORMAT": "json",
            "METRICS_TOKEN": "scale-out-metrics-token",
            "TWILIO_API_URL": self.emulator_url,
            "TELESIGN_API_URL": self.emulator_url,
            # The provider host is on the private network: plain http to it is allowed (config/egress.py).
            "EGRESS_ALLOWED_NETWORKS": f"{netns.SUBNET}.0/24",
            "GUNICORN_BIND": f"{hosts['web'].address}:{WEB_PORT}",
            "GUNICORN_WORKERS": "2",
            "PYTHONUNBUFFERED": "1",
            "HUB_SWEEP_SECONDS": "2",
            "HEARTBEAT_SECONDS": "1",
        }

    def start(self, name: str, host: str, cmd: list[str], **env: str) -> Process:
        process = Process(name, self.hosts[host].command(cmd), self.tmp_path / f"{name}.log")
        process.start({**self.env, "HUB_VAR_DIR": str(self.tmp_path / f"var-{host}"), **env})
        self.processes[name] = process
        return process

    def get(self, url: str, **kwargs) -> requests.Response:
        with requests.Session() as session:
            session.trust_env = False
            return session.get(url, timeout=10, **kwargs)

    def wait_http(self, process: Process, url: str) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.get(url).ok:
                    return
            except requests.RequestException:
                pass
            if process.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{process.name} did not answer at {url}:\n{process.text()[-3000:]}")
            time.sleep(0.2)

    def api(self, token: str) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        session.headers["Authorization"] = f"Token {token}"
        return session

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to every process at once (each shuts down on its own, as separate hosts would), then
        SIGKILL to any still running after ``timeout``."""
        running = [p for p in self.processes.values() if p.proc is not None and p.proc.poll() is None]
        for process in running:
            os.killpg(process.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} -----\n{p.text()[-4000:]}" for p in self.processes.values())


@pytest.fixture
def hub(hosts, transactional_db, tmp_path, request, settings):
    needs_real_services()
    broker_reset()
    h = Hosts(hosts, tmp_path)
    settings.PUBLIC_BASE_URL = h.web_url  # the callback URLs this process builds name the web host
    try:
        emulator = h.start("emulator", "provider", [
            sys.executable, "manage.py", "run_provider_emulator", "--host", hosts["provider"].address,
            "--port", str(EMULATOR_PORT), "--no-tls", "--twilio-account", f"{TWILIO_SID}:{TWILIO_TOKEN}",
            "--callback-delay-ms", "20", "--seed", "7"])
        web = h.start("web", "web", [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"])
        for n, host in enumerate(WORKERS):
            h.start(host, host, [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
                                 "--concurrency", "1", "--without-mingle", "--without-gossip",
                                 "--hostname", f"{host}@{hosts[host].address}"])
        h.start("beat", WORKERS[0], [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
                                     "--pidfile=", "--schedule", str(tmp_path / "beat-schedule")])
        h.wait_http(emulator, f"{h.emulator_url}/_emulator/health")
        h.wait_http(web, f"{h.web_url}/healthz")
        for host in WORKERS:
            wait_for_text(h.processes[host], "ready.", timeout=60)
        account = account_create(name="Twilio SMS", channel="sms", provider="twilio",
                                 credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
                                 numbers=[NumberSpec(NUMBER, "long_code")])
        h.emulator.set_twilio_inbound_url(NUMBER, account.callback_urls()["inbound"])
        h.account = account
        h.token = answering_admin_token()
        yield h
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print(h.logs())
        h.stop()


def _reaches(host: netns.Host, address: str, port: int) -> bool:
    probe = ("import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)\n"
             "except OSError:\n    sys.exit(1)")
    return subprocess.run(host.command([sys.executable, "-c", probe, address, str(port)]), timeout=30).returncode == 0


def _closed_at_once(address: str, port: int, *, source: str) -> bool:
    """Whether a connection from ``source`` is closed without a word (PostgreSQL, relayed, would wait for the
    client's start-up message instead)."""
    with socket.create_connection((address, port), timeout=3, source_address=(source, 0)) as probe:
        try:
            return probe.recv(1) == b""
        except TimeoutError:
            return False


def test_inbound_reply_and_its_delivery_cross_the_hosts(hub):
    web = hub.hosts["web"].address
    # On a host, PostgreSQL and Redis are not on 127.0.0.1 (that is the host's own loopback): only at the
    # gateway, as on a network.
    for name in ("web", "worker-1"):
        assert not _reaches(hub.hosts[name], "127.0.0.1", 5432) and not _reaches(hub.hosts[name], "127.0.0.1", 6379)
        assert _reaches(hub.hosts[name], netns.GATEWAY, 5432) and _reaches(hub.hosts[name], netns.GATEWAY, 6379)
    # What reaches the gateway from outside the hosts' subnet is not relayed to the loopback's PostgreSQL.
    assert _closed_at_once(netns.GATEWAY, 5432, source="127.0.0.1")
    answer = hub.emulator.inject_inbound(provider="twilio", account=TWILIO_SID, from_="+15557770001", to=NUMBER,
                                         body="Is my order on its way?")
    # The provider host posted the signed webhook to the web host, which checked it against PUBLIC_BASE_URL.
    assert answer["url"].startswith(f"http://{web}:{WEB_PORT}/webhooks/"), answer["url"]
    assert answer["delivery"]["http_status"] == 200, answer
    conversation = wait_until(lambda: Conversation.objects.filter(contact__address="+15557770001").first(),
                              what="a worker host to turn the webhook into a conversation")

    reply = hub.api(hub.token).post(f"{hub.web_url}/api/v1/conversations/{conversation.pk}/messages/",
                                    json={"body": "It ships today."}, timeout=10)
    assert reply.status_code == 201, reply.text
    wait_until(lambda: Message.objects.filter(pk=reply.json()["id"], status="delivered").exists(),
               what="the reply to be sent by a worker host and its delivery reported to the web host")

    sent = [m for m in hub.emulator.messages(direction="outbound-api") if m["body"] == "It ships today."]
    assert len(sent) == 1, sent
    worker_addresses = {hub.hosts[h].address for h in WORKERS}
    assert sent[0]["client"] in worker_addresses, f"the send came from {sent[0]['client']}, not a worker host"
    # The worker built the status callback URL from PUBLIC_BASE_URL: the web host's, not its own.
    assert sent[0]["params"]["StatusCallback"][0].startswith(f"http://{web}:{WEB_PORT}/webhooks/"), sent[0]
    callbacks = hub.emulator.callbacks(message_id=sent[0]["id"])
    assert {c["label"] for c in callbacks if c["ok"]} >= {"sent", "delivered"}, callbacks
    assert all(c["url"].startswith(f"http://{web}:{WEB_PORT}/webhooks/") for c in callbacks), callbacks

    ready = hub.get(f"{hub.web_url}/readyz?require=worker,beat")
    assert ready.status_code == 200, ready.text
    assert all(f"{h}@{hub.hosts[h].address}" in ready.json()["checks"]["worker"] for h in WORKERS), ready.json()


def test_a_campaigns_sends_are_shared_by_both_worker_hosts(hub):
    configuration = str(make_configuration(hub.account).configuration_id)
    hub.emulator.config(latency_ms=30)  # each request's run lasts long enough for the other host to take the next
    api = hub.api(hub.token)
    requests_made = []
    for r in range(8):
        response = api.post(f"{hub.web_url}/api/v1/outbound/requests/", timeout=30,
                            json={"configuration_id": configuration,
                                  "contacts": [contact(r * 25 + i) for i in range(25)]})
        assert response.status_code == 202, response.text
        requests_made.append(response.json()["request_id"])

    def delivered():
        counts = [api.get(f"{hub.web_url}/api/v1/outbound/requests/{r}/", timeout=10).json()["counts"]
                  for r in requests_made]
        return all(c["delivered"] == 25 for c in counts) and counts

    wait_until(delivered, timeout=90, what="the campaign's 200 contacts to be delivered")
    sends = hub.emulator.messages(direction="outbound-api", limit=1000)
    assert len(sends) == 200 and len({m["to"] for m in sends}) == 200, "a contact was left out or sent twice"
    by_host = {h: sum(1 for m in sends if m["client"] == hub.hosts[h].address) for h in WORKERS}
    assert all(by_host.values()), f"sends per worker host: {by_host}; one host did all the work"
    assert sum(by_host.values()) == 200, f"sends from elsewhere than the worker hosts: {by_host}"
