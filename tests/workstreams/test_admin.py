from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from workstreams.models import Bot, Case, RoutingCondition, RoutingRule
from workstreams.signals import case_created

MODELS = ["operatinghours", "queue", "skill", "agentprofile", "bot", "workstream", "routingrule", "workstreamnumber",
          "case", "conversation"]


@pytest.mark.parametrize("model", MODELS)
def test_every_admin_page_renders(admin_client, model, workstream, make_agent, support_queue, receive,
                                  sandbox_account):
    make_agent("ana", queues=[support_queue])
    receive(sandbox_account, "hello")
    assert admin_client.get(reverse(f"admin:workstreams_{model}_changelist")).status_code == 200
    if model != "conversation":
        assert admin_client.get(reverse(f"admin:workstreams_{model}_add")).status_code == 200


def test_the_conversation_page_explains_its_routing(admin_client, workstream, support_queue, receive,
                                                    sandbox_account):
    rule = RoutingRule.objects.create(workstream=workstream, name="Invoices", queue=support_queue)
    RoutingCondition.objects.create(rule=rule, field="message_text", operator="contains", value="invoice")
    conversation = receive(sandbox_account, "my invoice is wrong")
    html = admin_client.get(reverse("admin:workstreams_conversation_change", args=[conversation.pk])).content.decode()
    assert "Rule “Invoices” matched" in html
    assert "my invoice is wrong" in html  # the thread


BOT_POST = {"name": "Remote", "kind": "http", "url": "https://bot.example/", "escalation_keywords": "agent",
            "fallback_answer": "x", "timeout_seconds": "5", "unmatched_escalates": "on",
            "rules-TOTAL_FORMS": "0", "rules-INITIAL_FORMS": "0"}


@pytest.fixture
def bot_host_allowed(settings):
    settings.BOT_ALLOWED_HOSTS = ["bot.example"]


def test_the_bot_secret_is_write_only(admin_client, db, bot_host_allowed):
    bot = Bot.objects.create(name="Remote", kind="http", url="https://bot.example/", secret="very-secret-key")
    url = reverse("admin:workstreams_bot_change", args=[bot.pk])
    html = admin_client.get(url).content.decode()
    assert "very-secret-key" not in html
    assert 'name="new_secret"' in html and "Set" in html
    response = admin_client.post(url, {**BOT_POST, "new_secret": ""})
    assert response.status_code == 302
    assert Bot.objects.get(pk=bot.pk).secret == "very-secret-key"
    response = admin_client.post(url, {**BOT_POST, "new_secret": "rotated-key"})
    assert response.status_code == 302
    assert Bot.objects.get(pk=bot.pk).secret == "rotated-key"


