"""Pages people open in a browser carry a Content-Security-Policy (the admin, the dashboard, the API
docs, the unsubscribe page), JSON endpoints none; admin logins are locked out after repeated failures."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.customers.preferences import unsubscribe_url

pytestmark = pytest.mark.django_db

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def test_pages_for_people_carry_the_policy(staff: Client, make_customer: Any) -> None:
    customer = make_customer()
    unsubscribe = "/" + unsubscribe_url(customer_id=customer["id"], category="marketing").split("/", 3)[3]

    pages = [(staff, "/admin/"), (staff, "/admin/dashboard/"), (Client(), "/admin/login/")]
    for client, path in [*pages, (Client(), "/api/docs/"), (Client(), unsubscribe)]:
        response = client.get(path)
        assert response.status_code == 200, path
        directives = {d.strip() for d in response["Content-Security-Policy"].split(";")}
        assert directives == {d.strip() for d in POLICY.split(";")}, path


def test_the_docs_page_runs_no_inline_script() -> None:
    page = Client().get("/api/docs/").content.decode()

    assert "<script>" not in page.replace(" ", "")  # every script is a file of the site's own
    assert 'src="/api/docs/?script=' in page or "swagger-ui-bundle.js" in page


def test_json_endpoints_carry_no_policy(api: Any) -> None:
    assert "Content-Security-Policy" not in api.get("/api/v1/customers/")
    assert "Content-Security-Policy" not in Client().get("/health/")


def test_admin_logins_lock_out_after_repeated_failures() -> None:
    User.objects.create_superuser("admin", "admin@example.com", "the-right-password")
    client = Client()

    failures = [
        client.post("/admin/login/", {"username": "admin", "password": f"guess-{n}"}).status_code
        for n in range(5)
    ]
    locked = client.post("/admin/login/", {"username": "admin", "password": "the-right-password"})

    assert failures == [200, 200, 200, 200, 429]  # the form with its error, then the lock-out
    assert locked.status_code == 429  # even the right password, until the cool-off ends
    assert "_auth_user_id" not in client.session
