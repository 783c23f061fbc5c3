"""Production settings: refuse to start without secrets, and pass `manage.py check --deploy`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
STRONG_KEY = "Zq8v1LmN3xR7tY0pWb5Kc9Hd2Fg6Js4A-long-random-production-key-Q7w"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings.prod", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_without_warnings() -> None:
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="shop.example.com",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "key",
    [
        "change-me-to-a-long-random-string",  # the .env.example placeholder
        "s3cr3t",  # short
        "a" * 80,  # long but no randomness
        "change-me-to-a-long-random-string-and-then-some-more-characters",
    ],
)
def test_prod_refuses_a_weak_or_placeholder_secret_key(key: str) -> None:
    result = manage("check", SECRET_KEY=key, ALLOWED_HOSTS="shop.example.com")

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is too short, too uniform or a placeholder" in result.stderr


def test_prod_refuses_to_start_without_secret_key() -> None:
    result = manage("check", ALLOWED_HOSTS="shop.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_prod_refuses_to_start_without_allowed_hosts() -> None:
    result = manage("check", SECRET_KEY=STRONG_KEY)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr
