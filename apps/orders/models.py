"""Orders, their items and their status history."""

from typing import Any

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from apps.customers.models import Customer
from apps.orders.state_machine import OrderStatus

currency_validator = RegexValidator(r"^[A-Z]{3}$", "Enter a three-letter ISO 4217 code such as EUR.")


class OrderNumber(models.Func):
    """ORD- and the id, zero-padded to six digits: computed by the database as the row is inserted
    (a stored generated column), so creating an order needs no second statement to set it."""

    # PostgreSQL (an immutable expression, as generated columns require); SQLite below.
    template = (
        "'ORD-' || CASE WHEN %(expressions)s < 1000000 "
        "THEN lpad(%(expressions)s::text, 6, '0') ELSE %(expressions)s::text END"
    )
    output_field = models.CharField(max_length=32)

    def __init__(self) -> None:
        super().__init__(models.F("id"))

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        # %%%% survives two rounds of %-formatting (the expression, then the DDL's parameters).
        sqlite = "'ORD-' || printf('%%%%06d', %(expressions)s)"
        return super().as_sql(compiler, connection, template=sqlite, **extra_context)


class Order(models.Model):
    number = models.GeneratedField(
        expression=OrderNumber(), output_field=models.CharField(max_length=32), db_persist=True, unique=True
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.PENDING)
    currency = models.CharField(max_length=3, default="EUR", validators=[currency_validator])
    # 500 items x 1,000,000 x 9,999,999,999.99 at most (the API's bounds) fits in 22 digits.
    total = models.DecimalField(max_digits=22, decimal_places=2, default=0)
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-id",)
        indexes = [models.Index(fields=["customer", "-created_at"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return self.number


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(0)])

    class Meta:
        ordering = ("id",)
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="orderitem_quantity_positive"),
            models.CheckConstraint(
                condition=models.Q(unit_price__gte=0), name="orderitem_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"


class OrderStatusChange(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="status_history")
    from_status = models.CharField(max_length=16, choices=OrderStatus.choices)
    to_status = models.CharField(max_length=16, choices=OrderStatus.choices)
    note = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("at", "id")

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status}"


class OrderEventKind(models.TextChoices):
    CREATED = "order_created", "Order created"
    STATUS_CHANGED = "order_status_changed", "Order status changed"


class OrderEventStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be planned"
    PLANNING = "planning", "Claimed by a planner"
    FAILED = "failed", "Could not be planned"


class OrderEventQuerySet(models.QuerySet["OrderEvent"]):
    def due(self, moment: Any = None) -> "OrderEventQuerySet":
        from django.utils import timezone

        return self.filter(status=OrderEventStatus.PENDING, next_attempt_at__lte=moment or timezone.now())


class OrderEvent(models.Model):
    """The outbox of order events: written in the transaction that changes the order, turned into
    notifications by a worker afterwards (the request does not wait for that). A planned event is
    deleted; its notification, unique per order and status, is the lasting record."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    customer_id = models.BigIntegerField()
    kind = models.CharField(max_length=32, choices=OrderEventKind.choices)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    note = models.CharField(max_length=500, blank=True)
    payload = models.JSONField(help_text="The order as messages show it, when the event happened.")
    request_id = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(
        max_length=16, choices=OrderEventStatus.choices, default=OrderEventStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrderEventQuerySet.as_manager()

    class Meta:
        ordering = ("id",)
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                name="order_event_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(
                fields=["lease_until"], name="order_event_lease", condition=models.Q(status="planning")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of order {self.order_id} ({self.status})"
