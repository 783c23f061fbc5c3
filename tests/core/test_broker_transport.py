"""The broker transport: an acknowledgement through a channel closed with its lost connection is a
connection error Celery handles (logged, the task redelivered), never the AttributeError that made
the worker exit (kombu issue #582)."""

import logging

import pytest
import redis
from celery import current_app
from kombu import Connection
from kombu.message import Message

from core.kombu_redis import Transport

pytestmark = pytest.mark.services


def test_redis_brokers_use_the_transport_that_fails_closed_channels_as_connection_errors(
    require_redis: str,
) -> None:
    with current_app.connection_for_write() as connection:
        assert isinstance(connection.transport, Transport)


def test_an_ack_after_the_connection_dropped_is_logged_not_fatal(
    require_redis: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Connection(current_app.conf.broker_url, transport=Transport) as connection:
        channel = connection.channel()
        message = Message(channel=channel, delivery_tag="lost-1", body=b"{}")
        channel.close()  # what the consumer does with its channels when the broker goes away

        with pytest.raises(redis.exceptions.ConnectionError):
            channel.basic_ack("lost-1")
        message.ack_log_error(logging.getLogger("test"), connection.connection_errors)

    assert "Couldn't ack" in caplog.text


def test_restoring_unacked_tasks_through_a_channel_whose_connection_is_gone_is_a_connection_error(
    require_redis: str,
) -> None:
    with Connection(current_app.conf.broker_url, transport=Transport) as connection:
        channel = connection.channel()
        channel.connection.client = None  # what closing the lost connection leaves behind

        with pytest.raises(redis.exceptions.ConnectionError):
            channel.qos.restore_unacked()
        channel.connection.client = connection
