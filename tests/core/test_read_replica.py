"""A real PostgreSQL primary and streaming replica (initdb, pg_basebackup -R, pg_ctl on free ports),
with gunicorn on DATABASE_URL + DATABASE_REPLICA_URL: list and history reads come from the replica
(a row written while the replica's replay is paused is missing from lists and present in detail
reads), a replica behind the lag bound and a stopped replica send reads to the primary, and no
request fails on the way."""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from core.db_router import REPLICA, ReplicaRouter, health, reads_from_replica
from tests.fakes.postgres import ReplicatedCluster
from tests.fakes.processes import manage
from tests.fakes.smtp import FakeSMTP
from tests.fakes.stack import Stack
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worker import wait_for, worker_env

pytestmark = [pytest.mark.slow]


@pytest.fixture
def cluster() -> Iterator[ReplicatedCluster]:
    cluster = ReplicatedCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


def pair_settings(cluster: ReplicatedCluster) -> dict[str, str]:
    """The settings of the service's processes on the pair (gunicorn's, and a worker's)."""
    return {
        "DATABASE_URL": cluster.primary.url,
        "DATABASE_REPLICA_URL": cluster.replica.url,
        "DATABASE_REPLICA_CHECK_INTERVAL": "0.2",
        "CONN_MAX_AGE": "60",  # the replica connection is kept, as in production, and then dies
        "CACHE_ENABLED": "false",  # a cache must not answer for this private database
    }


@pytest.fixture
def stack_env(cluster: ReplicatedCluster, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP) -> dict[str, str]:
    """The environment of a management command on the pair."""
    return worker_env(fake_telegram=fake_telegram, fake_smtp=fake_smtp, **pair_settings(cluster))


@pytest.fixture
def stack(
    cluster: ReplicatedCluster, stack_env: dict[str, str], stacks: Callable[..., Stack]
) -> dict[str, httpx.Client]:
    """Two gunicorns on the pair: `patient` accepts a replica 10 minutes behind, `strict` 1 second."""
    manage("migrate", "-v0", env=stack_env)
    key = manage("create_api_key", "replica", env=stack_env).strip().splitlines()[-1]
    return {
        name: stacks(worker=False, web=True, DATABASE_REPLICA_MAX_LAG=lag, **pair_settings(cluster)).client(
            key
        )
        for name, lag in (("patient", "600"), ("strict", "1"))
    }


def listed(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


def customers_named(client: httpx.Client, email: str) -> int:
    return len(listed(client, "/api/v1/customers/", email=email))


def test_list_reads_come_from_the_replica_until_it_lags_or_stops(
    cluster: ReplicatedCluster, stack: dict[str, httpx.Client], stack_env: dict[str, str]
) -> None:
    patient, strict = stack["patient"], stack["strict"]
    ada = patient.post("/api/v1/customers/", json={"name": "Ada", "email": "ada@example.com"})
    assert ada.status_code == 201
    assert wait_for(lambda: cluster.replica.execute("SELECT count(*) FROM customers_customer")[0][0] == 1)
    assert customers_named(patient, "ada@example.com") == 1

    # The replica stops applying what it receives: what is written now exists only on the primary.
    cluster.replica.execute("SELECT pg_wal_replay_pause()")
    paused = "SELECT pg_get_wal_replay_pause_state() = 'paused'"
    assert wait_for(lambda: cluster.replica.execute(paused) == [(True,)])
    bob = patient.post("/api/v1/customers/", json={"name": "Bob", "email": "bob@example.com"})
    assert bob.status_code == 201
    bob_id = bob.json()["id"]
    item = {"sku": "MUG", "name": "Mug", "quantity": 1, "unit_price": "9.99"}
    order = patient.post("/api/v1/orders/", json={"customer": bob_id, "items": [item]})
    assert order.status_code == 201, order.text  # its reads after the write (the customer) hit the primary
    # A worker on the pair plans the order's notification (on the primary).
    plan = "from apps.notifications.outbox.planner import order_events_plan; order_events_plan(budget=10)"
    manage("shell", "-c", plan, env=stack_env, timeout=60)

    # Lists and history read the replica: Bob and his order's notification are not there yet...
    assert customers_named(patient, "bob@example.com") == 0
    assert listed(patient, "/api/v1/orders/", customer=bob_id) == []
    assert listed(patient, "/api/v1/notifications/history/", customer=bob_id) == []
    # ...while a detail read goes to the primary.
    assert patient.get(f"/api/v1/customers/{bob_id}/").status_code == 200

    # The strict process sees the replica fall behind its 1 s bound and reads the primary instead.
    assert wait_for(lambda: customers_named(strict, "bob@example.com") == 1, timeout=20)
    assert len(listed(strict, "/api/v1/notifications/history/", customer=bob_id)) == 1
    assert customers_named(patient, "bob@example.com") == 0  # still within the patient one's bound

    cluster.replica.execute("SELECT pg_wal_replay_resume()")
    assert wait_for(lambda: customers_named(patient, "bob@example.com") == 1, timeout=20)

    # The replica goes away under a kept connection: reads answer from the primary, every one 200.
    cluster.replica.stop("immediate")
    for _ in range(5):
        assert customers_named(patient, "bob@example.com") == 1
        assert len(listed(patient, "/api/v1/orders/", customer=bob_id)) == 1
    carol = patient.post("/api/v1/customers/", json={"name": "Carol", "email": "carol@example.com"})
    assert carol.status_code == 201
    assert customers_named(patient, "carol@example.com") == 1
    assert customers_named(strict, "carol@example.com") == 1


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_only_marked_reads_without_a_write_before_them_go_to_the_replica(settings: Any) -> None:
    """The router's choices, with the replica taken as healthy: a worker's claim, an unmarked view
    and a read after a write in a marked view all read the primary."""
    settings.DATABASES = {**settings.DATABASES, REPLICA: settings.DATABASES["default"]}
    health.usable, health.checked_at = True, float("inf")
    router = ReplicaRouter()
    seen: list[str] = []

    @reads_from_replica
    def list_view() -> None:
        seen.append(router.db_for_read(None))
        seen.append(router.db_for_write(None))
        seen.append(router.db_for_read(None))

    try:
        assert router.db_for_read(None) == "default"  # outside a marked view: workers, details, admin
        list_view()
        assert seen == ["replica", "default", "default"]
        assert router.db_for_read(None) == "default"
        assert not router.allow_migrate(REPLICA, "customers")
    finally:
        health.usable, health.checked_at = False, float("-inf")
