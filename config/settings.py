"""Settings, read from the environment (and an optional ``.env`` file) with django-environ.

With no environment at all the hub runs on its embedded defaults: a SQLite file and a
filesystem Celery broker under ``var/``, both needing no server. ``DATABASE_URL`` switches
to PostgreSQL, ``REDIS_URL`` / ``CELERY_BROKER_URL`` to Redis. Every variable is listed
in README.md and ``.env.example``.
"""

import base64
import hashlib
import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Exchange, Queue

from config.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("HUB_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
_env_file = BASE_DIR / ".env"
if _env_file.exists():
    environ.Env.read_env(str(_env_file))

# The public base URL providers call (scheme + host [+ path prefix]). Callback URLs are
# built from it and Twilio signatures are checked against it.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
_public = urlsplit(PUBLIC_BASE_URL)
_PUBLIC_HOST = (_public.hostname or "").lower()
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")

# Debug mode is on by default only for a hub that providers cannot reach: one whose PUBLIC_BASE_URL is on
# this machine (the embedded default, `make run`, the emulator, the tests). A hub with any other public URL
# runs with DEBUG off unless DEBUG=true says otherwise, and then needs its own keys (below).
# A hub whose ALLOWED_HOSTS name another host, or that sits behind a proxy, is not on this machine alone either:
# a forgotten PUBLIC_BASE_URL must not turn debug mode (and the public development keys) on.
_DEPLOYED = env.bool("TRUST_PROXY_HEADERS", default=False) or any(
    host.strip("[]").lower() not in (*_LOCAL_HOSTS, "testserver") for host in env.list("ALLOWED_HOSTS", default=[]))
DEBUG = env.bool("DEBUG", default=_PUBLIC_HOST in _LOCAL_HOSTS and not _DEPLOYED)

#: The development key: public (it is in this file), so never used with DEBUG off.
_DEV_SECRET_KEY = "insecure-development-key-set-SECRET_KEY-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a secret of your own when DEBUG is off (the development key is public). "
        "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))' — or set DEBUG=true "
        "for development on this machine.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG
                         else [_PUBLIC_HOST] if _PUBLIC_HOST else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Behind a TLS-terminating proxy: honour X-Forwarded-Proto / X-Forwarded-Host (and X-Forwarded-For, for
# the client address that throttling counts by).
TRUST_PROXY_HEADERS = env.bool("TRUST_PROXY_HEADERS", default=False)
if TRUST_PROXY_HEADERS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
# A proxy that marks https requests with another header: "Header-Name: value" (e.g. "X-Forwarded-Ssl: on").
_proxy_ssl_header = env.str("SECURE_PROXY_SSL_HEADER", default="")
if _proxy_ssl_header:
    _name, _sep, _value = _proxy_ssl_header.partition(":")
    if not (_sep and _name.strip() and _value.strip()):
        raise ImproperlyConfigured(
            f"SECURE_PROXY_SSL_HEADER: {_proxy_ssl_header!r} is not 'Header-Name: value', "
            "e.g. 'X-Forwarded-Proto: https'.")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _name.strip().upper().replace("-", "_"), _value.strip())

# HTTPS: on by default for a production hub (DEBUG off) whose public URL is https; each adjustable.
_HTTPS_PRODUCTION = not DEBUG and _public.scheme == "https"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_HTTPS_PRODUCTION)
# Load balancers and the container health check probe these over plain http.
SECURE_REDIRECT_EXEMPT = env.list("SECURE_REDIRECT_EXEMPT", default=[r"^healthz$", r"^readyz$", r"^metrics$"])
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if _HTTPS_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_HTTPS_PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_HTTPS_PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_HTTPS_PRODUCTION)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "config.heartbeats",
    "config.third_party.AxesConfig",  # django-axes: throttles failed sign-ins (config/throttling.py)
    "channels_app",
    "workstreams",
    "outbound",
    "reports",  # figures and charts over the three apps above (nothing depends on it)
    "privacy",  # a contact's data exported or erased; retention
    "devtools",  # the provider emulator, the demo and the all-in-one runner (make run)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.inputs.RefuseNulMiddleware",  # a NUL in a path or query string: 400 before any view
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the switcher's cookie, else the browser's Accept-Language (after the session,
    # before CommonMiddleware, as Django asks); then an agent's profile language below.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "workstreams.middleware.AgentLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]
#: The stack for provider webhooks (/webhooks/…, see config/wsgi.py): machine-to-machine POSTs
#: need no session, user, messages, CSRF or clickjacking protection.
WEBHOOK_MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'hub.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and beat read while one of them writes;
    # IMMEDIATE transactions wait for the write lock instead of failing mid-transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file (not :memory:) so that a real worker process in the tests sees the test data.
    # Named per process so that two test runs on one machine never share a file.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-hub-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # psycopg 3 sends the parameters apart from the query (and prepares statements run often):
    # bulk inserts' arrays (Django's UNNEST) are encoded in C instead of quoted into the SQL text in
    # Python. (A compiler writing bulk inserts as VALUES rows instead cost more CPU per row with this
    # on: docs/benchmarks.md, "The bulk-insert compiler".)
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "server_side_binding", env.bool("DATABASE_SERVER_SIDE_BINDING", default=True))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (shared counters, locks) ------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "config.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    # One process's memory: fine for caching; anything shared between processes
    # (counters, locks) lives in database rows on the embedded default.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Throttle counts must be seen by every web process: Redis when there is one, else files on this machine
