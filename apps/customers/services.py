"""Customer writes. Rules live in Customer.clean(), so the API and the admin enforce the same ones."""

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.customers.models import CHANNEL_CONTACT_FIELDS, Customer, TelegramLink
from apps.customers.preferences import preference_set, with_channel
from apps.customers.selectors import customer_forget

EDITABLE_FIELDS = ("name", "email", "phone", "telegram_chat_id", "language", "channels", "external_id")


def _save_validated(customer: Customer) -> Customer:
    customer.external_id = customer.external_id or None  # "" would collide with other blanks
    customer.full_clean()
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError as exc:  # a concurrent insert of the same external_id
        clash = ValidationError("A customer with this external_id exists.", code="unique")
        raise ValidationError({"external_id": [clash]}) from exc
    return customer


@transaction.atomic
def customer_create(**fields: Any) -> Customer:
    customer = Customer(**{k: v for k, v in fields.items() if k in EDITABLE_FIELDS})
    if "channels" not in fields or fields["channels"] is None:
        customer.channels = customer.default_channels()
    return _save_validated(customer)


def customer_mark_unreachable(*, customer_id: int, channel: str) -> None:
    """The provider refused this contact point for good: later notifications skip the channel."""
    customer = Customer.objects.select_for_update().get(pk=customer_id)
    if channel not in customer.unreachable_channels:
        customer.unreachable_channels = [*customer.unreachable_channels, channel]
        customer.save(update_fields=["unreachable_channels", "updated_at"])


def customer_change_contact(*, customer_id: int, channel: str, old: str, new: str) -> None:
    """The provider moved the contact (a Telegram group upgraded to a supergroup)."""
    field = CHANNEL_CONTACT_FIELDS[channel]
    if Customer.objects.filter(pk=customer_id, **{field: old}).update(**{field: new}):
        customer_forget(customer_id)  # update() sends no post_save


@transaction.atomic
def customer_update(*, customer: Customer, data: dict[str, Any], partial: bool) -> Customer:
    """PUT replaces every editable field (absent ones return to defaults); PATCH changes only those given."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if not partial:
        defaults = Customer()
        for field in EDITABLE_FIELDS:
            setattr(customer, field, getattr(defaults, field))
    before = {channel: customer.contact_for(channel) for channel in customer.unreachable_channels}
    for field, value in data.items():
        if field in EDITABLE_FIELDS:
            setattr(customer, field, value)
    customer.unreachable_channels = [
        c for c in customer.unreachable_channels if customer.contact_for(c) == before[c]
    ]
    if (not partial or "channels" in data) and data.get("channels") is None:  # absent or null
        customer.channels = customer.default_channels()
    return _save_validated(customer)


def telegram_link_store(*, customer: Customer, token_hash: str, expires_at: datetime) -> None:
    """A one-use deep-link token for linking a Telegram chat to the customer (stored as a hash)."""
    TelegramLink.objects.create(customer=customer, token_hash=token_hash, expires_at=expires_at)


@transaction.atomic
def telegram_link_use(*, token_hash: str, chat_id: str) -> Customer | None:
    """Link the chat to the customer of a valid, unused token: the chat becomes the customer's
    Telegram contact, accepted and reachable again, switched on in every category. None when the
    token is unknown, used or expired."""
    link = TelegramLink.objects.select_for_update().filter(token_hash=token_hash).first()
    if link is None or link.used_at is not None or link.expires_at <= timezone.now():
        return None
    link.used_at, link.chat_id = timezone.now(), chat_id
    link.save(update_fields=["used_at", "chat_id"])
    customer = Customer.objects.select_for_update().get(pk=link.customer_id)
    customer.telegram_chat_id = chat_id
    if "telegram" not in customer.channels:
        customer.channels = [*customer.channels, "telegram"]
    customer.unreachable_channels = [c for c in customer.unreachable_channels if c != "telegram"]
    customer.preferences = with_channel(customer.preferences, channel="telegram", on=True)
    customer.save(
        update_fields=["telegram_chat_id", "channels", "unreachable_channels", "preferences", "updated_at"]
    )
    return customer


def telegram_chat_switch(*, chat_id: str, on: bool) -> bool:
    """Switch Telegram on or off, in every category, for the customers linked to this chat; False
    when no customer is linked to it."""
    customer_ids = list(Customer.objects.filter(telegram_chat_id=chat_id).values_list("pk", flat=True))
    for customer_id in customer_ids:
        preference_set(customer_id=customer_id, channel="telegram", on=on)
    return bool(customer_ids)
