"""The operator dashboard in headless Chromium: log in, see the chart drawn, replay a failure."""

import struct
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from django.contrib.auth.models import User
from selenium import webdriver
from selenium.webdriver.common.by import By

from apps.notifications.models import Delivery
from tests.fakes.worker import wait_for
from tests.notifications.test_dashboard import make_deliveries

pytestmark = pytest.mark.django_db(transaction=True)

BOX = "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_dashboard_chart_renders_and_a_failure_is_replayed(
    live_server: Any, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    make_deliveries(email_sent=6, email_failed=2, telegram_sent=3, telegram_retrying=1)
    User.objects.create_superuser("operator", "ops@example.com", "correct horse")
    browser.get(f"{live_server.url}/admin/login/?next=/admin/dashboard/")
    browser.find_element(By.NAME, "username").send_keys("operator")
    browser.find_element(By.NAME, "password").send_keys("correct horse")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The login page's own URL names the dashboard (?next=): wait for the path itself.
    assert wait_for(lambda: urlparse(browser.current_url).path == "/admin/dashboard/")

    bars = browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")
    assert len(bars) == 4  # email sent + failed, telegram sent + retrying, all in this hour
    for bar in bars:
        assert bar.is_displayed()
        box = browser.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", bar
        )
        assert box[0] > 0
        assert box[1] > 0
    shot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(shot))
    assert png_size(shot) == tuple(browser.execute_script("return [window.innerWidth, window.innerHeight];"))

    checkboxes = browser.find_elements(By.CSS_SELECTOR, "#failures input[type=checkbox]")
    assert len(checkboxes) == 2
    checkboxes[0].click()
    replayed = int(checkboxes[0].get_attribute("value") or 0)
    browser.find_element(By.ID, "replay").click()

    assert wait_for(lambda: "1 failed deliveries queued again." in browser.page_source)
    # Queued again (a running worker may already have sent it on).
    assert Delivery.objects.get(pk=replayed).status in ("queued", "sending", "sent")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#failures input[type=checkbox]")) == 1
