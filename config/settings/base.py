"""Settings shared by every environment; each value comes from the environment (see .env.example)."""

import os
from datetime import timedelta
from pathlib import Path

import environ
from kombu import Exchange, Queue

from core.db_config import database_settings
from core.kombu_redis import transport_for
from core.redis_config import broker_transport_options, broker_url, cache_settings, parse_sentinels

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")


def env_text(name: str, default: str) -> str:
    """A text setting where an empty value (a blank line in .env) means the default."""
    return str(env(name, default=default) or default)


SECRET_KEY = env("SECRET_KEY", default="dev-insecure-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "anymail",
    "core",
    "apps.api_gateway",
    "apps.customers",
    "apps.orders",
    "apps.notifications",
    "apps.webhooks",
    "apps.inbox",
]

MIDDLEWARE = [
    "core.middleware.request_id.RequestIdMiddleware",
    "apps.api_gateway.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.api_gateway.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: it answers a locked-out admin login (django-axes).
    "axes.middleware.AxesMiddleware",
]

# --- Pages for people: a Content-Security-Policy (django-csp) on the admin, the dashboard, the API
# docs (Swagger UI from the sidecar's static files, its start-up script served as a file) and the
# unsubscribe page. Template HTML from API keys is only ever shown inside a sandboxed frame; this
# policy is what still holds if something slips through: no script but the site's own files, no
# plugins, no framing, no <base> rewriting. JSON endpoints carry no policy (nothing renders them).
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/v1/", "/health/", "/metrics/", "/telegram/"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # The admin and the dashboard set inline style attributes.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

# --- Admin logins: django-axes locks a username from an address out after AXES_FAILURE_LIMIT failed
# attempts for AXES_COOLOFF_MINUTES (a locked-out attempt is answered 429).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429

ROOT_URLCONF = "config.urls"
CSRF_FAILURE_VIEW = "apps.api_gateway.views.csrf_failure"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

