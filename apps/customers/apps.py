from typing import Any

from django.apps import AppConfig


def _forget_customer(instance: Any = None, created: bool = False, **_: Any) -> None:
    """A customer saved or deleted: drop its cache entry once committed."""
    from apps.customers.selectors import customer_forget

    if instance is not None and instance.pk is not None and not created:  # nothing cached yet
        customer_forget(instance.pk)


class CustomersConfig(AppConfig):
    name = "apps.customers"
    label = "customers"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from apps.customers.models import Customer

        post_save.connect(_forget_customer, sender=Customer, dispatch_uid="customer-cache")
        post_delete.connect(_forget_customer, sender=Customer, dispatch_uid="customer-cache-delete")
