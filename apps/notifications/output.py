"""Notifications as the API shows them: what NotificationOutputSerializer documents, built without
DRF's per-field machinery (on the send path that cost a fifth of the request). A test holds the two
equal."""

from typing import Any

from rest_framework import serializers

from apps.notifications.models import AttemptOutcome, Delivery, DeliveryAttempt, Notification
from core.utils.prefetch import prefetched

_datetime = serializers.DateTimeField().to_representation


def _moment(value: Any) -> str | None:
    return None if value is None else _datetime(value)


def _attempt_error(attempt: DeliveryAttempt) -> str:
    return f"{attempt.error_code}: {attempt.error_text}" if attempt.error_code else attempt.error_text


def delivery_output(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.pk,
        "channel": delivery.channel,
        "status": delivery.status,
        "skip_reason": delivery.skip_reason,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "provider_message_id": delivery.provider_message_id,
        "next_attempt_at": _moment(delivery.next_attempt_at),
        "sent_at": _moment(delivery.sent_at),
        "provider": delivery.provider,
        "attempt_log": [
            {
                "at": _moment(a.started_at),
                "provider": a.provider,
                "outcome": a.outcome,
                "error": _attempt_error(a),
            }
            for a in prefetched(delivery, "attempt_log")
        ],
        "events": [
            {"type": e.event_type, "at": _moment(e.occurred_at), "detail": e.detail}
            for e in prefetched(delivery, "provider_events")
        ],
    }


def notification_output(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.pk,
        "customer": notification.customer_id,
        "status": notification.status,
        "event": notification.event,
        "category": notification.category,
        "strategy": notification.strategy,
        "priority": notification.priority,
        "order_id": notification.order_id,
        "send_at": _moment(notification.send_at),
        "cancellation_key": notification.cancellation_key,
        "created_at": _moment(notification.created_at),
        "deliveries": [delivery_output(d) for d in notification.deliveries.all()],
    }


class AttemptOutputSerializer(serializers.Serializer):
    at = serializers.DateTimeField(source="started_at")
    provider = serializers.CharField(help_text="The email provider called (blank for other channels).")
    outcome = serializers.ChoiceField(choices=AttemptOutcome.choices)
    error = serializers.SerializerMethodField()

    def get_error(self, attempt: DeliveryAttempt) -> str:
        return _attempt_error(attempt)


class ProviderEventOutputSerializer(serializers.Serializer):
    type = serializers.CharField(
        source="event_type", help_text="anymail's normalised event type: delivered, bounced, complained..."
    )
    at = serializers.DateTimeField(source="occurred_at")
    detail = serializers.CharField()


class DeliveryOutputSerializer(serializers.ModelSerializer):
    attempt_log = AttemptOutputSerializer(many=True, read_only=True)
    events = ProviderEventOutputSerializer(
        source="provider_events",
        many=True,
        read_only=True,
        help_text="The provider's tracking events for this delivery, in order.",
    )

    class Meta:
        model = Delivery
        fields = (
            "id",
            "channel",
            "status",
            "skip_reason",
            "attempts",
            "last_error",
            "provider_message_id",
            "next_attempt_at",
            "sent_at",
            "provider",
            "attempt_log",
            "events",
        )


class NotificationOutputSerializer(serializers.ModelSerializer):
    deliveries = DeliveryOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Notification
        fields = (
            "id",
            "customer",
            "status",
            "event",
            "category",
            "strategy",
            "priority",
            "order_id",
            "send_at",
            "cancellation_key",
            "created_at",
            "deliveries",
        )
