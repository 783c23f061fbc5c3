"""`Authorization: Api-Key <key>` authentication; a missing or bad key is 401 with WWW-Authenticate."""

from dataclasses import dataclass
from typing import Any, cast

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from apps.api_gateway.models import ApiKey

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


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiClient, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        keyword, _, key = header.partition(" ")
        if keyword.lower() != KEYWORD.lower():
            return None  # no key at all: the permission check answers 401 not_authenticated
        key = key.strip()
        if not key:
            raise exceptions.AuthenticationFailed("The API key is empty.")
        try:
            api_key = ApiKey.objects.get_from_key(key)
        except ApiKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("The API key is not valid.") from None
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("The API key has expired.")
        return ApiClient(api_key=cast(ApiKey, api_key)), cast(ApiKey, api_key)

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD
