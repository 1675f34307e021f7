def test_liveness_needs_no_login(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readiness_reports_a_broken_broker(client, db, monkeypatch):
    from config import health

    def broken():
        raise ConnectionError("broker down")

    monkeypatch.setattr(health, "check_broker", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "error: ConnectionError: broker down"
    assert response.json()["checks"]["database"] == "ok"


# --- Workers and beat, from their heartbeats ------------------------------------------------------------

def _beat(role, node, seconds_ago):
    from datetime import timedelta

    from django.utils import timezone

    from config.heartbeats.models import Heartbeat

    Heartbeat.objects.update_or_create(role=role, node=node, defaults={
        "pid": 1, "started_at": timezone.now(), "seen_at": timezone.now() - timedelta(seconds=seconds_ago)})


def test_readiness_is_degraded_but_up_while_no_worker_or_beat_is_seen(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200  # webhooks are still stored; they wait for a worker
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["worker"] == "no worker has ever been seen"
    assert body["checks"]["beat"] == "no beat has ever been seen"


def test_readiness_says_which_workers_and_beat_were_seen(client, db):
    _beat("worker", "worker@a", 3)
    _beat("worker", "worker@b", 5)
    _beat("beat", "beat@a", 2)
    body = client.get("/readyz?require=worker,beat").json()
    assert body == {"status": "ok", "checks": {"database": "ok", "broker": "ok",
                                               "worker": "ok (2 seen: worker@a, worker@b)", "beat": "ok"}}


def test_a_stale_heartbeat_counts_as_gone_and_require_makes_it_a_503(client, db, settings):
    settings.HEARTBEAT_STALE_SECONDS = 60
    _beat("worker", "worker@a", 300)
    _beat("beat", "beat@a", 1)
    assert client.get("/readyz").status_code == 200
    response = client.get("/readyz?require=worker")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"
    assert response.json()["checks"]["worker"] == "no worker seen in the last 60 s (last: worker@a, 300 s ago)"
    assert client.get("/readyz?require=beat").status_code == 200


def test_two_beats_are_pointed_out(client, db):
    _beat("worker", "worker@a", 1)
    _beat("beat", "beat@a", 1)
    _beat("beat", "beat@b", 1)
    assert client.get("/readyz").json()["checks"]["beat"] == "ok, but 2 beats are running (beat@a, beat@b); run one"


def test_an_unknown_requirement_is_refused(client, db):
    response = client.get("/readyz?require=worker,flower")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_require", "field": "require",
                               "detail": "require= takes worker and/or beat, not flower."}
