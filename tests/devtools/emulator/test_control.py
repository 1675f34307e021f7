"""The control API: injected failures and latency, records, caps, reset, accounts and webhook targets."""

import base64
import time
from http.client import HTTPConnection
from urllib.parse import urlencode, urlsplit

import pytest
import requests

from devtools.emulator import ConfigError, EmulatorConfig, ProviderEmulator
from tests.conftest import TELESIGN_API_KEY, TELESIGN_CUSTOMER_ID, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from tests.devtools.emulator.conftest import MESSAGES_PATH, telesign_send, twilio_send

OURS, CUSTOMER = "+14155550100", "+15551234567"


def _config(http, emulator, **values):
    response = http.post(emulator.url + "/_emulator/config", json=values)
    assert response.status_code == 200, response.text
    return response.json()


def test_config_is_read_and_changed_at_run_time(http, emulator):
    before = http.get(emulator.url + "/_emulator/config").json()
    assert before["fail_5xx"] == 0 and before["callback_delay_ms"] == 0
    after = _config(http, emulator, fail_5xx=0.25, latency_ms=1)
    assert after["fail_5xx"] == 0.25 and after["latency_ms"] == 1 and after["fail_429"] == 0


@pytest.mark.parametrize(("values", "message"), [
    ({"nope": 1}, "unknown setting"),
    ({"fail_5xx": 0.6, "fail_429": 0.6}, "must not exceed 1"),
    ({"fail_timeout": 2}, "between"),
    ({"timeout_mode": "sometimes"}, "timeout_mode"),
    ({"latency_ms": "fast"}, "must be a number"),
    ({"whatsapp_read": "yes"}, "true or false"),
    ({"max_records": 0}, "at least 1"),
])
def test_bad_config_is_refused_whole(http, emulator, values, message):
    response = http.post(emulator.url + "/_emulator/config", json={"latency_ms": 5, **values})
    assert response.status_code == 400 and message in response.json()["error"]
    assert http.get(emulator.url + "/_emulator/config").json()["latency_ms"] == 0
    assert http.post(emulator.url + "/_emulator/config", data="{").status_code == 400


def test_config_errors_at_construction():
    with pytest.raises(ConfigError):
        ProviderEmulator(fail_5xx=3)
    with pytest.raises(ConfigError):
        EmulatorConfig(whatsapp_window="maybe").validate()


def test_5xx_failures_use_each_providers_error_shape(http, emulator):
    emulator.configure(fail_5xx=1.0)
    twilio = twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi")
    assert twilio.status_code == 500 and twilio.json()["code"] == 20500
    telesign = telesign_send(http, emulator)
    assert telesign.status_code == 500 and telesign.json()["status"]["code"] == 10000
    status = http.get(emulator.url + "/v1/messaging/" + "0" * 32)
    assert status.status_code == 503
    assert emulator.messages() == []
    assert {r["fault"] for r in emulator.requests()} == {"5xx"}


def test_429_failures_carry_retry_after(http, emulator):
    emulator.configure(fail_429=1.0, retry_after_s=3)
    twilio = twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi")
    assert twilio.status_code == 429 and twilio.json()["code"] == 20429 and twilio.headers["Retry-After"] == "3"
    telesign = telesign_send(http, emulator)
    assert telesign.status_code == 429 and telesign.json()["status"]["code"] == 10019
    assert telesign.headers["Retry-After"] == "3"


def test_timeouts_close_the_connection_or_hold_the_request(http, emulator):
    emulator.configure(fail_timeout=1.0, timeout_mode="close")
    with pytest.raises(requests.ConnectionError):
        twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi")
    emulator.configure(timeout_mode="hold", timeout_hold_ms=2000)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        http.post(emulator.url + MESSAGES_PATH, data={"To": CUSTOMER, "From": OURS, "Body": "hi"},
                  auth=(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN), timeout=(1, 0.2))
    assert time.monotonic() - started < 1.5
    assert emulator.messages() == []
    assert [r["fault"] for r in emulator.requests()] == ["timeout", "timeout"]


def test_accept_then_hold_sends_the_message_but_never_answers(http, emulator, receiver):
    emulator.configure(fail_timeout=1.0, timeout_mode="accept_then_hold", timeout_hold_ms=0)
    with pytest.raises(requests.ConnectionError):
        twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi", StatusCallback=receiver.url + "/s")
    assert emulator.wait_idle(5)
    [message] = emulator.messages()
    assert message["status"] == "delivered"
    [record] = emulator.requests()
    assert record["status"] == 201 and record["fault"] == "timeout"


