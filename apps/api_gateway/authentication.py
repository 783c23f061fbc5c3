"""`Authorization: Api-Key <key>` authentication; a missing or bad key is 401 with WWW-Authenticate."""

from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from apps.api_gateway.models import ApiKey
from core.cache import cached

KEYWORD = "Api-Key"


@dataclass(frozen=True)
class ApiClient:
    """The caller behind a valid key; stands where DRF expects a user."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False

    @property
    def pk(self) -> Any:
        return self.api_key.pk


def api_key_cache_key(prefix: str) -> str:
    return f"apikey:{prefix}"


def api_key_verified(key: str) -> ApiKey | None:
    """The usable (not revoked) key `key` belongs to, or None. The row comes from the cache by its
    prefix, so a hit costs no query; the hash is checked every time. Saving or deleting a key drops
    its entry once committed (apps.api_gateway.apps), so a revoked key stops working at once."""
    prefix, _, _ = key.partition(".")
    if not prefix:
        return None
    api_key = cached(
        "api_keys",
        api_key_cache_key(prefix),
        lambda: ApiKey.objects.get_usable_keys().filter(prefix=prefix).first(),
        timeout=settings.CACHE_TIMEOUT,
    )
    if api_key is None or api_key.revoked or not api_key.is_valid(key):
        return None
    return cast(ApiKey, api_key)


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiClient, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        keyword, _, key = header.partition(" ")
        if keyword.lower() != KEYWORD.lower():
            return None  # no key at all: the permission check answers 401 not_authenticated
        key = key.strip()
        if not key:
            raise exceptions.AuthenticationFailed("The API key is empty.")
        api_key = api_key_verified(key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("The API key has expired.")
        return ApiClient(api_key=cast(ApiKey, api_key)), cast(ApiKey, api_key)

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD
