from typing import Any

from django.apps import AppConfig


def _forget_api_key(instance: Any = None, created: bool = False, **_: Any) -> None:
    """A key saved (revoked, changed) or deleted: drop its cache entry once committed."""
    from apps.api_gateway.authentication import api_key_cache_key
    from core.cache import forget_on_commit

    if instance is not None and instance.prefix and not created:  # nothing cached yet
        forget_on_commit(api_key_cache_key(instance.prefix))


class ApiGatewayConfig(AppConfig):
    name = "apps.api_gateway"
    label = "api_gateway"
    verbose_name = "API gateway"

    def ready(self) -> None:
        from django.core.signals import request_finished, request_started
        from django.db.models.signals import post_delete, post_save

        from core.cache import scope_begin, scope_end

        # Each request reads a cache key from Redis at most once (core.cache).
        request_started.connect(scope_begin, dispatch_uid="cache-scope-begin")
        request_finished.connect(scope_end, dispatch_uid="cache-scope-end")

        from apps.api_gateway import schema  # noqa: F401 - registers the OpenAPI auth extension
        from apps.api_gateway.models import ApiKey

        post_save.connect(_forget_api_key, sender=ApiKey, dispatch_uid="api-key-cache")
        post_delete.connect(_forget_api_key, sender=ApiKey, dispatch_uid="api-key-cache-delete")