# (a process's own memory would give each gunicorn worker its own allowance, and forget it on restart).
CACHES["throttle"] = ({"BACKEND": "config.cache.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "throttle"}
                      if REDIS_URL else
                      {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                       "LOCATION": str(VAR_DIR / "cache" / "throttle")})

# --- Celery -------------------------------------------------------------------------------
_CELERY_FS = VAR_DIR / "celery-fs"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _sub in ("queue", "processed", "control"):
        (_CELERY_FS / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_CELERY_FS / "queue"),
        "data_folder_out": str(_CELERY_FS / "queue"),
        "processed_folder": str(_CELERY_FS / "processed"),
        "control_folder": str(_CELERY_FS / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
else:
    # Redis: a task not acknowledged within this time is handed to another worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
# django-celery-beat's database scheduler, writing beat's heartbeat (config/heartbeats).
CELERY_BEAT_SCHEDULER = "config.heartbeats.celery:HeartbeatScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# How often beat runs the recovery sweeps and the assignment cycle.
SWEEP_SECONDS = env.float("HUB_SWEEP_SECONDS", default=30.0)
if SWEEP_SECONDS < 1:
    # beat's database schedule keeps whole seconds: a shorter interval would be due all the time.
    raise ImproperlyConfigured("HUB_SWEEP_SECONDS must be at least 1.")
# Reports: beat rolls up the last REPORTS_ROLLUP_DAYS complete days this often (reports/models.py).
REPORTS_ROLLUP_SECONDS = env.float("REPORTS_ROLLUP_SECONDS", default=600.0)
REPORTS_ROLLUP_DAYS = env.int("REPORTS_ROLLUP_DAYS", default=3)
# Retention (privacy/services/retention.py): days after which message text, attachments and processed inbound
# events are removed (0: kept for ever); beat removes at most RETENTION_SLICE rows of each kind per run.
MESSAGE_RETENTION_DAYS = env.int("MESSAGE_RETENTION_DAYS", default=0)
ATTACHMENT_RETENTION_DAYS = env.int("ATTACHMENT_RETENTION_DAYS", default=0)
INBOUND_EVENT_RETENTION_DAYS = env.int("INBOUND_EVENT_RETENTION_DAYS", default=0)
RETENTION_SLICE = env.int("RETENTION_SLICE", default=1000)
RETENTION_SECONDS = env.float("RETENTION_SECONDS", default=300.0)
for _name in ("REPORTS_ROLLUP_DAYS", "MESSAGE_RETENTION_DAYS", "ATTACHMENT_RETENTION_DAYS",
              "INBOUND_EVENT_RETENTION_DAYS", "RETENTION_SLICE"):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"{_name} must be 0 or more.")
if RETENTION_SLICE < 1:
    raise ImproperlyConfigured("RETENTION_SLICE must be at least 1.")
if REPORTS_ROLLUP_SECONDS < 1 or RETENTION_SECONDS < 1:
    raise ImproperlyConfigured("REPORTS_ROLLUP_SECONDS and RETENTION_SECONDS must be at least 1.")
CELERY_BEAT_SCHEDULE = {
    "channel-log-trim": {"task": "channels_app.tasks.channel_log_trim", "schedule": 3600.0},
    "inbound-events-requeue": {"task": "channels_app.tasks.inbound_events_requeue", "schedule": SWEEP_SECONDS},
    "messages-requeue-stuck": {"task": "channels_app.tasks.messages_requeue_stuck", "schedule": SWEEP_SECONDS},
    "outbound-recover": {"task": "outbound.tasks.outbound_recover", "schedule": SWEEP_SECONDS},
    "assignment-cycle": {"task": "workstreams.tasks.assignment_cycle_task", "schedule": SWEEP_SECONDS},
    "conversations-auto-close": {"task": "workstreams.tasks.conversations_auto_close_task", "schedule": 300.0},
    "reports-rollup": {"task": "reports.tasks.reports_rollup_task", "schedule": REPORTS_ROLLUP_SECONDS},
    "retention-apply": {"task": "privacy.tasks.retention_apply_task", "schedule": RETENTION_SECONDS},
}
# Queues: "replies" (agents' and automated conversation messages) is never starved by "bulk"
# (proactive campaigns). All three are declared, so a plain ``celery -A config worker`` consumes every
# one of them; ``-Q`` picks some (a worker for ``-Q bulk`` beside one for ``-Q default,replies``).
CELERY_TASK_QUEUES_ALL = ("default", "replies", "bulk")
CELERY_TASK_QUEUES = tuple(Queue(name, Exchange(name), routing_key=name) for name in CELERY_TASK_QUEUES_ALL)

# --- Auth, i18n, static -----------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out sign-in before the password is checked
    "django.contrib.auth.backends.ModelBackend",
]
# Failed sign-ins (admin and console): per client address and per username, counted in the database.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "config.throttling.client_ip"
AXES_USERNAME_CALLABLE = "config.throttling.login_username"
AXES_LOCKOUT_CALLABLE = "config.throttling.login_locked_out"
AXES_DISABLE_ACCESS_LOG = True  # failures are kept (Axes → Access attempts); successful sign-ins are not
AXES_SENSITIVE_PARAMETERS = ["password"]
# Failed API tokens per client address ("N/s", "N/min", "N/hour"; empty: no limit), counted in the
# "throttle" cache.
API_TOKEN_FAILURE_RATE = env.str("API_TOKEN_FAILURE_RATE", default="20/min")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The languages of the admin and the agent console (docs/i18n/README.md). Customers' messages are
# not in these: they are chosen by the conversation's language.
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("zh-hans", _("Simplified Chinese")),
    ("zh-hant", _("Traditional Chinese")),
    ("ja", _("Japanese")),
    ("pt-br", _("Brazilian Portuguese")),
    ("sv", _("Swedish")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Per-language date formats of our own (config/formats/<locale>/formats.py), before Django's.
FORMAT_MODULE_PATH = ["config.formats"]
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.throttling.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.BoundedJSONParser",  # a body nested deeper than 64 levels: 400
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.exceptions.api_exception_handler",
}
# The most items one API page holds (``?limit=`` above it reads as it).
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=500)
SPECTACULAR_SETTINGS = {
    "TITLE": "Messaging hub API",
    "DESCRIPTION": "SMS and WhatsApp channels for customer service: accounts, numbers, conversations "
    "and outbound messaging.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's files come from the drf-spectacular-sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Outside debug mode the schema and its docs are for signed-in users (a session or an API token) only.
    "SERVE_PERMISSIONS": ["config.api.SchemaPermission"],
    # Two choice sets share the field name "outcome": name each (check --deploy warns otherwise).
    "ENUM_NAME_OVERRIDES": {
        "ConversationOutcomeEnum": "workstreams.models.ConversationOutcome",
        "ContactOutcomeEnum": ["accepted", "rejected", "skipped"],
    },
}

