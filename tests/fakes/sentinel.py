"""A private Redis Sentinel deployment: a master, a replica and three Sentinels (quorum 2), each a
real redis-server on its own loopback port, for failover tests."""

import time
from pathlib import Path

import redis

from tests.fakes.processes import Process, RedisServer, free_port

MASTER_NAME = "notify"


class SentinelGroup:
    def __init__(self, directory: Path, *, down_after_ms: int = 1000) -> None:
        self.directory = directory
        self.master = RedisServer(directory / "master.log")
        replica_of = ("--replicaof", "127.0.0.1", str(self.master.port))
        self.replica = RedisServer(directory / "replica.log", *replica_of)
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[Process] = []
        for port in self.sentinel_ports:
            conf = directory / f"sentinel-{port}.conf"  # Sentinel rewrites its file as it learns
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {down_after_ms}\n"
                f"sentinel failover-timeout {MASTER_NAME} 10000\n"
            )
            args = ["redis-server", str(conf), "--sentinel"]
            log_path = directory / f"sentinel-{port}.log"
            self.sentinels.append(Process(args, env=self.master.env, log_path=log_path))

    @property
    def hosts(self) -> str:
        """REDIS_SENTINELS for the service."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=0.5, socket_connect_timeout=0.5, decode_responses=True)

    def master_port(self) -> int | None:
        """The master's port as a majority of the Sentinels names it now."""
        named = []
        for port in self.sentinel_ports:
            try:
                command = ("SENTINEL", "get-master-addr-by-name", MASTER_NAME)
                address = self.sentinel(port).execute_command(*command)
                named.append(int(address[1]))
            except (redis.RedisError, TypeError):
                continue
        best = max(set(named), key=named.count, default=None)
        return best if best is not None and named.count(best) >= 2 else None

    def _ready(self) -> bool:
        try:
            for port in self.sentinel_ports:
                state = self.sentinel(port).execute_command("SENTINEL", "master", MASTER_NAME)
                info = dict(zip(state[::2], state[1::2], strict=True)) if isinstance(state, list) else state
                if int(info["num-other-sentinels"]) < 2 or int(info["num-slaves"]) < 1:
                    return False
            link = redis.Redis(port=self.replica.port, decode_responses=True).info("replication")
            return bool(link.get("master_link_status") == "up")
        except redis.RedisError:
            return False

    def start(self) -> "SentinelGroup":
        self.master.start()
        self.replica.start()
        for sentinel in self.sentinels:
            sentinel.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._ready():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"the Sentinels did not see master, replica and each other; see {self.directory}")

    def stop(self) -> None:
        for process in (*self.sentinels, self.replica, self.master):
            process.stop()
