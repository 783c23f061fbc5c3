"""Free-form JSON in request bodies (a send's `context`), described once and used twice: the
OpenAPI document shows this schema, and the server validates with the very same one (jsonschema),
so a client generated from the document and the server agree on what a context may hold.

The bounds are what the strict parser and the database accept anyway (no NUL, integers within 64
bits) plus sizes a message's context has no need to pass: 50 properties or items per level, texts of
2,000 characters, three levels of nesting.
"""

from typing import Any

import jsonschema
from drf_spectacular.utils import extend_schema_field
from jsonschema.exceptions import best_match
from rest_framework import serializers

# ECMA-262 and Python read this pattern alike: text without NUL, which PostgreSQL cannot store.
NO_NUL = "^[^\\x00]*$"
# Python's whitespace (str.isspace, what DRF trims), spelled out: ECMA-262's \\s differs from it.
WHITESPACE = "\\t-\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
NON_BLANK = f"^[^\\x00]*[^\\x00{WHITESPACE}][^\\x00]*$"  # and at least one character that is not whitespace
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_ITEMS = 50
MAX_TEXT = 2000
MAX_KEY = 64
MAX_DEPTH = 3


def text_schema(max_length: int = MAX_TEXT) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length, "pattern": NO_NUL}


def json_value_schema(depth: int = MAX_DEPTH) -> dict[str, Any]:
    """A JSON value nested at most `depth` levels below this one."""
    scalars: list[dict[str, Any]] = [
        text_schema(),
        {"type": "number", "minimum": INT64_MIN, "maximum": INT64_MAX},
        {"type": "boolean"},
        {"type": "null"},
    ]
    if depth == 0:
        return {"anyOf": scalars}
    return {"anyOf": [*scalars, json_array_schema(depth - 1), json_object_schema(depth - 1)]}


def json_array_schema(depth: int) -> dict[str, Any]:
    return {"type": "array", "maxItems": MAX_ITEMS, "items": json_value_schema(depth)}


def json_object_schema(depth: int) -> dict[str, Any]:
    return {
        "type": "object",
        "maxProperties": MAX_ITEMS,
        "propertyNames": {"maxLength": MAX_KEY, "pattern": NO_NUL},
        "additionalProperties": json_value_schema(depth),
    }


CONTEXT_SCHEMA = {
    **json_object_schema(MAX_DEPTH - 1),
    "description": "Values the template may use besides `customer` and `order`.",
    "example": {"coupon": "WELCOME10", "items": [{"name": "Tea", "quantity": 2}]},
}
_context_validator = jsonschema.Draft202012Validator(CONTEXT_SCHEMA)


@extend_schema_field(CONTEXT_SCHEMA)
class ContextField(serializers.Field):
    """An object of template values within CONTEXT_SCHEMA's bounds; anything else is a 400."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        error = best_match(_context_validator.iter_errors(data))
        if error is not None:
            where = "".join(f"[{p!r}]" for p in error.absolute_path)
            raise serializers.ValidationError(f"context{where}: {error.message[:200]}")
        return dict(data)

    def to_representation(self, value: Any) -> Any:
        return value