# --- Secrets at rest ----------------------------------------------------------------------
# A comma-separated list of Fernet keys; the first encrypts, all decrypt (rotation:
# put a new key first, run ``manage.py rotate_encryption_keys``, then drop the old one).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
#: Development only: a key derived from the (public) development SECRET_KEY, so that `make run` needs no setup.
_DEV_ENCRYPTION_KEY = base64.urlsafe_b64encode(hashlib.sha256(_DEV_SECRET_KEY.encode()).digest()).decode()
if not FIELD_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must be set when DEBUG is off. Generate a key with: python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'")
    FIELD_ENCRYPTION_KEYS = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]
elif not DEBUG and _DEV_ENCRYPTION_KEY in FIELD_ENCRYPTION_KEYS[:1]:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS starts with the development key, which is public: put a key "
                               "of your own first (README: rotating encryption keys).")

# --- Providers ----------------------------------------------------------------------------
TELESIGN_API_URL = env.str("TELESIGN_API_URL", default="https://rest-ww.telesign.com").rstrip("/")
TWILIO_API_URL = env.str("TWILIO_API_URL", default="https://api.twilio.com").rstrip("/")
PROVIDER_CONNECT_TIMEOUT = env.float("PROVIDER_CONNECT_TIMEOUT", default=5.0)
PROVIDER_READ_TIMEOUT = env.float("PROVIDER_READ_TIMEOUT", default=15.0)
# Provider calls ignore HTTP(S)_PROXY variables; set this to send them through a proxy.
PROVIDER_HTTPS_PROXY = env.str("PROVIDER_HTTPS_PROXY", default="")
# Certificates trusted for provider HTTPS (a CA bundle file), e.g. the provider emulator's own; empty: the
# system's trust store as requests (certifi) knows it.
PROVIDER_CA_BUNDLE = env.str("PROVIDER_CA_BUNDLE", default="")
# Provider modules, by name; adding a provider is adding a module here.
HUB_PROVIDERS = {
    "telesign": "channels_app.providers.telesign.TeleSignProvider",
    "twilio": "channels_app.providers.twilio.TwilioProvider",
    "acs": "channels_app.providers.acs.AzureCommunicationServicesProvider",
    "sandbox": "channels_app.providers.sandbox.SandboxProvider",
}
# Azure Communication Services: hosts (or ".suffix" domains) an account's resource endpoint may name.
ACS_ENDPOINT_HOSTS = env.list("ACS_ENDPOINT_HOSTS", default=[".communication.azure.com"])
# Sending: bounded retries with exponential backoff and jitter for retryable provider errors.
MESSAGE_MAX_ATTEMPTS = env.int("MESSAGE_MAX_ATTEMPTS", default=5)
MESSAGE_RETRY_BASE_SECONDS = env.float("MESSAGE_RETRY_BASE_SECONDS", default=10.0)
MESSAGE_RETRY_MAX_SECONDS = env.float("MESSAGE_RETRY_MAX_SECONDS", default=900.0)
MESSAGE_REQUEUE_AFTER_SECONDS = env.int("MESSAGE_REQUEUE_AFTER_SECONDS", default=60)
MESSAGE_REQUEUE_LIMIT = env.int("MESSAGE_REQUEUE_LIMIT", default=5000)
MESSAGE_SENDING_STALE_SECONDS = env.int("MESSAGE_SENDING_STALE_SECONDS", default=300)
# Webhooks: events stored but not processed after this long are queued again.
INBOUND_EVENT_REQUEUE_AFTER_SECONDS = env.int("INBOUND_EVENT_REQUEUE_AFTER_SECONDS", default=60)
INBOUND_EVENT_MAX_ATTEMPTS = env.int("INBOUND_EVENT_MAX_ATTEMPTS", default=10)
INBOUND_EVENT_REQUEUE_LIMIT = env.int("INBOUND_EVENT_REQUEUE_LIMIT", default=5000)
# A worker processes up to this many pending inbound events of one account in one batch.
INBOUND_PROCESS_BATCH = env.int("INBOUND_PROCESS_BATCH", default=100)
# Status callbacks applied together (one query to find their messages, one UPDATE to move them).
INBOUND_STATUS_BATCH = env.int("INBOUND_STATUS_BATCH", default=500)
# With Redis, stored events wake at most this many drain tasks per account (0: one task per event).
INBOUND_DRAIN_SLOTS = env.int("INBOUND_DRAIN_SLOTS", default=2)
INBOUND_DRAIN_LEASE_SECONDS = env.int("INBOUND_DRAIN_LEASE_SECONDS", default=60)
# A drain works this long, then queues its continuation and hands the worker back (to bulk sends,
# replies and other accounts' drains waiting in the queues).
INBOUND_DRAIN_MAX_SECONDS = env.float("INBOUND_DRAIN_MAX_SECONDS", default=2.0)
# A drain whose batch was not full (or that finds nothing waiting) waits this long before it looks again, once
# per batch: a steady trickle of events is processed in batches by one running drain (0: never waits).
INBOUND_DRAIN_GATHER_SECONDS = env.float("INBOUND_DRAIN_GATHER_SECONDS", default=0.05)
# A web process that saw an account's drain running skips the wake-up for this long (0: never);
# drains look once more 2 × this after they stop, so no event waits for the sweep.
INBOUND_WAKE_MEMO_SECONDS = env.float("INBOUND_WAKE_MEMO_SECONDS", default=0.1)
# Webhooks stored at the same moment by threads of one web process share one INSERT and its commit,
# at most this many webhooks per statement (1: each alone). Each is answered once its row is committed.
WEBHOOK_GROUP_COMMIT_MAX = env.int("WEBHOOK_GROUP_COMMIT_MAX", default=32)
#: How long a webhook waits for the write it was grouped into before it is answered 500 (under gunicorn's timeout,
#: which does not stop a thread of a gthread worker).
WEBHOOK_GROUP_COMMIT_WAIT_SECONDS = env.float("WEBHOOK_GROUP_COMMIT_WAIT_SECONDS", default=20.0)
# Attachments: size limit, and the only hosts media is fetched from.
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=5 * 1024 * 1024)
TWILIO_MEDIA_HOSTS = env.list("TWILIO_MEDIA_HOSTS", default=["api.twilio.com", ".twiliocdn.com"])
SANDBOX_MEDIA_HOSTS = env.list("SANDBOX_MEDIA_HOSTS", default=[])
# Conversations: defaults for numbers in no workstream, and the auto-close sweep.
DEFAULT_CONVERSATION_CAPACITY = env.int("DEFAULT_CONVERSATION_CAPACITY", default=25)
DEFAULT_WRAP_UP_TIME = timedelta(seconds=env.int("DEFAULT_WRAP_UP_SECONDS", default=300))
DEFAULT_KEEP_SAME_AGENT = env.bool("DEFAULT_KEEP_SAME_AGENT", default=True)
# Offers (workstreams with "offer work to agents"): after this many declines an agent is not offered the same
# conversation again; an agent who lets this many offers in a row time out is set Away (no pushed work).
OFFER_MAX_DECLINES = env.int("OFFER_MAX_DECLINES", default=3)
OFFER_MISSED_LIMIT = env.int("OFFER_MISSED_LIMIT", default=3)
# The supervisor view's service level: the share of conversations an agent took within this many seconds
# of entering their queue (over the last 24 hours).
SERVICE_LEVEL_SECONDS = env.int("SERVICE_LEVEL_SECONDS", default=60)
AUTO_CLOSE_OPEN_AFTER = timedelta(days=env.float("AUTO_CLOSE_OPEN_DAYS", default=30))
AUTO_CLOSE_ACTIVE_AFTER = timedelta(days=env.float("AUTO_CLOSE_ACTIVE_DAYS", default=30))
AUTO_CLOSE_WRAP_UP_AFTER = timedelta(days=env.float("AUTO_CLOSE_WRAP_UP_DAYS", default=1))
AUTO_CLOSE_WAITING_AFTER = timedelta(days=env.float("AUTO_CLOSE_WAITING_DAYS", default=7))
# HTTP bots: hosts (or ".suffix" domains) called even though they resolve to internal addresses.
BOT_ALLOWED_HOSTS = env.list("BOT_ALLOWED_HOSTS", default=[])
# Outbound fetches on someone else's say-so (bots, customer media): addresses in these networks may be
# reached although they are private, loopback or otherwise internal (config/egress.py). Empty in production;
# development against the provider emulator on this machine sets 127.0.0.0/8.
EGRESS_ALLOWED_NETWORKS = env.list("EGRESS_ALLOWED_NETWORKS", default=[])
for _network in EGRESS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network.strip(), strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"EGRESS_ALLOWED_NETWORKS: {_network!r} is not a network (e.g. 10.0.0.0/8).") from None
# Seams to the higher apps (dotted paths).
# Inbound handlers are channels_app.policy.InboundHandler instances; each gets every stored inbound message.
HUB_INBOUND_HANDLERS = env.list("HUB_INBOUND_HANDLERS", default=["workstreams.inbound.conversation_inbound",
                                                                  "outbound.inbound.reply_inbound"])
