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
