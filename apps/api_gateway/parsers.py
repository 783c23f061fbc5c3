"""The API's JSON parser: DRF's, made strict about what a hostile client can send.

Every body that is not plain, finite, UTF-8 JSON of bounded depth is a 400 `parse_error` (415 for a
charset other than UTF-8) before any view sees it: Python's parser would otherwise hand on deep
nesting as a RecursionError, `1e999` as infinity, `"\\ud800"` or `"\\u0000"` as a string PostgreSQL
cannot store, and integers no database column holds.
"""

import codecs
import json
import math
import re
from typing import Any

from django.conf import settings
from django.utils.http import parse_header_parameters
from rest_framework import parsers
from rest_framework.exceptions import ParseError, UnsupportedMediaType

INT64 = 2**63
# Escapes of a UTF-16 surrogate or of NUL: only these can put a lone surrogate (which UTF-8 cannot
# encode) or a NUL (which PostgreSQL text and jsonb refuse) into a parsed string.
SUSPECT_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _int64(text: str) -> int:
    value = int(text)
    if not -INT64 <= value < INT64:
        raise ValueError(f"integer {text[:20]}... is out of range (64-bit signed integers only)")
    return value


def _check_structure(data: Any, *, max_depth: int, strings: bool) -> None:
    """Refuse nesting deeper than max_depth and, when `strings`, text no database can store."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > max_depth:
                raise ParseError(f"JSON nested deeper than {max_depth} levels.")
            if isinstance(value, dict):
                if strings:
                    stack.extend((key, depth) for key in value)
                stack.extend((item, depth + 1) for item in value.values())
            else:
                stack.extend((item, depth + 1) for item in value)
        elif strings and isinstance(value, str) and UNSTORABLE.search(value):
            raise ParseError(
                "JSON parse error - a string holds NUL (\\u0000) or a lone UTF-16 surrogate "
                "(\\uD800-\\uDFFF)."
            )


class StrictJSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        _, params = parse_header_parameters(media_type or "")
        charset = params.get("charset")
        if charset is not None:
            try:
                name = codecs.lookup(charset).name
            except LookupError:
                name = ""
            if name != "utf-8":
                raise UnsupportedMediaType(media_type or "", detail="JSON bodies must be UTF-8 (RFC 8259).")
        return json_strict(stream.read() if stream is not None else b"")


def json_strict(raw: bytes) -> Any:
    """Parse a JSON body as the API does (views outside DRF use it too); ParseError when it is not
    plain, finite UTF-8 JSON of bounded depth."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"JSON parse error - the body is not valid UTF-8 (byte {exc.start}).") from None
    if text.startswith("\ufeff"):
        raise ParseError("JSON parse error - the body starts with a byte order mark; send plain UTF-8.")
    try:
        data = json.loads(text, parse_constant=_constant, parse_float=_finite_float, parse_int=_int64)
    except RecursionError:
        raise ParseError(f"JSON nested deeper than {settings.API_JSON_MAX_DEPTH} levels.") from None
    except ValueError as exc:
        raise ParseError(f"JSON parse error - {exc}") from None
    _check_structure(data, max_depth=settings.API_JSON_MAX_DEPTH, strings=bool(SUSPECT_ESCAPE.search(text)))
    return data
