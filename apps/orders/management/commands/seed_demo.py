"""`manage.py seed_demo`: demo customers and orders for `make run`, created once (keyed by external_id)."""

from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from apps.customers.models import Customer
from apps.customers.services import customer_create
from apps.orders.models import Order
from apps.orders.services import ItemInput, order_change_status, order_create

DEMO_CUSTOMERS: list[dict[str, Any]] = [
    {
        "external_id": "demo-ada",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "language": "en",
        # Her messages also reach the in-app inbox: `make run` prints the demo page's address.
        "channels": ["email", "in_app"],
    },
    {
        "external_id": "demo-grace",
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "telegram_chat_id": "100200300",
        "language": "en",
    },
    {"external_id": "demo-emmy", "name": "Emmy Noether", "email": "emmy@example.de", "language": "de"},
]


class Command(BaseCommand):
    help = "Create demo customers and orders unless they exist."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        if Customer.objects.filter(external_id="demo-ada").exists():
            self.stdout.write("Demo data already present.")
            return
        customers = [customer_create(**fields) for fields in DEMO_CUSTOMERS]
        items = [
            ItemInput(sku="MUG-01", name="Enamel mug", quantity=2, unit_price=Decimal("12.49")),
            ItemInput(sku="TEE-M", name="T-shirt (M)", quantity=1, unit_price=Decimal("19.90")),
        ]
        for index, customer in enumerate(customers):
            order_create(customer=customer, items=items, external_id=f"demo-order-{index + 1}")
        first = Order.objects.get(external_id="demo-order-1")
        order_change_status(order=first, status="confirmed", note="Payment received")
        self.stdout.write(f"Created {len(customers)} demo customers and {len(customers)} orders.")
