"""Every /api/v1/ endpoint needs a valid key; writes need a key that may write."""

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request


class HasValidApiKey(permissions.BasePermission):
    message = "This API key is read-only."

    def has_permission(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        if api_key is None:
            return False  # DRF turns this into 401 because an authenticator offers a header
        return request.method in permissions.SAFE_METHODS or bool(getattr(api_key, "can_write", False))
