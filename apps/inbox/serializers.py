"""The inbox's API shapes, shared by the shop's API (API key) and the browser's (inbox token)."""

from typing import Any

from rest_framework import serializers

from apps.api_gateway.schema import COMPONENT_RULES
from apps.api_gateway.serializers import FilterSerializer
from apps.inbox.models import InboxItem
from apps.inbox.selectors import STATUSES
from apps.inbox.services import MARKS

MAX_MARK_IDS = 1000


class InboxItemSerializer(serializers.ModelSerializer):
    """Also the `data` of a stream's `notification` event (apps.inbox.services.item_data)."""

    class Meta:
        model = InboxItem
        fields = (
            "id",
            "notification",
            "category",
            "subject",
            "body",
            "created_at",
            "seen_at",
            "read_at",
            "archived_at",
        )


class InboxFilterSerializer(FilterSerializer):
    status = serializers.ChoiceField(
        choices=STATUSES, required=False, help_text="By default every item not archived."
    )


class InboxCountsSerializer(serializers.Serializer):
    unseen = serializers.IntegerField(help_text="Items not archived and never seen.")
    unread = serializers.IntegerField(help_text="Items not archived and not read.")
    total = serializers.IntegerField(help_text="Items not archived.")


class InboxMarkSerializer(serializers.Serializer):
    """{"ids": [...]} or {"all": true}, and what to mark them `as`."""

    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        min_length=1,
        max_length=MAX_MARK_IDS,
    )
    all = serializers.BooleanField(required=False, help_text="Every item not archived.")

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        # `as` is a Python keyword, so it cannot be declared as a class attribute.
        fields["as"] = serializers.ChoiceField(choices=MARKS, help_text="Marking read also marks seen.")
        return fields

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if "all" in data and data["all"] is not True:
            raise serializers.ValidationError({"all": ['Only true: leave "all" out to mark by "ids".']})
        if ("ids" in data) == ("all" in data):
            raise serializers.ValidationError({"ids": ['Give "ids" or "all": true (one of them).']})
        return data


# The rule between the fields, as the document states it (apps.api_gateway.schema).
COMPONENT_RULES["InboxMarkRequest"] = {
    "oneOf": [
        {"required": ["ids"], "not": {"required": ["all"]}},
        {"required": ["all"], "properties": {"all": {"const": True}}, "not": {"required": ["ids"]}},
    ]
}


class InboxMarkOutputSerializer(serializers.Serializer):
    updated = serializers.IntegerField(help_text="Items whose state changed.")


class InboxTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="For the browser: `?token=` or `Authorization: Bearer`.")
    expires_at = serializers.DateTimeField()
