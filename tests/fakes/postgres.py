"""Private PostgreSQL servers for replication tests: a primary made with initdb and a streaming
replica made with pg_basebackup -R, each on its own loopback port and directory, run as the postgres
user (PostgreSQL refuses to run as root) and removed afterwards."""

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.fakes.processes import free_port

BIN = Path("/usr/lib/postgresql/15/bin")


def _bin(name: str) -> str:
    found = shutil.which(name)
    if (BIN / name).exists():
        return str(BIN / name)
    if found is None:
        raise RuntimeError(f"{name} is not installed")
    return found


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class PostgresServer:
    """One server on 127.0.0.1:port with its data in a directory of its own; trust authentication."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, args: list[str]) -> None:
        subprocess.run(_as_postgres(args), check=True, capture_output=True, timeout=120)

    def start(self) -> "PostgresServer":
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1"
        pg_ctl = [_bin("pg_ctl"), "-D", str(self.data_dir), "-o", options, "-l", str(self.log)]
        self._run([*pg_ctl, "-w", "start"])
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run([_bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"])

    @property
    def log(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def execute(self, sql: str) -> list[tuple[object, ...]]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []


class ReplicatedCluster:
    """A primary and one hot-standby replica streaming from it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pg-replication-"))
        if os.geteuid() == 0:  # the servers run as postgres and keep their data and logs here
            shutil.chown(self.root, "postgres", "postgres")
        self.primary = PostgresServer(self.root / "primary")
        self.replica = PostgresServer(self.root / "replica")

    def start(self) -> "ReplicatedCluster":
        initdb = [_bin("initdb"), "-D", str(self.primary.data_dir), "-U", "postgres", "--auth=trust"]
        self.primary._run([*initdb, "--no-sync"])
        with (self.primary.data_dir / "postgresql.conf").open("a") as conf:
            # Speed over durability: the cluster lives for one test.
            conf.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        self.primary.start()
        self.primary._run(
            [
                _bin("pg_basebackup"),
                "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres",
                "-D", str(self.replica.data_dir), "-R", "-X", "stream", "--no-sync",
            ]
        )  # fmt: skip
        self.replica.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            streaming = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
            if self.primary.execute(streaming)[0][0]:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"the replica did not start streaming; see {self.replica.log}")

    def stop(self) -> None:
        for server in (self.replica, self.primary):
            with contextlib.suppress(subprocess.SubprocessError):
                server.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
