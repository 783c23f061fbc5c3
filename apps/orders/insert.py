"""Writing a new order: the order, its items and its `order_created` event row in one statement.

On PostgreSQL one INSERT with two more INSERTs in CTEs writes the three tables in one round trip,
atomic by itself, so the request needs no transaction of its own (no BEGIN, no COMMIT) and no
lookup of the customer (the foreign key decides: an unknown customer is a foreign key violation).
The event's payload is the order as messages show it; its id and number come from the inserted row.
(Django makes foreign keys deferrable, checked at commit: alone, the statement is its own
transaction, so the check comes with it.)
Other databases (SQLite for `make run`) write the same rows through the ORM.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction

from apps.customers.models import Customer
from apps.customers.selectors import customer_find
from apps.orders.models import Order, OrderEvent, OrderEventKind, OrderEventStatus, OrderItem
from apps.orders.state_machine import OrderStatus

# PostgreSQL's SQLSTATE codes of the two refusals an insert can meet.
UNIQUE_VIOLATION, FOREIGN_KEY_VIOLATION = "23505", "23503"


class UnknownCustomer(Exception):
    """The order names a customer that does not exist."""


class ExternalIdTaken(Exception):
    """Another order has this external_id."""


@dataclass(frozen=True)
class NewOrder:
    customer_id: int
    currency: str
    total: Decimal
    external_id: str | None
    items: list[tuple[str, str, int, Decimal]]  # sku, name, quantity, unit price
    request_id: str
    now: datetime


_INSERT = """
WITH o AS (
    INSERT INTO {order} (customer_id, status, currency, total, external_id, created_at, updated_at)
    VALUES (%(customer)s, %(status)s, %(currency)s, %(total)s, %(external_id)s, %(now)s, %(now)s)
    RETURNING id, number
), i AS (
    INSERT INTO {item} (order_id, sku, name, quantity, unit_price)
    SELECT o.id, u.sku, u.name, u.quantity, u.unit_price
    FROM o, unnest(%(skus)s::varchar[], %(names)s::varchar[], %(quantities)s::integer[],
                   %(prices)s::numeric[]) WITH ORDINALITY AS u(sku, name, quantity, unit_price, n)
    ORDER BY u.n
    RETURNING 1
), e AS (
    INSERT INTO {event} (order_id, customer_id, kind, from_status, to_status, note, payload, request_id,
                         status, attempts, next_attempt_at, last_error, created_at)
    SELECT o.id, %(customer)s, %(kind)s, '', %(status)s, '',
           jsonb_build_object('id', o.id, 'number', o.number) || %(payload)s::jsonb, %(request_id)s,
           %(pending)s, 0, %(now)s, '', %(now)s
    FROM o
    RETURNING 1
)
SELECT o.id, o.number, (SELECT count(*) FROM i), (SELECT count(*) FROM e) FROM o
"""


def payload_of(new: NewOrder) -> dict[str, Any]:
    """The event payload but the order's id and number (see apps.orders.services.order_data)."""
    return {
        "status": OrderStatus.PENDING,
        "total": f"{new.total:.2f}",
        "currency": new.currency,
        "items": [
            {"sku": sku, "name": name, "quantity": quantity, "unit_price": f"{price:.2f}"}
            for sku, name, quantity, price in new.items
        ],
    }


def order_insert(new: NewOrder) -> tuple[Order, list[OrderItem]]:
    """Write the order, its items and its event; raises UnknownCustomer or ExternalIdTaken."""
    try:
        if connection.vendor != "postgresql":
            return _insert_orm(new)
        if connection.in_atomic_block:
            # Django's foreign keys are checked at commit: inside a caller's transaction look the
            # customer up first (in the cache); and a refused insert must not break that transaction.
            if customer_find(new.customer_id) is None:
                raise UnknownCustomer(new.customer_id)
            with transaction.atomic():
                return _insert_one_statement(new)
        return _insert_one_statement(new)
    except IntegrityError as exc:
        cause = exc.__cause__
        state = getattr(cause, "sqlstate", "")
        constraint = str(getattr(getattr(cause, "diag", None), "constraint_name", "") or "")
        if state == UNIQUE_VIOLATION and "external_id" in constraint:
            raise ExternalIdTaken(new.external_id) from exc
        if state == FOREIGN_KEY_VIOLATION and "customer" in constraint:
            raise UnknownCustomer(new.customer_id) from exc
        raise


def _objects(new: NewOrder, order_id: int, number: str) -> tuple[Order, list[OrderItem]]:
    order = Order(
        id=order_id,
        number=number,
        customer_id=new.customer_id,
        status=OrderStatus.PENDING,
        currency=new.currency,
        total=new.total,
        external_id=new.external_id,
        created_at=new.now,
        updated_at=new.now,
    )
    items = [
        OrderItem(order=order, sku=sku, name=name, quantity=quantity, unit_price=price)
        for sku, name, quantity, price in new.items
    ]
    return order, items


def _insert_one_statement(new: NewOrder) -> tuple[Order, list[OrderItem]]:
    sql = _INSERT.format(
        order=Order._meta.db_table, item=OrderItem._meta.db_table, event=OrderEvent._meta.db_table
    )
    skus, names, quantities, prices = (list(column) for column in zip(*new.items, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "customer": new.customer_id,
                "status": OrderStatus.PENDING,
                "currency": new.currency,
                "total": new.total,
                "external_id": new.external_id,
                "now": new.now,
                "skus": skus,
                "names": names,
                "quantities": quantities,
                "prices": prices,
                "kind": OrderEventKind.CREATED,
                "payload": json.dumps(payload_of(new)),
                "request_id": new.request_id,
                "pending": OrderEventStatus.PENDING,
            },
        )
        order_id, number, _, _ = cursor.fetchone()
    return _objects(new, order_id, number)


@transaction.atomic
def _insert_orm(new: NewOrder) -> tuple[Order, list[OrderItem]]:
    if not Customer.objects.filter(pk=new.customer_id).exists():  # SQLite checks foreign keys at commit
        raise UnknownCustomer(new.customer_id)
    if new.external_id is not None and Order.objects.filter(external_id=new.external_id).exists():
        raise ExternalIdTaken(new.external_id)
    order = Order.objects.create(
        customer_id=new.customer_id,
        currency=new.currency,
        total=new.total,
        external_id=new.external_id,
    )  # the generated number is read back with the insert
    items = OrderItem.objects.bulk_create(
        OrderItem(order=order, sku=sku, name=name, quantity=quantity, unit_price=price)
        for sku, name, quantity, price in new.items
    )
    OrderEvent.objects.create(
        order=order,
        customer_id=new.customer_id,
        kind=OrderEventKind.CREATED,
        to_status=OrderStatus.PENDING,
        payload={"id": order.pk, "number": order.number, **payload_of(new)},
        request_id=new.request_id,
        next_attempt_at=new.now,
    )
    return order, items