def test_seeded_failure_rates_are_reproducible(http):
    outcomes = []
    for _ in range(2):
        with ProviderEmulator(twilio_accounts=[(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)], seed=42, fail_5xx=0.3,
                              fail_429=0.2, callback_delay_ms=0) as emu:
            outcomes.append([twilio_send(http, emu, To=CUSTOMER, From=OURS, Body="hi").status_code
                             for _ in range(40)])
    assert outcomes[0] == outcomes[1]
    assert {201, 429, 500} == set(outcomes[0])


def test_latency_is_added(http, emulator):
    emulator.configure(latency_ms=120)
    started = time.monotonic()
    assert twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi").status_code == 201
    assert time.monotonic() - started >= 0.12
    assert http.get(emulator.url + "/_emulator/health").json()["status"] == "ok"


def test_requests_record_is_filterable(http, emulator):
    twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi")
    twilio_send(http, emulator, auth=None, To=CUSTOMER, From=OURS, Body="hi")
    telesign_send(http, emulator)
    records = http.get(emulator.url + "/_emulator/requests").json()
    assert records["count"] == 3 and records["last_request_seq"] == 3
    first = records["items"][0]
    assert first["provider"] == "twilio" and first["kind"] == "send" and first["status"] == 201
    assert first["params"] == {"To": [CUSTOMER], "From": [OURS], "Body": ["hi"]} and first["at"].endswith("Z")
    query = emulator.url + "/_emulator/requests"
    assert [r["status"] for r in http.get(query, params={"provider": "twilio"}).json()["items"]] == [201, 401]
    assert [r["code"] for r in http.get(query, params={"status": 401}).json()["items"]] == [20003]
    assert [r["seq"] for r in http.get(query, params={"since": 2}).json()["items"]] == [3]
    assert http.get(query, params={"kind": "send", "limit": 1}).json()["items"][0]["provider"] == "telesign"
    assert http.get(query, params={"since_time": "2000-01-01T00:00:00Z"}).json()["count"] == 3
    assert http.get(query, params={"since": "x"}).status_code == 400


def test_messages_and_callbacks_records(http, emulator, receiver):
    sid = twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi",
                      StatusCallback=receiver.url + "/s").json()["sid"]
    telesign_send(http, emulator)
    assert emulator.wait_idle(5)
    messages = http.get(emulator.url + "/_emulator/messages", params={"provider": "twilio"}).json()["items"]
    assert [(m["id"], m["status"]) for m in messages] == [(sid, "delivered")]
    assert [h["status"] for h in messages[0]["history"]] == ["queued", "sent", "delivered"]
    assert http.get(emulator.url + f"/_emulator/messages/{sid}").json()["to"] == CUSTOMER
    assert http.get(emulator.url + "/_emulator/messages/nope").status_code == 404
    assert http.get(emulator.url + "/_emulator/messages", params={"to": "+15550000000"}).json()["count"] == 0
    callbacks = http.get(emulator.url + "/_emulator/callbacks", params={"message_id": sid}).json()["items"]
    assert [(c["label"], c["http_status"], c["ok"]) for c in callbacks] == [("sent", 200, True),
                                                                            ("delivered", 200, True)]
    assert callbacks[0]["headers"]["X-Twilio-Signature"] and "MessageStatus=sent" in callbacks[0]["body"]


def test_unreachable_callback_targets_are_recorded(http, emulator):
    twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi", StatusCallback="http://127.0.0.1:9/down")
    assert emulator.wait_idle(10)
    callbacks = emulator.callbacks(ok=False)
    assert [c["label"] for c in callbacks] == ["sent", "delivered"]
    assert all(c["http_status"] is None and c["error"] for c in callbacks)


def test_records_are_capped_but_counters_are_not(http, emulator):
    emulator.configure(max_records=2, max_messages=2)
    sids = [twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body=f"m{i}").json()["sid"] for i in range(4)]
    assert emulator.wait_idle(5)
    assert [r["seq"] for r in emulator.requests()] == [3, 4]
    assert [m["id"] for m in emulator.messages()] == sids[2:]
    stats = http.get(emulator.url + "/_emulator/stats").json()
    assert stats["counters"]["requests.twilio.send.201"] == 4 and stats["counters"]["status.twilio.delivered"] == 4
    assert stats["stored"]["requests"] == 2 and stats["stored"]["messages"] == 2
    evicted = http.get(f"{emulator.url}/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages/{sids[0]}.json",
                       auth=(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN))
    assert evicted.status_code == 404


