"""The webhook tests' receiver: a signed-webhook server on 127.0.0.1, allowed as a target."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.webhook import SignedReceiver


@pytest.fixture
def receiver(settings: Any) -> Iterator[SignedReceiver]:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    server = SignedReceiver().start()
    yield server
    server.stop()
