"""The outbound-fetch policy: every URL the hub fetches or posts to on someone else's say-so (an HTTP bot's
URL, a customer's media link, an agent's attachment link) goes through here.

- The URL is parsed once, with the parser ``requests`` itself uses (urllib3's), so that the host that is
  checked is the host that is connected to. Userinfo (``user@``), backslashes, percent signs, control
  characters and whitespace in the authority are refused outright: they are where parsers disagree.
- The host is resolved once; every address it resolves to must be public — not private, loopback,
  link-local, multicast, reserved, unspecified or shared, nor one of those embedded in an IPv6 address
  (IPv4-mapped, IPv4-compatible, 6to4, NAT64, Teredo) — unless it lies in ``EGRESS_ALLOWED_NETWORKS``.
- The connection is made to the vetted address (:func:`pinned_session`): no second lookup a DNS answer
  could change in between; TLS still sends the host name (SNI) and verifies the certificate for it, and
  the ``Host`` header names it.
- Redirects are not followed by the session; a caller that follows one checks the next URL again with
  :func:`check_url`.
- Credentials go only over https and only to a host that is exactly on the caller's list
  (:func:`credentials_allowed`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

MAX_URL_LENGTH = 2048
#: Characters the authority (between ``//`` and the first ``/``, ``?`` or ``#``) may never contain.
_AUTHORITY_FORBIDDEN = set("\\@%") | {chr(c) for c in range(0x21)} | {"\x7f"}
#: NAT64 prefixes (RFC 6052 well-known, RFC 8215 local use): the last 32 bits are an IPv4 address.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class EgressRefused(ValueError):
    """A URL the hub will not fetch; ``code`` names the rule, ``str()`` says why in a sentence."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Target:
    """A checked URL: what to connect to and what to call it."""

    url: str
    scheme: str
    host: str  # lower case, IDNA-encoded, IPv6 without brackets
    port: int
    addresses: tuple[str, ...] = ()  # the vetted addresses, in the resolver's order

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse(url: str, *, schemes: Iterable[str] = ("https", "http")) -> Target:
    """Parse ``url`` as ``requests`` will, refusing what could be read two ways (no DNS lookup)."""
    if not isinstance(url, str) or not url:
        raise EgressRefused("The URL is empty.", code="url_invalid")
    if len(url) > MAX_URL_LENGTH:
        raise EgressRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.",
                            code="url_invalid")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise EgressRefused("The URL contains a control character.", code="url_invalid")
    if "\\" in url:
        raise EgressRefused("The URL contains a backslash; write it with forward slashes only.",
                            code="url_invalid")
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in tuple(schemes):
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise EgressRefused(f"The URL must start with {allowed}.",
                            code="url_scheme")
    authority = rest
    for delimiter in "/?#":
        authority = authority.split(delimiter, 1)[0]
    bad = sorted(set(authority) & _AUTHORITY_FORBIDDEN)
    if bad:
        shown = ", ".join(repr(ch) for ch in bad)
        raise EgressRefused(f"The URL's host part contains {shown}; only a host name or address and a "
                            "port may stand there (no user name, no password).",
                            code="url_authority")
    try:
        parsed = parse_url(url)
        port = parsed.port
    except (LocationParseError, ValueError) as exc:
        raise EgressRefused(f"The URL cannot be read: {exc}",
                            code="url_invalid") from None
    if parsed.auth:
        raise EgressRefused("The URL carries a user name or password.", code="url_authority")
    host = (parsed.host or "").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.endswith("."):  # the fully qualified form of the same name
        host = host[:-1]
    if not host:
        raise EgressRefused("The URL has no host name.", code="url_invalid")
    if port is not None and not 0 < port < 65536:
        raise EgressRefused(f"The URL's port {port} is not between 1 and 65535.",
                            code="url_invalid")
    if _literal(host) is None:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise EgressRefused(f"The host name {host} is not a valid name.",
                                code="url_invalid") from None
        labels = host.split(".")
        if any(not label or len(label) > 63 or not all(c.isalnum() or c == "-" for c in label)
               for label in labels):
            raise EgressRefused(f"The host name {host} is not a valid name.",
                                code="url_invalid")
    return Target(url=url, scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80))


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, in the resolver's order (OSError when it does not resolve)."""
    seen: dict[str, None] = {}
    for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        seen.setdefault(str(info[4][0]), None)
    return list(seen)


