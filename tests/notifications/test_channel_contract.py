"""One contract every customer channel passes, against its real provider stand-in on loopback (as
anymail runs one test grid per backend): configured when pointed at it, a provider id per accepted
message, one result per message in order, transient and permanent refusals classified, a stop honoured,
and a fresh connection after close(). A new channel adds a row to CHANNELS."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import override_settings

from apps.notifications.channels import Channel, OutgoingMessage, channel_factory
from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worker import provider_settings


@dataclass
class Stand:
    """A channel pointed at its provider's stand-in, and how to script that stand-in."""

    channel: Channel
    address: Callable[[int], str]
    received: Callable[[], int]
    refuse_transient: Callable[[], None]
    refuse_permanent: Callable[[], None]


def _email(fake_smtp: FakeSMTP, fake_telegram: FakeTelegram) -> Stand:
    return Stand(
        channel=channel_factory.get("email"),
        address=lambda n: f"contract{n}@example.com",
        received=lambda: len(fake_smtp.messages),
        refuse_transient=lambda: fake_smtp.answer("RCPT", "451 4.3.0 Try again later"),
        refuse_permanent=lambda: fake_smtp.answer("RCPT", "550 5.1.1 No such user"),
    )


def _telegram(fake_smtp: FakeSMTP, fake_telegram: FakeTelegram) -> Stand:
    return Stand(
        channel=channel_factory.get("telegram"),
        address=lambda n: str(4_200_000 + n),
        received=lambda: len(fake_telegram.messages),
        refuse_transient=lambda: fake_telegram.fail(502, "Bad Gateway"),
        refuse_permanent=lambda: fake_telegram.fail(403, "Forbidden: bot was blocked by the user"),
    )


CHANNELS: dict[str, Callable[[FakeSMTP, FakeTelegram], Stand]] = {"email": _email, "telegram": _telegram}


@pytest.fixture(params=sorted(CHANNELS))
def stand(request: Any, fake_smtp: FakeSMTP, fake_telegram: FakeTelegram) -> Iterator[Stand]:
    with override_settings(**provider_settings(fake_telegram=fake_telegram, fake_smtp=fake_smtp)):
        channel_factory.reset()
        fake_smtp.reset()
        fake_telegram.reset()
        yield CHANNELS[request.param](fake_smtp, fake_telegram)
        channel_factory.get(request.param).close()
        channel_factory.reset()


def message(stand: Stand, n: int) -> OutgoingMessage:
    return OutgoingMessage(
        address=stand.address(n), subject=f"Subject {n}", body=f"Body {n}", body_plain=f"Body {n}"
    )


def test_is_configured_when_pointed_at_its_provider(stand: Stand) -> None:
    assert stand.channel.is_configured()


def test_an_accepted_message_has_a_provider_id(stand: Stand) -> None:
    provider_id = stand.channel.send(message(stand, 1))

    assert provider_id
    assert stand.received() == 1


def test_send_many_answers_each_message_in_order(stand: Stand) -> None:
    results = stand.channel.send_many([message(stand, n) for n in range(7)])

    assert len(results) == 7
    assert all(r is not None and r.error is None and r.provider_id for r in results)
    assert len({r.provider_id for r in results if r is not None}) == 7
    assert stand.received() == 7


def test_a_transient_refusal_is_a_transient_error(stand: Stand) -> None:
    stand.refuse_transient()

    [result] = stand.channel.send_many([message(stand, 1)])

    assert result is not None
    assert result.error is not None
    assert result.error.transient
    assert result.error.code


def test_a_permanent_refusal_is_a_permanent_error(stand: Stand) -> None:
    stand.refuse_permanent()

    [result] = stand.channel.send_many([message(stand, 1)])

    assert result is not None
    assert result.error is not None
    assert not result.error.transient


def test_a_refusal_is_that_message_s_result_and_the_rest_go_on(stand: Stand) -> None:
    stand.refuse_permanent()

    results = stand.channel.send_many([message(stand, n) for n in range(3)])

    errors = [r.error for r in results if r is not None and r.error is not None]
    assert len(errors) == 1
    assert stand.received() == 2


def test_stop_leaves_the_rest_unattempted(stand: Stand) -> None:
    """A circuit that opens mid-batch: after `stop` says so, a connection sends nothing more, and
    every message it did not try is answered None (the engine gives those back to the outbox)."""
    results = stand.channel.send_many([message(stand, n) for n in range(9)], stop=lambda sent: True)

    tried = [r for r in results if r is not None]
    assert 1 <= len(tried) < 9
    assert stand.received() == len(tried)


def test_close_then_send_opens_a_new_connection(stand: Stand) -> None:
    stand.channel.send(message(stand, 1))
    stand.channel.close()

    assert stand.channel.send(message(stand, 2))
    assert stand.received() == 2
