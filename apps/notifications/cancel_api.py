"""Cancelling notifications: one by id, or every one of the caller's API key sent with a
`cancellation_key` (DESIGN section 14)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api_gateway.exceptions import Conflict
from apps.api_gateway.schema import error_response
from apps.api_gateway.scopes import Scope, every_method
from apps.api_gateway.serializers import StrictCharField, validated
from apps.notifications.cancellation import (
    NothingToCancel,
    notification_cancel,
    notifications_cancel_by_key,
)
from apps.notifications.output import NotificationOutputSerializer, notification_output
from apps.notifications.selectors import notification_get


class NotCancellable(Conflict):
    default_code = "not_cancellable"
    default_detail = (
        "Nothing of this notification is left to cancel: every delivery was handed to a provider or is final."
    )


class CancelByKeyInputSerializer(serializers.Serializer):
    cancellation_key = StrictCharField(max_length=200)


class CancelByKeyOutputSerializer(serializers.Serializer):
    cancelled = serializers.IntegerField(help_text="Notifications that had something cancelled.")


class NotificationCancelApi(APIView):
    scopes = every_method(Scope.NOTIFICATIONS_SEND)

    @extend_schema(
        operation_id="notification_cancel",
        request=None,
        responses={
            200: NotificationOutputSerializer,
            409: error_response(409, "Nothing left to cancel (`not_cancellable`)."),
        },
    )
    def post(self, request: Request, notification_id: str) -> Response:
        """Cancel every delivery of the notification not yet handed to a provider (waiting, scheduled or
        retrying); one being sent at this moment goes out."""
        try:
            notification = notification_cancel(notification_get(notification_id))
        except NothingToCancel:
            raise NotCancellable() from None
        return Response(notification_output(notification_get(notification.pk)))


class NotificationCancelByKeyApi(APIView):
    scopes = every_method(Scope.NOTIFICATIONS_SEND)

    @extend_schema(
        operation_id="notifications_cancel_by_key",
        request=CancelByKeyInputSerializer,
        responses=CancelByKeyOutputSerializer,
    )
    def post(self, request: Request) -> Response:
        """Cancel every notification sent by this API key with this `cancellation_key` that has something
        left to cancel; answers how many (0 when none had)."""
        data = validated(CancelByKeyInputSerializer, request.data)
        cancelled = notifications_cancel_by_key(
            api_key=request.auth, cancellation_key=data["cancellation_key"]
        )
        return Response({"cancelled": cancelled})
