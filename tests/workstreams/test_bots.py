import hashlib
import hmac
import json

import pytest
import requests

from channels_app.providers import sandbox
from config.exceptions import ServiceError
from workstreams.models import Bot, BotRule, Conversation, ConversationState, RoutingRule
from workstreams.services.bots import bot_handle, bot_url_check

BOT_URL = "https://bot.example/hook"
#: What the tests' resolver answers; any other host does not resolve.
DNS = {"bot.example": ["93.184.215.14"], "intranet.example": ["10.20.30.40"],
       "mixed.example": ["93.184.215.14", "127.0.0.1"], "v6.example": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
       "mapped.example": ["::ffff:192.168.1.1"], "nowhere.example": []}


@pytest.fixture(autouse=True)
def fake_dns(egress_dns):
    egress_dns.update(DNS)


@pytest.fixture
def rule_bot(workstream, support_queue):
    bot = Bot.objects.create(name="Helper", kind="rules")
    BotRule.objects.create(bot=bot, order=1, match="keyword", pattern="hours",
                           answers={"en": "We are open 9 to 5.", "es": "Abrimos de 9 a 5."})
    BotRule.objects.create(bot=bot, order=2, match="regex", pattern=r"refund|money back",
                           answers={"en": "Let me get a person for that."}, escalate=True)
    workstream.bot = bot
    workstream.save()
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    return bot


def talk(receive, account, body, capture, sender="+15551234567"):
    with capture(execute=True):
        return receive(account, body, sender=sender)


def test_a_new_conversation_goes_to_the_bot_first(rule_bot, receive, sandbox_account, make_agent, support_queue,
                                                  django_capture_on_commit_callbacks):
    make_agent("ana", queues=[support_queue])
    conversation = talk(receive, sandbox_account, "what are your hours?", django_capture_on_commit_callbacks)
    conversation.refresh_from_db()
    assert conversation.with_bot and conversation.agent is None
    assert [m["body"] for m in sandbox.outbox] == ["We are open 9 to 5."]
    assert conversation.entries.filter(message__kind="bot").count() == 1


def test_the_bot_answers_in_the_customers_language(rule_bot, receive, sandbox_account,
                                                   django_capture_on_commit_callbacks):
    from channels_app.services.inbound import contact_for

    contact = contact_for("+15551234567")
    contact.locale = "es-MX"
    contact.save()
    talk(receive, sandbox_account, "hours?", django_capture_on_commit_callbacks)
    assert [m["body"] for m in sandbox.outbox] == ["Abrimos de 9 a 5."]


@pytest.mark.parametrize("body", ["agent", "AGENT!", "human"])
def test_asking_for_an_agent_escalates(rule_bot, receive, sandbox_account, make_agent, support_queue, body,
                                       django_capture_on_commit_callbacks):
    agent = make_agent("ana", queues=[support_queue])
    conversation = talk(receive, sandbox_account, body, django_capture_on_commit_callbacks)
    conversation.refresh_from_db()
    assert not conversation.with_bot
    assert (conversation.state, conversation.agent, conversation.queue) == (ConversationState.ACTIVE, agent,
                                                                           support_queue)
    assert conversation.routing_diagnosis["escalated"].startswith("customer asked for an agent")


def test_a_rule_can_answer_and_escalate(rule_bot, receive, sandbox_account, django_capture_on_commit_callbacks):
    conversation = talk(receive, sandbox_account, "I want my money back", django_capture_on_commit_callbacks)
    conversation.refresh_from_db()
    assert not conversation.with_bot
    assert [m["body"] for m in sandbox.outbox] == ["Let me get a person for that."]


def test_unmatched_messages_escalate_or_get_the_fallback(rule_bot, receive, sandbox_account,
                                                        django_capture_on_commit_callbacks):
    conversation = talk(receive, sandbox_account, "blue elephants", django_capture_on_commit_callbacks)
    assert not Conversation.objects.get(pk=conversation.pk).with_bot
    rule_bot.unmatched_escalates = False
    rule_bot.save()
    other = talk(receive, sandbox_account, "blue elephants", django_capture_on_commit_callbacks,
                 sender="+15557654321")
    assert Conversation.objects.get(pk=other.pk).with_bot
    assert sandbox.outbox[-1]["body"].startswith("Sorry, I did not understand")


