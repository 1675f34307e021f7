"""Reports benchmark: a month of messages seeded into PostgreSQL, then every report page rendered.

    python -m bench.reports [--messages 1000000] [--days 30] [--runs 5]

1. Seed (SQL ``generate_series``, so a million rows take a minute, not an hour): two providers' numbers, two
   queues with four agents; conversations of six messages each (three from the customer, three answers with
   delivered / read / sent / failed outcomes and error codes) make up three quarters of the messages; outbound
   requests of 100 contacts (delivered, failed, skipped, not sent; some replies) the last quarter; opt-outs.
2. Each report page (conversations, messages, opt-outs, outbound funnel) rendered in-process through Django's
   test client as an administrator and as a supervisor of one queue, over the whole month: with every day
   counted from the live tables, then after the roll-up (the time ``reports_rollup`` takes is measured too).
   Median and slowest of ``--runs`` renders, after one warm-up.

Results go to docs/benchmarks.md (section "reports"). The target: under a second per page with the roll-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("BENCH_DB", "hub_bench_reports")  # its own database, apart from the other benchmarks

from bench.common import ROOT, base_env, log, machine_table, reset_database, setup_django, write_section

PAGES = ["conversations", "messages", "opt-outs", "outbound"]
TELESIGN_KEY = "ABC12345yusumoN6BYsBVkh+yRJ5czgsnCehZaOYldPJdmFh6NeX8kunZ2zU1YWaUw/0wV6xfw=="


def seed(*, messages: int, days: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from django.db import connection
    from django.utils import timezone

    from channels_app.services import NumberSpec, account_create
    from outbound.models import MessageTemplate, OutboundBatch, OutboundConfiguration, TemplateLocalization
    from reports.periods import day_start, today
    from workstreams.models import AgentProfile, Queue, Workstream, WorkstreamNumber

    User = get_user_model()
    twilio = account_create(name="Twilio SMS", channel="sms", provider="twilio",
                            credentials={"account_sid": "AC" + "d" * 32, "auth_token": "bench-reports-token"},
                            numbers=[NumberSpec(number="+14155550100", number_type="long_code")]).numbers.get()
    telesign = account_create(name="TeleSign SMS", channel="sms", provider="telesign",
                              credentials={"customer_id": "FFFFFFFF-EEEE-DDDD-1234-AB1234567890",
                                           "api_key": TELESIGN_KEY},
                              numbers=[NumberSpec(number="14252306549", number_type="geographic")]).numbers.get()
    support, billing = Queue.objects.create(name="Support", priority=2), Queue.objects.create(name="Billing")
    ws_support = Workstream.objects.create(name="SMS support", channel="sms")
    WorkstreamNumber.objects.create(workstream=ws_support, phone_number=twilio)
    ws_billing = Workstream.objects.create(name="Billing line", channel="sms")
    WorkstreamNumber.objects.create(workstream=ws_billing, phone_number=telesign)
    agents = []
    for n in range(4):
        user = User.objects.create_user(f"agent{n}", password="pw", is_staff=True)
        AgentProfile.objects.create(user=user)
        (support if n < 3 else billing).members.add(user)
        agents.append(user.pk)
    admin = User.objects.create_superuser("boss", password="pw")
    sue = User.objects.create_user("sue", password="pw", is_staff=True)
    sue.groups.add(Group.objects.get(name="Supervisors"))
    sue.user_permissions.add(Permission.objects.get(codename="view_reports"))
    support.supervisors.add(sue)
    template = MessageTemplate.objects.create(name="Parcel", channel="sms")
    TemplateLocalization.objects.create(template=template, language="en", text="Your parcel is late.")
    configs = [OutboundConfiguration.objects.create(name=f"Campaign {n}", channel_type="sms", phone_number=twilio,
                                                    template=template).pk for n in range(3)]
    for n in range(10):
        OutboundBatch.objects.create(configuration_id=configs[n % 3], name=f"List {n}", source="admin",
                                     state="submitted")

    first = today() - timezone.timedelta(days=days)
    start = day_start(first)
    span = days * 86400
    conversations = messages * 3 // 4 // 6
    outbound = messages - conversations * 6
    requests = max(outbound // 96, 1)  # 96 of each request's 100 contacts get a message
    contacts = max(conversations // 3, 1000)
    params = {"start": start, "span": span, "conversations": conversations, "outbound": outbound,
              "requests": requests, "contacts": contacts, "twilio": twilio.pk, "telesign": telesign.pk,
              "twilio_account": twilio.account_id, "telesign_account": telesign.account_id,
              "support": support.pk, "billing": billing.pk, "ws_support": ws_support.pk,
              "ws_billing": ws_billing.pk, "a0": agents[0], "a1": agents[1], "a2": agents[2], "a3": agents[3],
              "c0": configs[0], "c1": configs[1], "c2": configs[2]}
    steps = [
        ("contacts", """
         INSERT INTO channels_app_contact (address, display_name, locale, created_at, updated_at)
         SELECT '+1555' || lpad(g::text, 7, '0'), '', '', %(start)s, %(start)s FROM generate_series(1, %(contacts)s) g
         """),
        ("conversations", """
         INSERT INTO workstreams_conversation (channel, state, resolved, routing_diagnosis, created_at, updated_at,
             agent_id, contact_id, phone_number_id, queue_id, workstream_id, language, with_bot, queued_at,
             first_queued_at, assigned_at, first_assigned_at, first_response_at, ended_at, closed_at,
             last_message_at)
         SELECT 'sms', 'closed', g %% 5 <> 0, '{}', t, t,
                CASE WHEN g %% 4 = 3 THEN %(a3)s WHEN g %% 4 = 2 THEN %(a2)s WHEN g %% 4 = 1 THEN %(a1)s
                     ELSE %(a0)s END,
                (SELECT min(id) FROM channels_app_contact) + g %% %(contacts)s,
                CASE WHEN g %% 4 = 3 THEN %(telesign)s ELSE %(twilio)s END,
                CASE WHEN g %% 4 = 3 THEN %(billing)s ELSE %(support)s END,
                CASE WHEN g %% 4 = 3 THEN %(ws_billing)s ELSE %(ws_support)s END,
                'en', false, t, t, t + w, t + w, t + w + r, t + w + h, t + w + h, t + w + h
         FROM (SELECT g, %(start)s::timestamptz + (g::float / %(conversations)s * %(span)s) * interval '1 second' t,
                      ((g * 7919) %% 600) * interval '1 second' w, ((g * 104729) %% 900 + 20) * interval '1 second' r,
                      ((g * 15485863) %% 3600 + 300) * interval '1 second' h
               FROM generate_series(1::bigint, %(conversations)s) g) s
         """),
        ("conversation messages", """
         INSERT INTO channels_app_message (provider, channel, direction, kind, body, content_sid, content_variables,
             status, error_code, error_message, encoding, segments, attempts, created_at, author_id, contact_id,
             account_id, phone_number_id, request_id)
         SELECT CASE WHEN c.phone_number_id = %(telesign)s THEN 'telesign' ELSE 'twilio' END, 'sms',
                CASE WHEN k %% 2 = 0 THEN 'inbound' ELSE 'outbound' END, 'regular', 'Bench message ' || k, '', '{}',
                CASE WHEN k %% 2 = 0 THEN 'received'
                     WHEN (c.id * 31 + k) %% 100 < 80 THEN 'delivered' WHEN (c.id * 31 + k) %% 100 < 85 THEN 'read'
                     WHEN (c.id * 31 + k) %% 100 < 93 THEN 'sent' WHEN (c.id * 31 + k) %% 100 < 97 THEN 'failed'
                     ELSE 'undelivered' END,
                CASE WHEN k %% 2 = 1 AND (c.id * 31 + k) %% 100 >= 93
                     THEN (ARRAY['30003', '30005', '30006', '21610'])[1 + (c.id + k) %% 4] ELSE '' END,
                '', 'GSM-7', 1, 1, c.created_at + k * interval '2 minutes',
                CASE WHEN k %% 2 = 1 THEN c.agent_id END, c.contact_id,
                CASE WHEN c.phone_number_id = %(telesign)s THEN %(telesign_account)s ELSE %(twilio_account)s END,
                c.phone_number_id, 'c' || c.id
         FROM workstreams_conversation c CROSS JOIN generate_series(0, 5) k
         """),
        ("conversation links", """
         INSERT INTO workstreams_conversationmessage (conversation_id, message_id)
         SELECT substring(request_id from 2)::bigint, id FROM channels_app_message WHERE request_id LIKE 'c%%'
         """),
        ("outbound requests", """
         INSERT INTO outbound_outboundrequest (request_id, source, state, contact_count, created_at, runs,
             configuration_id, batch_id)
         SELECT md5(g::text)::uuid, 'admin', 'done', 100,
                %(start)s::timestamptz + (g::float / %(requests)s * %(span)s) * interval '1 second',
                1, (ARRAY[%(c0)s, %(c1)s, %(c2)s])[1 + g %% 3],
                (SELECT min(id) FROM outbound_outboundbatch) + g %% 10
         FROM generate_series(1, %(requests)s) g
         """),
        ("outbound messages", """
         INSERT INTO channels_app_message (provider, channel, direction, kind, body, content_sid, content_variables,
             status, error_code, error_message, encoding, segments, attempts, created_at, contact_id, account_id,
             phone_number_id, request_id)
         SELECT 'twilio', 'sms', 'outbound', 'outbound', 'Your parcel is late.', '', '{}',
                CASE WHEN (r.id + i) %% 100 < 85 THEN 'delivered' WHEN (r.id + i) %% 100 < 90 THEN 'sent'
                     ELSE 'failed' END,
                CASE WHEN (r.id + i) %% 100 >= 90 THEN (ARRAY['30003', '21610'])[1 + i %% 2] ELSE '' END,
                '', 'GSM-7', 1, 1, r.created_at + i * interval '1 second',
                (SELECT min(id) FROM channels_app_contact) + (r.id * 100 + i) %% %(contacts)s, %(twilio_account)s,
                %(twilio)s, 'r' || r.id || ':' || i
         FROM outbound_outboundrequest r CROSS JOIN generate_series(0, 99) i
         WHERE i < 96
         """),
        ("outbound recipients", """
         INSERT INTO outbound_outboundrecipient (index, to_address, channel_id, optin, locale, context_items,
             entity_relationship_name, customer_name, case_name, state, reason_code, reason, language, contact_id,
             message_id, request_id)
         SELECT i, '+1555' || i, 'SMS', true, 'en', '{}', '', '', '',
                CASE WHEN m.id IS NOT NULL THEN 'message' WHEN i %% 100 = 96 OR i %% 100 = 97 THEN 'skipped'
                     ELSE 'rejected' END,
                CASE WHEN m.id IS NOT NULL THEN '' WHEN i %% 100 = 96 OR i %% 100 = 97 THEN 'opted_out'
                     ELSE 'invalid_number' END,
                '', 'en', m.contact_id, m.id, r.id
         FROM outbound_outboundrequest r CROSS JOIN generate_series(0, 99) i
         LEFT JOIN channels_app_message m ON m.request_id = 'r' || r.id || ':' || i
         WHERE m.id IS NOT NULL OR i >= 96
         """),
        ("replies", """
         WITH answered AS (
             SELECT rc.id recipient_id, rc.message_id, m.contact_id, m.created_at FROM outbound_outboundrecipient rc
             JOIN channels_app_message m ON m.id = rc.message_id WHERE m.status = 'delivered' AND rc.id %% 20 = 0),
         inserted AS (
             INSERT INTO channels_app_message (provider, channel, direction, kind, body, content_sid,
                 content_variables, status, error_code, error_message, encoding, segments, attempts, created_at,
                 contact_id, account_id, phone_number_id, request_id)
             SELECT 'twilio', 'sms', 'inbound', 'regular', 'Thanks', '', '{}', 'received', '', '', 'GSM-7', 1, 0,
                    a.created_at + interval '5 minutes', a.contact_id, %(twilio_account)s, %(twilio)s,
                    'a' || a.recipient_id
             FROM answered a RETURNING id, request_id)
         INSERT INTO outbound_outboundreply (created_at, outbound_message_id, recipient_id, reply_id)
         SELECT now(), a.message_id, a.recipient_id, i.id FROM inserted i
         JOIN answered a ON i.request_id = 'a' || a.recipient_id
         """),
        ("opt-outs", """
         INSERT INTO channels_app_consentrecord (state, source, detail, created_at, contact_id, phone_number_id)
         SELECT 'opted_out', CASE WHEN g %% 3 = 0 THEN 'provider_error' ELSE 'keyword' END, 'STOP',
                %(start)s::timestamptz + (g::float / 3000 * %(span)s) * interval '1 second',
                (SELECT min(id) FROM channels_app_contact) + g %% %(contacts)s, CASE WHEN g %% 4 = 3 THEN %(telesign)s
                ELSE %(twilio)s END
         FROM generate_series(1, 3000) g
         """),
    ]
    with connection.cursor() as cursor:
        for name, sql in steps:
            began = time.perf_counter()
            cursor.execute(sql, params)
            log(f"seeded {name}: {cursor.rowcount:,} rows in {time.perf_counter() - began:.1f} s")
        cursor.execute("ANALYZE")
        cursor.execute("SELECT count(*) FROM channels_app_message")
        total = cursor.fetchone()[0]
    return {"admin": admin, "supervisor": sue, "first": first, "last": today() - timezone.timedelta(days=1),
            "messages": total, "conversations": conversations}


def render_times(client, user, query: dict, runs: int) -> dict[str, tuple[float, float]]:
    client.force_login(user)
    found = {}
    for page in PAGES:
        url = f"/reports/{page}/"
        response = client.get(url, query)  # warm-up
        assert response.status_code == 200, (page, response.status_code, response.content[:500])
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            response = client.get(url, query)
            times.append(time.perf_counter() - began)
            assert response.status_code == 200
        found[page] = (statistics.median(times), max(times))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = base_env(ALLOWED_HOSTS="testserver,127.0.0.1,localhost", TIME_ZONE="UTC")
    reset_database(env)
    # DEBUG is off: the admin's pages need the static files' manifest.
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    setup_django(env)
    from django.test import Client

    from reports.periods import days_between
    from reports.services import reports_rollup

    began = time.perf_counter()
    world = seed(messages=args.messages, days=args.days)
    seeded = time.perf_counter() - began
    log(f"{world['messages']:,} messages, {world['conversations']:,} conversations seeded in {seeded:.0f} s")
    query = {"start": world["first"].isoformat(), "end": world["last"].isoformat()}
    client = Client()
    live = {"administrator": render_times(client, world["admin"], query, args.runs),
            "supervisor of one queue": render_times(client, world["supervisor"], query, args.runs)}
    log(f"live: {live}")
    began = time.perf_counter()
    reports_rollup(days=days_between(world["first"], world["last"]))
    rollup = time.perf_counter() - began
    log(f"roll-up of {args.days} days: {rollup:.1f} s")
    rolled = {"administrator": render_times(client, world["admin"], query, args.runs),
              "supervisor of one queue": render_times(client, world["supervisor"], query, args.runs)}
    log(f"rolled up: {rolled}")
    from reports.models import MessageDaily, OutboundDaily

    lines = [
        "## Reports",
        "",
        f"`make bench-reports` (`python -m bench.reports --messages {args.messages} --days {args.days}`): "
        f"{world['messages']:,} messages in {args.days} days ({world['conversations']:,} conversations of six "
        "messages, the rest outbound requests of 100 contacts with replies; 3,000 opt-outs), seeded with SQL in "
        f"{seeded:.0f} s. Each page rendered in-process (Django test client: view, queries, SVG and template) over "
        f"the whole month; median and slowest of {args.runs} renders after a warm-up.",
        "",
        f"Roll-up of the {args.days} days (`manage.py reports_rollup`, what beat does for the last "
        f"`REPORTS_ROLLUP_DAYS` days each run): {rollup:.1f} s, leaving {MessageDaily.objects.count():,} "
        f"message rows and {OutboundDaily.objects.count():,} outbound rows.",
        "",
        "| page | who | every day from the live tables: median / slowest (s) | rolled up: median / slowest (s) |",
        "|---|---|---|---|",
    ]
    for who in live:
        for page in PAGES:
            a, b = live[who][page], rolled[who][page]
            lines.append(f"| {page} | {who} | {a[0]:.3f} / {a[1]:.3f} | {b[0]:.3f} / {b[1]:.3f} |")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines += ["", "Live, the conversation report's times are PostgreSQL's `percentile_cont` over the month's "
              "conversations (exact); rolled up, they come from the daily histograms (within 5 %). The live "
              "messages and outbound pages scan the month's messages and recipients with their joins: the "
              "roll-up is what brings them under a second.", "",
              f"Load average when the run ended (1, 5, 15 minutes): {load} — the machine is shared, so the "
              "figures are upper bounds.", "", machine_table()]
    write_section("reports", "\n".join(lines))


if __name__ == "__main__":
    main()