HUB_NUMBER_POLICY = env.str("HUB_NUMBER_POLICY", default="workstreams.inbound.number_policy")
# What the higher apps add to a message's trace (channels_app/trace.py).
HUB_MESSAGE_TRACE_SOURCES = env.list("HUB_MESSAGE_TRACE_SOURCES", default=[
    "workstreams.trace.message_trace_entries", "outbound.trace.message_trace_entries"])
CHANNEL_LOG_RETENTION_DAYS = env.int("CHANNEL_LOG_RETENTION_DAYS", default=14)
CHANNEL_LOG_MAX_BODY = env.int("CHANNEL_LOG_MAX_BODY", default=10_000)

# --- Logging ------------------------------------------------------------------------------
# Plain text by default; LOG_FORMAT=json writes one JSON object per line. Every line carries the ids of
# what it concerns and is redacted (config/logs.py).
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT)

# --- Metrics and health ---------------------------------------------------------------------
# Prometheus (config/metrics.py): every process of a host writes its counters into METRICS_DIR
# (prometheus-client's multiprocess mode); /metrics sums them and adds the state gauges read from the
# database and broker at scrape time. Readable with the bearer token, or from the allowed networks.
METRICS_DIR = Path(env.str("METRICS_DIR", default=str(VAR_DIR / "metrics")))
METRICS_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)  # read by prometheus-client when it is imported
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
try:
    import ipaddress as _ipaddress

    for _network in METRICS_ALLOWED_NETWORKS:
        _ipaddress.ip_network(_network, strict=False)
