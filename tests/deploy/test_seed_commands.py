"""The seed README's own commands: a worker started as `celery -A config worker -l info` (no -Q, no
flags) consumes every queue, and a seed-style .env with a bot token and TELEGRAM_CHAT_ID gets operator
alerts in that chat. gunicorn and the worker run on a broker database of their own, so the session's
worker cannot take these tasks."""

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from apps.api_gateway.services import api_key_create
from apps.notifications.models import Delivery
from tests.fakes.processes import ROOT
from tests.fakes.smtp import FakeSMTP
from tests.fakes.stack import Stack
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worker import seed_default_templates, wait_for

pytestmark = [pytest.mark.slow]

OPS_CHAT = "-1009876543210"


@pytest.fixture
def seed_client(
    stacks: Callable[..., Stack], fake_telegram: FakeTelegram, fake_smtp: FakeSMTP
) -> httpx.Client:
    seed_default_templates()  # an earlier transactional test may have truncated them
    stack = stacks(
        seed_command=True,
        web=True,
        TELEGRAM_CHAT_ID=OPS_CHAT,
        NOTIFICATION_MAX_ATTEMPTS="2",
        OPS_ALERT_CHANNEL=None,  # a plain .env has no such line
    )
    fake_telegram.reset()
    fake_smtp.reset()
    return stack.client(api_key_create(name="seed")[1])


def test_worker_without_queues_delivers_email_and_telegram(
    seed_client: httpx.Client, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP
) -> None:
    customer = seed_client.post(
        "/api/v1/customers/", json={"name": "Ada", "email": "ada@example.com", "telegram_chat_id": 4242}
    ).json()
    created = seed_client.post(
        "/api/v1/orders/",
        json={
            "customer": customer["id"],
            "items": [{"sku": "M", "name": "Mug", "quantity": 1, "unit_price": "5"}],
        },
    )
    assert created.status_code == 201, created.text
    order = created.json()

    delivered = wait_for(lambda: fake_telegram.texts(4242) and fake_smtp.to("ada@example.com"), timeout=30)
    assert delivered, list(Delivery.objects.values_list("channel", "status", "last_error"))
    [text] = fake_telegram.texts(4242)
    [mail] = fake_smtp.to("ada@example.com")
    assert order["number"] in text
    assert order["number"] in str(mail["Subject"])


def test_telegram_chat_id_receives_an_alert_for_a_failed_delivery(
    seed_client: httpx.Client, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP
) -> None:
    fake_smtp.answer("RCPT", "550 5.1.1 No such user")
    customer = seed_client.post("/api/v1/customers/", json={"name": "Bo", "email": "gone@example.com"}).json()
    sent = seed_client.post("/api/v1/notifications/send/", json={"customer": customer["id"], "message": "Hi"})
    assert sent.status_code == 202

    assert wait_for(lambda: Delivery.objects.filter(status="failed").exists(), timeout=30)
    assert wait_for(lambda: fake_telegram.texts(OPS_CHAT), timeout=30)
    [alert] = fake_telegram.texts(OPS_CHAT)
    assert "Delivery failed on email: smtp_550" in alert
    assert "No such user" in alert


@pytest.mark.parametrize(
    "command",
    [
        ["manage.py", "test", "tests/orders/test_state_machine.py"],
        ["-m", "coverage", "run", "--source=.", "manage.py", "test", "tests/orders/test_state_machine.py"],
    ],
    ids=["manage.py test", "coverage run manage.py test"],
)
def test_manage_py_test_runs_the_pytest_suite(command: list[str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REQUIRE_SERVICES", "DJANGO_SETTINGS_MODULE")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", COVERAGE_FILE=str(tmp_path / ".coverage"))
    ran = subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert "settings: config.settings.test" in ran.stdout
    assert re.search(r"\b72 passed\b", ran.stdout), ran.stdout[-500:]
    if "coverage" in command:
        report = subprocess.run(
            [sys.executable, "-m", "coverage", "report"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert report.returncode == 0, report.stderr
        assert "TOTAL" in report.stdout
