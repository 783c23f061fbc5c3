"""Where webhooks may point: https only in production, never the service's own network (loopback,
private, link-local, multicast, reserved), unless private networks are allowed (development)."""

import re
import socket
from typing import Any

import pytest

from apps.webhooks import safety
from apps.webhooks.safety import HOST_NAME_PATTERN, UnsafeUrl, url_check


def resolving_to(address: str) -> Any:
    """The resolver seam: every name resolves to `address`."""

    def resolve(host: str, port: int, **_: Any) -> list[Any]:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    return resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "::ffff:127.0.0.1",
        "10.1.2.3",
        "192.168.0.10",
        "172.16.5.4",
        "169.254.169.254",
        "224.0.0.1",
        "0.0.0.0",  # noqa: S104 (a refused target, not a bind)
        "fe80::1",
        "fd00::1",
    ],
)
def test_names_resolving_into_the_service_s_own_networks_are_refused(
    address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(safety, "resolve", resolving_to(address))
    with pytest.raises(UnsafeUrl, match="resolves to"):
        url_check("https://hooks.example.com/hook", allow_private=False, require_https=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.216.34/hook",  # public, but an address
        "https://127.0.0.1/hook",
        "https://2130706433/hook",  # 127.0.0.1 as one number
        "https://[::1]/hook",
        "https://localhost:8443/hook",
        "https://localhost./hook",
    ],
)
def test_hosts_given_as_addresses_or_localhost_are_refused_before_any_lookup(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(safety, "resolve", resolving_to("93.184.216.34"))
    with pytest.raises(UnsafeUrl, match="host name, not an address"):
        url_check(url, allow_private=False, require_https=True)


def test_the_document_s_host_pattern_refuses_what_the_check_refuses() -> None:
    """The OpenAPI document states the rule as a pattern; both say the same of these URLs."""
    pattern = re.compile(f"^https?://{HOST_NAME_PATTERN}")
    for refused in ("https://93.184.216.34/", "https://2130706433", "https://[::1]/", "https://localhost:1/"):
        assert not pattern.match(refused), refused
    for accepted in ("https://hooks.example.com/", "https://123.example/", "https://localhost.example.com/"):
        assert pattern.match(accepted), accepted


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://93.184.216.34/hook", "https"),
        ("ftp://93.184.216.34/hook", "absolute https"),
        ("/relative/hook", "absolute https"),
        ("https://user:pw@93.184.216.34/hook", "Credentials"),
        ("https://93.184.216.34:99999/hook", "valid URL"),
    ],
)
def test_urls_that_are_not_plain_https_are_refused(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl, match=reason):
        url_check(url, allow_private=False, require_https=True)


def test_a_name_resolving_to_a_public_address_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safety, "resolve", resolving_to("93.184.216.34"))
    url_check("https://hooks.example.com/hook", allow_private=False, require_https=True)


def test_a_name_that_does_not_resolve_yet_may_be_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registration takes it (the check before each send refuses it until it resolves publicly)."""

    def nowhere(host: str, port: int, **_: Any) -> list[Any]:
        raise socket.gaierror("no such name")

    monkeypatch.setattr(safety, "resolve", nowhere)
    url_check("https://hooks.example.com/hook", allow_private=False, require_https=True, unresolved_ok=True)
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        url_check("https://hooks.example.com/hook", allow_private=False, require_https=True)


def test_private_networks_and_http_can_be_allowed_for_development() -> None:
    url_check("http://127.0.0.1:8080/hook", allow_private=True, require_https=False)
    with pytest.raises(UnsafeUrl):
        url_check("http://127.0.0.1:8080/hook", allow_private=True, require_https=True)
