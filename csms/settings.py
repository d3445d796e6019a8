"""Settings of the CSMS, read from the environment with safe defaults.

Without any environment the CSMS runs on its embedded default: a SQLite file
under var/, the in-memory channel layer and Celery tasks run eagerly.
"""

import ipaddress
import os
import secrets
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.getenv("CSMS_VAR_DIR", BASE_DIR / "var"))


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def envbool(name: str, default: str) -> bool:
    """A switch; anything but the usual words stops the start, so a typo is never read as "off"."""
    value = os.getenv(name, default).strip().lower()
    if value not in TRUE_WORDS + FALSE_WORDS:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a switch: use one of {', '.join(TRUE_WORDS[:2])} "
            f"or {', '.join(FALSE_WORDS[:2])}"
        )
    return value in TRUE_WORDS


def envint(name: str, default: str, minimum: int | None = None, maximum: int | None = None) -> int:
    return _env_number(name, default, int, minimum, maximum)


def envfloat(name: str, default: str, minimum: float | None = None) -> float:
    return _env_number(name, default, float, minimum, None)


def _env_number(name: str, default: str, kind, minimum, maximum):
    raw = os.getenv(name, default).strip()
    try:
        value = kind(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a{'n integer' if kind is int else ' number'}"
        ) from None
    if value != value or (minimum is not None and value < minimum):  # NaN, or below what makes sense
        raise ImproperlyConfigured(f"{name}={raw!r} must be a number of at least {minimum}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be a number of at most {maximum}")
    return value


def envchoice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.getenv(name, default).strip()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


def envnetworks(name: str, default: str) -> list:
    """IP addresses or networks, comma-separated ("127.0.0.1,::1", "10.0.0.0/8")."""
    try:
        return [ipaddress.ip_network(item, strict=False) for item in envlist(name, default)]
    except ValueError as problem:
        raise ImproperlyConfigured(f"{name}: {problem}") from None


def envurl(name: str, default: str) -> str:
    """An absolute http(s) address without query, fragment or credentials; kept without its trailing "/"."""
    raw = os.getenv(name, default).strip()
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or any(mark in raw for mark in "?# ")
    ):
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not an http(s) address without query or fragment, e.g. https://charge.example.org"
        )
    return raw.rstrip("/")


def envamounts(name: str, default: str) -> list[Decimal]:
    """Positive amounts of money, comma-separated ("10,20,40"); kept as Decimal, never float."""
    raw = envlist(name, default)
    try:
        amounts = [Decimal(item) for item in raw]
    except InvalidOperation:
        raise ImproperlyConfigured(
            f"{name}={','.join(raw)!r} is not a list of amounts such as 10,20,40"
        ) from None
    if not amounts or any(not amount.is_finite() or amount <= 0 for amount in amounts):
        raise ImproperlyConfigured(f"{name}={','.join(raw)!r}: amounts must be positive")
    return amounts


def envfile(name: str) -> Path | None:
    """A file the CSMS reads (a certificate, a key); unset or empty: none. A path that is not a file this
    process can read stops the start, so a typo or a missing permission is found at once, not at first use."""
    raw = os.getenv(name, "").strip()
    if not raw:
        return None
    path = Path(raw)
    if not (path.is_file() and os.access(path, os.R_OK)):
        raise ImproperlyConfigured(f"{name}={raw!r} is not a file this user can read")
    return path


def _secret_key() -> str:
    """The key from SECRET_KEY; otherwise one generated once per install.

    The fixed development key is only ever used with DEBUG on, so a
    production server can never run with a key that is public.
    """
    if os.getenv("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    if DEBUG:
        return "development-only-key-never-used-with-debug-off"
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        _write_key_once(key_file)
    return key_file.read_text().strip()


def _write_key_once(key_file: Path) -> None:
    """Create the key file atomically, readable by this user only.

    Several processes start together on a fresh install (the server, a
    manage.py command, Celery): each must end up with the same key, so the
    key is written to a private temporary file and linked into place; a
    process that loses the race uses the winner's key. Nobody ever reads a
    half-written or world-readable key.
    """
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    descriptor, draft = tempfile.mkstemp(dir=VAR_DIR, prefix=".secret_key.")  # mode 0600
    try:
        with os.fdopen(descriptor, "w") as draft_file:
            draft_file.write(secrets.token_urlsafe(50))
        os.link(draft, key_file)
    except FileExistsError:
        pass  # another process linked its key first: that one counts
    finally:
        os.unlink(draft)


DEBUG = envbool("DEBUG", "False")
SECRET_KEY = _secret_key()
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
# Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or networks); none by default.
TRUSTED_PROXIES = envnetworks("TRUSTED_PROXIES", "")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")
SITE_NAME = os.getenv("SITE_NAME", "EV charging site")
# The address drivers' phones reach this server at: the QR codes on the connectors hold it.
PUBLIC_BASE_URL = envurl("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
CSMS_CURRENCY = os.getenv("CSMS_CURRENCY", "EUR")  # ISO 4217 code of the site's money
if not (len(CSMS_CURRENCY) == 3 and CSMS_CURRENCY.isascii() and CSMS_CURRENCY.isupper()):
    raise ImproperlyConfigured(f"CSMS_CURRENCY={CSMS_CURRENCY!r} is not an ISO 4217 code such as EUR")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    # Swagger UI's files, served by this server (/api/v1/docs/): never fetched from a CDN.
    "drf_spectacular_sidecar",
    "accounts",
    "stations",
    "rfid",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csms.security.content_security_policy",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before common: the language comes from the switch's cookie, else Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "csms.urls"
ASGI_APPLICATION = "csms.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csms.context_processors.site",
            ],
        },
    },
]


