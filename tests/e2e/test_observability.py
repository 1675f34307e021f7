"""What an operator sees of real traffic, on gunicorn (two processes), a worker (two processes) and beat:

- ``/metrics``: the counters move with exactly the traffic the test sends, summed over every process;
  the state gauges and heartbeats are there, and ``/readyz`` sees the worker and beat;
- the JSON logs of web and worker: one customer message and one reply followed by their ids, from the web
  request through the worker to the provider's status callback, with no secret anywhere."""

import json
import re
import uuid
from urllib.parse import urlencode

import pytest
import requests
from twilio.request_validator import RequestValidator

from channels_app.models import Message
from channels_app.services import NumberSpec, account_create
from tests.e2e.conftest import answering_admin_token, wait_until
from workstreams.models import Conversation

TWILIO_SID, TWILIO_TOKEN = "AC" + "4" * 32, "observability-token"
METRICS_TOKEN = "metrics-token-for-the-test"


@pytest.fixture
def stack_env():
    return {"LOG_FORMAT": "json", "METRICS_TOKEN": METRICS_TOKEN, "HEARTBEAT_SECONDS": "1"}


@pytest.fixture
def twilio(stack):
    account = account_create(name="Twilio SMS", channel="sms", provider="twilio",
                             credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
                             numbers=[NumberSpec("+14155550100", "long_code")])
    stack.emulator.add_twilio_account(TWILIO_SID, TWILIO_TOKEN)
    stack.emulator.set_twilio_inbound_url("+14155550100", account.callback_urls()["inbound"])
    return {"account": account, "token": answering_admin_token()}


def post_inbound(stack, account, sender: str, body: str, *, request_id: str = "", signature: str | None = None):
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": TWILIO_SID, "From": sender, "To": "+14155550100",
              "Body": body, "NumMedia": "0"}
    path = f"/webhooks/twilio/{account.webhook_token}/inbound/"
    sig = signature if signature is not None else RequestValidator(TWILIO_TOKEN).compute_signature(
        stack.web_url + path, params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig}
    if request_id:
        headers["X-Request-ID"] = request_id
    return requests.post(stack.web_url + path, data=urlencode(params), headers=headers, timeout=10)


