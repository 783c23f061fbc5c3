"""A real Celery worker in a subprocess, on the test database, with channels aimed at the fakes."""

import contextlib
import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.db import connection

from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import TOKEN, FakeTelegram

ROOT = Path(__file__).resolve().parent.parent.parent
QUEUES = "default,notifications.telegram,notifications.email,notifications.in_app"


def provider_settings(*, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP) -> dict[str, Any]:
    return {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake_telegram.url,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": fake_smtp.port,
    }


def worker_env(*, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP, **extra: str) -> dict[str, str]:
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        {k: str(v) for k, v in provider_settings(fake_telegram=fake_telegram, fake_smtp=fake_smtp).items()}
    )
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
        REDIS_URL=str(settings.REDIS_URL),
        CELERY_BROKER_URL=str(settings.CELERY_BROKER_URL),
        # Fast retries keep the suite short; the backoff shape is unit-tested separately.
        NOTIFICATION_BACKOFF_BASE="0.2",
        NOTIFICATION_BACKOFF_CAP="1",
        CIRCUIT_RESET_TIMEOUT="2",
        # Webhook receivers run on 127.0.0.1; retries a second or two apart, enough of them to outlast
        # a receiver that a test keeps down for a while.
        WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",
        WEBHOOK_RETRY_SCHEDULE="1,1,1,1,1,1,1,1,1,1,2,2,2,2,2,2,2,2,2,2",
        WEBHOOK_TIMEOUT="2",
        # Tests start many workers: none binds a fixed metrics port unless a test asks for one.
        WORKER_METRICS_PORT="0",
    )
    env.update(extra)
    return env


def seed_default_templates() -> None:
    """Transactional tests truncate tables between tests; put the migration's templates back."""
    from django.apps import apps

    for name in ("0002_default_templates", "0013_digest_templates", "0015_in_app_templates"):
        importlib.import_module(f"apps.notifications.migrations.{name}").create(apps, None)


def broker_purge(url: str) -> None:
    """Empty the broker before a worker starts, so no test sees another's leftovers."""
    if url.startswith("redis"):
        redis.Redis.from_url(url).flushdb()
        return
    from kombu import Connection

    with Connection(url, connect_timeout=5) as conn:
        for queue in QUEUES.split(","):
            channel = conn.channel()
            try:
                channel.queue_purge(queue)
            except Exception:  # noqa: S112 - a queue that does not exist yet is empty
                continue
            finally:
                with contextlib.suppress(Exception):
                    channel.close()


# The worker command of Celery's own docs, word for word: no -Q, no feature flags.
SEED_COMMAND = ["celery", "-A", "config", "worker", "-l", "info"]


class CeleryWorker:
    """A worker process; `seed_command=True` starts it exactly as the classic Celery docs say."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        log_path: Path,
        concurrency: int = 2,
        seed_command: bool = False,
        queues: str = QUEUES,
    ) -> None:
        self.env = env
        self.queues = queues
        self.log_path = ROOT / log_path
        self.concurrency = concurrency
        self.seed_command = seed_command
        self.process: subprocess.Popen[bytes] | None = None

    def _args(self) -> list[str]:
        if self.seed_command:
            return [sys.executable, "-m", *SEED_COMMAND, "--concurrency", str(self.concurrency)]
        return [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
            "--concurrency", str(self.concurrency), "--queues", self.queues,
            "--without-mingle", "--without-gossip", "--hostname", f"test-{os.getpid()}@%h",
        ]  # fmt: skip

    def start(self, *, purge: bool = True) -> None:
        if purge:
            broker_purge(self.env["CELERY_BROKER_URL"])
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        start_at = log.tell()
        self.process = subprocess.Popen(
            self._args(),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited: {self.log_tail()}")
            with self.log_path.open("rb") as read:
                read.seek(start_at)
                if b" ready." in read.read():
                    return
            time.sleep(0.2)
        raise RuntimeError(f"celery worker did not become ready: {self.log_tail()}")

    def ensure_running(self, *, purge: bool = True) -> bool:
        """Start the worker if it is not running (as a supervisor would); True when it had to."""
        if self.process is None or self.process.poll() is not None:
            self.start(purge=purge)
            return True
        return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the whole worker (main process and its pool children) at once."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def wait_for(predicate: Any, *, timeout: float = 30, interval: float = 0.1) -> Any:
    """Poll until predicate() is truthy and return it; on timeout return its last value.

    A bound on waiting, not a timed assertion: callers assert on the value.
    """
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value
