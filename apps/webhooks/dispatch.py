"""Waking the webhook drain, deduplicated as the delivery drains are (apps.notifications.dispatch):
a burst of events is one task, and a message committed after a drain started wakes another."""

import logging
import math
import time

from celery import current_app

from core.utils.redis import first_claim, get_redis

logger = logging.getLogger(__name__)

DRAIN_TASK = "apps.webhooks.tasks.webhooks_drain"
WAKE_KEY = "outbox:woken:webhooks"
WAKE_TTL = 30
MAX_TIMER = 60.0


def webhooks_wake(countdown: float = 0.0) -> None:
    """Make sure a webhook drain runs now (or in `countdown` seconds, at most MAX_TIMER; later ones
    are the periodic sweep's). Never raises: the messages are committed, the sweep sends them later."""
    if countdown > MAX_TIMER:
        return
    if countdown > 0:
        moment = math.ceil(time.time() + countdown)
        if not first_claim(f"outbox:timer:webhooks:{moment}", ttl=int(countdown) + 2):
            return
    elif not first_claim(WAKE_KEY, ttl=WAKE_TTL):
        return
    try:
        current_app.send_task(DRAIN_TASK, queue="default", countdown=countdown or None, retry=False)
    except Exception:
        logger.warning("Could not wake the webhook drain (broker down?); the sweep will")
        if not countdown:
            drain_started()


def drain_started() -> None:
    client = get_redis()
    if client is None:
        return
    try:
        client.delete(WAKE_KEY)
    except Exception:
        logger.debug("could not clear %s", WAKE_KEY, exc_info=True)