def test_a_view_only_user_never_sees_the_bot_secret(client, db, django_user_model):
    bot = Bot.objects.create(name="Remote", kind="http", url="https://bot.example/", secret="very-secret-key")
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_bot"))
    client.force_login(viewer)
    response = client.get(reverse("admin:workstreams_bot_change", args=[bot.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "very-secret-key" not in html
    assert "Current secret" in html and "Set" in html
    assert 'name="new_secret"' not in html
    Bot.objects.filter(pk=bot.pk).update(secret="")
    html = client.get(reverse("admin:workstreams_bot_change", args=[bot.pk])).content.decode()
    assert "Not set" in html


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://bot.example/", "must start with https://"),
        ("https://127.0.0.1/hook", "does not connect to: 127.0.0.1 (loopback)"),
        # Read by the HTTP client as 127.0.0.1, by urlsplit as 1.1.1.1.
        ("https://127.0.0.1:8150\\@1.1.1.1/", "contains a backslash"),
        ("https://bot.example@127.0.0.1/hook", "no user name, no password"),
        ("https://[2002:7f00:1::]/hook", "(loopback)"),  # 6to4 form of 127.0.0.1
        ("https://[64:ff9b::a9fe:a9fe]/hook", "(link-local)"),  # NAT64 form of 169.254.169.254
        ("", "An HTTP bot needs the URL"),
    ],
)
def test_the_bot_form_refuses_a_url_the_hub_must_not_call(admin_client, db, settings, url, words):
    settings.DEBUG = False
    response = admin_client.post(reverse("admin:workstreams_bot_add"), {**BOT_POST, "url": url})
    assert response.status_code == 200
    assert words in str(response.context["adminform"].form.errors["url"])
    assert not Bot.objects.exists()


def test_a_case_added_in_the_admin_fires_the_case_created_triggers(admin_client, db):
    from channels_app.services.inbound import contact_for

    contact = contact_for("+15551234567")
    seen = []
    case_created.connect(lambda sender, case, **kw: seen.append(case.title), dispatch_uid="t", weak=False)
    import re

    page = admin_client.get(reverse("admin:workstreams_case_add")).content.decode()
    management = {f"{prefix}-{field}": "0" for prefix in re.findall(r'name="([\w-]+)-TOTAL_FORMS"', page)
                  for field in ("TOTAL_FORMS", "INITIAL_FORMS")}
    try:
        response = admin_client.post(reverse("admin:workstreams_case_add"),
                                     {"title": "Broken kettle", "contact": contact.pk, "status": "active",
                                      "description": "", **management})
    finally:
        case_created.disconnect(dispatch_uid="t")
    assert response.status_code == 302
    assert seen == ["Broken kettle"] and Case.objects.count() == 1


def test_a_case_the_service_refuses_is_a_form_error_not_a_500(admin_client, db):
    from channels_app.models import Contact

    contact = Contact.objects.create(address="not-a-number")
    response = admin_client.post(reverse("admin:workstreams_case_add"),
                                 {"title": "Broken kettle", "contact": contact.pk, "status": "active",
                                  "description": ""})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "is not a phone number in E.164 form" in str(errors["contact"])
    assert not Case.objects.exists()


def test_workstream_durations_are_shown_and_typed_as_people_write_them(admin_client, db):
    from workstreams.models import Workstream

    workstream = Workstream.objects.create(name="WhatsApp support", channel="whatsapp")
    url = reverse("admin:workstreams_workstream_change", args=[workstream.pk])

    page = admin_client.get(url).content.decode()
    assert 'value="7 days"' in page and 'value="5 min"' in page  # not "7 00:00:00"
    assert "For example “30 s”, “5 min”, “1 h 30 min”, “7 days”" in page

    form = admin_client.get(url).context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields if form[name].value() is not None}
    data.update({"waiting_auto_close": "2 days 12 h", "wrap_up_time": "soon", "numbers-TOTAL_FORMS": "0",
                 "numbers-INITIAL_FORMS": "0", "rules-TOTAL_FORMS": "0", "rules-INITIAL_FORMS": "0"})
    data.pop("supervisors", None)
    refused = admin_client.post(url, data)
    assert refused.status_code == 200
    assert "“soon” is not a duration" in refused.content.decode()
    data["wrap_up_time"] = "90 s"
    assert admin_client.post(url, data).status_code == 302
    workstream.refresh_from_db()
    assert (workstream.waiting_auto_close, workstream.wrap_up_time) == (timedelta(days=2, hours=12),
                                                                        timedelta(seconds=90))


@pytest.mark.parametrize("model, fields", [
    ("routingrule", ["workstream", "order", "name", "queue", "is_active"]),
    ("workstream", ["name", "distribution_mode", "wrap_up_capacity"]),
    ("bot", ["name", "kind", "fallback_answer", "timeout_seconds"]),
])
def test_every_field_that_needs_it_is_explained(admin_client, db, model, fields):
    form = admin_client.get(reverse(f"admin:workstreams_{model}_add")).context["adminform"].form
    for name in fields:
        assert form.fields[name].help_text, name


def test_the_whatsapp_templates_are_named_right(admin_client, twilio_whatsapp_account):
    from workstreams.models import Workstream, WorkstreamNumber

    number = WorkstreamNumber.objects.create(
        workstream=Workstream.objects.create(name="WhatsApp support", channel="whatsapp"),
        phone_number=twilio_whatsapp_account.numbers.get())
    page = admin_client.get(reverse("admin:workstreams_workstreamnumber_change", args=[number.pk])).content.decode()
    assert "WhatsApp templates" in page and "Whats app" not in page


def test_a_conversations_internal_notes_show_read_only_in_the_admin(admin_client, sandbox_account, receive):
    from workstreams.models import ConversationNote

    conversation = receive(sandbox_account, "hello")
    ConversationNote.objects.create(conversation=conversation, body="Refund promised by phone")
    page = admin_client.get(f"/admin/workstreams/conversation/{conversation.pk}/change/").content.decode()
    assert "Internal notes (never sent)" in page and "Refund promised by phone" in page
    assert 'name="notes-0-body"' not in page  # read only: notes are written in the console


def test_an_agent_profile_added_from_the_console_returns_to_it(admin_client, admin_user):
    response = admin_client.post(
        f"/admin/workstreams/agentprofile/add/?user={admin_user.pk}&next=/console/",
        {"user": admin_user.pk, "language": "", "capacity": 100, "presence": "available", "public_name": "",
         "skills-TOTAL_FORMS": 0, "skills-INITIAL_FORMS": 0, "skills-MIN_NUM_FORMS": 0, "skills-MAX_NUM_FORMS": 1000})
    assert response.status_code == 302 and response["Location"] == "/console/"
    elsewhere = admin_client.post(
        "/admin/workstreams/agentprofile/add/?next=https://evil.example/",
        {"user": "", "capacity": 100, "presence": "available"})
    assert elsewhere.status_code == 200  # invalid: the form again, and never a redirect elsewhere