def scrape(stack) -> dict[str, float]:
    response = requests.get(f"{stack.web_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                            timeout=20)
    assert response.status_code == 200, response.text
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def delta(before: dict, after: dict, name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def test_metrics_count_the_traffic_sent(stack, twilio):
    account = twilio["account"]
    api = stack.api(twilio["token"])
    # Unauthenticated scrapes from elsewhere are refused, a wrong token too.
    assert requests.get(f"{stack.web_url}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10)\
        .status_code == 401
    before = scrape(stack)

    senders = [f"+1555777{n:04d}" for n in range(3)]
    for sender in senders:
        assert post_inbound(stack, account, sender, "Hello").status_code == 200
    assert post_inbound(stack, account, "+15557770009", "forged", signature="bad").status_code == 403
    conversations = [wait_until(lambda s=s: Conversation.objects.filter(contact__address=s).first(),
                                what=f"a conversation for {s}") for s in senders]
    replies = []
    for conversation in conversations:
        response = api.post(f"{stack.web_url}/api/v1/conversations/{conversation.pk}/messages/",
                            json={"body": "We are on it."}, timeout=10)
        assert response.status_code == 201, response.text
        replies.append(response.json()["id"])
    wait_until(lambda: Message.objects.filter(pk__in=replies, status="delivered").count() == 3, timeout=60,
               what="the replies to be delivered")

    def settled():
        after = scrape(stack)
        done = delta(before, after, 'hub_message_status_updates_total{error_code="",provider="twilio",'
                                    'status="delivered"}') == 3
        return done and after.get('hub_inbound_backlog{kind="status"}', 1) == 0 and after

    after = wait_until(settled, timeout=60, what="every callback to be counted")
    assert delta(before, after, 'hub_webhooks_accepted_total{duplicate="false",kind="inbound",provider="twilio"}') == 3
    assert delta(before, after, 'hub_webhooks_refused_total{provider="twilio",reason="bad_signature"}') == 1
    assert delta(before, after, 'hub_message_sends_total{channel="sms",error_code="",outcome="sent",'
                                'provider="twilio"}') == 3
    assert delta(before, after, 'hub_provider_request_seconds_count{kind="send",provider="twilio",'
                                'result="2xx"}') == 3
    assert delta(before, after, 'hub_inbound_events_processed_total{kind="inbound",provider="twilio"}') == 3
    assert delta(before, after, 'hub_inbound_processing_lag_seconds_count{kind="inbound"}') == 3
    assert after['hub_inbound_backlog{kind="inbound"}'] == 0
    assert after['hub_queue_depth{queue="bulk"}'] >= 0
    assert any(name.startswith('hub_heartbeat_age_seconds{node="worker-') for name in after)
    assert all(value == 1 for name, value in after.items() if name.startswith("hub_metrics_collector_up"))
    ready = wait_until(lambda: (r := requests.get(f"{stack.web_url}/readyz?require=worker,beat", timeout=10))
                       .status_code == 200 and r, timeout=60, what="readiness with a worker and beat seen")
    assert ready.json()["checks"]["worker"].startswith("ok (1 seen: worker-")
    assert ready.json()["checks"]["beat"] == "ok"


def json_lines(process) -> list[dict]:
    lines = []
    for line in process.text().splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
    return lines


def test_one_message_is_followed_by_its_ids_through_the_json_logs_of_web_and_worker(stack, twilio):
    account = twilio["account"]
    follow = f"follow-{uuid.uuid4().hex[:8]}"
    response = post_inbound(stack, account, "+15557771234", "My parcel?", request_id=follow)
    assert response.status_code == 200 and response.headers["X-Request-ID"] == follow
    conversation = wait_until(lambda: Conversation.objects.filter(contact__address="+15557771234").first(),
                              what="the conversation")
    inbound = Message.objects.get(direction="inbound", contact__address="+15557771234")
    reply = stack.api(twilio["token"]).post(f"{stack.web_url}/api/v1/conversations/{conversation.pk}/messages/",
                                            json={"body": "On its way."}, timeout=10)
    assert reply.status_code == 201
    reply_id, reply_request = reply.json()["id"], reply.headers["X-Request-ID"]
    wait_until(lambda: Message.objects.filter(pk=reply_id, status="delivered").exists(), what="the delivery")

    web, worker = json_lines(stack.processes["web"]), json_lines(stack.processes["worker"])
    wait_until(lambda: any(line.get("message") == f"message {reply_id} now delivered"
                           for line in json_lines(stack.processes["worker"])), what="the delivery's log line")
    worker = json_lines(stack.processes["worker"])
    assert all({"time", "level", "logger", "message"} <= set(line) for line in web + worker)

    # The customer's message: stored by the web request (which logs nothing when all is well: the webhook is
    # the hottest path; the event keeps the request id), processed by the worker under the same request id.
    from channels_app.models import InboundEvent

    event_id = InboundEvent.objects.get(request_id=follow).pk
    mine = [line for line in worker if line.get("request_id") == follow]
    assert {"message": f"inbound message {inbound.pk} received", "message_id": inbound.pk, "event_id": event_id,
            "account_id": account.pk}.items() <= next(
        line for line in mine if line["message"].startswith("inbound message")).items()
    opened = next(line for line in mine if line["message"].startswith(f"message {inbound.pk} in conversation"))
    assert opened["conversation_id"] == conversation.pk and opened["message_id"] == inbound.pk

    # The reply: queued by the API request, sent by the worker under that request's id (with its task id),
    # then moved to delivered by the provider's callback.
    [queued] = [line for line in web if line.get("message") == f"message {reply_id} queued (regular)"]
    assert queued["request_id"] == reply_request and queued["conversation_id"] == conversation.pk
    [sent] = [line for line in worker if line.get("message") == f"message {reply_id} sent"]
    assert sent["request_id"] == reply_request and sent["message_id"] == reply_id and sent["task_id"]
    assert sent["account_id"] == account.pk
    assert Message.objects.get(pk=reply_id).logs.get().request_id == reply_request  # the provider call
    [delivered] = [line for line in worker if line.get("message") == f"message {reply_id} now delivered"]
    assert delivered["message_id"] == reply_id and delivered["event_id"]
    # … under the request id of the callback's web request.
    assert InboundEvent.objects.get(pk=delivered["event_id"]).request_id == delivered["request_id"]

    everything = stack.processes["web"].text() + stack.processes["worker"].text()
    for secret in (TWILIO_TOKEN, TWILIO_SID):
        assert secret not in everything
    assert not re.search(r"AC4{32}", everything)
