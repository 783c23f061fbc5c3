"""The inbox demo page in headless Chromium, served by a real stream process (uvicorn): the list, the
unread badge, a message sent through the real worker appearing live, and marking read."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient
from selenium import webdriver
from selenium.webdriver.common.by import By

from apps.customers.models import Customer
from apps.inbox.tokens import token_issue
from tests.browser.conftest import text_or_blank
from tests.fakes.processes import stream_server
from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worker import wait_for, worker_env


@pytest.fixture
def stream_url(
    integration: Any, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP, tmp_path: Path
) -> Iterator[str]:
    env = worker_env(fake_telegram=fake_telegram, fake_smtp=fake_smtp, INBOX_HEARTBEAT_SECONDS="1")
    process, url = stream_server(env=env, log_path=tmp_path / "stream.log")
    yield url
    process.stop()


def send(api: APIClient, customer: Customer, message: str) -> None:
    body = {"customer": customer.pk, "subject": message, "message": f"{message}, {{{{ customer.name }}}}"}
    assert api.post("/api/v1/notifications/send/", body, format="json").status_code == 202


def test_the_demo_page_lists_and_updates_live(
    stream_url: str, browser: webdriver.Chrome, api: APIClient
) -> None:
    customer = Customer.objects.create(name="Ada", channels=["in_app"])
    send(api, customer, "Welcome")
    assert wait_for(lambda: customer.inbox_items.exists())

    browser.get(f"{stream_url}/inbox/demo/?token={token_issue(customer.pk).token}")
    assert wait_for(lambda: text_or_blank(browser, "#state") == "live")
    assert wait_for(lambda: "Welcome" in text_or_blank(browser, "#items"))
    assert wait_for(lambda: text_or_blank(browser, "#badge") == "1")

    send(api, customer, "Your order shipped")
    assert wait_for(lambda: "Your order shipped" in text_or_blank(browser, "#items li:first-child"))
    assert wait_for(lambda: text_or_blank(browser, "#badge") == "2")
    assert "Your order shipped, Ada" in text_or_blank(browser, "#items li:first-child .body")

    browser.find_element(By.CSS_SELECTOR, "#items li:first-child button").click()  # Read
    assert wait_for(lambda: text_or_blank(browser, "#badge") == "1")
    browser.find_element(By.ID, "read-all").click()
    assert wait_for(lambda: text_or_blank(browser, "#badge") == "0")
    assert customer.inbox_items.filter(read_at__isnull=True).count() == 0
    assert browser.find_elements(By.CSS_SELECTOR, "#items li.unread") == []
