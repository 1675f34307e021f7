"""Production settings: secure by default with DEBUG off and an https public URL, each adjustable, the public
development keys refused, and `check --deploy` clean with the README's production settings."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FERNET_KEY = "qYtqEMKJTE8OyYg3Vw6LHzbquQ7qKQGt8XcxRtyLLAw="
SECURITY = ["DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
            "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER", "ALLOWED_HOSTS"]
#: Variables of the developer's or CI's environment that would change what the settings decide.
CLEARED = ["DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS", "PUBLIC_BASE_URL", "TRUST_PROXY_HEADERS",
           "SECURE_PROXY_SSL_HEADER", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_PRELOAD",
           "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "DATABASE_URL",
           "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"]


def _env(tmp_path, **values) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update({"HUB_VAR_DIR": str(tmp_path / "var"), "STATIC_ROOT": str(tmp_path / "static")})
    env.update(values)
    return env


def _settings(tmp_path, **values) -> dict:
    code = ("import json, django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); "
            "from django.conf import settings; "
            f"print(json.dumps({{n: getattr(settings, n, None) for n in {SECURITY!r}}}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(tmp_path, **values),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _manage(tmp_path, *args, **values) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=_env(tmp_path, **values),
                          capture_output=True, text=True, timeout=120)


def _production(**extra) -> dict[str, str]:
    return {"DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50), "FIELD_ENCRYPTION_KEYS": FERNET_KEY,
            "PUBLIC_BASE_URL": "https://hub.example.com", **extra}


def test_a_fresh_clone_runs_in_debug_mode_on_its_embedded_defaults(tmp_path):
    values = _settings(tmp_path)
    assert values["DEBUG"] is True
    assert not values["SECURE_SSL_REDIRECT"] and values["SECURE_HSTS_SECONDS"] == 0


def test_a_hub_with_a_public_url_is_not_in_debug_mode_unless_asked(tmp_path):
    values = _settings(tmp_path, **{k: v for k, v in _production().items() if k != "DEBUG"})
    assert values["DEBUG"] is False
    assert values["ALLOWED_HOSTS"] == ["hub.example.com"]


@pytest.mark.parametrize("values", [{"ALLOWED_HOSTS": "hub.example.com"}, {"TRUST_PROXY_HEADERS": "true"}])
def test_a_deployed_hub_that_forgot_its_public_url_is_not_in_debug_mode(tmp_path, values):
    # Without PUBLIC_BASE_URL the hub would believe it is on this machine; ALLOWED_HOSTS or a proxy say otherwise,
    # so debug mode stays off and the public development keys are refused.
    result = _manage(tmp_path, "check", **values)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    values = _settings(tmp_path, **values, SECRET_KEY=secrets.token_urlsafe(50), FIELD_ENCRYPTION_KEYS=FERNET_KEY)
    assert values["DEBUG"] is False


def test_https_production_is_secure_by_default(tmp_path):
    values = _settings(tmp_path, **_production(TRUST_PROXY_HEADERS="true"))
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31_536_000 and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SESSION_COOKIE_SECURE"] is True and values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_each_security_setting_is_adjustable_from_the_environment(tmp_path):
    values = _settings(tmp_path, **_production(
        SECURE_SSL_REDIRECT="false", SECURE_HSTS_SECONDS="600", SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
        SESSION_COOKIE_SECURE="false", CSRF_COOKIE_SECURE="false", SECURE_PROXY_SSL_HEADER="X-Forwarded-Ssl: on"))
    assert values["SECURE_SSL_REDIRECT"] is False and values["SECURE_HSTS_SECONDS"] == 600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert values["SESSION_COOKIE_SECURE"] is False and values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_SSL", "on"]


def test_plain_http_production_does_not_redirect_to_an_https_it_does_not_have(tmp_path):
    values = _settings(tmp_path, **_production(PUBLIC_BASE_URL="http://hub.internal"))
    assert values["DEBUG"] is False and values["SECURE_SSL_REDIRECT"] is False


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "insecure-development-key-set-SECRET_KEY-in-production"}, "development key is public"),
        ({"FIELD_ENCRYPTION_KEYS": ""}, "FIELD_ENCRYPTION_KEYS must be set"),
        ({"FIELD_ENCRYPTION_KEYS": "Ihj4Y5ToP1WQRl5IUA8mX5tRjC6ks1Q5V4zJGnXpy1c="}, "development key"),
        ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"}, "is not 'Header-Name: value'"),
        ({"EGRESS_ALLOWED_NETWORKS": "not-a-network"}, "is not a network"),
    ],
    ids=["no-secret-key", "development-secret-key", "no-encryption-key", "development-encryption-key",
         "proxy-header", "egress-networks"],
)
def test_the_hub_refuses_to_start_with_public_keys_or_unreadable_settings(tmp_path, values, says):
    result = _manage(tmp_path, "check", **_production(**values))
    assert result.returncode != 0
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_check_deploy_is_clean_with_the_readmes_production_settings(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- production-settings -->", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    exported = block.split("export", 1)[1].split("\npython", 1)[0].replace("\\\n", " ")
    values = dict(re.findall(r"([A-Z_]+)=(\S+)", exported))
    assert values["DEBUG"] == "false" and values["PUBLIC_BASE_URL"].startswith("https://")
    # What the README leaves to the reader ("…"): secrets of one's own; databases that need no server here.
    values.update({"SECRET_KEY": secrets.token_urlsafe(50), "FIELD_ENCRYPTION_KEYS": FERNET_KEY,
                   "METRICS_TOKEN": secrets.token_urlsafe(20)})
    values = {k: v for k, v in values.items() if "…" not in v}
    result = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **values)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
