"""Finding Redis: REDIS_SENTINELS turns every Redis URL into the Sentinels' master on the same
database (docs/design.md, "Beyond one machine"); without it, the URLs are used as they are."""

import os
import subprocess
import sys
from pathlib import Path

from core.kombu_redis import transport_for
from core.redis_config import broker_transport_options, broker_url, cache_settings, parse_sentinels

SENTINELS = [("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26379)]


def test_sentinel_hosts_are_parsed_with_the_default_port() -> None:
    assert parse_sentinels(["10.0.0.1", " 10.0.0.2:26380 ", "[::1]:26379", ""]) == SENTINELS


def test_the_sentinels_win_over_the_broker_host_and_keep_its_database_and_password() -> None:
    url = broker_url("redis://:s3cret@redis:6379/1", sentinels=SENTINELS[:2])
    assert url == "sentinel://:s3cret@10.0.0.1:26379/1;sentinel://:s3cret@10.0.0.2:26380/1"
    assert transport_for(url) == "core.kombu_redis:SentinelTransport"
    options = broker_transport_options(url, master="notify")
    assert options["master_name"] == "notify"
    assert options["visibility_timeout"] == 3600  # the Redis options apply to Sentinel too


def test_without_sentinels_or_for_another_broker_the_url_stays() -> None:
    assert broker_url("redis://redis:6379/1", sentinels=[]) == "redis://redis:6379/1"
    assert broker_url("amqp://guest@rabbit//", sentinels=SENTINELS) == "amqp://guest@rabbit//"
    assert broker_transport_options("amqp://guest@rabbit//", master="notify") == {}


def test_the_cache_finds_the_master_through_the_sentinels() -> None:
    cache = cache_settings("redis://sentinel/0", sentinels=SENTINELS, master="notify", KEY_PREFIX="x")
    assert cache["OPTIONS"]["pool_class"] == "core.redis_config.SentinelPool"
    assert cache["OPTIONS"]["master"] == "notify"
    assert cache["KEY_PREFIX"] == "x"
    assert "pool_class" not in cache_settings("redis://r/0", sentinels=[], master="notify")["OPTIONS"]


def test_celery_uses_the_rewritten_broker_url_even_when_the_environment_names_another() -> None:
    """Celery reads CELERY_BROKER_URL from the environment before its configuration."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REDIS_SENTINELS": "127.0.0.1:26001,127.0.0.1:26002",
        "REDIS_URL": "redis://sentinel/0",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
    }
    code = "import django; django.setup(); from config.celery import app; "
    code += "print(*app.connection_for_read().alt)"
    root = Path(__file__).parent.parent.parent
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True)
    assert out.stdout.split() == ["sentinel://127.0.0.1:26001/1", "sentinel://127.0.0.1:26002/1"], out.stderr
