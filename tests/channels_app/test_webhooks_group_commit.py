"""Webhooks that threads of one web process receive at the same moment share one INSERT and commit, and each
is answered only once its own row is committed."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlencode

import pytest
from django.db import OperationalError, connections
from twilio.request_validator import RequestValidator

from channels_app.models import InboundEvent
from channels_app.services import inbound
from tests.config.test_wsgi import call
from tests.conftest import TWILIO_AUTH_TOKEN

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def wsgi_app(settings):
    from config.wsgi import application

    settings.PUBLIC_BASE_URL = "https://hub.example.com"
    settings.WEBHOOK_GROUP_COMMIT_MAX = 32
    return application


@pytest.fixture
def writes(monkeypatch):
    """The rows of each group write; the first write waits until ``writes.wait_for`` more webhooks queue behind
    it, so that they are written together by the next one."""
    group = inbound._group_commit
    real = group._write
    recorded: list[list[str]] = []

    def write(groups):
        if not recorded:
            deadline = time.monotonic() + 10
            while len(group._pending) < write.wait_for and time.monotonic() < deadline:
                time.sleep(0.005)
        recorded.append([row[2] for rows in groups for row in rows])
        return real(groups)

    write.wait_for = 0
    write.recorded = recorded
    monkeypatch.setattr(group, "_write", write)
    return write


def webhook(account, sid, *, forged=False):
    path = f"/webhooks/twilio/{account.webhook_token}/inbound/"
    params = {"MessageSid": sid, "From": "+15551234567", "To": "+14155550100", "Body": f"hello {sid}"}
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature("https://hub.example.com" + path, params)
    return path, urlencode(params).encode(), "forged" if forged else signature


def send_together(app, account, sids, *, forged=()):
    """Each webhook from its own thread (as gunicorn's threads serve them), the first one a moment before the
    others; {sid: (status, headers, body)}."""
    answers = {}

    def run(sid):
        path, body, signature = webhook(account, sid, forged=sid in forged)
        try:
            answers[sid] = call(app, "POST", path, body, {"X-Twilio-Signature": signature, "X-Request-ID": f"r-{sid}"})
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(sid,)) for sid in sids]
    for index, thread in enumerate(threads):
        thread.start()
        if index == 0:
            time.sleep(0.05)
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()
    return answers


SIDS = ["SM" + str(n) * 32 for n in range(1, 5)]


def test_webhooks_arriving_together_share_one_insert_and_each_is_answered_once_stored(
        wsgi_app, twilio_sms_account, writes):
    writes.wait_for = 3
    answers = send_together(wsgi_app, twilio_sms_account, SIDS)
    assert {sid: status for sid, (status, _, _) in answers.items()} == dict.fromkeys(SIDS, 200)
    assert all(b"<Response/>" in body for _, _, body in answers.values())
    # The first alone, the three that arrived during its write in the next one.
    assert [len(rows) for rows in writes.recorded] == [1, 3]
    assert sorted(sid for rows in writes.recorded for sid in rows) == sorted(SIDS)
    stored = {e.event_key: e for e in InboundEvent.objects.all()}
    assert sorted(stored) == sorted(SIDS)
    # Each row carries its own request's id, the one its answer gave back.
    for sid, (_, headers, _) in answers.items():
        assert stored[sid].request_id == headers["X-Request-ID"] == f"r-{sid}"


def test_a_forged_webhook_among_them_is_refused_alone(wsgi_app, twilio_sms_account, writes):
    writes.wait_for = 2
    answers = send_together(wsgi_app, twilio_sms_account, SIDS, forged={SIDS[2]})
    assert {sid: status for sid, (status, _, _) in answers.items()} == {
        SIDS[0]: 200, SIDS[1]: 200, SIDS[2]: 403, SIDS[3]: 200}
    assert sorted(sid for rows in writes.recorded for sid in rows) == sorted([SIDS[0], SIDS[1], SIDS[3]])
    assert sorted(InboundEvent.objects.values_list("event_key", flat=True)) == sorted([SIDS[0], SIDS[1], SIDS[3]])


def test_when_the_group_s_write_fails_none_is_answered_200_and_the_retries_store_each_once(
        wsgi_app, twilio_sms_account, writes, monkeypatch):
    real_insert = inbound._insert_rows

    def lost(connection, rows):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(inbound, "_insert_rows", lost)
    writes.wait_for = 3
    answers = send_together(wsgi_app, twilio_sms_account, SIDS)
    assert {sid: status for sid, (status, _, _) in answers.items()} == dict.fromkeys(SIDS, 500)
    assert not InboundEvent.objects.exists()

    # The provider sends them again: each stored once; and once more: duplicates, nothing new.
    monkeypatch.setattr(inbound, "_insert_rows", real_insert)
    for _ in range(2):
        writes.recorded.clear()
        answers = send_together(wsgi_app, twilio_sms_account, SIDS)
        assert {sid: status for sid, (status, _, _) in answers.items()} == dict.fromkeys(SIDS, 200)
        assert sorted(InboundEvent.objects.values_list("event_key", flat=True)) == sorted(SIDS)


def test_a_retry_in_the_same_group_as_its_original_is_stored_once(wsgi_app, twilio_sms_account, writes):
    writes.wait_for = 3
    sid = SIDS[1]
    answers = {}

    def run(key):
        path, body, signature = webhook(twilio_sms_account, sid)
        try:
            answers[key] = call(wsgi_app, "POST", path, body, {"X-Twilio-Signature": signature})
        finally:
            connections.close_all()

    first = threading.Thread(target=run, args=("lead",))
    first.start()
    time.sleep(0.05)
    threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in [first, *threads]:
        thread.join(30)
    assert [status for status, _, _ in answers.values()] == [200] * 4
    assert writes.recorded == [[sid], [sid] * 3]  # the three copies in one statement
    assert InboundEvent.objects.filter(event_key=sid).count() == 1
