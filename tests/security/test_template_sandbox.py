"""The template sandbox against hostile template authors (any key with `templates:write`, any send's
`message`): loop and allocation bombs are refused with 400 `template_limit` on save, preview and send,
a stored template that goes over the budget only with real data fails its delivery and nothing else,
and nothing turns escaping off."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.notifications.models import Delivery, DeliveryStatus, NotificationTemplate
from tests.conftest import error_of, plan_order_events

pytestmark = pytest.mark.django_db

NESTED_LOOPS = "{% for a in 'xxxxxxxxxx' %}" * 8 + "." + "{% endfor %}" * 8
BOMBS = [
    pytest.param(NESTED_LOOPS, id="8 nested loops over 10 characters"),
    pytest.param('{{ ""|ljust:"50000000" }}', id="ljust 50 MB"),
    pytest.param('{{ "x"|center:"50000000" }}', id="center 50 MB"),
    pytest.param('{{ 1|stringformat:"050000000d" }}', id="stringformat width"),
    pytest.param('{{ 1.5|floatformat:"100000" }}', id="floatformat digits"),
    pytest.param("{% for a in 'xxxxxxxxxx' %}" + "y" * 10_000 + "{% endfor %}", id="100 kB of output"),
]


def template(api: APIClient, **fields: Any) -> Any:
    body = {"key": "bomb", "channel": "email", "language": "en", "subject": "Hi", "body": "Hi", **fields}
    return api.post("/api/v1/templates/", body, format="json")


@pytest.mark.parametrize("source", BOMBS)
def test_a_bomb_is_refused_on_save(api: APIClient, source: str) -> None:
    response = template(api, body=source)

    assert response.status_code == 400
    error = error_of(response)
    assert error["details"]["reason"] == "template_limit"
    assert "Over the rendering budget" in error["details"]["body"][0]
    assert not NotificationTemplate.objects.filter(key="bomb").exists()


@pytest.mark.parametrize("source", BOMBS)
def test_a_bomb_is_refused_as_a_send_s_message(api: APIClient, make_customer: Any, source: str) -> None:
    customer = make_customer()

    response = api.post(
        "/api/v1/notifications/send/", {"customer": customer["id"], "message": source}, format="json"
    )

    assert response.status_code == 400
    assert error_of(response)["details"]["reason"] == "template_limit"


# Harmless with the empty context a save renders, a bomb with the data of a real send.
LOOPS_OVER_DATA = (
    "{% for a in customer.name %}{% for b in customer.name %}{% for c in customer.name %}"
    "{% for d in customer.name %}.{% endfor %}{% endfor %}{% endfor %}{% endfor %}"
)


def test_a_template_that_explodes_with_data_is_saved_and_refused_on_preview_and_send(
    api: APIClient, make_customer: Any
) -> None:
    customer = make_customer(name="A" * 40)
    created = template(api, key="promo", body=LOOPS_OVER_DATA)
    assert created.status_code == 201

    preview = api.post(
        "/api/v1/templates/preview/",
        {"template": created.json()["id"], "customer": customer["id"]},
        format="json",
    )
    send = api.post(
        "/api/v1/notifications/send/", {"customer": customer["id"], "template": "promo"}, format="json"
    )

    assert preview.status_code == 400
    assert error_of(preview)["details"]["reason"] == "template_limit"
    assert send.status_code == 400
    assert error_of(send)["details"]["reason"] == "template_limit"
    assert not Delivery.objects.exists()


def test_an_order_template_over_budget_fails_that_delivery_and_the_planner_goes_on(
    api: APIClient, make_customer: Any, make_order: Any
) -> None:
    NotificationTemplate.objects.filter(key="order_created", channel="email").update(
        body_text=LOOPS_OVER_DATA
    )
    long_name = make_customer(name="B" * 40, email="b@example.com")
    short_name = make_customer(name="Bo", email="bo@example.com")  # 2^4 iterations: within the budget

    make_order(customer=long_name["id"])
    make_order(customer=short_name["id"])
    plan_order_events()

    emails = {d.address: d for d in Delivery.objects.filter(channel="email")}
    assert emails["b@example.com"].status == DeliveryStatus.FAILED
    assert emails["b@example.com"].last_error.startswith("template_limit: the template loops more than")
    assert emails["bo@example.com"].status == DeliveryStatus.QUEUED


@pytest.mark.parametrize(
    "source",
    [
        "{% autoescape off %}{{ customer.name }}{% endautoescape %}",
        "{{ customer.name|safe }}",
        "{{ items|safeseq|join:',' }}",
    ],
)
def test_nothing_turns_escaping_off(api: APIClient, source: str) -> None:
    response = template(api, body_html=source)

    assert response.status_code == 400
    assert "body_html" in error_of(response)["details"]


def test_a_modest_template_with_loops_still_renders(api: APIClient, make_customer: Any) -> None:
    customer = make_customer(name="Ada")
    created = template(
        api, key="fine", body="{% for c in customer.name %}{{ c }}-{% endfor %}{{ 'x'|ljust:'5' }}|"
    )

    preview = api.post(
        "/api/v1/templates/preview/",
        {"template": created.json()["id"], "customer": customer["id"]},
        format="json",
    )

    assert preview.status_code == 200
    assert preview.json()["body"] == "A-d-a-x    |"
