"""Django settings, all taken from the environment through closeloop.config."""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import dj_email_url
from django.core.exceptions import ImproperlyConfigured

from closeloop import config as closeloop_config

CONFIG = closeloop_config.load()
if CONFIG.problems:
    raise ImproperlyConfigured("\n".join(CONFIG.problems))

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = CONFIG.var_dir
SECRET_KEY = CONFIG.secret_key
DEBUG = CONFIG.debug
CLOSELOOP_BASE_URL = CONFIG.base_url
CLOSELOOP_ENCRYPTION_KEYS = CONFIG.encryption_keys

_base = urlsplit(CLOSELOOP_BASE_URL)
ALLOWED_HOSTS = sorted({_base.hostname, "127.0.0.1", "localhost", "[::1]", "testserver"})
CSRF_TRUSTED_ORIGINS = [f"{_base.scheme}://{_base.netloc}"]
if _base.scheme == "https":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "closeloop.web",
    "closeloop.accounts",
    "closeloop.jobs",
    "closeloop.directory",
    "closeloop.surveys",
    "closeloop.workflows",
    "closeloop.distributions",
    "closeloop.outbox",
    "closeloop.api",
    "closeloop.integrations.twilio",
    "closeloop.integrations.salesforce",
    "closeloop.integrations.segment",
    "closeloop.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "closeloop.api.middleware.ApiTrailingSlashMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "closeloop.accounts.middleware.OrganizationMiddleware",
    "closeloop.web.middleware.PermissionPagesMiddleware",
]

ROOT_URLCONF = "closeloop.urls"
WSGI_APPLICATION = "closeloop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "closeloop.web.context_processors.shell",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]


# Test databases are per test run so that several runs on one machine never collide.
_TEST_RUN = os.environ.get("CLOSELOOP_TEST_RUN") or str(os.getpid())


