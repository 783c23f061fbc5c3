"""Where webhooks may point: https only in production, never the service's own network (loopback,
private, link-local, multicast, reserved), unless private networks are allowed (development)."""

import pytest

from apps.webhooks.safety import UnsafeUrl, url_check


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://172.16.5.4/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://224.0.0.1/hook",
        "https://0.0.0.0/hook",
        "https://[fe80::1]/hook",
        "https://[fd00::1]/hook",
    ],
)
def test_addresses_of_the_service_s_own_networks_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl, match="resolves to"):
        url_check(url, allow_private=False, require_https=True)


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


def test_a_public_address_is_accepted() -> None:
    url_check("https://93.184.216.34/hook", allow_private=False, require_https=True)


def test_private_networks_and_http_can_be_allowed_for_development() -> None:
    url_check("http://127.0.0.1:8080/hook", allow_private=True, require_https=False)
    with pytest.raises(UnsafeUrl):
        url_check("http://127.0.0.1:8080/hook", allow_private=True, require_https=True)
