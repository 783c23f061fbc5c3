"""The admin pages render for staff, with inlines, the template preview and the retry action."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.notifications.models import Delivery, NotificationTemplate
from tests.conftest import plan_order_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/customers/customer/",
        "/admin/orders/order/",
        "/admin/notifications/notification/",
        "/admin/notifications/delivery/",
        "/admin/notifications/notificationtemplate/",
        "/admin/api_gateway/apikey/",
        "/admin/orders/order/?status__exact=pending&q=ORD",
        "/admin/notifications/notification/?status__exact=queued&deliveries__channel=email",
    ],
)
def test_changelists_render(staff: Client, make_order: Any, url: str) -> None:
    make_order()
    assert staff.get(url).status_code == 200


def test_order_page_shows_items_and_history(staff: Client, api: Any, make_order: Any) -> None:
    order = make_order()
    api.put(f"/api/v1/orders/{order['id']}/status/", {"status": "confirmed", "note": "paid"}, format="json")

    page = staff.get(f"/admin/orders/order/{order['id']}/change/").content.decode()

    assert "MUG" in page
    assert "paid" in page


def test_template_preview_escapes_the_sample_name(staff: Client) -> None:
    template = NotificationTemplate.objects.get(key="order_shipped", channel="email", language="en")

    page = staff.get(f"/admin/notifications/notificationtemplate/{template.pk}/change/").content.decode()

    assert "Order ORD-000042 is on its way" in page
    assert "Ada &amp;lt;Lovelace&amp;gt;" in page or "Ada &lt;Lovelace&gt;" in page


def test_template_html_from_an_api_key_never_runs_in_the_admin_s_origin(staff: Client, api: Any) -> None:
    created = api.post(
        "/api/v1/templates/",
        {
            "key": "xss",
            "channel": "email",
            "language": "en",
            "subject": "<script>alert('subject')</script>",
            "body": "<img src=x onerror=alert(1)>",
            "body_html": "<p>Hi</p><script>alert(document.cookie)</script>",
        },
        format="json",
    )
    assert created.status_code == 201

    page = staff.get(
        f"/admin/notifications/notificationtemplate/{created.json()['id']}/change/"
    ).content.decode()

    assert "<script>alert" not in page
    assert "<img src=x" not in page
    # The HTML part is shown only inside a frame that runs no script and has no access to the admin.
    assert (
        '<iframe sandbox="" referrerpolicy="no-referrer" srcdoc="&lt;p&gt;Hi&lt;/p&gt;&lt;script&gt;' in page
    )


def test_template_edits_in_the_admin_are_checked_and_versioned(staff: Client) -> None:
    template = NotificationTemplate.objects.get(key="order_shipped", channel="email", language="en")
    url = f"/admin/notifications/notificationtemplate/{template.pk}/change/"
    form = {
        "key": template.key,
        "channel": template.channel,
        "language": template.language,
        "subject": template.subject,
        "body_text": template.body_text,
        "body_html": "",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
    }

    refused = staff.post(url, {**form, "body_text": "Hi\n{% debug %}"})
    assert refused.status_code == 200  # the form again, with the error
    assert "Line 2: Invalid block tag on line 2: &#x27;debug&#x27;" in refused.content.decode()
    template.refresh_from_db()
    assert "{% debug %}" not in template.body_text

    saved = staff.post(url, {**form, "body_text": "Shipped: {{ order.number }}"})
    assert saved.status_code == 302
    assert list(template.versions.values_list("version", "body_text")) == [
        (2, "Shipped: {{ order.number }}"),
        (1, form["body_text"]),
    ]


def test_retry_action_requeues_failed_deliveries(staff: Client, make_order: Any) -> None:
    make_order()
    plan_order_events()
    delivery = Delivery.objects.get(channel="email")
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=8, last_error="smtp_550: no")

    staff.post(
        "/admin/notifications/delivery/",
        {"action": "retry_failed", "_selected_action": [delivery.pk]},
    )

    delivery.refresh_from_db()
    assert delivery.status == "queued"
    assert delivery.attempts == 0
