"""Helpers shared by the apps' API serializers."""

from typing import Any, TypeVar

from rest_framework import serializers

S = TypeVar("S", bound=serializers.Serializer)


def validated(serializer_class: type[S], data: Any, **kwargs: Any) -> dict[str, Any]:
    """Validate input with a serializer and return its data; invalid input raises 400."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of silently turning them into text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class FilterSerializer(serializers.Serializer):
    """Query filters: a parameter given with an empty value is an error, not silently ignored (DRF
    ignores blank form values of optional fields), so `?status=` cannot look like a filter that matched."""

    def to_internal_value(self, data: Any) -> Any:
        blank = [
            name
            for name, field in self.fields.items()
            if data.get(name) == "" and not getattr(field, "allow_blank", False)
        ]
        if blank:
            raise serializers.ValidationError(
                {name: ["Give a value or leave the parameter out."] for name in blank}
            )
        return super().to_internal_value(data)