def _database() -> dict:
    url = os.getenv("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'csms.sqlite3'}"
    # Channels closes connections older than CONN_MAX_AGE around every ORM call:
    # with 0, each OCPP frame would open a new PostgreSQL connection.
    config = dj_database_url.parse(
        url, conn_max_age=envint("DB_CONN_MAX_AGE", "600", minimum=0), conn_health_checks=True
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        # WAL and IMMEDIATE transactions let the server and manage.py commands
        # write to one file at once instead of failing with "database is locked".
        config["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        config["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    elif config["ENGINE"] not in ("django.db.backends.postgresql",):
        raise ImproperlyConfigured(f"Unsupported DATABASE_URL engine {config['ENGINE']}")
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "stations.hashers.ChargerPasswordHasher",
    "stations.hashers.ChargerKeyHasher",
]

# Staff and drivers sign in through a backend that slows down password guessing (accounts.backends).
AUTHENTICATION_BACKENDS = ["accounts.backends.ThrottledModelBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
# The languages whose catalogues are complete (locale/<code>/LC_MESSAGES/django.po, compiled .mo committed).
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The language switch remembers the choice for a year (Django's default cookie ends with the browser).
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
# The database keeps UTC; pages show the site's own time zone.
TIME_ZONE = os.getenv("SITE_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.getenv("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
# The embedded server serves static files itself; behind nginx turn this off.
SERVE_STATIC = envbool("SERVE_STATIC", "True")

LOGIN_URL = "login"  # one sign-in for all staff (/login/)
LOGIN_REDIRECT_URL = "home"

REDIS_URL = os.getenv("REDIS_URL", "")
REDIS_POOL_SIZE = envint("REDIS_POOL_SIZE", "200", minimum=1)  # Redis connections per server process, at most
REDIS_POOL_TIMEOUT = envint("REDIS_POOL_TIMEOUT", "30", minimum=1)  # seconds to wait for a free one
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "csms.channel_layer.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000, "expiry": 30},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "UTC"
# CELERY_BEAT_SCHEDULE, the site's periodic jobs, follows the settings its intervals come from (below).

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # The OpenAPI 3 schema at /api/v1/schema/ (csms.api says how views describe themselves).
    "DEFAULT_SCHEMA_CLASS": "csms.api.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CSMS REST API",
    "DESCRIPTION": (
        "Chargers, sessions, reports, cards and payments of this charging site. Sign in with "
        "`Authorization: Token <key>` (POST /api/v1/auth/token/) or a browser session. Every 4xx "
        'is DRF\'s: `{"detail": "…"}`, or for a 400 `{"<field>": ["…"]}` naming the field.'
    ),
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request and response shapes apart: read-only fields are never asked for in a request.
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: Swagger UI would send the schema to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Choice sets that share a field name with another's get a name of their own in the schema.
    "ENUM_NAME_OVERRIDES": {
        "CardStatusEnum": "rfid.services.CardState",
        "ChargerStateEnum": "stations.models.ChargerQuerySet.STATES",
        "TransactionStateEnum": "stations.models.Transaction.State",
    },
}

# OCPP
OCPP_HEARTBEAT_INTERVAL = envint("OCPP_HEARTBEAT_INTERVAL", "300", minimum=1)  # seconds
# Below the server's own limit (csms.server.MAX_MESSAGE_BYTES, 16 MiB), so a larger frame gets a CALLERROR.
OCPP_MAX_FRAME_BYTES = envint("OCPP_MAX_FRAME_BYTES", "65536", minimum=1024, maximum=8 * 1024 * 1024)
OCPP_MESSAGE_LOG_RETENTION_DAYS = envint("OCPP_MESSAGE_LOG_RETENTION_DAYS", "90", minimum=1)
# Meter values and the message log are written in batches this often (ms),
# off the reply path; Start/StopTransaction are always committed before the reply.
OCPP_WRITE_BEHIND_MS = envint("OCPP_WRITE_BEHIND_MS", "200", minimum=1)
# A charger's "last seen" is written at most this often (seconds).
OCPP_LAST_SEEN_RESOLUTION = envint("OCPP_LAST_SEEN_RESOLUTION", "30", minimum=0)
# Threads (each with its own database connection) doing the ORM work of OCPP traffic, per process.
OCPP_ORM_THREADS = envint("OCPP_ORM_THREADS", "8", minimum=1)
# Threads of their own for what a charger waits on (handshakes, boots, authorizations, session starts and
# stops), so it never queues behind the write-behind's batches; 0: they share OCPP_ORM_THREADS.
OCPP_SESSION_ORM_THREADS = envint("OCPP_SESSION_ORM_THREADS", "4", minimum=0)
# Commands to chargers (stations.commands): how long the process holding the socket
# has to acknowledge (none: nobody holds it, "offline"), and how long the charger has to answer.
OCPP_COMMAND_ACK_SECONDS = envfloat("OCPP_COMMAND_ACK_SECONDS", "2", minimum=0.1)
OCPP_COMMAND_TIMEOUT_SECONDS = envfloat("OCPP_COMMAND_TIMEOUT_SECONDS", "30", minimum=0.1)

# The CA that signs chargers' certificate signing requests (OCPP 1.6 security whitepaper: SignCertificate →
# CertificateSigned; stations.certificates): its certificate and private key, PEM files. Neither: every
# request is answered Rejected. A certificate it signs names the charge point id as its CN (what security
# profile 3 checks) and is valid this many days; a request naming another organisation (O) than
# CHARGER_CERTIFICATE_ORGANIZATION, when set, is refused.
CHARGER_CA_CERTIFICATE = envfile("CHARGER_CA_CERTIFICATE")
CHARGER_CA_KEY = envfile("CHARGER_CA_KEY")
if bool(CHARGER_CA_CERTIFICATE) != bool(CHARGER_CA_KEY):
    raise ImproperlyConfigured("CHARGER_CA_CERTIFICATE and CHARGER_CA_KEY are set together or not at all")
CHARGER_CERTIFICATE_DAYS = envint("CHARGER_CERTIFICATE_DAYS", "730", minimum=1, maximum=3650)
CHARGER_CERTIFICATE_ORGANIZATION = os.getenv("CHARGER_CERTIFICATE_ORGANIZATION", "").strip()

# The QR-code payment flow (billing.payments): amounts in the site's currency a driver may pay.
PAYMENT_AMOUNT_PRESETS = envamounts("PAYMENT_AMOUNT_PRESETS", "10,20,40")
PAYMENT_MIN_AMOUNT = envamounts("PAYMENT_MIN_AMOUNT", "5")[0]
PAYMENT_MAX_AMOUNT = envamounts("PAYMENT_MAX_AMOUNT", "100")[0]
if PAYMENT_MIN_AMOUNT > PAYMENT_MAX_AMOUNT:
    raise ImproperlyConfigured("PAYMENT_MIN_AMOUNT is above PAYMENT_MAX_AMOUNT")
# A driver's wallet topped up online by card (billing.topups): the amounts offered, and the limits.
WALLET_TOPUP_PRESETS = envamounts("WALLET_TOPUP_PRESETS", "10,20,50")
WALLET_TOPUP_MIN_AMOUNT = envamounts("WALLET_TOPUP_MIN_AMOUNT", "5")[0]
WALLET_TOPUP_MAX_AMOUNT = envamounts("WALLET_TOPUP_MAX_AMOUNT", "200")[0]
if WALLET_TOPUP_MIN_AMOUNT > WALLET_TOPUP_MAX_AMOUNT:
    raise ImproperlyConfigured("WALLET_TOPUP_MIN_AMOUNT is above WALLET_TOPUP_MAX_AMOUNT")
# Money held but no StartTransaction within this many seconds: given back in full.
PAYMENT_START_TIMEOUT_SECONDS = envint("PAYMENT_START_TIMEOUT_SECONDS", "120", minimum=10)
# A card checkout left open this long frees its connector (the gateway's page is expired too).
PAYMENT_CHECKOUT_TIMEOUT_SECONDS = envint("PAYMENT_CHECKOUT_TIMEOUT_SECONDS", "900", minimum=60)
# How often each server process sweeps payments left in a state that should have moved on
# (and, without Redis, runs the sweep itself; with Redis, Celery beat runs it too). 0: never.
PAYMENT_SWEEP_SECONDS = envint("PAYMENT_SWEEP_SECONDS", "15", minimum=0)
# The card gateway: Stripe when its secret key is set; with none, drivers pay from their wallet only.
STRIPE_SECRET_KEY = os.getenv("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = os.getenv("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = envurl("STRIPE_API_BASE", "https://api.stripe.com")  # another only for tests or a proxy
if STRIPE_SECRET_KEY and not STRIPE_WEBHOOK_SECRET:
    raise ImproperlyConfigured(
        "STRIPE_SECRET_KEY is set without STRIPE_WEBHOOK_SECRET: payments could never be confirmed"
    )

# Background jobs (csms.scheduler). Each server process says it is alive every OCPP_PROCESS_BEAT_SECONDS;
# one silent for OCPP_PROCESS_GONE_SECONDS is taken for dead and its chargers shown disconnected.
OCPP_PROCESS_BEAT_SECONDS = envint("OCPP_PROCESS_BEAT_SECONDS", "15", minimum=1)
OCPP_PROCESS_GONE_SECONDS = envint("OCPP_PROCESS_GONE_SECONDS", "45", minimum=3)
if OCPP_PROCESS_GONE_SECONDS < 2 * OCPP_PROCESS_BEAT_SECONDS:
    raise ImproperlyConfigured(
        "OCPP_PROCESS_GONE_SECONDS must be at least twice OCPP_PROCESS_BEAT_SECONDS: one late beat is not a death"
    )
# A charger marked connected that has sent nothing for this many heartbeat intervals (plus
# OCPP_LAST_SEEN_RESOLUTION) is marked offline and its socket closed (stations.housekeeping). 0: never,
# for chargers that keep only WebSocket pings (OCPP-J makes heartbeats optional). Not 1: a charger
# heartbeating on time is, by the width of a frame, one interval unheard.
OCPP_OFFLINE_AFTER_HEARTBEATS = envint("OCPP_OFFLINE_AFTER_HEARTBEATS", "3", minimum=0)
if OCPP_OFFLINE_AFTER_HEARTBEATS == 1:
    raise ImproperlyConfigured(
        "OCPP_OFFLINE_AFTER_HEARTBEATS=1 would take chargers heartbeating on time for gone: use 0 (never) or 2+"
    )
# An open session whose charger has been disconnected this long is flagged for staff (never closed).
OCPP_OPEN_SESSION_STALE_HOURS = envint("OCPP_OPEN_SESSION_STALE_HOURS", "24", minimum=1)
# The site's periodic jobs, once for the whole site: Celery beat runs them with Redis; on the embedded
# default (eager Celery, no worker) every server process runs them itself (csms.scheduler). Seconds.
CELERY_BEAT_SCHEDULE = {
    "prune-message-log": {"task": "stations.tasks.prune_message_log", "schedule": 24 * 3600},
    "expire-reservations": {"task": "stations.tasks.expire_reservations", "schedule": 60},
    "flag-open-sessions": {"task": "stations.tasks.flag_open_sessions", "schedule": 60},
    "clear-gone-processes": {"task": "stations.tasks.clear_gone_processes", "schedule": 10},
    "store-charger-days": {"task": "stations.tasks.store_charger_days", "schedule": 60},
}
if OCPP_OFFLINE_AFTER_HEARTBEATS:
    # Once a heartbeat interval, at most a minute apart: a silent charger is found within one run.
    CELERY_BEAT_SCHEDULE["mark-silent-chargers-offline"] = {
        "task": "stations.tasks.mark_silent_chargers_offline",
        "schedule": min(OCPP_HEARTBEAT_INTERVAL, 60),
    }
if PAYMENT_SWEEP_SECONDS:
    CELERY_BEAT_SCHEDULE["sweep-payments"] = {
        "task": "billing.tasks.sweep_payments",
        "schedule": PAYMENT_SWEEP_SECONDS,
    }
# What each server process runs for itself, with or without Redis (functions, not Celery tasks): its
# liveness beat, and its payments' budget watch rebuilt from the database (billing.budget).
SERVER_PROCESS_SCHEDULE = {
    "beat": {"function": "stations.housekeeping.beat_this_process", "schedule": OCPP_PROCESS_BEAT_SECONDS},
}
if PAYMENT_SWEEP_SECONDS:
    SERVER_PROCESS_SCHEDULE["refresh-budgets"] = {
        "function": "billing.tasks.refresh_budgets",
        "schedule": PAYMENT_SWEEP_SECONDS,
    }

SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", "False")
# Behind TLS (deploy/): browsers are sent to https and told to stay there. Chargers keep ws:// on /ocpp/.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "False")
SECURE_REDIRECT_EXEMPT = [r"^ocpp/", r"^healthz$"]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0", minimum=0)
# Only for a host name whose sub-names are all served over TLS: the operator says so.
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "False")
# The browsers' HSTS preload list is for public internet domains; an on-premise site is not submitted to it.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_REFERRER_POLICY = "same-origin"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envchoice("LOG_LEVEL", "INFO", LOG_LEVELS)},
    "loggers": {
        # The ocpp library logs every frame at INFO; our message log keeps them.
        "ocpp": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
    },
}