def _database(url: str) -> dict:
    database = dj_database_url.parse(url, conn_max_age=0)
    if database["ENGINE"] == "django.db.backends.sqlite3":
        Path(database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        # WAL lets readers and one writer work at once; IMMEDIATE takes the write lock at
        # BEGIN so that job claims never deadlock on a lock upgrade.
        database["OPTIONS"] = {
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
        # A file, not :memory:, so that worker subprocesses in tests can share it.
        database["TEST"] = {"NAME": str(VAR_DIR / f"test-closeloop-{_TEST_RUN}.sqlite3")}
    else:
        database["CONN_MAX_AGE"] = 60
        # No SELECT 1 before each request: it cost a third of the respondent pages' throughput
        # (bench/respondent.py). A connection that died (database restarted) fails one request,
        # and Django then replaces it (errors_occurred → close_if_unusable_or_obsolete).
        database["CONN_HEALTH_CHECKS"] = False
        # Searches read the embedded data index's pending list linearly: keep it short for
        # every session (256 kB, ~32 pages); an import chunk asks for more (directory.imports).
        options = database.setdefault("OPTIONS", {})
        options["options"] = f"-c gin_pending_list_limit=256kB {options.get('options', '')}".strip()
        database["TEST"] = {"NAME": f"test_{database['NAME']}_{_TEST_RUN}"}
    return database


DATABASES = {"default": _database(CONFIG.database_url)}
DATABASE_IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "accounts:login"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the app folders so `closeloop up` needs no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = VAR_DIR / "media"

# Email: EMAIL_URL (smtp://user:pass@host:587/?tls=True) or the built-in outbox.
if CONFIG.email_url:
    _email = dj_email_url.parse(CONFIG.email_url)
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email["EMAIL_HOST"]
    EMAIL_PORT = _email["EMAIL_PORT"]
    EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
    EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
    EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
    EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
    EMAIL_TIMEOUT = _email["EMAIL_TIMEOUT"] or 30
else:
    EMAIL_BACKEND = "closeloop.outbox.backends.OutboxEmailBackend"
CLOSELOOP_OUTBOX_ACTIVE = not CONFIG.email_url
DEFAULT_FROM_EMAIL = "Closeloop <noreply@{}>".format(_base.hostname or "localhost")
CLOSELOOP_SMS_BACKEND = "closeloop.outbox.backends.OutboxSmsBackend"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

NINJA_PAGINATION_PER_PAGE = 100

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# The job ledger (closeloop.jobs): see docs/jobs.md.
CLOSELOOP_JOB_LEASE_SECONDS = 60
CLOSELOOP_JOB_RETRY_HORIZON_SECONDS = 24 * 60 * 60
CLOSELOOP_JOB_RETENTION_DAYS = 14
# Dotted module paths, comma-separated, that closeloop.jobs.registry.autodiscover() imports
# after every app's jobs.py (workers, scheduler): a deployment's own job handlers or workflow
# tasks; the tests list theirs for the worker processes they start.
CLOSELOOP_EXTRA_MODULES = [
    name.strip()
    for name in os.environ.get("CLOSELOOP_EXTRA_MODULES", "").split(",")
    if name.strip()
]
# Salesforce: the connected app (or external client app) whose consumer key and secret link
# accounts (docs/salesforce.md), and the login hosts of production and sandbox orgs.
CLOSELOOP_SALESFORCE_CLIENT_ID = os.environ.get("CLOSELOOP_SALESFORCE_CLIENT_ID", "")
CLOSELOOP_SALESFORCE_CLIENT_SECRET = os.environ.get("CLOSELOOP_SALESFORCE_CLIENT_SECRET", "")
CLOSELOOP_SALESFORCE_PRODUCTION_URL = os.environ.get(
    "CLOSELOOP_SALESFORCE_PRODUCTION_URL", "https://login.salesforce.com"
)
CLOSELOOP_SALESFORCE_SANDBOX_URL = os.environ.get(
    "CLOSELOOP_SALESFORCE_SANDBOX_URL", "https://test.salesforce.com"
)
# Retention ceilings: each organization may keep its data for less (closeloop.accounts.retention).
CLOSELOOP_WORKFLOW_RUN_RETENTION_DAYS = int(
    os.environ.get("CLOSELOOP_WORKFLOW_RUN_RETENTION_DAYS", "90")
)
# Deliveries (distribution history) of finished distributions; 0: no server limit.
CLOSELOOP_DELIVERY_RETENTION_DAYS = int(os.environ.get("CLOSELOOP_DELIVERY_RETENTION_DAYS", "0"))
CLOSELOOP_AUDIT_RETENTION_DAYS = int(os.environ.get("CLOSELOOP_AUDIT_RETENTION_DAYS", "365"))
CLOSELOOP_SURVEY_RATE_LIMIT = int(os.environ.get("CLOSELOOP_SURVEY_RATE_LIMIT", "600"))
# Wrong passwords allowed per 15 minutes before sign-in is refused for a while.
CLOSELOOP_SIGN_IN_FAILURES_PER_ACCOUNT = int(
    os.environ.get("CLOSELOOP_SIGN_IN_FAILURES_PER_ACCOUNT", "10")
)
CLOSELOOP_SIGN_IN_FAILURES_PER_CLIENT = int(
    os.environ.get("CLOSELOOP_SIGN_IN_FAILURES_PER_CLIENT", "50")
)
# Messages per second per send job (0: as fast as the mail server accepts).
CLOSELOOP_DISTRIBUTION_RATE_LIMIT = float(os.environ.get("CLOSELOOP_DISTRIBUTION_RATE_LIMIT", "0"))
# Provider delivery webhooks (django-anymail): "user:password" the provider sends as Basic auth.
ANYMAIL = (
    {"WEBHOOK_SECRET": os.environ["ANYMAIL_WEBHOOK_SECRET"]}
    if os.environ.get("ANYMAIL_WEBHOOK_SECRET")
    else {}
)
