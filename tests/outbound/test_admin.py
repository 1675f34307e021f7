"""The outbound admin as an administrator sees it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from channels_app.providers import sandbox
from outbound.models import (
    MessageTemplate,
    OutboundBatch,
    OutboundConfiguration,
    OutboundRequest,
    OutboundSchedule,
    TimelineActivity,
)
from outbound.services.batches import outbound_batch_advance
from outbound.services.requests import outbound_request_create
from outbound.services.sending import outbound_request_send
from tests.outbound.conftest import WHATSAPP_SID, contact, make_configuration, make_template

CSV = (b"tocontactid,channelid,optin,CustomerName,CaseName\n+15550000001,SMS,true,Ana,Late parcel\n"
       b"+15550000002,SMS,true,Bo,Late parcel\n")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def _template_data(**overrides):
    data = {
        "name": "Delivery delayed", "channel": "sms", "default_language": "en", "description": "",
        "localizations-TOTAL_FORMS": "1", "localizations-INITIAL_FORMS": "0", "localizations-MIN_NUM_FORMS": "1",
        "localizations-MAX_NUM_FORMS": "1000",
        "localizations-0-language": "en", "localizations-0-text": "Hi {CustomerName}, your parcel is late.",
        "localizations-0-content_sid": "", "localizations-0-content_variables": "{}",
    }
    data.update(overrides)
    return data


def test_a_template_is_created_with_its_localized_versions(admin_client):
    response = admin_client.post(reverse("admin:outbound_messagetemplate_add"), _template_data())
    assert response.status_code == 302
    assert MessageTemplate.objects.get().localizations.get().text == "Hi {CustomerName}, your parcel is late."


def test_a_whatsapp_template_without_a_content_sid_is_refused_on_the_field(admin_client):
    response = admin_client.post(reverse("admin:outbound_messagetemplate_add"), _template_data(channel="whatsapp"))
    assert response.status_code == 200
    assert "Content SID" in response.content.decode()
    assert not MessageTemplate.objects.exists()
    ok = admin_client.post(reverse("admin:outbound_messagetemplate_add"), _template_data(
        channel="whatsapp", **{"localizations-0-content_sid": WHATSAPP_SID,
                               "localizations-0-content_variables": '{"1": "CustomerName"}'}))
    assert ok.status_code == 302


def test_a_template_needs_a_version_in_its_default_language(admin_client):
    response = admin_client.post(reverse("admin:outbound_messagetemplate_add"), _template_data(default_language="sv"))
    assert "Add a version in the default language" in response.content.decode()
    assert not MessageTemplate.objects.exists()


def test_saving_a_configuration_generates_its_id_shown_with_a_copy_button(admin_client, sandbox_account):
    template = make_template()
    phone = sandbox_account.numbers.get()
    response = admin_client.post(reverse("admin:outbound_outboundconfiguration_add"), {
        "name": "Case created message", "show_in_timeline": "on", "channel_type": "sms",
        "phone_number": phone.pk, "template": template.pk, "is_active": "on",
        "triggers-TOTAL_FORMS": "1", "triggers-INITIAL_FORMS": "0", "triggers-MIN_NUM_FORMS": "0",
        "triggers-MAX_NUM_FORMS": "1000", "triggers-0-event": "case_created", "triggers-0-is_active": "on",
    })
    assert response.status_code == 302
    configuration = OutboundConfiguration.objects.get()
    assert configuration.triggers.get().event == "case_created"

    page = admin_client.get(reverse("admin:outbound_outboundconfiguration_change", args=[configuration.pk]))
    html = page.content.decode()
    assert f'value="{configuration.configuration_id}"' in html
    assert 'data-copy-target="outbound-configuration-id"' in html
    assert "channels_app/admin.js" in html and "cdn" not in html.lower()


def test_a_configuration_whose_number_carries_another_channel_is_refused(admin_client, sandbox_account,
                                                                        twilio_whatsapp_account):
    template = make_template()
    response = admin_client.post(reverse("admin:outbound_outboundconfiguration_add"), {
        "name": "Wrong", "channel_type": "sms", "phone_number": twilio_whatsapp_account.numbers.get().pk,
        "template": template.pk, "is_active": "on", "triggers-TOTAL_FORMS": "0", "triggers-INITIAL_FORMS": "0",
        "triggers-MIN_NUM_FORMS": "0", "triggers-MAX_NUM_FORMS": "1000",
    })
    assert response.status_code == 200
    assert "is a WhatsApp number" in response.content.decode()
    assert not OutboundConfiguration.objects.exists()


def test_uploading_a_contact_list_creates_a_batch_and_shows_its_progress(admin_client, sandbox_config):
    url = reverse("admin:outbound_outboundconfiguration_send", args=[sandbox_config.pk])
    assert "Send to a contact list" in admin_client.get(
        reverse("admin:outbound_outboundconfiguration_change", args=[sandbox_config.pk])).content.decode()
    page = admin_client.get(url).content.decode()
    assert 'enctype="multipart/form-data"' in page  # a browser can upload the file
    assert f"&rsaquo; <a href=\"{reverse('admin:outbound_outboundconfiguration_change', args=[sandbox_config.pk])}\">" \
        f"{sandbox_config}</a>\n&rsaquo; Send to a contact list" in page
    preview = admin_client.post(url, {"csv_file": SimpleUploadedFile("march.csv", CSV, "text/csv")})
    assert preview.status_code == 200 and "Send to 2 contacts" in preview.content.decode()
    assert not OutboundBatch.objects.exists()  # nothing is stored before the confirmation
    response = admin_client.post(url, {"csv_text": preview.context["list_text"], "list_name": "march.csv",
                                       "confirm": "1"})
    batch = OutboundBatch.objects.get()
    assert response.status_code == 302 and response.url == reverse("admin:outbound_outboundbatch_change",
                                                                   args=[batch.pk])
    assert (batch.name, batch.source, batch.contact_count) == ("march.csv", "admin", 2)

    outbound_batch_advance(batch_id=batch.pk)
    outbound_request_send(request_id=OutboundRequest.objects.get().pk)
    page = admin_client.get(response.url).content.decode()
    assert "2 of 2 done" in page and "2 sent" in page
    assert "2 of 2 done" in admin_client.get(reverse("admin:outbound_outboundbatch_changelist")).content.decode()
    assert len(sandbox.outbox) == 2


def test_a_bad_upload_shows_the_line_and_stores_nothing(admin_client, sandbox_config):
    url = reverse("admin:outbound_outboundconfiguration_send", args=[sandbox_config.pk])
    bad = CSV + b"+15550000003,SMS,maybe,Cy\n"
    response = admin_client.post(url, {"csv_file": SimpleUploadedFile("bad.csv", bad, "text/csv")})
    assert response.status_code == 200
    assert "line 4, column optin must be true or false" in response.content.decode()
    assert not OutboundBatch.objects.exists()


def test_the_send_action_needs_exactly_one_configuration(admin_client, sandbox_account):
    first = make_configuration(sandbox_account)
    second = make_configuration(sandbox_account, template=first.template, name="Other")
    changelist = reverse("admin:outbound_outboundconfiguration_changelist")
    both = admin_client.post(changelist, {"action": "send_to_contact_list", "_selected_action": [first.pk, second.pk]},
                             follow=True)
    assert "Select exactly one configuration" in both.content.decode()
    one = admin_client.post(changelist, {"action": "send_to_contact_list", "_selected_action": [first.pk]})
    assert one.url == reverse("admin:outbound_outboundconfiguration_send", args=[first.pk])


def test_requests_list_their_progress_and_can_be_rerun(admin_client, sandbox_config):
    request = outbound_request_create(configuration=sandbox_config, contacts=[contact(1), contact(2, optin=False)],
                                      source="api")
    html = admin_client.get(reverse("admin:outbound_outboundrequest_changelist")).content.decode()
    assert str(request.request_id) in html
    detail = admin_client.get(reverse("admin:outbound_outboundrequest_change", args=[request.pk])).content.decode()
    assert "optin_false" in detail

    response = admin_client.post(reverse("admin:outbound_outboundrequest_changelist"),
                                 {"action": "rerun", "_selected_action": [request.pk]}, follow=True)
    assert "1 request(s) queued" in response.content.decode()


def test_timeline_activities_can_be_listed_per_contact_and_per_case(admin_client, sandbox_account):
    from workstreams.cases import case_create

    configuration = make_configuration(sandbox_account, show_in_timeline=True)
    case = case_create(title="Broken kettle", contact_address="+15550000001", customer_name="Customer 1")
    request = outbound_request_create(configuration=configuration, contacts=[
        contact(1, entityrelationshipname=f"case:{case.pk}"), contact(2)], source="api")
    outbound_request_send(request_id=request.pk)
    activity = TimelineActivity.objects.get(case=case)

    url = reverse("admin:outbound_timelineactivity_changelist")
    by_contact = admin_client.get(url, {"contact__id__exact": activity.contact_id})
    assert by_contact.status_code == 200
    assert by_contact.context["cl"].result_count == 1
    by_case = admin_client.get(url, {"case__id__exact": case.pk})
    assert by_case.context["cl"].result_count == 1
    assert "Broken kettle" in by_case.content.decode()
    assert admin_client.get(url).context["cl"].result_count == 2


def test_a_schedule_saved_in_the_admin_writes_its_beat_entry(admin_client, sandbox_config):
    response = admin_client.post(reverse("admin:outbound_outboundschedule_add"), {
        "name": "Tomorrow", "configuration": sandbox_config.pk, "kind": "once",
        "run_at_0": (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%d"), "run_at_1": "09:00:00",
        "cron": "", "time_zone": "UTC", "contacts_csv": CSV.decode(), "is_active": "on",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = OutboundSchedule.objects.get()
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).one_off

    bad = admin_client.post(reverse("admin:outbound_outboundschedule_add"), {
        "name": "Bad", "configuration": sandbox_config.pk, "kind": "recurring", "cron": "every day",
        "time_zone": "UTC", "contacts_csv": CSV.decode(), "is_active": "on",
    })
    assert "five cron fields" in bad.content.decode()

    admin_client.post(reverse("admin:outbound_outboundschedule_delete", args=[schedule.pk]), {"post": "yes"})
    assert not PeriodicTask.objects.filter(pk=schedule.periodic_task_id).exists()


def test_a_schedules_time_is_typed_and_shown_in_its_own_time_zone(admin_client, sandbox_config, settings):
    settings.TIME_ZONE = "America/New_York"  # the server's zone plays no part
    year = timezone.now().year + 1
    response = admin_client.post(reverse("admin:outbound_outboundschedule_add"), {
        "name": "Stockholm morning", "configuration": sandbox_config.pk, "kind": "once",
        "run_at_0": f"{year}-01-15", "run_at_1": "09:00:00", "cron": "", "time_zone": "Europe/Stockholm",
        "contacts_csv": CSV.decode(), "is_active": "on",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = OutboundSchedule.objects.get()
    winter = datetime(year, 1, 15, 8, 0, tzinfo=UTC)
    assert schedule.run_at == winter
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).clocked.clocked_time == winter
    page = admin_client.get(reverse("admin:outbound_outboundschedule_change", args=[schedule.pk]))
    assert page.context["adminform"].form["run_at"].value() == datetime(year, 1, 15, 9, 0)
    assert 'value="09:00:00"' in page.content.decode()
    listing = admin_client.get(reverse("admin:outbound_outboundschedule_changelist")).content.decode()
    assert f"{year}-01-15 09:00 (Europe/Stockholm)" in listing


@pytest.mark.parametrize("model", ["messagetemplate", "outboundconfiguration", "outboundtrigger", "outboundschedule",
                                   "outboundbatch", "outboundrequest", "timelineactivity", "outboundreply"])
def test_every_outbound_admin_page_renders(admin_client, sandbox_config, model):
    from workstreams.cases import case_create

    sandbox_config.show_in_timeline = True
    sandbox_config.save()
    case = case_create(title="Kettle", contact_address="+15550000001", customer_name="Ana")
    request = outbound_request_create(configuration=sandbox_config, source="api",
                                      contacts=[contact(1, entityrelationshipname=f"case:{case.pk}")])
    outbound_request_send(request_id=request.pk)
    assert admin_client.get(reverse(f"admin:outbound_{model}_changelist"), {"q": "a"}).status_code == 200
    assert admin_client.get(reverse(f"admin:outbound_{model}_changelist")).status_code == 200


def test_the_timeline_inlines_show_activities_on_the_contact_and_the_case(admin_client, sandbox_account, monkeypatch):
    from django.contrib import admin

    from channels_app.models import Contact
    from outbound.admin import CaseTimelineInline, ContactTimelineInline
    from workstreams.cases import case_create
    from workstreams.models import Case

    configuration = make_configuration(sandbox_account, show_in_timeline=True)
    case = case_create(title="Broken kettle", contact_address="+15550000001", customer_name="Customer 1")
    request = outbound_request_create(configuration=configuration, source="api",
                                      contacts=[contact(1, entityrelationshipname=f"case:{case.pk}",
                                                        CaseName=case.title)])
    outbound_request_send(request_id=request.pk)

    for model, inline, obj in ((Contact, ContactTimelineInline, case.contact), (Case, CaseTimelineInline, case)):
        model_admin = admin.site.get_model_admin(model)
        monkeypatch.setattr(model_admin, "inlines", [*model_admin.inlines, inline])
        page = admin_client.get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change",
                                        args=[obj.pk])).content.decode()
        assert "Outbound messages (timeline)" in page
        assert "Hi Customer 1, we opened case Broken kettle." in page
        assert str(configuration.configuration_id) in page


# --- The upload's preview: every row checked before anything is sent ------------------------------------


def _upload(admin_client, configuration, body: bytes, name="list.csv", **extra):
    url = reverse("admin:outbound_outboundconfiguration_send", args=[configuration.pk])
    return admin_client.post(url, {"csv_file": SimpleUploadedFile(name, body, "text/csv"), **extra})


def test_a_number_that_is_no_phone_number_refuses_the_list_before_anything_is_sent(admin_client, sandbox_config):
    bad = CSV + b"555-1234,SMS,true,Cy,Wrong number\n"

    response = _upload(admin_client, sandbox_config, bad, confirm="1")  # even with the confirmation

    page = response.content.decode()
    assert response.status_code == 200
    assert "The list is refused: nothing was sent" in page
    assert "line 4, column tocontactid: &#x27;555-1234&#x27; is not a phone number" in page
    assert response.context["review"].total == 3 and len(response.context["review"].refused) == 1
    assert 'id="confirm-send"' not in page
    assert not OutboundBatch.objects.exists() and not OutboundRequest.objects.exists()
    assert sandbox.outbox == []


def test_every_refused_row_is_listed_at_once(admin_client, sandbox_config):
    bad = CSV + b"555-1234,SMS,true,Cy,x\n+15550000004,SMS,maybe,Di,y\n+15550000005,fax,true,Ed,z\n"

    review = _upload(admin_client, sandbox_config, bad).context["review"]

    assert [row.line for row in review.refused] == [4, 5, 6]
    assert "optin must be true or false" in review.refused[1].reason
    assert "must be SMS or WhatsApp" in review.refused[2].reason
    assert not OutboundBatch.objects.exists()


def test_the_preview_counts_and_lists_the_rows_that_will_be_skipped(admin_client, sandbox_config):
    body = CSV + b"+15550000003,SMS,false,Cy,No consent\n+15550000001,SMS,true,Ana again,Twice\n"

    response = _upload(admin_client, sandbox_config, body)

    review = response.context["review"]
    assert (review.total, review.to_send, len(review.skipped), len(review.refused)) == (4, 2, 2, 0)
    page = response.content.decode()
    assert "optin is false" in page and "+15550000001 is already on line 2" in page
    assert "Send to 2 contacts" in page
    assert not OutboundBatch.objects.exists()


def test_the_sample_csv_is_a_list_the_page_accepts(admin_client, sandbox_config):
    url = reverse("admin:outbound_outboundconfiguration_send", args=[sandbox_config.pk])
    assert "?sample=1" in admin_client.get(url).content.decode()

    sample = admin_client.get(url, {"sample": "1"})

    assert sample["Content-Type"] == "text/csv"
    assert "attachment" in sample["Content-Disposition"]
    review = _upload(admin_client, sandbox_config, sample.content).context["review"]
    assert (review.total, review.to_send, review.refused) == (2, 2, [])


def test_the_batch_page_refreshes_while_sending_and_lists_contacts_not_sent_with_reasons(admin_client,
                                                                                          sandbox_config):
    body = CSV + b"+15550000003,SMS,false,Cy,No consent\n"
    preview = _upload(admin_client, sandbox_config, body, name="april.csv")
    url = reverse("admin:outbound_outboundconfiguration_send", args=[sandbox_config.pk])
    done = admin_client.post(url, {"csv_text": preview.context["list_text"], "list_name": "april.csv",
                                   "confirm": "1"})
    batch = OutboundBatch.objects.get()
    assert batch.name == "april.csv"

    sending = admin_client.get(done.url).content.decode()
    assert '<meta http-equiv="refresh" content="5">' in sending  # submitting: the page keeps itself fresh

    outbound_batch_advance(batch_id=batch.pk)
    outbound_request_send(request_id=OutboundRequest.objects.get().pk)
    finished = admin_client.get(done.url).content.decode()
    assert 'http-equiv="refresh"' not in finished
    assert 'id="not-sent"' in finished
    assert "+15550000003" in finished and "optin_false" in finished and "has not agreed to be contacted" in finished
