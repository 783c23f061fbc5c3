"""The shared Telegram limiter (core/patterns/rate_limit.py) on the real Redis: a batch takes its slots
at once, and each send then restarts its windows from when it was done.

The windows are a minute long and every bound is read against the Redis server's clock (the one the
limiter uses), so a loaded machine pausing between two calls cannot make a correct limiter fail."""

import time
import uuid

import pytest

from core.patterns.rate_limit import Limit, acquire, acquire_each, available, sent
from core.utils.redis import get_redis

pytestmark = pytest.mark.usefixtures("require_redis")

WINDOW = 60.0
EPSILON = 0.001  # the scripts' float arithmetic on the server's clock


@pytest.fixture
def limits() -> tuple[Limit, Limit, Limit]:
    run = uuid.uuid4().hex
    return (
        Limit(f"test:bot:{run}", 3, WINDOW),
        Limit(f"test:chat:{run}:a", 1, WINDOW),
        Limit(f"test:chat:{run}:b", 1, WINDOW),
    )


def redis_now() -> float:
    client = get_redis()
    assert client is not None
    seconds, micros = client.time()
    return float(seconds) + micros / 1_000_000


def test_a_batch_takes_one_slot_per_chat_within_the_shared_limit(limits: tuple[Limit, Limit, Limit]) -> None:
    bot, chat_a, chat_b = limits
    waits = acquire_each(bot, [chat_a, chat_b, chat_a])
    assert waits[:2] == [0.0, 0.0]
    assert waits[2] == pytest.approx(WINDOW)  # chat a took its slot in this very call
    assert available(bot)[0] == 1  # three slots, two taken


def test_a_send_counts_in_its_chat_from_when_it_was_done(limits: tuple[Limit, Limit, Limit]) -> None:
    bot, chat_a, _ = limits
    assert acquire_each(bot, [chat_a]) == [0.0]
    slot_taken_by = redis_now()
    time.sleep(0.5)  # the batch's other sends go first

    before_send = redis_now()
    assert acquire([chat_a]) <= WINDOW - (before_send - slot_taken_by) + EPSILON  # counted from the slot
    sent(chat_a)
    wait = acquire([chat_a])
    asked_by = redis_now()

    # Counted from the send: whatever time passed around the calls, the window ends no sooner than a
    # whole window after the moment just before the send (from the slot it would end 0.5 s sooner).
    assert wait >= WINDOW - (asked_by - before_send) - EPSILON
    assert available(bot)[0] == 2  # the bot's window still counts the slot
