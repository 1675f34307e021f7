"""The outbound-fetch policy: every way a URL could make the hub connect somewhere it must not, as table rows,
and the pinned connection that goes to the address that was checked."""

from __future__ import annotations

import http.server
import ssl
import threading

import pytest
import requests

from config import egress
from devtools.emulator.tls import self_signed_certificate

#: (url, the rule that refuses it). The names resolve through the tests' resolver (tests/conftest.py).
REFUSED = [
    # Parsers disagreeing: urlsplit reads 1.1.1.1, requests connects to 127.0.0.1.
    ("https://127.0.0.1:8150\\@1.1.1.1/", "url_invalid"),
    ("http://127.0.0.1:8150\\@media.twiliocdn.com/x", "url_invalid"),
    ("https://evil.example\\.twiliocdn.com/x", "url_invalid"),
    ("https://user:pass@bot.example/", "url_authority"),
    ("https://bot.example@127.0.0.1/", "url_authority"),
    ("https://bot.example%2f@127.0.0.1/", "url_authority"),
    ("https://127.0.0.1%2ebot.example/", "url_authority"),
    ("https://bot.example\t/", "url_invalid"),
    ("https://bot.example\x00.evil/", "url_invalid"),
    ("https://bot .example/", "url_authority"),
    ("https://bot.example:99999/", "url_invalid"),
    ("https://bot.example:0/", "url_invalid"),
    ("ftp://bot.example/", "url_scheme"),
    ("file:///etc/passwd", "url_scheme"),
    ("//bot.example/", "url_scheme"),
    ("https:///path-only", "url_invalid"),
    ("https://bot_exa*mple/", "url_invalid"),
    # Internal addresses, written as addresses.
    ("https://127.0.0.1/", "url_internal"),
    ("https://127.1/", "url_internal"),
    ("https://2130706433/", "url_internal"),
    ("https://0x7f.0.0.1/", "url_internal"),
    ("https://0.0.0.0/", "url_internal"),
    ("https://10.1.2.3/", "url_internal"),
    ("https://172.16.0.1/", "url_internal"),
    ("https://192.168.1.1/", "url_internal"),
    ("https://100.64.0.1/", "url_internal"),
    ("http://169.254.169.254/latest/meta-data/", "url_internal"),
    ("https://224.0.0.1/", "url_internal"),
    ("https://240.0.0.1/", "url_internal"),
    ("https://255.255.255.255/", "url_internal"),
    ("https://[::1]/", "url_internal"),
    ("https://[::]/", "url_internal"),
    ("https://[fe80::1]/", "url_internal"),
    ("https://[fc00::1]/", "url_internal"),
    ("https://[ff02::1]/", "url_internal"),
    # Internal IPv4 addresses embedded in IPv6 ones.
    ("https://[::ffff:127.0.0.1]/", "url_internal"),
    ("https://[::ffff:10.0.0.1]/", "url_internal"),
    ("https://[::127.0.0.1]/", "url_internal"),
    ("https://[2002:7f00:1::]/", "url_internal"),  # 6to4 of 127.0.0.1
    ("https://[2002:a9fe:a9fe::1]/", "url_internal"),  # 6to4 of 169.254.169.254
    ("https://[64:ff9b::7f00:1]/", "url_internal"),  # NAT64 of 127.0.0.1
    ("https://[64:ff9b::a00:1]/", "url_internal"),  # NAT64 of 10.0.0.1
    ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "url_internal"),  # Teredo, client 127.0.0.1
    # Names that resolve inside.
    ("https://intranet.example/", "url_internal"),
    ("https://mixed.example/", "url_internal"),
    ("https://mapped.example/", "url_internal"),
    ("https://sixtofour.example/", "url_internal"),
    ("https://nowhere.example/", "url_unresolved"),
]

DNS = {"intranet.example": ["10.20.30.40"], "mixed.example": ["93.184.215.14", "127.0.0.1"],
       "mapped.example": ["::ffff:192.168.1.1"], "sixtofour.example": ["2002:7f00:1::"], "nowhere.example": []}


@pytest.fixture(autouse=True)
def _dns(egress_dns):
    egress_dns.update(DNS)


@pytest.mark.parametrize(("url", "code"), REFUSED, ids=[repr(u) for u, _ in REFUSED])
def test_a_url_the_hub_must_not_fetch_is_refused(url, code, settings):
    settings.EGRESS_ALLOWED_NETWORKS = []
    with pytest.raises(egress.EgressRefused) as err:
        egress.check_url(url)
    assert err.value.code == code
    assert err.value.message


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("https://bot.example/hook?x=1", "bot.example", 443),
        ("HTTPS://Bot.Example.:8443/hook", "bot.example", 8443),
        ("http://bot.example/", "bot.example", 80),
        ("https://93.184.215.14/", "93.184.215.14", 443),
        ("https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", 443),
        ("https://[2002:808:808::1]/", "2002:808:808::1", 443),  # 6to4 of a public address
        ("https://bücher.example/", "xn--bcher-kva.example", 443),
    ],
)
def test_a_public_url_passes_with_its_host_and_addresses(url, host, port):
    target = egress.check_url(url)
    assert (target.host, target.port) == (host, port)
    assert target.addresses