def test_reset_clears_activity_and_optionally_accounts(http, emulator, receiver):
    emulator.set_twilio_inbound_url(OURS, receiver.url + "/in")
    emulator.inject_inbound(provider="twilio", from_=CUSTOMER, to=OURS, body="STOP")
    twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi")
    assert http.post(emulator.url + "/_emulator/reset").json() == {"reset": True, "accounts": False}
    assert emulator.requests() == [] and emulator.messages() == [] and emulator.callbacks() == []
    assert twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi").status_code == 201  # opt-out cleared
    http.post(emulator.url + "/_emulator/reset", json={"accounts": True})
    assert http.get(emulator.url + "/_emulator/accounts").json() == {"twilio": [], "telesign": [], "acs": []}
    assert twilio_send(http, emulator, To=CUSTOMER, From=OURS, Body="hi").status_code == 401


def test_accounts_api(http, emulator):
    url = emulator.url + "/_emulator/accounts"
    new_sid = "AC" + "d" * 32
    created = http.post(url, json={"provider": "twilio", "sid": new_sid, "auth_token": "t2",
                                   "friendly_name": "Shop"}).json()
    assert created == {"provider": "twilio", "sid": new_sid, "friendly_name": "Shop", "status": "active",
                       "type": "Full", "numbers": [], "services": {}, "signing_key": None}
    assert http.post(url, json={"provider": "twilio", "sid": "AC" + "e" * 32}).status_code == 400
    assert http.post(url, json={"provider": "twilio", "sid": new_sid, "status": "gone"}).status_code == 400
    assert http.post(url, json={"provider": "telesign", "customer_id": "C2", "api_key": "%%%"}).status_code == 400
    customer = http.post(url, json={"provider": "telesign", "customer_id": "C2", "api_key": TELESIGN_API_KEY,
                                    "callback_url": "http://127.0.0.1:1/cb"}).json()
    assert customer == {"provider": "telesign", "customer_id": "C2", "status": "active",
                        "callback_url": "http://127.0.0.1:1/cb"}
    assert http.post(url, json={"provider": "sms-co"}).status_code == 400
    listed = http.get(url).json()
    assert {a["sid"] for a in listed["twilio"]} == {TWILIO_ACCOUNT_SID, new_sid}
    assert "auth_token" not in listed["twilio"][0] and "api_key" not in listed["telesign"][0]
    assert twilio_send(http, emulator, auth=(new_sid, "t2"), To=CUSTOMER, From=OURS, Body="hi").status_code == 401
    assert http.post(f"{emulator.url}/2010-04-01/Accounts/{new_sid}/Messages.json", auth=(new_sid, "t2"),
                     data={"To": CUSTOMER, "From": OURS, "Body": "hi"}).status_code == 201


def test_webhooks_api(http, emulator):
    url = emulator.url + "/_emulator/webhooks"
    assert http.post(url, json={"provider": "twilio", "number": "whatsapp:+14155238886",
                                "url": "http://127.0.0.1:1/in"}).status_code == 200
    assert http.post(url, json={"provider": "telesign", "customer_id": TELESIGN_CUSTOMER_ID,
                                "url": "http://127.0.0.1:1/ts"}).status_code == 200
    assert http.get(url).json() == {
        "twilio": [{"number": "whatsapp:+14155238886", "url": "http://127.0.0.1:1/in", "account": None}],
        "telesign": [{"customer_id": TELESIGN_CUSTOMER_ID, "url": "http://127.0.0.1:1/ts"}], "acs": []}
    assert http.post(url, json={"provider": "twilio", "number": "whatsapp:+14155238886", "url": None}).ok
    assert http.get(url).json()["twilio"] == []
    assert http.post(url, json={"provider": "telesign", "customer_id": "nobody", "url": "http://x/"}).status_code == 404
    assert http.post(url, json={"provider": "twilio", "number": "+1", "url": "ftp://x"}).status_code == 400


def test_inbound_injection_errors(http, emulator, receiver):
    url = emulator.url + "/_emulator/inbound"
    base = {"provider": "twilio", "from": CUSTOMER, "to": OURS, "body": "hi"}
    assert http.post(url, json={**base, "provider": "pigeon"}).status_code == 400
    no_target = http.post(url, json=base)
    assert no_target.status_code == 409 and "no inbound URL registered for +14155550100" in no_target.json()["error"]
    assert http.post(url, json={**base, "url": receiver.url, "account": "AC" + "9" * 32}).status_code == 404
    assert http.post(url, json={**base, "url": receiver.url, "from": "12345"}).status_code == 400
    assert http.post(url, json={**base, "url": receiver.url, "media": ["image/png"] * 11}).status_code == 400
    assert http.post(url, json={**base, "provider": "telesign", "from": "15551234567",
                                "to": "14252306549"}).status_code == 409
    emulator.add_twilio_account("AC" + "f" * 32, "x")
    several = http.post(url, json={**base, "url": receiver.url})
    assert several.status_code == 400 and "2 Twilio accounts" in several.json()["error"]


