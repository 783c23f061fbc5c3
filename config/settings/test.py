"""Test settings: real PostgreSQL and Redis when they answer on 127.0.0.1 (or are given), else SQLite.

With REQUIRE_SERVICES=1 (CI) tests/conftest.py turns a missing PostgreSQL or Redis into a failure.
"""

import os

from core.kombu_redis import transport_for
from core.redis_config import broker_transport_options, broker_url, cache_settings
from core.utils.net import port_open

from .base import *  # noqa: F403
from .base import (
    DATABASES,
    LOGGING,
    REDIS_SENTINEL_MASTER,
    REDIS_SENTINELS,
    env,
)

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

if "DATABASE_URL" not in os.environ and port_open("127.0.0.1", 5432):
    DATABASES = {"default": env.db_url_config("postgres://postgres@127.0.0.1:5432/test")}
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"].pop("CONN_HEALTH_CHECKS", None)

REDIS_URL = env("REDIS_URL", default="")
if not REDIS_URL and port_open("127.0.0.1", 6379):
    REDIS_URL = "redis://127.0.0.1:6379/15"
if REDIS_URL:
    CACHES = {
        "default": cache_settings(
            REDIS_URL, sentinels=REDIS_SENTINELS, master=REDIS_SENTINEL_MASTER, KEY_PREFIX="test"
        )
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The broker gets its own Redis database: tests flush the cache's database between tests.
CELERY_BROKER_URL = broker_url(
    env("CELERY_BROKER_URL", default=REDIS_URL.rsplit("/", 1)[0] + "/14" if REDIS_URL else "memory://"),
    sentinels=REDIS_SENTINELS,
)
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(CELERY_BROKER_URL, master=REDIS_SENTINEL_MASTER)
CELERY_BROKER_TRANSPORT = transport_for(CELERY_BROKER_URL)
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend")
API_THROTTLE_RATE = "100000/min"
LOGGING["loggers"]["mail.log"] = {"level": "WARNING"}  # type: ignore[index]  # aiosmtpd chatter
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING["handlers"]["console"]["formatter"] = "json" if LOG_FORMAT == "json" else "plain"  # type: ignore[index]
