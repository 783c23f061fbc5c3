"""The shared Telegram limiter (core/patterns/rate_limit.py) on the real Redis: a batch takes its slots
at once, and each send then restarts its windows from when it was done."""

import time
import uuid

import pytest

from core.patterns.rate_limit import Limit, acquire, acquire_each, available, sent

pytestmark = pytest.mark.usefixtures("require_redis")


@pytest.fixture
def limits() -> tuple[Limit, Limit, Limit]:
    run = uuid.uuid4().hex
    return (
        Limit(f"test:bot:{run}", 3, 1.05),
        Limit(f"test:chat:{run}:a", 1, 1.05),
        Limit(f"test:chat:{run}:b", 1, 1.05),
    )


def test_a_batch_takes_one_slot_per_chat_within_the_shared_limit(limits: tuple[Limit, Limit, Limit]) -> None:
    bot, chat_a, chat_b = limits
    waits = acquire_each(bot, [chat_a, chat_b, chat_a])
    assert waits[:2] == [0.0, 0.0]
    assert waits[2] > 0.9  # chat a already has its slot in this window
    assert available(bot)[0] == 1  # three slots, two taken


def test_a_send_counts_in_its_chat_from_when_it_was_done(limits: tuple[Limit, Limit, Limit]) -> None:
    bot, chat_a, _ = limits
    assert acquire_each(bot, [chat_a]) == [0.0]
    time.sleep(0.4)  # the batch's other sends go first
    assert acquire([chat_a]) < 0.7  # counted from the slot, the window would end 0.65 s from now
    sent(chat_a)
    assert acquire([chat_a]) > 0.9  # counted from the send: a whole window away again
    assert available(bot)[0] == 2  # the bot's window still counts the slot
