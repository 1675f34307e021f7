import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from channels_app.models import Message
from channels_app.providers import sandbox
from outbound.models import OutboundRequest
from outbound.services.sending import outbound_request_send
from tests.outbound.conftest import contact, make_configuration

URL = "/api/v1/outbound/requests/"


@pytest.fixture
def api(django_user_model):
    user = django_user_model.objects.create_user(username="flow", password="unused")
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label="outbound", codename__in=["add_outboundrequest", "view_outboundrequest"]))
    client = APIClient()
    client.force_authenticate(django_user_model.objects.get(pk=user.pk))
    return client


def test_the_reference_payload_is_accepted_verbatim(api, sandbox_config):
    ref = str(sandbox_config.configuration_id)
    payload = {
        "msdyn_ocoutboundconfigurationid": ref,
        "ContactList": [
            {"tocontactid": "+14155550123", "channelid": "SMS", "optin": True, "locale": "en-US",
             "contextitems": {"order_id": "A-17"}, "entityrelationshipname": "incident",
             "msdyn_ocoutboundconfigurationid": ref, "CustomerName": "Ana Lima", "CaseName": "Parcel delayed"},
            {"tocontactid": "+14155550124", "channelid": "SMS", "option": False, "locale": "pt-BR",
             "contextitems": {}, "entityrelationshipname": "incident", "msdyn_ocoutboundconfigurationid": ref,
             "CustomerName": "Bo", "CaseName": "Parcel delayed"},
            {"tocontactid": "not a number", "channelid": "SMS", "optin": True, "CustomerName": "C",
             "CaseName": "x"},
        ],
    }
    response = api.post(URL, payload, format="json")

    assert response.status_code == 202, response.content
    body = response.json()
    request = OutboundRequest.objects.get()
    assert body["request_id"] == str(request.request_id)
    assert body["url"] == f"http://testserver{URL}{request.request_id}/" == response["Location"]
    assert (body["configuration_id"], body["state"]) == (ref, "pending")
    assert (body["accepted"], body["rejected"], body["skipped"]) == (1, 1, 1)
    assert [(c["index"], c["outcome"], c["error"]) for c in body["contacts"]] == [
        (0, "accepted", ""), (1, "skipped", "optin_false"), (2, "rejected", "invalid_number")]
    assert "'not a number' is not a phone number" in body["contacts"][2]["reason"]


def test_progress_is_read_from_the_messages(api, sandbox_config):
    created = api.post(URL, {"configuration_id": str(sandbox_config.configuration_id),
                             "contacts": [contact(1), contact(2, optin=False)]}, format="json").json()
    pending = api.get(created["url"]).json()
    assert pending["counts"] == {"total": 2, "pending": 1, "sent": 0, "delivered": 0, "failed": 0, "skipped": 1}

    outbound_request_send(request_id=OutboundRequest.objects.get().pk)
    Message.objects.update(status="delivered")
    body = api.get(created["url"]).json()
    assert body["state"] == "done" and body["source"] == "api"
    assert body["counts"] == {"total": 2, "pending": 0, "sent": 0, "delivered": 1, "failed": 0, "skipped": 1}
    first, second = body["contacts"]
    assert (first["status"], first["language"], first["message_id"]) == ("delivered", "en", Message.objects.get().pk)
    assert (second["status"], second["error"]) == ("skipped", "optin_false")
    assert len(sandbox.outbox) == 1


def test_101_contacts_are_refused_with_400_naming_the_limit(api, sandbox_config):
    response = api.post(URL, {"configuration_id": str(sandbox_config.configuration_id),
                              "contacts": [contact(i) for i in range(101)]}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["field"], body["limit"]) == ("too_many_contacts", "contacts", 100)
    assert "at most 100 contacts" in body["detail"]
    assert not OutboundRequest.objects.exists()


def test_over_the_hourly_limit_the_answer_is_429_with_retry_after(api, sandbox_config, settings):
    settings.OUTBOUND_MAX_REQUESTS_PER_HOUR = 2
    payload = {"configuration_id": str(sandbox_config.configuration_id), "contacts": [contact(1)]}
    assert [api.post(URL, payload, format="json").status_code for _ in range(2)] == [202, 202]
    response = api.post(URL, payload, format="json")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 3600
    body = response.json()
    assert (body["error"], body["limit"], body["retry_after"]) == ("rate_limited", 2, int(response["Retry-After"]))
    assert OutboundRequest.objects.count() == 2


def test_timeline_configurations_refuse_contacts_without_entityrelationshipname(api, sandbox_account):
    configuration = make_configuration(sandbox_account, show_in_timeline=True)
    response = api.post(URL, {"configuration_id": str(configuration.configuration_id),
                              "contacts": [contact(1, entityrelationshipname=None)]}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "contacts[0].entityrelationshipname"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"contacts": [contact(1)]}, "configuration_id"),
        ({"configuration_id": "CONFIG", "contacts": [{**contact(1), "optin": "perhaps"}]}, "contacts[0].optin"),
        ({"configuration_id": "CONFIG", "contacts": []}, "contacts"),
        ("just text", None),
    ],
)
def test_bad_input_gets_400_naming_the_field(api, sandbox_config, payload, field):
    if isinstance(payload, dict) and payload.get("configuration_id") == "CONFIG":
        payload = {**payload, "configuration_id": str(sandbox_config.configuration_id)}
    response = api.post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json().get("field") == field
    assert response.json()["detail"]


def test_an_inactive_configuration_gets_409(api, sandbox_config):
    sandbox_config.is_active = False
    sandbox_config.save()
    response = api.post(URL, {"configuration_id": str(sandbox_config.configuration_id), "contacts": [contact(1)]},
                        format="json")
    assert (response.status_code, response.json()["error"]) == (409, "configuration_inactive")


def test_permissions_and_authentication(sandbox_config, django_user_model):
    anonymous = APIClient()
    assert anonymous.post(URL, {}, format="json").status_code == 401
    user = django_user_model.objects.create_user(username="nobody", password="unused")
    client = APIClient()
    client.force_authenticate(user)
    assert client.post(URL, {"configuration_id": str(sandbox_config.configuration_id), "contacts": [contact(1)]},
                       format="json").status_code == 403
    assert not OutboundRequest.objects.exists()


def test_an_unknown_request_is_404(api, db):
    assert api.get(f"{URL}7d1f2a8e-3b7c-4c39-9d62-0f5a8e2b1c44/").status_code == 404


def test_the_schema_documents_the_reference_fields_and_the_errors(admin_client, db):
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    post = schema["paths"]["/api/v1/outbound/requests/"]["post"]
    assert set(post["responses"]) >= {"202", "400", "401", "403", "409", "429"}
    contact_schema = schema["components"]["schemas"]["OutboundContactRequest"]["properties"]
    assert set(contact_schema) >= {"tocontactid", "channelid", "optin", "option", "locale", "contextitems",
                                   "entityrelationshipname", "msdyn_ocoutboundconfigurationid", "CustomerName",
                                   "CaseName"}
    assert "/api/v1/outbound/requests/{request_id}/" in schema["paths"]


def test_with_redis_down_the_api_answers_a_json_503_with_retry_after(api, sandbox_config, settings):
    from outbound.services import ratelimit

    settings.OUTBOUND_RATE_BACKEND = "redis"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    ratelimit._redis_client = None
    try:
        response = api.post(URL, {"configuration_id": str(sandbox_config.configuration_id),
                                  "contacts": [contact(1)]}, format="json")
    finally:
        ratelimit._redis_client = None
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/json")
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"] == "service_unavailable"
    assert not OutboundRequest.objects.exists()
