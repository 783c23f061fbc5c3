"""Customer reads (the repository): views never build querysets themselves."""

from django.db.models import QuerySet
from django.http import Http404

from apps.customers.models import Customer
from core.utils.ids import parse_id


def customer_get(customer_id: object) -> Customer:
    """The customer with this id; malformed or unknown ids are 404 alike."""
    customer = Customer.objects.filter(pk=parse_id(customer_id) or 0).first()
    if customer is None:
        raise Http404("No customer with this id.")
    return customer


def customer_list(*, email: str | None = None, external_id: str | None = None) -> QuerySet[Customer]:
    queryset = Customer.objects.order_by("-id")
    if email:
        queryset = queryset.filter(email__iexact=email)
    if external_id:
        queryset = queryset.filter(external_id=external_id)
    return queryset
