"""Private stacks for tests that need processes of their own (a worker with other settings, gunicorn,
beat): one recipe, and Redis databases handed out so that no two stacks, and no stack and the session's
worker, share a broker or wake flags."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
from django.conf import settings

from tests.fakes.processes import Process, celery_beat, gunicorn
from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worker import QUEUES, CeleryWorker, worker_env

_taken: set[int] = set()


def _session_databases() -> set[int]:
    used = set()
    for url in (str(settings.REDIS_URL), str(settings.CELERY_BROKER_URL)):
        tail = url.rsplit("/", 1)[-1]
        if tail.isdigit():
            used.add(int(tail))
    return used


def redis_database() -> int:
    """A Redis database number nobody else in this test run uses, until released."""
    for number in range(1, 16):
        if number not in _taken and number not in _session_databases():
            _taken.add(number)
            return number
    raise RuntimeError("every Redis database is taken")


def redis_release(number: int) -> None:
    base = str(settings.REDIS_URL).rsplit("/", 1)[0]
    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(f"{base}/{number}").flushdb()
    _taken.discard(number)


@dataclass
class Stack:
    env: dict[str, str]
    worker: CeleryWorker | None = None
    web_url: str = ""
    processes: list[Process] = field(default_factory=list)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        if self.worker is not None:
            self.worker.stop()


@contextlib.contextmanager
def private_stack(
    tmp_path: Path,
    *,
    fake_telegram: FakeTelegram,
    fake_smtp: FakeSMTP,
    worker: bool = True,
    web: bool = False,
    beat: bool = False,
    queues: str = QUEUES,
    **env: str,
) -> Iterator[Stack]:
    """The service's processes on the test database and the fakes, with a Redis database of their own
    (broker, cache, wakes and turns); `env` overrides settings."""
    number = redis_database()
    url = str(settings.REDIS_URL).rsplit("/", 1)[0] + f"/{number}"
    stack = Stack(
        env=worker_env(
            fake_telegram=fake_telegram, fake_smtp=fake_smtp, CELERY_BROKER_URL=url, REDIS_URL=url, **env
        )
    )
    try:
        if worker:
            stack.worker = CeleryWorker(env=stack.env, log_path=tmp_path / "worker.log", queues=queues)
            stack.worker.start()
        if web:
            process, stack.web_url = gunicorn(env=stack.env, log_path=tmp_path / "gunicorn.log", workers=1)
            stack.processes.append(process)
        if beat:
            stack.processes.append(
                celery_beat(
                    env=stack.env, log_path=tmp_path / "beat.log", schedule=tmp_path / "beat-schedule"
                )
            )
        yield stack
    finally:
        stack.stop()
        redis_release(number)
