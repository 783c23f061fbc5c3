"""One error envelope for every API error: {"error": {"code", "message", "details"}}."""

import logging
from typing import Any, cast

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An API error with a stable code and optional structured details."""

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state of the resource."


class ReferenceNotFound(ApiError):
    """The body names an object (by id) that does not exist: 404, as for the object's own URL, with
    the field in `details` (JSON:API answers a missing related resource the same way)."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"
    default_detail = "The body refers to an object that does not exist."


def reference_not_found(field: str, message: str) -> ReferenceNotFound:
    return ReferenceNotFound(message, details={field: [message]})


class UnprocessableEntity(ApiError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "unprocessable_entity"
    default_detail = "The request cannot be processed."


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_json(status_code: int, code: str, message: str, details: Any = None) -> JsonResponse:
    """The envelope as a plain Django response, for errors raised outside DRF views."""
    return JsonResponse(error_body(code, message, details), status=status_code)


def _code_of(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "validation_error"
    return str(getattr(exc, "default_code", "error"))


def _message_of(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "The request is not valid; see details."
    detail = exc.detail
    if isinstance(detail, list | dict):
        return str(exc.default_detail)
    return str(detail)


def _uniqueness_clash(exc: DjangoValidationError) -> bool:
    """Every error is a unique constraint's (code `unique` or `unique_together`): the request is
    well-formed and conflicts with a stored object, which is a 409 rather than a 400."""
    if not hasattr(exc, "error_dict"):
        return False
    codes = {error.code for errors in exc.error_dict.values() for error in errors}
    return bool(codes) and codes <= {"unique", "unique_together"}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, DjangoValidationError) and _uniqueness_clash(exc):
        exc = Conflict("An object with these unique values exists.", details=as_serializer_error(exc))
    elif isinstance(exc, DjangoValidationError):
        detail = as_serializer_error(exc)
        if NON_FIELD_ERRORS in detail:
            detail[api_settings.NON_FIELD_ERRORS_KEY] = detail.pop(NON_FIELD_ERRORS)
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        # Not an API error: a bug. Log it with its traceback, roll back, and still answer JSON.
        logger.exception("Unhandled error in API view", exc_info=exc)
        set_rollback()
        return Response(
            error_body("server_error", "An internal error occurred."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    exc = cast(exceptions.APIException, exc)  # drf_exception_handler answers only these
    details: Any = getattr(exc, "details", None)
    if isinstance(exc, exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        if isinstance(details.get("reason"), list) and len(details["reason"]) == 1:
            # `reason` beside the field errors is one machine-readable word (e.g. template_limit),
            # which DRF's validation wraps in a list like any message.
            details = {**details, "reason": str(details["reason"][0])}
    elif isinstance(exc, exceptions.Throttled) and response.has_header("Retry-After"):
        details = {"retry_after": int(response["Retry-After"])}
    response.data = error_body(_code_of(exc), _message_of(exc), details)
    return response
