"""Drains take turns (core/wake.py): a wake while a drain of the channel runs sends no task and the
running drain goes again for it, so a burst of commits does not put a second drain of one channel on
a second worker process; nothing committed is missed in any order of the two."""

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.customers.models import Customer
from apps.notifications import dispatch
from apps.notifications.channels import channel_factory
from apps.notifications.channels.email import EmailChannel
from apps.notifications.models import Delivery, Notification
from apps.notifications.outbox.pump import outbox_drain
from apps.notifications.planning import MessageSource, notification_create
from core import wake
from core.utils.redis import get_redis
from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worker import CeleryWorker, provider_settings, wait_for


@pytest.fixture
def flag(require_redis: str) -> Iterator[str]:
    name = f"test:turns:{uuid.uuid4().hex}"
    yield name
    client = get_redis()
    assert client is not None
    client.delete(name, f"{name}:requested", *(f"{name}:turn:{n}" for n in range(2)))


class Published:
    """The tasks drain_wake published to the test broker, read back from its queues (nobody consumes
    them): "name" for a test queue, "name@queue" for a drain's queue, oldest first."""

    def __init__(self, queues: list[str]) -> None:
        self.client = redis.Redis.from_url(str(settings.CELERY_BROKER_URL))
        self.queues = queues

    def _keys(self) -> list[bytes]:
        # kombu keeps a queue's messages in one list per priority step: "<queue>", "<queue>\x06\x16<n>".
        return [key for queue in self.queues for key in self.client.scan_iter(match=f"{queue}*")]

    def __call__(self) -> list[str]:
        tasks = []
        for key in self._keys():
            queue = key.decode().split("\x06", 1)[0]
            for raw in reversed(self.client.lrange(key, 0, -1)):
                name = json.loads(raw)["headers"]["task"]
                tasks.append(f"{name}@{queue}" if queue.startswith("notifications.") else name)
        return tasks

    def clear(self) -> None:
        keys = self._keys()
        if keys:
            self.client.delete(*keys)


@pytest.fixture
def published(flag: str) -> Iterator[Published]:
    if not str(settings.CELERY_BROKER_URL).startswith("redis://"):
        pytest.fail("these tests count tasks on the Redis broker")
    broker = Published([queue_for(flag), dispatch.queue_of("turns-mail")])
    broker.clear()
    yield broker
    broker.clear()


def queue_for(flag: str) -> str:
    return "test-" + flag.replace(":", "-")


def wake_now(flag: str, turns: int = 1) -> None:
    wake.drain_wake(task="test.drain", queue=queue_for(flag), flag=flag, turns=turns)


def test_one_turn_at_a_time_and_the_holder_hears_of_what_came_meanwhile(flag: str) -> None:
    turn, _ = wake.turn_take(flag)
    assert turn is not None

    other, held_for = wake.turn_take(flag)  # a second drain task of the same channel
    assert other is None
    assert 0 < held_for <= wake.TURN_TTL

    assert turn.give_back() is True  # the second one's request: go again
    again, _ = wake.turn_take(flag)
    assert again is not None
    assert again.give_back() is False  # nobody asked this time


def test_a_wake_during_a_turn_sends_no_task_but_is_not_lost(flag: str, published: Published) -> None:
    turn, _ = wake.turn_take(flag)
    assert turn is not None

    wake_now(flag)
    assert published() == []  # the running drain counts as the wake...
    assert turn.give_back() is True  # ...and learns of it when it ends its turn

    wake.drain_started(flag)
    wake_now(flag)  # no turn held now: a task
    assert published() == ["test.drain"]


def test_a_wake_just_after_the_turn_ended_sends_a_task(flag: str, published: Published) -> None:
    turn, _ = wake.turn_take(flag)
    assert turn is not None
    assert turn.give_back() is False

    wake_now(flag)

    assert published() == ["test.drain"]


def test_wakes_while_a_task_is_queued_are_one_task(flag: str, published: Published) -> None:
    for _ in range(5):
        wake_now(flag)
    assert published() == ["test.drain"]


def test_fanout_allows_two_turns(flag: str) -> None:
    first, _ = wake.turn_take(flag, turns=2)
    second, _ = wake.turn_take(flag, turns=2)
    third, _ = wake.turn_take(flag, turns=2)
    assert first is not None
    assert second is not None
    assert first.key != second.key
    assert third is None


def test_a_drain_beside_the_running_one_is_woken_only_while_a_turn_is_free(
    flag: str, published: Published
) -> None:
    first, _ = wake.turn_take(flag, turns=2)
    assert first is not None

    wake.drain_wake(task="test.drain", queue=queue_for(flag), flag=flag, turns=2, beside=True)
    assert published() == ["test.drain"]
    second, _ = wake.turn_take(flag, turns=2)
    assert second is not None
    wake.drain_started(flag)

    wake.drain_wake(task="test.drain", queue=queue_for(flag), flag=flag, turns=2, beside=True)
    assert published() == ["test.drain"]  # both turns held: a third drain could not run
    assert first.give_back() is False  # and a beside wake is no request to go again


def test_only_a_drain_woken_beside_another_takes_a_second_turn(
    own_channels: None, require_redis: str, settings: Any
) -> None:
    settings.NOTIFICATION_DRAIN_TURNS = 2
    first, _ = dispatch.outbox_turn_take("turns-mail")
    assert first is not None
    try:
        assert dispatch.outbox_turn_take("turns-mail")[0] is None  # a commit's or a timer's drain
        beside, _ = dispatch.outbox_turn_take("turns-mail", beside=True)
        assert beside is not None
        beside.give_back()
    finally:
        first.give_back()