except ValueError as _exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {_exc} (give networks like 10.0.0.0/8).") from None
# A worker's own metrics endpoint (0: none), for workers on hosts without a web server.
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
HUB_METRICS_COLLECTORS = env.list("HUB_METRICS_COLLECTORS", default=[
    "channels_app.metrics.collect", "workstreams.metrics.collect", "outbound.metrics.collect",
    "config.metrics.broker_collect", "config.heartbeats.services.collect"])
# Workers and beat write a heartbeat this often; /readyz calls one older than HEARTBEAT_STALE_SECONDS stale.
HEARTBEAT_SECONDS = env.float("HEARTBEAT_SECONDS", default=10.0)
HEARTBEAT_STALE_SECONDS = env.float("HEARTBEAT_STALE_SECONDS", default=60.0)

# --- Outbound -----------------------------------------------------------------------------
# Proactive messages (docs/outbound.md). Limits of the reference product: 100 contacts per
# request and 30,000 requests per hour, counted across all processes (Redis when REDIS_URL is
# set, else database rows).
OUTBOUND_MAX_CONTACTS_PER_REQUEST = env.int("OUTBOUND_MAX_CONTACTS_PER_REQUEST", default=100)
OUTBOUND_MAX_REQUESTS_PER_HOUR = env.int("OUTBOUND_MAX_REQUESTS_PER_HOUR", default=30_000)
OUTBOUND_RATE_BACKEND = env.str("OUTBOUND_RATE_BACKEND", default="redis" if REDIS_URL else "database")
if OUTBOUND_RATE_BACKEND not in ("redis", "database"):
    raise ImproperlyConfigured("OUTBOUND_RATE_BACKEND must be 'redis' or 'database'.")
