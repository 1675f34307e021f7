"""Whether providers on the internet can reach a URL the hub gives out (webhook and callback URLs).

Only the URL itself is looked at — no name is resolved — so the answer is the same on a machine without a
network: a loopback or private address, a name that only the local network knows, or plain http.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.utils.translation import gettext as _

LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".localdomain")


def public_url_problems(url: str) -> list[str]:
    """What keeps a provider from reaching ``url`` (empty when nothing does, as far as the URL shows)."""
    parts = urlsplit(url or "")
    host = (parts.hostname or "").lower()
    problems: list[str] = []
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        if address.is_loopback:
            problems.append(_("%(host)s is this machine's loopback address: providers on the internet cannot "
                              "reach it.") % {"host": host})
        elif address.is_private or address.is_link_local or address.is_reserved or address.is_unspecified:
            problems.append(_("%(host)s is a private address: providers on the internet cannot reach it.")
                            % {"host": host})
    elif host == "localhost" or host.endswith(LOCAL_SUFFIXES) or (host and "." not in host):
        problems.append(_("%(host)s is a name only the local network knows: providers on the internet cannot "
                          "reach it.") % {"host": host})
    if parts.scheme == "http":
        problems.append(_("It is plain http: providers may refuse it, and what they send travels unencrypted. "
                          "Serve the hub over https."))
    if problems:
        problems.append(_("Set PUBLIC_BASE_URL to the hub's public https address (for a test from your own "
                          "machine, a tunnel such as ngrok gives one)."))
    return problems
