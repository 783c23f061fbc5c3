"""A real email's List-Unsubscribe link, opened and clicked in headless Chromium without logging in."""

from typing import Any
from urllib.parse import urlparse

import pytest
from rest_framework.test import APIClient
from selenium import webdriver
from selenium.webdriver.common.by import By

from apps.customers.models import Customer
from tests.browser.conftest import text_or_blank
from tests.fakes.smtp import FakeSMTP
from tests.fakes.worker import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("integration")]


def test_the_unsubscribe_link_of_a_sent_email_works_in_a_browser(
    api: APIClient,
    fake_smtp: FakeSMTP,
    live_server: Any,
    browser: webdriver.Chrome,
    tmp_path: Any,
) -> None:
    customer = Customer.objects.create(name="Ada", email="ada@example.com", channels=["email"])
    response = api.post(
        "/api/v1/notifications/send/",
        {"customer": customer.pk, "subject": "Spring sale", "message": "20% off", "category": "marketing"},
        format="json",
    )
    assert response.status_code == 202
    assert wait_for(lambda: fake_smtp.to("ada@example.com"))
    [mail] = fake_smtp.to("ada@example.com")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = str(mail["List-Unsubscribe"]).strip().strip("<>")
    # The worker writes links for PUBLIC_BASE_URL; the page is served here by the live server.
    browser.get(live_server.url + urlparse(link).path)

    assert browser.find_element(By.TAG_NAME, "h1").text == "Unsubscribe"
    assert "a***@example.com" in browser.page_source
    customer.refresh_from_db()
    assert customer.accepts("marketing", "email")  # opening the page changed nothing

    browser.find_element(By.ID, "unsubscribe").click()

    assert wait_for(lambda: text_or_blank(browser, "h1") == "You are unsubscribed")
    assert "marketing" in browser.find_element(By.ID, "status").text
    browser.save_screenshot(str(tmp_path / "unsubscribed.png"))
    customer.refresh_from_db()
    assert not customer.accepts("marketing", "email")
    assert customer.accepts("order_updates", "email")
