"""Customer media named in a correctly signed Twilio webhook goes through the outbound-fetch policy: a link the
HTTP client would read as an internal host is never fetched, and the account's credentials go only over https
to Twilio's exact API host."""

from __future__ import annotations

import pytest

from channels_app.models import Attachment, Message
from tests.channels_app.test_inbound import send
from tests.conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN

PATH = f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages/SM1/Media/ME1"

REFUSED = [
    # urlsplit reads media.twiliocdn.com; requests would connect to 127.0.0.1 with the Auth Token.
    (f"http://127.0.0.1:8150\\@media.twiliocdn.com{PATH}", "backslash"),
    (f"https://127.0.0.1:8150\\@api.twilio.com{PATH}", "backslash"),
    ("https://evil.example\\.twiliocdn.com/x.jpg", "backslash"),
    (f"https://x@127.0.0.1{PATH}", "no user name"),
    (f"https://api.twilio.com@127.0.0.1{PATH}", "no user name"),
    ("https://evil.example/x.jpg", "evil.example is not a media host"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is not a media host"),
    # A media host by name, whose DNS answer is internal (rebinding or a hostile resolver).
    ("https://rebound.twiliocdn.com/x.jpg", "127.0.0.1 (loopback)"),
    ("https://sixtofour.twiliocdn.com/x.jpg", "2002:7f00:1:: (loopback)"),
    ("https://nat64.twiliocdn.com/x.jpg", "64:ff9b::a9fe:a9fe (link-local)"),
]


@pytest.fixture(autouse=True)
def _dns(egress_dns):
    egress_dns.update({"rebound.twiliocdn.com": ["127.0.0.1"], "sixtofour.twiliocdn.com": ["2002:7f00:1::"],
                       "nat64.twiliocdn.com": ["64:ff9b::a9fe:a9fe"]})


@pytest.mark.parametrize(("media", "error"), REFUSED, ids=[m for m, _ in REFUSED])
def test_a_media_link_the_hub_must_not_fetch_is_refused_and_the_message_kept(
        media, error, client, twilio_sms_account, mocked_http, django_capture_on_commit_callbacks):
    response = send(client, twilio_sms_account, "pic", "SM1", media=media, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 200
    attachment = Attachment.objects.get()
    assert attachment.state == "refused" and error in attachment.error, attachment.error
    assert len(mocked_http.calls) == 0
    assert Message.objects.get().body == "pic"  # the message itself is kept


def test_credentials_are_never_sent_over_plain_http(client, twilio_sms_account, mocked_http,
                                                    django_capture_on_commit_callbacks):
    url = f"http://api.twilio.com{PATH}"
    mocked_http.get(url, body=b"jpegdata", content_type="image/jpeg")
    send(client, twilio_sms_account, "pic", "SM1", media=url, capture=django_capture_on_commit_callbacks)
    assert "Authorization" not in mocked_http.calls[0].request.headers


def test_credentials_go_only_to_the_exact_api_host(client, twilio_sms_account, mocked_http,
                                                   django_capture_on_commit_callbacks):
    url = "https://media.twiliocdn.com/AC/abc.jpg"  # a media host, but not the one that takes credentials
    mocked_http.get(url, body=b"jpegdata", content_type="image/jpeg")
    send(client, twilio_sms_account, "pic", "SM1", media=url, capture=django_capture_on_commit_callbacks)
    assert Attachment.objects.get().state == "stored"
    assert "Authorization" not in mocked_http.calls[0].request.headers


def test_a_redirect_to_an_internal_address_is_refused(client, twilio_sms_account, mocked_http,
                                                      django_capture_on_commit_callbacks):
    url = f"https://api.twilio.com{PATH}"
    mocked_http.get(url, status=307, headers={"Location": "https://rebound.twiliocdn.com/x.jpg"})
    send(client, twilio_sms_account, "pic", "SM1", media=url, capture=django_capture_on_commit_callbacks)
    attachment = Attachment.objects.get()
    assert attachment.state == "refused" and "127.0.0.1 (loopback)" in attachment.error
    assert len(mocked_http.calls) == 1
    assert mocked_http.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert TWILIO_AUTH_TOKEN not in attachment.error
