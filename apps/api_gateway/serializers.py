"""Helpers shared by the apps' API serializers."""

from typing import Any, TypeVar

from django.http import QueryDict
from rest_framework import serializers

S = TypeVar("S", bound=serializers.Serializer)

UNKNOWN_FIELD = "Unknown field: the documented body has no such property."


def validated(serializer_class: type[S], data: Any, **kwargs: Any) -> dict[str, Any]:
    """Validate input with a serializer and return its data; invalid input raises 400.

    A body (not a query string) is held to its documented JSON types first, at any depth: a property
    the serializer does not know (the document says `additionalProperties: false`, and a misspelt
    optional field must not pass as if left out), or a value of another JSON type than the field's
    (DRF would turn `0` into false, `12` into "12" and a number into a price) is a 400."""
    serializer = serializer_class(data=data, **kwargs)
    if not isinstance(data, QueryDict):
        errors = body_errors(serializer, data)
        if errors:
            raise serializers.ValidationError(errors)
        serializer = serializer_class(data=_whole_numbers(serializer, data), **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _whole_numbers(field: Any, value: Any) -> Any:
    """`value` with each number an integer field holds as an int: JSON (and JSON Schema) count 3.0 as
    the integer 3, which DRF would refuse once written 3e0 or 1e17."""
    if isinstance(field, serializers.IntegerField) and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(field, serializers.Serializer) and isinstance(value, dict):
        return {k: _whole_numbers(field.fields[k], v) if k in field.fields else v for k, v in value.items()}
    child = getattr(field, "child", None)
    if child is not None and isinstance(value, list):
        return [_whole_numbers(child, item) for item in value]
    return value


def _json_types(field: serializers.Field) -> tuple[type, ...] | None:
    """The JSON types a field takes (as parsed: str, bool, int, float, list, dict), None for a custom
    field that checks its own input."""
    if isinstance(field, serializers.BooleanField):
        return (bool,)
    if isinstance(field, serializers.IntegerField):
        return (int, float)  # a float only when whole (_value_errors)
    if isinstance(field, serializers.FloatField):
        return (int, float)
    if isinstance(field, serializers.DecimalField):
        return (str,)  # money travels as a decimal string (COERCE_DECIMAL_TO_STRING)
    if isinstance(field, serializers.ChoiceField):
        names = field.choices
        return (str,) if all(isinstance(name, str) for name in names) else None
    if isinstance(field, serializers.CharField | serializers.DateTimeField | serializers.TimeField):
        return (str,)
    if isinstance(field, serializers.ListField | serializers.ListSerializer):
        return (list,)
    if isinstance(field, serializers.Serializer | serializers.DictField):
        return (dict,)
    return None


def _value_errors(field: serializers.Field, value: Any) -> Any:
    if value is None:
        return None  # the field's own allow_null decides
    types = _json_types(field)
    if isinstance(field, serializers.IntegerField) and isinstance(value, float) and not value.is_integer():
        return ["Give an integer."]
    if types is not None and (
        not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
    ):
        expected = {
            str: "a string",
            bool: "true or false",
            int: "an integer",
            list: "an array",
            dict: "an object",
        }
        return [f"Give {expected.get(types[0], 'a number')}, not {type(value).__name__}."]
    if isinstance(field, serializers.Serializer):
        return body_errors(field, value) or None
    child = getattr(field, "child", None)
    if isinstance(field, serializers.ListField | serializers.ListSerializer) and child is not None:
        items = {str(i): e for i, item in enumerate(value) if (e := _value_errors(child, item))}
        return items or None
    return None


def body_errors(serializer: serializers.Serializer, data: Any) -> dict[str, Any]:
    """{name: errors} for the properties of `data` the serializer has no writable field for and the
    values of another JSON type than their field's, nested serializers' errors under their name."""
    if not isinstance(data, dict):
        return {}  # not an object: the serializer's own validation says so
    errors: dict[str, Any] = {}
    writable = {name: field for name, field in serializer.fields.items() if not field.read_only}
    for name, value in data.items():
        field = writable.get(name)
        problem = [UNKNOWN_FIELD] if field is None else _value_errors(field, value)
        if problem:
            errors[str(name)] = problem
    return errors


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of silently turning them into text, and
    (when blank is not allowed) text of whitespace only even where whitespace is kept as sent."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if not self.allow_blank and not data.strip():
            self.fail("blank")
        if self.max_length is not None and len(data) > self.max_length:
            # Counted as sent (the document's maxLength), before DRF trims the whitespace around it.
            self.fail("max_length", max_length=self.max_length)
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
