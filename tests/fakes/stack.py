"""Private stacks for tests that need processes of their own (a worker with other settings, gunicorn,
beat): one recipe, and Redis databases handed out so that no two stacks, and no stack and the session's
worker, share a broker or wake flags. Tests take them through the `stacks` fixture (tests/conftest.py),
which stops every stack it started."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from django.conf import settings

from tests.fakes.processes import Process, celery_beat, gunicorn, log_tail
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
    directory: Path
    worker: CeleryWorker | None = None
    web_url: str = ""
    processes: list[Process] = field(default_factory=list)

    def client(self, key: str) -> httpx.Client:
        """An HTTP client of the stack's gunicorn with an API key."""
        return httpx.Client(base_url=self.web_url, headers={"Authorization": f"Api-Key {key}"}, timeout=10)

    def logs(self, lines: int = 30) -> str:
        """The tail of every log of the stack: the message of an assertion that its processes failed."""
        return log_tail(*sorted(self.directory.glob("*.log")), lines=lines)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        if self.worker is not None:
            self.worker.stop()


@contextlib.contextmanager
def private_stack(
    directory: Path,
    *,
    fake_telegram: FakeTelegram,
    fake_smtp: FakeSMTP,
    worker: bool = True,
    seed_command: bool = False,
    queues: str = QUEUES,
    purge: bool = True,
    web: bool = False,
    web_workers: int = 1,
    beat: bool = False,
    redis_url: str = "",
    **env: str | None,
) -> Iterator[Stack]:
    """The service's processes on the test database and the fakes, logging into `directory`.

    Redis (broker, cache, wakes and turns) is a database of their own unless `redis_url` names another
    server (a private one, Sentinels); `env` overrides settings (None leaves a variable out: a plain
    `.env` without it). `seed_command` starts the worker as the classic Celery docs say; `purge=False`
    leaves its broker as it is (a broker the test has just started)."""
    number = None if redis_url else redis_database()
    url = redis_url or str(settings.REDIS_URL).rsplit("/", 1)[0] + f"/{number}"
    overrides = {"CELERY_BROKER_URL": url, "REDIS_URL": url, **env}
    stack_env = worker_env(
        fake_telegram=fake_telegram,
        fake_smtp=fake_smtp,
        **{name: value for name, value in overrides.items() if value is not None},
    )
    for name in [name for name, value in overrides.items() if value is None]:
        stack_env.pop(name, None)
    stack = Stack(env=stack_env, directory=directory)
    try:
        if worker:
            stack.worker = CeleryWorker(
                env=stack_env, log_path=directory / "worker.log", queues=queues, seed_command=seed_command
            )
            stack.worker.start(purge=purge)
        if web:
            process, stack.web_url = gunicorn(
                env=stack_env, log_path=directory / "gunicorn.log", workers=web_workers
            )
            stack.processes.append(process)
        if beat:
            stack.processes.append(
                celery_beat(
                    env=stack_env, log_path=directory / "beat.log", schedule=directory / "beat-schedule"
                )
            )
        yield stack
    finally:
        stack.stop()
        if number is not None:
            redis_release(number)