def test_allowed_networks_let_internal_addresses_through(settings):
    settings.EGRESS_ALLOWED_NETWORKS = ["127.0.0.0/8", "10.20.0.0/16"]
    assert egress.check_url("http://127.0.0.1:8025/x").addresses == ("127.0.0.1",)
    assert egress.check_url("https://intranet.example/").addresses == ("10.20.30.40",)
    with pytest.raises(egress.EgressRefused):
        egress.check_url("https://192.168.1.1/")
    with pytest.raises(egress.EgressRefused):  # the syntax rules hold whatever the networks
        egress.check_url("https://127.0.0.1:8150\\@1.1.1.1/")


@pytest.mark.parametrize(
    ("url", "origins", "allowed"),
    [
        ("https://api.twilio.com/x", ["https://api.twilio.com"], True),
        ("https://API.twilio.com./x", ["https://api.twilio.com"], True),
        ("http://api.twilio.com/x", ["https://api.twilio.com", "http://api.twilio.com"], False),  # never plain http
        ("https://media.api.twilio.com/x", ["https://api.twilio.com"], False),  # exact host only
        ("https://api.twilio.com:8443/x", ["https://api.twilio.com"], False),
        ("https://media.twiliocdn.com/x", ["https://api.twilio.com"], False),
    ],
)
def test_credentials_go_only_over_https_to_an_exact_origin(url, origins, allowed):
    assert egress.credentials_allowed(egress.check_url(url), origins) is allowed


def test_plain_http_credentials_only_to_an_explicitly_allowed_network(settings):
    origins = ["http://127.0.0.1:8025"]
    settings.EGRESS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert egress.credentials_allowed(egress.check_url("http://127.0.0.1:8025/m"), origins)
    settings.EGRESS_ALLOWED_NETWORKS = []
    assert not egress.credentials_allowed(egress.parse("http://127.0.0.1:8025/m"), origins)


# --- the pinned connection -----------------------------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    hosts: list[str] = []

    def do_GET(self):
        type(self).hosts.append(self.headers.get("Host", ""))
        body = b"pinned"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server(tmp_path):
    """An HTTP server on 127.0.0.1 and an HTTPS one whose certificate names ``pinned.test`` only."""
    cert, key = self_signed_certificate(tmp_path, hosts=("pinned.test",))
    servers = []
    for tls in (False, True):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    _Recorder.hosts = []
    yield servers[0].server_address[1], servers[1].server_address[1], str(cert)
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_connection_goes_to_the_checked_address_without_a_second_lookup(local_server, settings, monkeypatch):
    http_port, _, _ = local_server
    settings.EGRESS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    answers = [["127.0.0.1"], ["10.255.255.1"]]  # a rebinding name: the second answer is elsewhere
    calls = []

    def rebinding(host, port):
        calls.append(host)
        return answers[min(len(calls), 2) - 1]

    monkeypatch.setattr(egress, "resolve", rebinding)
    target = egress.check_url(f"http://rebind.test:{http_port}/x")
    response = egress.pinned_session(target).get(target.url, timeout=5)
    assert response.text == "pinned"
    assert calls == ["rebind.test"]
    assert _Recorder.hosts == [f"rebind.test:{http_port}"]


def test_tls_names_the_host_and_verifies_its_certificate_at_the_pinned_address(local_server, settings, egress_dns):
    _, https_port, cert = local_server
    settings.EGRESS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.PROVIDER_CA_BUNDLE = cert
    egress_dns.update({"pinned.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    target = egress.check_url(f"https://pinned.test:{https_port}/x")
    assert egress.pinned_session(target).get(target.url, timeout=5).text == "pinned"
    other = egress.check_url(f"https://other.test:{https_port}/x")
    with pytest.raises(requests.exceptions.SSLError):  # the certificate is checked for the name, not the address
        egress.pinned_session(other).get(other.url, timeout=5)


def test_a_pinned_session_reaches_no_other_host(local_server, settings, egress_dns):
    http_port, _, _ = local_server
    settings.EGRESS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    egress_dns.update({"pinned.test": ["127.0.0.1"]})
    session = egress.pinned_session(egress.check_url(f"http://pinned.test:{http_port}/x"))
    with pytest.raises(requests.exceptions.InvalidURL):
        session.get(f"http://127.0.0.1:{http_port}/elsewhere", timeout=5)
    assert _Recorder.hosts == []