def _embedded(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses carried inside an IPv6 address, by the transition mechanisms that route to them."""
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if any(ip in net for net in _NAT64) or int(ip) >> 32 == 0:  # NAT64, or IPv4-compatible (::a.b.c.d)
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _internal_reason(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Why ``ip`` is not a public address ("" when it is one)."""
    for inner in _embedded(ip) if isinstance(ip, ipaddress.IPv6Address) else []:
        reason = _internal_reason(inner)
        if reason:
            return reason
    checks = (("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified),
              ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
              ("private", ip.is_private), ("reserved", ip.is_reserved),
              ("shared", isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED),
              ("not global", not ip.is_global))
    return next((name for name, hit in checks if hit), "")


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(str(n).strip(), strict=False) for n in settings.EGRESS_ALLOWED_NETWORKS
            if str(n).strip()]


def address_refusal(address: str, *, internal_hosts_allowed: bool = False) -> str:
    """Why the hub will not connect to ``address`` ("" when it may)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if internal_hosts_allowed or any(ip.version == net.version and ip in net for net in _allowed_networks()):
        return ""
    return _internal_reason(ip)


def check_url(url: str, *, schemes: Iterable[str] = ("https", "http"), internal_hosts_allowed: bool = False,
              resolve_host: bool = True) -> Target:
    """Parse ``url`` and vet every address its host resolves to; the Target to connect to.

    ``internal_hosts_allowed`` lets an operator-listed host resolve to internal addresses (it is still
    resolved once and pinned). ``resolve_host=False`` checks an address written in the URL but does not
    look a name up (for links the hub passes on to a provider without fetching them itself).
    """
    target = parse(url, schemes=schemes)
    literal = _literal(target.host)
    if literal is not None:
        addresses = [str(literal)]
    elif not resolve_host:
        return target
    else:
        try:
            addresses = resolve(target.host, target.port)
        except (OSError, UnicodeError):
            addresses = []
        if not addresses:
            raise EgressRefused(f"The host {target.host} does not resolve to an address.",
                                code="url_unresolved")
    refused = [(a, r) for a in addresses if (r := address_refusal(a, internal_hosts_allowed=internal_hosts_allowed))]
    if refused:
        shown = ", ".join(f"{a} ({r})" for a, r in refused)
        raise EgressRefused(
            f"The host {target.host} resolves to an address the hub does not connect to: {shown} "
            "(EGRESS_ALLOWED_NETWORKS lists networks that may be reached anyway).",
            code="url_internal")
    return Target(url=target.url, scheme=target.scheme, host=target.host, port=target.port,
                  addresses=tuple(addresses))


def host_matches(host: str, entries: Iterable[str]) -> bool:
    """``host`` is one of ``entries``; an entry with a leading dot also matches its subdomains."""
    host = host.lower()
    for entry in entries:
        entry = entry.strip().lower()
        if entry and (host == entry or (entry.startswith(".") and host.endswith(entry))):
            return True
    return False


def credentials_allowed(target: Target, origins: Iterable[str]) -> bool:
    """Credentials may go to ``target``: its scheme, host and port are exactly one of ``origins``
    (``https://api.twilio.com``; a subdomain never matches), over https — plain http only to an address
    in EGRESS_ALLOWED_NETWORKS (the provider emulator on this machine in development)."""
    if target.scheme != "https":
        networks = _allowed_networks()
        if not target.addresses or not all(
                any(ip.version == net.version and ip in net for net in networks)
                for ip in (ipaddress.ip_address(a.split("%", 1)[0]) for a in target.addresses)):
            return False
    for origin in origins:
        try:
            allowed = parse(origin)
        except EgressRefused:
            continue
        if (allowed.scheme, allowed.host, allowed.port) == (target.scheme, target.host, target.port):
            return True
    return False


class PinnedAdapter(HTTPAdapter):
    """A transport that connects to the vetted address of one Target, whatever the URL's host resolves
    to now; TLS names the host (SNI) and verifies its certificate, and ``Host`` names it too."""

    def __init__(self, target: Target):
        if not target.addresses:
            raise ValueError("a pinned adapter needs a checked target (check_url)")
        self.target = target
        super().__init__(max_retries=0)

    def _check(self, request: requests.PreparedRequest) -> None:
        sent = parse(request.url or "")
        if (sent.scheme, sent.host, sent.port) != (self.target.scheme, self.target.host, self.target.port):
            raise requests.exceptions.InvalidURL(f"{sent.host} is not the checked host {self.target.host}")

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        self._check(request)
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        if self.target.scheme == "https":
            pool_kwargs = {**pool_kwargs, "server_hostname": self.target.host}
        return self.poolmanager.connection_from_host(
            host=self.target.addresses[0], port=self.target.port, scheme=host_params["scheme"],
            pool_kwargs=pool_kwargs)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        self._check(request)
        request.headers["Host"] = self.target.netloc
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies={})


def pinned_session(target: Target) -> requests.Session:
    """A session that reaches ``target`` only, at its vetted address: no proxy, no ~/.netrc, no
    environment; certificates checked against PROVIDER_CA_BUNDLE when set, else the system's."""
    session = requests.Session()
    session.trust_env = False
    session.headers["User-Agent"] = "messaging-hub/1"
    if settings.PROVIDER_CA_BUNDLE:
        session.verify = settings.PROVIDER_CA_BUNDLE
    adapter = PinnedAdapter(target)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