# SQLite is the embedded default (WAL, IMMEDIATE transactions: web, worker and scheduler share one
# file). PostgreSQL connections are kept per process for CONN_MAX_AGE seconds and checked before
# reuse, or with DATABASE_POOL=true taken from a psycopg pool in each process; DATABASE_PGBOUNCER=true
# for PgBouncer in transaction mode (core/db_config.py, docs/scaling.md).
DATABASE_OPTIONS = {
    "conn_max_age": env.int("CONN_MAX_AGE", default=60),
    "connect_timeout": env.int("DATABASE_CONNECT_TIMEOUT", default=3),
    "pool": env.bool("DATABASE_POOL", default=False),
    "pool_max_size": env.int("DATABASE_POOL_MAX_SIZE", default=4),
    "pgbouncer": env.bool("DATABASE_PGBOUNCER", default=False),
}
DATABASES = {
    "default": database_settings(
        env.db_url_config(env_text("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")), **DATABASE_OPTIONS
    )
}
# A streaming replica of the primary (docs/scaling.md): list and history reads go there while it
# answers and lags by at most DATABASE_REPLICA_MAX_LAG seconds (core/db_router.py). A replica that
# does not answer costs a request little (a short connect timeout): it falls back to the primary.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = database_settings(
        env.db_url_config(DATABASE_REPLICA_URL),
        **{**DATABASE_OPTIONS, "connect_timeout": env.int("DATABASE_REPLICA_CONNECT_TIMEOUT", default=1)},
    )
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["core.db_router.ReplicaRouter"]
DATABASE_REPLICA_MAX_LAG = env.float("DATABASE_REPLICA_MAX_LAG", default=5.0)
DATABASE_REPLICA_CHECK_INTERVAL = env.float("DATABASE_REPLICA_CHECK_INTERVAL", default=2.0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# `manage.py test` runs the pytest suite.
TEST_RUNNER = "core.test_runner.PytestTestRunner"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Redis: broker, cache, throttling. Unset means the embedded defaults. ---
# With Sentinel (host:port,host:port,...), every Redis user finds the master through it and follows a
# failover; REDIS_URL then gives only the database number and password (core/redis_config.py).
REDIS_SENTINELS = parse_sentinels(env.list("REDIS_SENTINELS", default=[]))
REDIS_SENTINEL_MASTER = env_text("REDIS_SENTINEL_MASTER", "mymaster")
REDIS_URL = env("REDIS_URL", default="redis://sentinel/0" if REDIS_SENTINELS else "")
if REDIS_URL:
    CACHES = {"default": cache_settings(REDIS_URL, sentinels=REDIS_SENTINELS, master=REDIS_SENTINEL_MASTER)}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The cache layer (core/cache.py): API keys and the like, read from Redis with the database behind
# it. false turns it off (make bench compares both).
CACHE_ENABLED = env.bool("CACHE_ENABLED", default=True)
# Seconds an entry lives at most; writes delete entries at once, this bounds anything missed.
CACHE_TIMEOUT = env.int("CACHE_TIMEOUT", default=300)

# --- Celery ---
# Without Redis the broker is kombu's SQLAlchemy transport on a SQLite file: it works across
# processes (web, worker, scheduler) with no extra server.
CELERY_BROKER_URL = broker_url(
    env_text("CELERY_BROKER_URL", REDIS_URL or f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"),
    sentinels=REDIS_SENTINELS,
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = "default"
# Every queue the project routes to (see CELERY_TASK_QUEUES below, after NOTIFICATION_CHANNELS): a
# worker started without -Q consumes them all, as `celery -A config worker -l info` should; -Q narrows.
# The worker leaves out the steps this service does not use (gossip, mingle, event heartbeats): the
# Gossip step's close on a lost Redis connection is what made kombu exit the worker (kombu #582).
CELERY_WORKER_CONSUMER = "core.celery_consumer:Consumer"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Tasks each worker process reserves ahead. 1 keeps priorities strict (an order update never waits
# behind reserved bulk tasks); more saves a broker round trip per task for bulk throughput.
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("WORKER_PREFETCH_MULTIPLIER", default=1)
# Celery closes a worker's database connections before and after every task unless told to reuse
# them: a new PostgreSQL connection per task. Reused, they follow CONN_MAX_AGE and the health
# checks as in the web processes (core/celery_signals.py); Celery still closes them every 2 x this
# many tasks. 0: Celery's default, a connection per task (make bench compares the two).
CELERY_DB_REUSE_MAX = env.int("WORKER_DB_REUSE_MAX", default=5_000) or None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker waits out a broker outage of any length (Celery's default gives up after 100 retries).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TIMEZONE = "UTC"


# Visibility timeout, priorities, quick-failing publishes (core/redis_config.py).
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(CELERY_BROKER_URL, master=REDIS_SENTINEL_MASTER)
# kombu's Redis transport with one fix: a task acknowledged after the broker connection dropped is a
# connection error (logged, redelivered), not a worker exit (core/kombu_redis.py).
CELERY_BROKER_TRANSPORT = transport_for(CELERY_BROKER_URL)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "worker-heartbeat": {"task": "apps.api_gateway.tasks.worker_heartbeat", "schedule": 15.0},
    # Webhook messages due without a wake (a lost task, a retry beyond a timer's reach).
    "webhooks-sweep": {
        "task": "apps.webhooks.tasks.webhooks_drain",
        "schedule": env.float("NOTIFICATION_SWEEP_INTERVAL", default=15.0),
    },
    "inbox-events-prune": {"task": "apps.inbox.tasks.inbox_events_prune", "schedule": 3600.0},
    "outbox-sweep": {
        "task": "apps.notifications.tasks.outbox_sweep",
        "schedule": env.float("NOTIFICATION_SWEEP_INTERVAL", default=15.0),
    },
}

# --- REST API ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.api_gateway.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["apps.api_gateway.permissions.HasValidApiKey"],
    "DEFAULT_THROTTLE_CLASSES": ["apps.api_gateway.throttling.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apps.api_gateway.parsers.StrictJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "apps.api_gateway.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.api_gateway.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "apps.api_gateway.schema.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
# Requests per API key; "None" disables throttling.
API_THROTTLE_RATE = env("API_THROTTLE_RATE", default="6000/min")
# Largest accepted request body; larger ones get 413 before any parsing.
# 1 MiB: the largest documented body (a template's 20,000 + 100,000 characters, each sent as a
# six-byte \uXXXX escape at worst) fits, so nothing the OpenAPI document allows is refused for size.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# Deepest nesting of arrays and objects a JSON body may have (the whole body, `context` included);
# deeper is 400 parse_error.
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=32)

SPECTACULAR_SETTINGS = {
    "TITLE": "Notification service API",
    "DESCRIPTION": "Customers, orders and the notifications their events produce.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Operation ids and tags from the path after /api/ (v1_customers_list...); the browser's inbox
    # routes under /inbox/ keep their whole path (inbox_list...).
    "SCHEMA_PATH_PREFIX": r"/api/",
    # Request bodies get components of their own, so required text fields say minLength 1 there.
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # 3.1: request bodies use JSON Schema keywords 3.0 lacks (propertyNames, contains, const).
    "OAS_VERSION": "3.1.0",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.api_gateway.schema.document_what_is_enforced",
    ],
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "apps.orders.state_machine.OrderStatus.choices",
        "NotificationStatusEnum": "apps.notifications.models.NotificationStatus.choices",
        "DeliveryStatusEnum": "apps.notifications.models.DeliveryStatus.choices",
        "ChannelEnum": "apps.notifications.channels.CHANNEL_CHOICES",
    },
}

# --- Notifications ---
# Channel name -> dotted path of its class (the ChannelFactory reads this).
NOTIFICATION_CHANNELS: dict[str, str] = env.dict(
    "NOTIFICATION_CHANNELS",
    default={
        "telegram": "apps.notifications.channels.telegram.TelegramChannel",
        "email": "apps.notifications.channels.email.EmailChannel",
        "in_app": "apps.notifications.channels.in_app.InAppChannel",
    },
)
# Each queue with its own direct exchange and routing key, as Celery would create it on first use.
CELERY_TASK_QUEUES = tuple(
    Queue(name, Exchange(name), routing_key=name)
    for name in ["default", *(f"notifications.{channel}" for channel in NOTIFICATION_CHANNELS)]
)
NOTIFICATION_LANGUAGES = ["en", "de"]
# The rendering budget of one message (templates are untrusted input): time, loop iterations in all,
# characters produced; a filter argument that would allocate more than that is refused.
TEMPLATE_RENDER_TIMEOUT_MS = env.int("TEMPLATE_RENDER_TIMEOUT_MS", default=200)
TEMPLATE_MAX_ITERATIONS = env.int("TEMPLATE_MAX_ITERATIONS", default=10_000)
TEMPLATE_MAX_OUTPUT = env.int("TEMPLATE_MAX_OUTPUT", default=65_536)
# Provider calls per delivery before it fails (429 answers do not count).
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=8)
# Retry n waits uniform(0, min(CAP, BASE * 2^(n-1))) seconds (exponential backoff, full jitter).
NOTIFICATION_BACKOFF_BASE = env.float("NOTIFICATION_BACKOFF_BASE", default=2.0)
NOTIFICATION_BACKOFF_CAP = env.float("NOTIFICATION_BACKOFF_CAP", default=600.0)
# Outbox sweep: how often it runs (it also reclaims expired leases and heals statuses).
NOTIFICATION_SWEEP_INTERVAL = env.float("NOTIFICATION_SWEEP_INTERVAL", default=15.0)
# A claim's lease (core/outbox/lease.py), for deliveries and webhook messages: a drain renews it every
# third of it while it works; a claim whose lease ran out belongs to a drain that died and is taken
# back at once by the next drain of its outbox (or the sweep).
NOTIFICATION_CLAIM_LEASE = env.float("NOTIFICATION_CLAIM_LEASE", default=15.0)
NOTIFICATION_REENQUEUE_AFTER = env.float("NOTIFICATION_REENQUEUE_AFTER", default=60.0)
# An identical message (customer, channel, rendered text) within this many seconds is skipped.
NOTIFICATION_DEDUP_WINDOW = env.float("NOTIFICATION_DEDUP_WINDOW", default=600.0)
# Scheduled sends (send_at): at most this many days ahead; up to 60 s in the past means "now".
NOTIFICATION_SCHEDULE_MAX_DAYS = env.int("NOTIFICATION_SCHEDULE_MAX_DAYS", default=365)
# API sends per customer per hour beyond which deliveries are skipped (rate_limited); order events
# are never capped.
NOTIFICATION_CUSTOMER_HOURLY_CAP = env.int("NOTIFICATION_CUSTOMER_HOURLY_CAP", default=30)
# The delivery engine (apps/notifications/outbox): a drain claims up to NOTIFICATION_BATCH_SIZE due
# deliveries of its channel at once, records outcomes at least every NOTIFICATION_RECORD_EVERY sends
# (the most a worker killed mid-batch can duplicate), and hands over after NOTIFICATION_DRAIN_SECONDS,
# so a worker serving several queues gives each channel a turn at least that often.
NOTIFICATION_BATCH_SIZE = env.int("NOTIFICATION_BATCH_SIZE", default=50)
NOTIFICATION_RECORD_EVERY = env.int("NOTIFICATION_RECORD_EVERY", default=10)
NOTIFICATION_DRAIN_SECONDS = env.float("NOTIFICATION_DRAIN_SECONDS", default=1.0)
# How many drains of one channel may run at once, across all workers (core/wake.py: turns). A drain
# that claims a full batch wakes another beside it while a turn is free and no other channel its
# worker serves has deliveries due: a backlog alone takes two processes, and beside another channel's
# work it leaves them a process. 1: one drain per channel; more for several worker machines per channel.
NOTIFICATION_DRAIN_TURNS = env.int("NOTIFICATION_DRAIN_TURNS", default=2)
# Circuit breaker per channel: opens after this many consecutive transient failures, probes after.
CIRCUIT_FAILURE_THRESHOLD = env.int("CIRCUIT_FAILURE_THRESHOLD", default=5)
CIRCUIT_RESET_TIMEOUT = env.float("CIRCUIT_RESET_TIMEOUT", default=30.0)

# Where customers reach this service: unsubscribe links in emails and the Telegram webhook use it.
PUBLIC_BASE_URL = env_text("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
# Seconds an unsubscribe link in an email keeps working (400 days).
UNSUBSCRIBE_TOKEN_MAX_AGE = env.int("UNSUBSCRIBE_TOKEN_MAX_AGE", default=400 * 86400)

TELEGRAM_BOT_TOKEN = env("TELEGRAM_BOT_TOKEN", default="")
# The bot's @username for t.me deep links; blank: asked from the Bot API (getMe) once per process.
TELEGRAM_BOT_USERNAME = env("TELEGRAM_BOT_USERNAME", default="")
# Seconds a Telegram link token stays valid.
TELEGRAM_LINK_TTL = env.int("TELEGRAM_LINK_TTL", default=3600)
TELEGRAM_API_BASE_URL = env_text("TELEGRAM_API_BASE_URL", "https://api.telegram.org")
TELEGRAM_WEBHOOK_SECRET = env("TELEGRAM_WEBHOOK_SECRET", default="")
# Seconds an inbound update_id is remembered: a replay within it is not acted on (Telegram keeps an
# undelivered update for 24 hours).
TELEGRAM_UPDATE_REPLAY_WINDOW = env.int("TELEGRAM_UPDATE_REPLAY_WINDOW", default=86400)
# The operators' chat (TELEGRAM_CHAT_ID): with a bot token, alerts about failed deliveries
# go there over the bot unless OPS_ALERT_CHANNEL names another channel.
TELEGRAM_CHAT_ID = env("TELEGRAM_CHAT_ID", default="")
# Outbound Telegram limits, shared by all workers through Redis: at most TELEGRAM_RATE_PER_BOT
# messages in any TELEGRAM_RATE_WINDOW seconds, and one message per chat every
# TELEGRAM_PER_CHAT_INTERVAL seconds. The window is 5% over 1 s: a send is counted when its slot is
# taken, Telegram counts it when it arrives, and delays between the two must not squeeze 31 sends
# into Telegram's own 1 s window.
TELEGRAM_RATE_PER_BOT = env.int("TELEGRAM_RATE_PER_BOT", default=30)
TELEGRAM_RATE_WINDOW = env.float("TELEGRAM_RATE_WINDOW", default=1.05)
TELEGRAM_PER_CHAT_INTERVAL = env.float("TELEGRAM_PER_CHAT_INTERVAL", default=1.0)
# Requests a worker process has in flight at once when it sends a batch (each to its own chat).
TELEGRAM_CONNECTIONS = env.int("TELEGRAM_CONNECTIONS", default=4)

# Apprise channel (add `apprise=apps.notifications.channels.apprise.AppriseChannel` to
# NOTIFICATION_CHANNELS): the services to notify, as Apprise URLs, comma-separated.
APPRISE_URLS: list[str] = env.list("APPRISE_URLS", default=[])
# Operator alerts about failed deliveries go to this channel (blank: none), at most one per channel
# and error code every OPS_ALERT_INTERVAL seconds.
OPS_ALERT_CHANNEL = env_text(
    "OPS_ALERT_CHANNEL", "telegram" if TELEGRAM_CHAT_ID and TELEGRAM_BOT_TOKEN else ""
)
OPS_ALERT_INTERVAL = env.float("OPS_ALERT_INTERVAL", default=300.0)

EMAIL_BACKEND = env_text("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# SMTP connections a worker process sends a batch over at once (one thread each).
EMAIL_CONNECTIONS = env.int("EMAIL_CONNECTIONS", default=4)
EMAIL_FILE_PATH = env_text("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env_text("DEFAULT_FROM_EMAIL", "Shop <noreply@shop.example>")

# Email providers in priority order, `name=backend` comma-separated (DESIGN section 13): `smtp` is
# EMAIL_BACKEND above (Django's SMTP backend with the EMAIL_* settings), any other backend an anymail
# ESP (`postmark`, `amazon_ses`, `mailgun`, `sendgrid`, `brevo`, `resend`...). A message goes to the
# first provider whose circuit is closed and moves on when a provider cannot take it.
EMAIL_PROVIDERS = env_text("EMAIL_PROVIDERS", "main=smtp")
# Every ANYMAIL_<NAME> variable is ANYMAIL["<NAME>"] (e.g. ANYMAIL_POSTMARK_SERVER_TOKEN,
# ANYMAIL_POSTMARK_API_URL, ANYMAIL_WEBHOOK_SECRET=user:password for the tracking webhooks).
ANYMAIL: dict[str, object] = {
    name.removeprefix("ANYMAIL_"): value for name, value in os.environ.items() if name.startswith("ANYMAIL_")
}
# An ESP's API call: connecting may take 5 s (then the next provider), the whole call EMAIL_TIMEOUT.
ANYMAIL["REQUESTS_TIMEOUT"] = (
    min(5.0, float(EMAIL_TIMEOUT)),
    float(str(ANYMAIL.get("REQUESTS_TIMEOUT") or EMAIL_TIMEOUT)),
)

# --- Logging: JSON lines in production (LOG_FORMAT=json), plain text by default in development. ---
LOG_FORMAT = env_text("LOG_FORMAT", "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "core.logging.RequestIdFilter"},
        "redact": {"()": "core.logging.RedactSecretsFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # httpx logs every request URL at INFO; the redact filter would mask the token, but the lines
    # are noise at one per message. LOG_LEVEL_HTTPX=DEBUG shows them.
    "loggers": {"httpx": {"level": env("LOG_LEVEL_HTTPX", default="WARNING")}},
}
# Let Django's logging configuration (JSON, request ids, redaction) apply inside Celery workers too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Metrics (/metrics/, Prometheus text) ---
# A bearer token and/or an IP allow-list; with neither, /metrics/ is open (development).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# Each worker host serves its own counters (deliveries, attempts, latency) for Prometheus on this port
# (0: off); bind to 0.0.0.0 where Prometheus scrapes over a network (the compose file does).
# --- Webhooks (docs in README "Receiving webhooks") ---
# Pauses between tries of one event, in seconds; then it fails.
WEBHOOK_RETRY_SCHEDULE = [
    int(x)
    for x in env.list(
        "WEBHOOK_RETRY_SCHEDULE", default=["5", "300", "1800", "7200", "18000", "36000", "36000"]
    )
]
# An endpoint whose events have been failing this long (seconds) is disabled.
WEBHOOK_DISABLE_AFTER = env.int("WEBHOOK_DISABLE_AFTER", default=5 * 24 * 3600)
# Loopback, private and link-local URLs (and plain http) only when this is on: development and tests.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=False)
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=9808)
WORKER_METRICS_ADDR = env("WORKER_METRICS_ADDR", default="127.0.0.1")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
# Which gunicorn instance answered (X-Served-By), for operators and the nginx test.
INSTANCE_NAME = env("INSTANCE_NAME", default="")

# --- In-app inbox (apps/inbox, docs/inbox.md) ---
# Lifetime of the signed token a shop hands the browser (POST /api/v1/customers/{id}/inbox-token/).
INBOX_TOKEN_TTL = env.int("INBOX_TOKEN_TTL", default=3600)
# Origins whose pages may call /inbox/ and open /inbox/stream/ (CORS); empty: same origin only.
INBOX_ALLOWED_ORIGINS: list[str] = env.list("INBOX_ALLOWED_ORIGINS", default=[])
# Requests per customer on the browser's routes (/inbox/, /inbox/counts/, /inbox/mark/); "None" turns
# the limit off. A page polling its badge every few seconds stays far below it.
INBOX_THROTTLE_RATE = env("INBOX_THROTTLE_RATE", default="600/min")
# How often each stream process reads new events from the database: the only path without Redis,
# and the safety net for a publish Redis lost with it.
INBOX_POLL_SECONDS = env.float("INBOX_POLL_SECONDS", default=0.5)
INBOX_POLL_SECONDS_WITH_REDIS = env.float("INBOX_POLL_SECONDS_WITH_REDIS", default=5.0)
# A comment line on every idle stream this often (proxies close silent connections).
INBOX_HEARTBEAT_SECONDS = env.float("INBOX_HEARTBEAT_SECONDS", default=15.0)
# How long stream events are kept for replay after a reconnect (Last-Event-ID).
INBOX_EVENTS_KEEP_HOURS = env.int("INBOX_EVENTS_KEEP_HOURS", default=48)
