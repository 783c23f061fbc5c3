"""Where a webhook may point: https only (unless allowed otherwise), and never at the service's own
network. A URL whose host resolves to a loopback, private, link-local, multicast, reserved or
unspecified address is refused when the endpoint is saved and again before every send (DNS can change
between the two), unless WEBHOOK_ALLOW_PRIVATE_NETWORKS is on (development, tests on 127.0.0.1)."""

import ipaddress
import socket
from urllib.parse import urlsplit

ALLOWED_SCHEMES = {"https", "http"}


class UnsafeUrl(ValueError):
    """Why this URL may not receive webhooks (the message is shown to the API client)."""


def _refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def url_check(url: str, *, allow_private: bool, require_https: bool) -> None:
    """Raise UnsafeUrl unless `url` may receive webhooks now."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"Not a valid URL: {exc}.") from None
    if parts.scheme not in ALLOWED_SCHEMES or not parts.hostname:
        raise UnsafeUrl("Give an absolute https:// URL.")
    if require_https and parts.scheme != "https":
        raise UnsafeUrl("Webhook URLs must use https://.")
    if parts.username or parts.password:
        raise UnsafeUrl("Credentials in the URL are not accepted; use the signature to authenticate.")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise UnsafeUrl(f"The host {parts.hostname!r} does not resolve.") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if _refused(address):
            raise UnsafeUrl(
                f"The host {parts.hostname!r} resolves to {address}, a loopback, private, link-local, "
                "multicast or reserved address."
            )
