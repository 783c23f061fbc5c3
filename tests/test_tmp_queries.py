import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


def test_show(api, make_customer):
    customer = make_customer(email="q@example.com", telegram_chat_id=5)
    items = [{"sku": "S", "name": "x", "quantity": 1, "unit_price": "1.00"}]
    api.post("/api/v1/orders/", {"customer": customer["id"], "items": items}, format="json")
    with CaptureQueriesContext(connection) as ctx:
        r = api.post("/api/v1/orders/", {"customer": customer["id"], "items": items}, format="json")
    assert r.status_code == 201
    for q in ctx.captured_queries:
        print("Q:", q["sql"][:300])
    oid = r.json()["id"]
    with CaptureQueriesContext(connection) as ctx:
        r = api.get(f"/api/v1/orders/{oid}/")
    for q in ctx.captured_queries:
        print("G:", q["sql"][:300])
    with CaptureQueriesContext(connection) as ctx:
        r = api.get(f"/api/v1/customers/{customer['id']}/")
    for q in ctx.captured_queries:
        print("C:", q["sql"][:300])
