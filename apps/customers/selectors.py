"""Customer reads (the repository): views never build querysets themselves.

Single customers come through the cache (core.cache): the order and send paths read the same few
customers over and over. Every save or delete drops the entry once committed (apps.customers.apps),
and so does any write that bypasses save() (see customer_forget)."""

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from apps.customers.models import Customer
from core.cache import cached, forget_on_commit
from core.utils.ids import parse_id


def customer_cache_key(customer_id: int) -> str:
    return f"customer:{customer_id}"


def customer_find(customer_id: object) -> Customer | None:
    """The customer with this id, from the cache when it is there; None for malformed or unknown ids."""
    pk = parse_id(customer_id)
    if not pk:
        return None
    return cached(
        "customers",
        customer_cache_key(pk),
        lambda: Customer.objects.filter(pk=pk).first(),
        timeout=settings.CACHE_TIMEOUT,
    )


def customer_get(customer_id: object) -> Customer:
    """The customer with this id; malformed or unknown ids are 404 alike."""
    customer = customer_find(customer_id)
    if customer is None:
        raise Http404("No customer with this id.")
    return customer


def customer_forget(customer_id: int) -> None:
    """Drop a customer's cache entry once the current transaction commits."""
    forget_on_commit(customer_cache_key(customer_id))


def customer_list(*, email: str | None = None, external_id: str | None = None) -> QuerySet[Customer]:
    queryset = Customer.objects.order_by("-id")
    if email:
        queryset = queryset.filter(email__iexact=email)
    if external_id:
        queryset = queryset.filter(external_id=external_id)
    return queryset
