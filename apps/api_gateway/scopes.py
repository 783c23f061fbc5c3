"""API key scopes: what a key may do. Each API view names the scope each of its methods needs; a key
without it gets 403 `permission_denied` naming the scope in `details.required`. A key made before scopes
existed has none stored and keeps what it could do (reads, and writes if it was not read-only)."""

from collections.abc import Iterable, Mapping

from django.db import models

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class Scope(models.TextChoices):
    CUSTOMERS_READ = "customers:read", "Read customers and their preferences"
    CUSTOMERS_WRITE = "customers:write", "Create and change customers and their preferences"
    ORDERS_READ = "orders:read", "Read orders"
    ORDERS_WRITE = "orders:write", "Create orders and change their status"
    NOTIFICATIONS_READ = "notifications:read", "Read notifications, their status and history"
    NOTIFICATIONS_SEND = "notifications:send", "Send and cancel notifications"
    TEMPLATES_READ = "templates:read", "Read and preview templates"
    TEMPLATES_WRITE = "templates:write", "Create, change and delete templates"
    WEBHOOKS_MANAGE = "webhooks:manage", "Manage webhook endpoints"
    SUPPRESSIONS_MANAGE = "suppressions:manage", "Read and change the suppression list"
    INBOX = "inbox", "Read and mark customers' in-app inboxes, issue inbox tokens"
    OPERATIONS = "operations", "Dead letters, replays and broadcasts"


ALL_SCOPES: tuple[str, ...] = tuple(Scope.values)


def area(read: str, write: str) -> dict[str, str]:
    """The usual pair: safe methods need `read`, the others `write`."""
    return dict.fromkeys(SAFE_METHODS, read) | dict.fromkeys(("POST", "PUT", "PATCH", "DELETE"), write)


def every_method(scope: str) -> dict[str, str]:
    return dict.fromkeys((*SAFE_METHODS, "POST", "PUT", "PATCH", "DELETE"), scope)


def required_scope(scopes: Mapping[str, str] | None, method: str) -> str | None:
    """The scope `method` needs on a view declaring `scopes` (None: the view declares none)."""
    if scopes is None:
        return None
    return scopes.get(method.upper())


def scopes_parse(text: str) -> list[str]:
    """`a,b,c` into known scopes; ValueError naming the unknown ones."""
    given = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(given) - set(ALL_SCOPES))
    if unknown:
        raise ValueError(f"Unknown scopes: {', '.join(unknown)}. Known: {', '.join(ALL_SCOPES)}.")
    return sorted(set(given))


def legacy_allows(method: str, *, can_write: bool) -> bool:
    return method.upper() in SAFE_METHODS or can_write


def scopes_of(stored: Iterable[str] | None) -> frozenset[str] | None:
    return None if stored is None else frozenset(stored)
