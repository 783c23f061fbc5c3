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
    429: "Too many requests for this key, or this customer on /inbox/ (`throttled`); `details.retry_after` "
    "says when to retry.",
}


def error_response(status: int, description: str | None = None) -> OpenApiResponse:
    """An error response in the envelope, for `@extend_schema(responses={409: error_response(409, ...)})`."""
    return OpenApiResponse(ErrorSerializer, description=description or ERROR_DESCRIPTIONS[status])


# The customer's browser's routes (apps/inbox), with an inbox token instead of an API key.
BROWSER_PREFIX = "/inbox/"


class AutoSchema(SpectacularAutoSchema):
    """Adds to every /api/v1/ and /inbox/ operation the errors it can answer, besides those a view
    declares."""

    def _error_statuses(self) -> set[int]:
        browser = self.path.startswith(BROWSER_PREFIX)  # an inbox token: no key, no scope
        statuses = {401, 429}
        if self.method in ("POST", "PUT", "PATCH", "DELETE") and not browser:
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
        if not self.path.startswith(("/api/v1/", BROWSER_PREFIX)):
            return responses
        for status in sorted(self._error_statuses()):
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(
                    error_response(status), str(status), direction=direction
                )
        return responses


# --- The document states what the server enforces (postprocessing hook) ---

INT64_BOUNDS = {"minimum": -(2**63), "maximum": 2**63 - 1}
# Besides its own fields, an operation's path parameter is filled from the creating answer's `id`;
# these take another property of it.
LINK_SOURCES = {"version": "$response.body#/version"}
# Rules across fields of a request body, which the server enforces and a serializer cannot state
# (component name -> schema keywords merged in): filled by the apps that own the components.
COMPONENT_RULES: dict[str, dict[str, Any]] = {}
# Creating operations whose objects are read elsewhere than under their own path.
EXTRA_LINKS = {"v1_notifications_send_create": "/api/v1/notifications/status/"}


def _strict_request_schema(schema: Any) -> None:
    """Request bodies: no properties beyond the documented ones, no NUL in free text, integers
    within 64 bits: what the parser and `validated()` refuse, stated where a client generator sees it."""
    from apps.api_gateway.json_values import NO_NUL, NON_BLANK

    if not isinstance(schema, dict):
        return
    for keyword in ("oneOf", "anyOf", "allOf"):
        for option in schema.get(keyword, []):
            _strict_request_schema(option)
    if schema.get("type") == "string" and not {"enum", "pattern", "format", "$ref"} & set(schema):
        # A required text must hold more than whitespace (DRF trims it, or StrictCharField checks).
        schema["pattern"] = NON_BLANK if schema.get("minLength", 0) >= 1 else NO_NUL
    if schema.get("type") == "integer":
        for bound, value in INT64_BOUNDS.items():
            schema.setdefault(bound, value)
    if schema.get("type") == "array":
        _strict_request_schema(schema.get("items"))
    if "properties" in schema:
        schema.setdefault("additionalProperties", False)
        for child in schema["properties"].values():
            _strict_request_schema(child)


def _bodies_required(result: dict[str, Any]) -> None:
    """A body that `{}` cannot satisfy (a required property, a rule across properties) must be sent:
    an empty request is a 400, as an empty object is."""
    components = result.get("components", {}).get("schemas", {})
    for item in result.get("paths", {}).values():
        for operation in item.values():
            body = operation.get("requestBody")
            ref = ((body or {}).get("content", {}).get("application/json", {}).get("schema") or {}).get(
                "$ref", ""
            )
            component = components.get(ref.rsplit("/", 1)[-1], {})
            if {"required", "oneOf", "anyOf", "allOf"} & set(component):
                body["required"] = True


def _strict_query_parameters(paths: dict[str, Any]) -> None:
    """Query filters of free text: no NUL, and more than whitespace when they may not be blank."""
    from apps.api_gateway.json_values import NO_NUL, NON_BLANK

    for item in paths.values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                free_text = schema.get("type") == "string" and not {"enum", "pattern", "format"} & set(schema)
                if parameter["in"] == "query" and free_text:
                    schema["pattern"] = NON_BLANK if schema.get("minLength", 0) >= 1 else NO_NUL


def _links(paths: dict[str, Any]) -> None:
    """OpenAPI links from each creating operation to the operations that use the new object's id, so
    generated clients and stateful tests can walk create -> read -> change -> delete."""
    for path, item in paths.items():
        create = item.get("post")
        if create is None or "{" in path:
            continue
        prefix = EXTRA_LINKS.get(create["operationId"], path)
        links: dict[str, Any] = {}
        for other_path, other_item in paths.items():
            if not other_path.startswith(prefix + "{"):
                continue
            for operation in other_item.values():
                names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
                links[operation["operationId"]] = {
                    "operationId": operation["operationId"],
                    "parameters": {
                        name: LINK_SOURCES.get(name, "$response.body#/id") if i else "$response.body#/id"
                        for i, name in enumerate(names)
                    },
                }
        if links:
            for code in ("200", "201", "202"):
                if code in create["responses"]:
                    create["responses"][code]["links"] = links


def document_what_is_enforced(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):
            _strict_request_schema(component)
    for name, rules in COMPONENT_RULES.items():
        component = result["components"]["schemas"].get(name)
        if component is not None:
            component.update(rules)
    _bodies_required(result)
    _strict_query_parameters(result.get("paths", {}))
    _links(result.get("paths", {}))
    return result