@pytest.fixture
def http_bot(workstream, support_queue):
    bot = Bot.objects.create(name="Remote", kind="http", url=BOT_URL, secret="s3cret", timeout_seconds=2)
    workstream.bot = bot
    workstream.save()
    RoutingRule.objects.create(workstream=workstream, name="All", queue=support_queue)
    return bot


def test_the_http_bot_gets_a_signed_message_and_its_reply_is_sent(http_bot, receive, sandbox_account, mocked_http,
                                                                  django_capture_on_commit_callbacks):
    mocked_http.post(BOT_URL, json={"reply": "Your order ships Friday.", "escalate": False})
    conversation = talk(receive, sandbox_account, "where is my order", django_capture_on_commit_callbacks)
    request = mocked_http.calls[0].request
    payload = json.loads(request.body)
    assert payload["message"]["body"] == "where is my order"
    assert payload["contact"]["address"] == "+15551234567"
    expected = "sha256=" + hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Hub-Signature"] == expected
    assert [m["body"] for m in sandbox.outbox] == ["Your order ships Friday."]
    assert Conversation.objects.get(pk=conversation.pk).with_bot


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ({"body": requests.ReadTimeout("slow")}, "did not answer within 2 s"),
        ({"body": requests.ConnectionError("refused")}, "bot unreachable"),
        ({"status": 500, "json": {"error": "boom"}}, "bot answered HTTP 500"),
        ({"body": "not json"}, "not JSON"),
        ({"json": ["a", "list"]}, "not a JSON object"),
        ({"json": {"reply": "Talk to a human", "escalate": True}}, "bot answered"),
    ],
)
def test_a_failing_http_bot_escalates_so_no_customer_is_stranded(http_bot, receive, sandbox_account, mocked_http,
                                                                 make_agent, support_queue, response, reason,
                                                                 django_capture_on_commit_callbacks):
    agent = make_agent("ana", queues=[support_queue])
    mocked_http.post(BOT_URL, **response)
    conversation = talk(receive, sandbox_account, "help me", django_capture_on_commit_callbacks)
    conversation.refresh_from_db()
    assert not conversation.with_bot
    assert conversation.agent == agent
    assert reason in conversation.routing_diagnosis["escalated"]


def test_the_bot_ignores_conversations_it_no_longer_has(rule_bot, receive, sandbox_account):
    conversation = receive(sandbox_account, "hours")
    Conversation.objects.filter(pk=conversation.pk).update(with_bot=False)
    assert bot_handle(conversation_id=conversation.pk, message_id=conversation.entries.get().message_id) == "skipped"
    assert sandbox.outbox == []


@pytest.mark.parametrize("url", ["https://bot.example/hook", "https://v6.example/hook", "https://93.184.215.14/hook"])
def test_public_https_urls_are_allowed(url):
    bot_url_check(url)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://bot.example/hook", "bot_url_scheme"),
        ("ftp://bot.example/hook", "bot_url_scheme"),
        ("https:///hook", "bot_url_invalid"),
        ("https://nowhere.example/hook", "bot_url_unresolved"),
        ("https://intranet.example/hook", "bot_url_internal"),
        ("https://mixed.example/hook", "bot_url_internal"),  # one internal address is enough
        ("https://mapped.example/hook", "bot_url_internal"),
        ("https://127.0.0.1/hook", "bot_url_internal"),
        ("https://169.254.169.254/latest/meta-data/", "bot_url_internal"),
        ("https://[::1]/hook", "bot_url_internal"),
        ("https://224.0.0.1/hook", "bot_url_internal"),
        ("https://240.0.0.1/hook", "bot_url_internal"),
        ("https://0.0.0.0/hook", "bot_url_internal"),
        # The HTTP client reads 127.0.0.1 where urlsplit reads 1.1.1.1.
        ("https://127.0.0.1:8150\\@1.1.1.1/", "bot_url_invalid"),
        ("https://bot.example@127.0.0.1/hook", "bot_url_invalid"),
        ("https://[2002:7f00:1::]/hook", "bot_url_internal"),  # 6to4 form of 127.0.0.1
        ("https://[64:ff9b::7f00:1]/hook", "bot_url_internal"),  # NAT64 form of 127.0.0.1
        ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook", "bot_url_internal"),  # Teredo, client 127.0.0.1
    ],
)
def test_urls_the_hub_must_not_call_are_refused(url, code, settings):
    settings.DEBUG = False
    with pytest.raises(ServiceError) as err:
        bot_url_check(url)
    assert (err.value.code, err.value.field) == (code, "url")