def test_a_killed_holder_blocks_only_until_its_turn_expires(
    flag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wake, "TURN_TTL", 0.3)
    dead, _ = wake.turn_take(flag)  # never given back, as by a worker killed with SIGKILL
    assert dead is not None

    blocked, held_for = wake.turn_take(flag)
    assert blocked is None
    assert held_for <= 0.3

    assert wait_for(lambda: wake.turn_take(flag)[0] is not None, timeout=5, interval=0.1)


def test_a_renewed_turn_outlives_its_first_lifetime(flag: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wake, "TURN_TTL", 1.0)
    turn, _ = wake.turn_take(flag)
    assert turn is not None
    client = get_redis()
    assert client is not None
    client.pexpire(turn.key, 50)  # nearly expired...
    turn.renew()  # ...and renewed by the next batch
    assert client.pttl(turn.key) > 500


def test_a_turn_given_back_by_another_holder_is_not_taken_from_it(flag: str) -> None:
    """A holder whose turn expired (a batch slower than TURN_TTL) must not end the next holder's."""
    old, _ = wake.turn_take(flag)
    assert old is not None
    client = get_redis()
    assert client is not None
    client.delete(old.key)  # expired
    new, _ = wake.turn_take(flag)
    assert new is not None

    old.give_back()

    assert wake.turn_take(flag)[0] is None  # still the new holder's


@pytest.mark.slow
def test_a_burst_of_commits_during_a_drain_is_drained_by_it(
    integration: CeleryWorker, fake_smtp: FakeSMTP
) -> None:
    """Orders keep coming while the email drain sends a slow message: each commit's wake finds the
    drain running and leaves it a request instead of starting a second drain on the worker's other
    process. All of them go out once, over the running drain's connections (before turns, the burst
    started a second drain, which opened connections of its own)."""
    fake_smtp.gate = threading.Event()  # the first message's DATA waits until the burst is in
    customers = Customer.objects.bulk_create(
        Customer(name=f"Burst {n}", email=f"burst{n}@example.com", channels=["email"]) for n in range(11)
    )

    def send(customer: Customer) -> None:
        with transaction.atomic():  # a commit of its own, as each API request is
            notification_create(
                customer=customer, event="custom", source=MessageSource(message="Hi"), channels=["email"]
            )

    send(customers[0])
    assert wait_for(lambda: fake_smtp.held == 1, timeout=30)
    for customer in customers[1:]:  # while the first send is held, its drain holding the turn
        send(customer)
    fake_smtp.gate.set()

    assert wait_for(lambda: len(fake_smtp.messages) == 11, timeout=60)
    assert sorted(str(m["To"]) for m in fake_smtp.messages) == sorted(c.email for c in customers)
    with fake_smtp.lock:
        peers = set(fake_smtp.connections)
    from django.conf import settings

    assert len(peers) <= settings.EMAIL_CONNECTIONS


class TurnsMail(EmailChannel):
    """The email channel under a name of its own: no worker of the session drains its deliveries."""

    name = "turns-mail"


@pytest.fixture
def own_channels(
    transactional_db: None, settings: Any, fake_smtp: FakeSMTP, fake_telegram: FakeTelegram
) -> Iterator[None]:
    for name, value in provider_settings(fake_telegram=fake_telegram, fake_smtp=fake_smtp).items():
        setattr(settings, name, value)
    settings.NOTIFICATION_CHANNELS = {
        **settings.NOTIFICATION_CHANNELS,
        "turns-mail": f"{__name__}.TurnsMail",
    }
    settings.NOTIFICATION_BATCH_SIZE = 5
    channel_factory.reset()
    fake_smtp.reset()
    yield
    channel_factory.reset()


def queue_deliveries(channel: str, count: int, *, due_in: float = 0.0) -> None:
    customer = Customer.objects.create(name="Backlog", email="backlog@example.com", channels=["email"])
    notification = Notification.objects.create(customer=customer, event="custom", channels=[channel])
    Delivery.objects.bulk_create(
        Delivery(
            notification=notification,
            channel=channel,
            address=f"backlog{n}@example.com",
            subject="Hi",
            body="Hi",
            body_plain="Hi",
            next_attempt_at=timezone.now() + timedelta(seconds=due_in),
        )
        for n in range(count)
    )


def drain_beside_wakes(channel: str, published: Published) -> list[str]:
    dispatch.outbox_drain_started(channel)  # as the drain task does first
    published.clear()
    outbox_drain(channel=channel)
    return [task for task in published() if task == f"{dispatch.DRAIN_TASK}@{dispatch.queue_of(channel)}"]


@pytest.mark.usefixtures("own_channels", "require_redis")
def test_a_full_batch_wakes_a_second_drain_while_nothing_else_is_due(published: Published) -> None:
    queue_deliveries("turns-mail", 12)

    assert drain_beside_wakes("turns-mail", published) != []
    assert Delivery.objects.filter(channel="turns-mail", status="sent").count() == 12


@pytest.mark.usefixtures("own_channels", "require_redis")
def test_a_full_batch_leaves_the_other_process_to_another_channel_with_work_due(
    published: Published,
) -> None:
    queue_deliveries("turns-mail", 12)
    # Telegram, served by the same worker, between two rate-limit windows: due in a second.
    queue_deliveries("telegram", 1, due_in=1.0)

    assert drain_beside_wakes("turns-mail", published) == []
    assert Delivery.objects.filter(channel="turns-mail", status="sent").count() == 12
