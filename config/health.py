"""Liveness and readiness.

- ``/healthz``: the process answers.
- ``/readyz``: the database and the broker are reachable (else 503: this web server cannot take work),
  and whether a worker and beat were seen recently (their heartbeats). A missing worker or beat makes
  the answer "degraded" but keeps it 200 — webhooks are still stored and wait for a worker — unless
  ``?require=worker,beat`` (any of the two) asks for a 503 then, for an orchestrator or an alert.
"""

from __future__ import annotations

from django.db import connection
from django.http import JsonResponse

PROCESSES = ("worker", "beat")


def healthz(request):
    return JsonResponse({"status": "ok"})


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def check_broker() -> str:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def readyz(request):
    required = {name.strip() for name in request.GET.get("require", "").split(",") if name.strip()}
    unknown = required - set(PROCESSES)
    if unknown:
        return JsonResponse({"error": "invalid_require", "detail": f"require= takes worker and/or beat, not "
                             f"{', '.join(sorted(unknown))}.", "field": "require"}, status=400)
    checks: dict[str, str] = {}
    ready = True
    for name, check in (("database", check_database), ("broker", check_broker)):
        try:
            checks[name] = check()
        except Exception as exc:  # report, never crash the probe
            checks[name] = f"error: {exc.__class__.__name__}: {exc}"
            ready = False
    degraded = False
    if checks["database"] == "ok":
        from config.heartbeats.services import heartbeat_check

        for role in PROCESSES:
            seen, text = heartbeat_check(role)
            checks[role] = text
            if not seen:
                degraded = True
                ready = ready and role not in required
    else:
        checks.update({role: "unknown: the database cannot be read" for role in PROCESSES})
        degraded = True
    status = "unavailable" if not ready else "degraded" if degraded else "ok"
    return JsonResponse({"status": status, "checks": checks}, status=200 if ready else 503)