def test_http_only_in_debug_and_internal_hosts_only_when_listed(settings):
    settings.DEBUG = True
    bot_url_check("http://bot.example/hook")
    settings.BOT_ALLOWED_HOSTS = ["intranet.example", ".corp.example"]
    bot_url_check("https://intranet.example/hook")
    bot_url_check("https://bots.corp.example/hook")  # listed: not even resolved


def test_a_bot_on_a_private_address_is_never_called(http_bot, receive, sandbox_account, mocked_http, make_agent,
                                                    support_queue, django_capture_on_commit_callbacks):
    http_bot.url = "https://intranet.example/hook"
    http_bot.save()
    agent = make_agent("ana", queues=[support_queue])
    conversation = talk(receive, sandbox_account, "help me", django_capture_on_commit_callbacks)
    conversation.refresh_from_db()
    assert len(mocked_http.calls) == 0
    assert conversation.agent == agent
    assert "bot URL refused" in conversation.routing_diagnosis["escalated"]
    assert "10.20.30.40" in conversation.routing_diagnosis["escalated"]


def test_a_redirecting_bot_is_not_followed(http_bot, receive, sandbox_account, mocked_http, make_agent,
                                           support_queue, django_capture_on_commit_callbacks):
    mocked_http.post(BOT_URL, status=307, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    mocked_http.post("http://169.254.169.254/latest/meta-data/", json={"reply": "leaked"})
    make_agent("ana", queues=[support_queue])
    conversation = talk(receive, sandbox_account, "help me", django_capture_on_commit_callbacks)
    conversation.refresh_from_db()
    assert [c.request.url for c in mocked_http.calls] == [BOT_URL]
    assert not conversation.with_bot
    assert "redirects are not followed" in conversation.routing_diagnosis["escalated"]
    assert all(m["body"] != "leaked" for m in sandbox.outbox)


def test_a_bot_answer_over_64_kib_escalates(http_bot, receive, sandbox_account, mocked_http, make_agent,
                                           support_queue, django_capture_on_commit_callbacks):
    mocked_http.post(BOT_URL, json={"reply": "x" * (64 * 1024)})
    make_agent("ana", queues=[support_queue])
    conversation = talk(receive, sandbox_account, "help me", django_capture_on_commit_callbacks)
    conversation.refresh_from_db()
    assert not conversation.with_bot
    assert "larger than 64 KiB" in conversation.routing_diagnosis["escalated"]


def test_a_bot_is_called_at_the_address_that_was_checked(http_bot, receive, sandbox_account, mocked_http, make_agent,
                                                         support_queue, django_capture_on_commit_callbacks,
                                                         monkeypatch):
    """A rebinding name answers a public address to the check and an internal one after: there is no second
    lookup (the pinned connection itself: tests/config/test_egress.py), and ``Host`` names the bot's host."""
    from config import egress

    answers = iter([["93.184.215.14"], ["127.0.0.1"]])
    lookups = []

    def rebinding(host, port):
        lookups.append(host)
        return next(answers)

    monkeypatch.setattr(egress, "resolve", rebinding)
    mocked_http.post(BOT_URL, json={"reply": "Hi!"})
    make_agent("ana", queues=[support_queue])
    talk(receive, sandbox_account, "help me", django_capture_on_commit_callbacks)
    assert lookups == ["bot.example"]
    assert mocked_http.calls[0].request.headers["Host"] == "bot.example"
