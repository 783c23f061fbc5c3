"""The browser's inbox token in the OpenAPI document (loaded in InboxConfig.ready)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class InboxTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.inbox.api.InboxTokenAuthentication"
    name = "InboxToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An inbox token (POST /api/v1/customers/{id}/inbox-token/); or `?token=`.",
        }