def test_inbound_reports_the_hubs_answer_or_queues_without_waiting(http, emulator, receiver):
    url = emulator.url + "/_emulator/inbound"
    base = {"provider": "twilio", "from": CUSTOMER, "to": OURS, "body": "hi", "account": TWILIO_ACCOUNT_SID}
    receiver.status_for["/refuse"] = 403
    refused = http.post(url, json={**base, "url": receiver.url + "/refuse"}).json()
    assert refused["delivery"]["http_status"] == 403 and not refused["delivery"]["ok"]
    down = http.post(url, json={**base, "url": "http://127.0.0.1:9/"}).json()
    assert down["delivery"]["http_status"] is None and down["delivery"]["error"]
    queued = http.post(url, json={**base, "url": receiver.url + "/later", "wait": False})
    assert queued.status_code == 202 and "delivery" not in queued.json()
    assert http.get(emulator.url + "/_emulator/idle", params={"timeout": 5}).json() == {"idle": True,
                                                                                       "pending_work": 0}
    assert receiver.received[-1].path == "/later"


def test_index_lists_the_endpoints(http, emulator):
    index = http.get(emulator.url + "/_emulator/").json()
    assert "POST /_emulator/inbound" in index["control"] and "POST /v1/messaging" in index["telesign"]


def test_acs_resources_and_subscriptions_through_the_control_api(http, emulator, receiver):
    accounts = emulator.url + "/_emulator/accounts"
    assert http.post(accounts, json={"provider": "acs", "resource": "other", "access_key": "not base64!"}
                     ).status_code == 400
    assert http.post(accounts, json={"provider": "acs", "resource": "other", "access_key": "cHc=",
                                     "numbers": {"+18005550111": "fax"}}).status_code == 400
    created = http.post(accounts, json={"provider": "acs", "resource": "other", "access_key": "cHc=",
                                        "numbers": {"+18005550111": "tollFree"}})
    assert created.status_code == 200 and created.json()["numbers"] == {"+18005550111": "tollFree"}
    assert "access_key" not in http.get(accounts).json()["acs"][0]
    webhooks = emulator.url + "/_emulator/webhooks"
    subscribed = http.post(webhooks, json={"provider": "acs", "resource": "other", "url": receiver.url + "/e",
                                           "schema": "cloudevents"}, timeout=10)
    assert subscribed.status_code == 200 and subscribed.json()["validated"] is True
    assert http.get(webhooks).json()["acs"] == [{"resource": "other", "url": receiver.url + "/e",
                                                 "schema": "cloudevents", "validated": True}]
    assert http.post(webhooks, json={"provider": "acs", "resource": "other", "url": receiver.url,
                                     "schema": "xml"}).status_code == 400
    assert http.post(webhooks, json={"provider": "acs", "resource": "nobody", "url": receiver.url}).status_code == 404


def _post_from(source: str, url: str, path: str, form: dict[str, str], auth: tuple[str, str]) -> int:
    """A POST whose connection starts at ``source`` (another address of the loopback network)."""
    parts = urlsplit(url)
    conn = HTTPConnection(parts.hostname, parts.port, timeout=5, source_address=(source, 0))
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    conn.request("POST", path, body=urlencode(form), headers={
        "Authorization": f"Basic {token}", "Content-Type": "application/x-www-form-urlencoded"})
    status = conn.getresponse().status
    conn.close()
    return status


def test_a_sent_message_records_the_address_it_came_from(http, emulator, receiver):
    # As from two hosts of a scaled-out hub: each send names the address that made it.
    for source in ("127.0.0.2", "127.0.0.3"):
        assert _post_from(source, emulator.url, MESSAGES_PATH, {"To": CUSTOMER, "From": OURS, "Body": source},
                          (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)) == 201
    assert telesign_send(http, emulator).status_code == 200
    emulator.set_twilio_inbound_url(OURS, receiver.url + "/in")
    emulator.inject_inbound(provider="twilio", from_=CUSTOMER, to=OURS, body="hello")
    clients = {(m["provider"], m["body"]): m["client"] for m in emulator.messages()}
    assert clients[("twilio", "127.0.0.2")] == "127.0.0.2" and clients[("twilio", "127.0.0.3")] == "127.0.0.3"
    assert [c for (provider, _), c in clients.items() if provider == "telesign"] == ["127.0.0.1"]
    assert clients[("twilio", "hello")] is None  # injected: no host of the hub sent it
