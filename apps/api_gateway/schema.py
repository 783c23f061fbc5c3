"""OpenAPI (drf-spectacular) extensions: how clients authenticate, and the errors every operation can
answer, each in the error envelope, so a generated client knows them all."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.api_gateway.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`; `python manage.py create_api_key NAME` prints a key.",
        }


class ErrorSerializer(serializers.Serializer):
    """{"error": {"code", "message", "details"}}: every 4xx and 5xx of the API."""

    error = inline_serializer(
        name="ErrorBody",
        fields={
            "code": serializers.CharField(help_text="Stable snake_case code, e.g. `validation_error`."),
            "message": serializers.CharField(help_text="For people; may change."),
            "details": serializers.DictField(help_text="Field errors or structured facts about the error."),
        },
    )


ERROR_DESCRIPTIONS = {
    400: "The body or a query value is not valid (`validation_error`, `parse_error`).",
    401: "No API key or an unknown or revoked one (`not_authenticated`, `authentication_failed`).",
    403: "The key is read-only (`permission_denied`).",
    404: "No such object, page or cursor (`not_found`).",
    409: "The request conflicts with the object's state.",
    413: "The body is larger than API_MAX_BODY_BYTES (`request_too_large`).",
    415: "The body is not UTF-8 JSON (`unsupported_media_type`).",
    422: "The request is well-formed but cannot be processed.",
    429: "Too many requests for this key (`throttled`); `details.retry_after` says when to retry.",
}


def error_response(status: int, description: str | None = None) -> OpenApiResponse:
    """An error response in the envelope, for `@extend_schema(responses={409: error_response(409, ...)})`."""
    return OpenApiResponse(ErrorSerializer, description=description or ERROR_DESCRIPTIONS[status])


class AutoSchema(SpectacularAutoSchema):
    """Adds to every /api/v1/ operation the errors it can answer, besides those a view declares."""

    def _error_statuses(self) -> set[int]:
        statuses = {401, 429}
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            statuses |= {403}
        if self.method in ("POST", "PUT", "PATCH"):
            statuses |= {400, 413, 415}
        if self.method == "GET" and self._is_list_view():
            statuses |= {400, 404}  # filters are validated; a page or cursor that does not exist is 404
        if "{" in self.path:
            statuses |= {404}
        return statuses

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if not self.path.startswith("/api/v1/"):
            return responses
        for status in sorted(self._error_statuses()):
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(
                    error_response(status), str(status), direction=direction
                )
        return responses
