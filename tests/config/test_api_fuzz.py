"""A bounded schemathesis run over the API's own OpenAPI schema (drf-spectacular's): whatever a client sends
that the schema lets it write — and the out-of-range values schemathesis tries on top — no answer is a 5xx.

Signed in as an administrator with an agent profile, so that requests reach past the permission checks, with
one account of each kind, a conversation and an outbound configuration to aim at. Provider HTTP is mocked:
any call the hub makes fails as an unreachable provider would."""

from __future__ import annotations

import pytest
import responses as responses_lib
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token

from config.wsgi import application

#: Generated examples per operation, after schemathesis's own edge cases (NUL, out-of-range numbers, wrong
#: types) for each parameter: 32 operations stay well inside a minute on an idle core.
EXAMPLES = 5


schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = application


@pytest.fixture(autouse=True)
def _connections_kept_across_requests():
    """As Django's test client does: a request's end must not close the test's database connection (its
    transaction holds the test's data)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(db, django_user_model, sandbox_account, twilio_sms_account, receive):
    from workstreams.models import AgentProfile, Queue

    receive(sandbox_account, "hello")
    admin = django_user_model.objects.create_superuser("fuzz-admin", password="pw-unused-in-tests")
    AgentProfile.objects.create(user=admin, capacity=100, presence="available")
    Queue.objects.get(is_default=True).members.add(admin)
    return Token.objects.create(user=admin).key


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_no_request_the_schema_allows_ends_in_a_server_error(case, token, settings):
    settings.DEBUG_PROPAGATE_EXCEPTIONS = True
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False):
        response = case.call(headers={"Authorization": f"Token {token}"})
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} answered {response.status_code}\n"
        f"query={case.query!r} body={case.body!r}\n{response.text[:2000]}")
