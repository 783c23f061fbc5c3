"""Real server processes for tests: a private redis-server, gunicorn, celery beat, uvicorn, and the
helpers every test starting processes needs (a free port, waiting until one serves, the tail of its
log, a `manage.py` command)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(*paths: Path, lines: int = 30) -> str:
    """The last `lines` of each log, headed by its name: the message of an assertion about processes."""
    return "\n".join(
        f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        for path in paths
        if path.exists()
    )


def manage(*args: str, env: dict[str, str], timeout: float = 180) -> str:
    """Run `manage.py ARGS` in a process of its own with `env`; its output, or an error showing it."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done.stdout


class Process:
    """A command in its own process group, logging to a file, stopped with its children."""

    def __init__(self, args: list[str], *, env: dict[str, str], log_path: Path) -> None:
        self.args, self.env, self.log_path = args, env, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "Process":
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)


class RedisServer(Process):
    """A private, memory-only redis-server on its own port; stopping it loses everything in it."""

    def __init__(self, log_path: Path, *extra: str) -> None:
        self.port = free_port()
        args = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            *extra,
        ]
        super().__init__(args, env=dict(os.environ), log_path=log_path)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> "RedisServer":
        super().start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
                return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")


def _serving(process: Process, port: int, name: str) -> tuple[Process, str]:
    """The process and its URL once it answers /health/ (stopped and an error after 30 s)."""
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/health/", timeout=1)
            return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.stop()
    raise RuntimeError(f"{name} did not answer; see {process.log_path}")


def gunicorn(*, env: dict[str, str], log_path: Path, workers: int = 2) -> tuple[Process, str]:
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi",
        "--config",  # the service's own settings (request limits, logging); the flags below win
        "config/gunicorn.py",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
    ]
    return _serving(Process(args, env=env, log_path=log_path).start(), port, "gunicorn")


def celery_beat(*, env: dict[str, str], log_path: Path, schedule: Path) -> Process:
    args = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        str(schedule),
    ]
    return Process(args, env=env, log_path=log_path).start()


def stream_server(*, env: dict[str, str], log_path: Path) -> tuple[Process, str]:
    """The ASGI process as `bin/start stream` runs it (uvicorn config.asgi), on a free port."""
    port = free_port()
    args = [
        sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
        "--port", str(port), "--no-access-log", "--timeout-graceful-shutdown", "2",
    ]  # fmt: skip
    return _serving(Process(args, env=env, log_path=log_path).start(), port, "uvicorn")
