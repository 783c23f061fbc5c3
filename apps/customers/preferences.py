"""Preferences: which channels a customer wants per category, quiet hours, and one-click unsubscribe.

An unsubscribe link carries a signed and timestamped (customer, category, channel) triple: whoever
holds the email may use it, without logging in, for UNSUBSCRIBE_TOKEN_MAX_AGE seconds (400 days by
default: longer than anyone keeps using an old email), and nobody can forge one for another customer
(RFC 8058).
"""

from datetime import time
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction

from apps.customers.models import Category, Customer, configured_channel_names

UNSUBSCRIBE_SALT = "customers.unsubscribe"


def preferences_of(customer: Customer) -> dict[str, Any]:
    """The full picture: every category with every configured channel, defaults filled in."""
    channels = configured_channel_names()
    quiet = None
    if customer.quiet_hours_start is not None and customer.quiet_hours_end is not None:
        quiet = {
            "start": customer.quiet_hours_start.strftime("%H:%M"),
            "end": customer.quiet_hours_end.strftime("%H:%M"),
        }
    return {
        "time_zone": customer.time_zone,
        "quiet_hours": quiet,
        "categories": {
            category: {channel: customer.accepts(category, channel) for channel in channels}
            for category in Category.values
        },
        "digest": customer.digests or {},
    }


@transaction.atomic
def preferences_update(*, customer: Customer, data: dict[str, Any]) -> Customer:
    """Replace the preferences (PUT): categories or channels not named are switched on again."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    customer.preferences = {
        category: {channel: bool(on) for channel, on in channels.items()}
        for category, channels in (data.get("categories") or {}).items()
    }
    customer.digests = data.get("digest") or {}  # left out: cleared (held messages still go)
    customer.time_zone = data.get("time_zone") or "UTC"
    quiet: dict[str, time] | None = data.get("quiet_hours")
    customer.quiet_hours_start = quiet["start"] if quiet else None
    customer.quiet_hours_end = quiet["end"] if quiet else None
    customer.full_clean()
    customer.save()
    return customer


@transaction.atomic
def preference_set(*, customer_id: int, channel: str, on: bool, categories: list[str] | None = None) -> None:
    """Switch one channel on or off in the given categories (all by default), keeping the rest."""
    customer = Customer.objects.select_for_update().get(pk=customer_id)
    customer.preferences = with_channel(customer.preferences, channel=channel, on=on, categories=categories)
    customer.save(update_fields=["preferences", "updated_at"])


def with_channel(
    preferences: dict[str, dict[str, bool]], *, channel: str, on: bool, categories: list[str] | None = None
) -> dict[str, dict[str, bool]]:
    """A copy of `preferences` with `channel` on or off in `categories` (all by default)."""
    changed = {category: dict(channels) for category, channels in preferences.items()}
    for category in categories or Category.values:
        changed.setdefault(category, {})[channel] = on
    return changed


def unsubscribe_token(*, customer_id: int, category: str, channel: str = "email") -> str:
    signer = signing.TimestampSigner(salt=UNSUBSCRIBE_SALT)
    return signer.sign_object([customer_id, category, channel], compress=True)


def unsubscribe_url(*, customer_id: int, category: str, channel: str = "email") -> str:
    token = unsubscribe_token(customer_id=customer_id, category=category, channel=channel)
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/unsubscribe/{token}/"


def unsubscribe_read(token: str) -> tuple[Customer, str, str] | None:
    """The customer, category and channel a token names; None if forged, damaged or expired."""
    signer = signing.TimestampSigner(salt=UNSUBSCRIBE_SALT)
    try:
        customer_id, category, channel = signer.unsign_object(
            token, max_age=settings.UNSUBSCRIBE_TOKEN_MAX_AGE
        )
    except (signing.BadSignature, ValueError, TypeError):  # SignatureExpired is a BadSignature
        return None
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None or category not in Category.values:
        return None
    return customer, category, channel