if OUTBOUND_RATE_BACKEND == "redis" and not REDIS_URL:
    raise ImproperlyConfigured("OUTBOUND_RATE_BACKEND=redis needs REDIS_URL.")
OUTBOUND_RATE_KEY_PREFIX = env.str("OUTBOUND_RATE_KEY_PREFIX", default="outbound:")
# Sending: messages per second per sending number across all workers (0: no limit of our own;
# a provider's 429 still backs off), provider calls in parallel per worker process, and
# messages claimed per round trip to the database.
OUTBOUND_SEND_RATE_PER_NUMBER = env.int("OUTBOUND_SEND_RATE_PER_NUMBER", default=0)
OUTBOUND_SEND_CONCURRENCY = env.int("OUTBOUND_SEND_CONCURRENCY", default=8)
OUTBOUND_SEND_CHUNK = env.int("OUTBOUND_SEND_CHUNK", default=100)
# A request's run sends chunk after chunk for at most this long, then queues the rest and hands the
# worker back (one chunk at least per run).
OUTBOUND_SEND_SLICE_SECONDS = env.float("OUTBOUND_SEND_SLICE_SECONDS", default=5.0)
OUTBOUND_THROTTLE_BACKOFF_SECONDS = env.float("OUTBOUND_THROTTLE_BACKOFF_SECONDS", default=5.0)
# Recovery: a run holds its request this long (extended per chunk); requests whose task was lost
# are queued again after this long by the recovery sweep (OUTBOUND_RECOVER_BATCH at a time).
OUTBOUND_REQUEST_LEASE_SECONDS = env.int("OUTBOUND_REQUEST_LEASE_SECONDS", default=300)
OUTBOUND_REQUEUE_AFTER_SECONDS = env.int("OUTBOUND_REQUEUE_AFTER_SECONDS", default=300)
OUTBOUND_RECOVER_BATCH = env.int("OUTBOUND_RECOVER_BATCH", default=1000)
# Larger lists: requests a worker submits per task run before yielding to other work.
OUTBOUND_BATCH_REQUESTS_PER_RUN = env.int("OUTBOUND_BATCH_REQUESTS_PER_RUN", default=50)
# A customer's reply is linked to the latest outbound message sent to them within this many days.
OUTBOUND_REPLY_WINDOW_DAYS = env.int("OUTBOUND_REPLY_WINDOW_DAYS", default=7)
