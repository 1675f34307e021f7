"""Which callback URLs providers on the internet cannot reach, told from the URL alone."""

import pytest

from config.public_url import public_url_problems

CASES = [
    ("https://hub.example.com/webhooks/twilio/abc/inbound/", []),
    ("http://127.0.0.1:8000/webhooks/twilio/abc/inbound/", ["loopback", "plain http", "PUBLIC_BASE_URL"]),
    ("https://localhost/webhooks/", ["only the local network knows"]),
    ("https://10.1.2.3/webhooks/", ["private address"]),
    ("https://192.168.0.10/webhooks/", ["private address"]),
    ("https://[::1]/webhooks/", ["loopback"]),
    ("https://hub.internal/webhooks/", ["only the local network knows"]),
    ("https://supportbox/webhooks/", ["only the local network knows"]),
    ("http://hub.example.com/webhooks/", ["plain http"]),
]


@pytest.mark.parametrize("url, expected", CASES, ids=[c[0] for c in CASES])
def test_problems_of_a_callback_url(url, expected):
    problems = " ".join(public_url_problems(url))
    assert bool(problems) == bool(expected)
    for words in expected:
        assert words in problems
