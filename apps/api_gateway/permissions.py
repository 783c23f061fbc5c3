"""Every /api/v1/ endpoint needs a valid key, and the scope its view names for the request's method
(apps.api_gateway.scopes). A key made before scopes: reads, and writes unless it is read-only."""

from typing import Any

from rest_framework import exceptions, permissions
from rest_framework.request import Request

from apps.api_gateway.scopes import legacy_allows, required_scope


class ScopeMissing(exceptions.PermissionDenied):
    """403 `permission_denied` with `details.required` (the envelope shows an exception's `details`).
    (Not an apps.api_gateway.exceptions.ApiError: that module imports DRF's views, which import this.)"""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class HasValidApiKey(permissions.BasePermission):
    message = "This API key is read-only."

    def has_permission(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        if api_key is None:
            return False  # DRF turns this into 401 because an authenticator offers a header
        stored = getattr(api_key, "scopes", None)
        if stored is None:
            return legacy_allows(
                request.method or "GET", can_write=bool(getattr(api_key, "can_write", False))
            )
        required = required_scope(getattr(view, "scopes", None), request.method or "GET")
        if required is None:
            raise ScopeMissing("This endpoint names no scope: no scoped key may call it.")
        if required not in stored:
            raise ScopeMissing(f"This API key lacks the scope `{required}`.", details={"required": required})
        return True
