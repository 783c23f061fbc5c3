"""Where a webhook may point: https only (unless allowed otherwise), and only at globally routable
addresses. A URL whose host resolves to anything else (loopback, private, link-local, carrier-grade NAT
`100.64.0.0/10`, multicast, reserved, unspecified, the 6to4 relay `192.88.99.0/24`, or a 6to4,
Teredo or IPv4-mapped IPv6 address wrapping one of those) is refused when the endpoint is saved and
again right before every send; the send then connects to the very address that was checked (no second
look-up for a rebinding DNS server to answer differently). WEBHOOK_ALLOW_PRIVATE_NETWORKS lifts the
address rules (development, tests on 127.0.0.1). Messages name no resolved address: a caller learns
nothing about the service's network from a refusal.
"""

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

ALLOWED_SCHEMES = {"https", "http"}
# Hosts given as addresses (any notation getaddrinfo reads as one: 10.0.0.1, 167772161, [::1]) or as
# localhost: refused outright outside private networks, as the OpenAPI document's pattern says.
ADDRESS_LIKE = re.compile(r"[0-9.]*")
LOCAL_NAMES = {"localhost", "localhost."}
# The same rule for the document (ECMA-262 and Python read it alike), after the scheme.
HOST_NAME_PATTERN = r"(?![0-9.]*([:/?#]|$)|\[|localhost\.?([:/?#]|$))"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Global by Python's tables, but never a webhook receiver: the 6to4 relay anycast prefix.
EXTRA_REFUSED = [ipaddress.ip_network("192.88.99.0/24")]

# The resolver (a seam for tests that play a DNS server changing its answers).
resolve: Callable[..., list[Any]] = socket.getaddrinfo


class UnsafeUrl(ValueError):
    """Why this URL may not receive webhooks (the message is shown to the API client)."""


@dataclass(frozen=True)
class Target:
    """Where to connect for a URL: its host name (for TLS and Host) and the address that was checked
    (None: connect by name, when private networks are allowed)."""

    url: str
    hostname: str
    address: str | None


def _embedded(address: IPAddress) -> list[IPAddress]:
    """The address and any IPv4 address it wraps (IPv4-mapped, 6to4, Teredo server and client)."""
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address.teredo is not None:
            found.extend(address.teredo)
    return found


def address_refused(address: IPAddress) -> bool:
    return any(
        not inner.is_global or inner.is_multicast or any(inner in net for net in EXTRA_REFUSED)
        for inner in _embedded(address)
    )


def url_check(url: str, *, allow_private: bool, require_https: bool, unresolved_ok: bool = False) -> Target:
    """The target of `url`, or UnsafeUrl when it may not receive webhooks now.

    `unresolved_ok` (registration): a name that does not resolve yet is accepted (a shop may register
    its endpoint before its DNS record is published); the check before every send refuses it until it
    resolves to a public address."""
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
        return Target(url, parts.hostname, None)
    if (
        ADDRESS_LIKE.fullmatch(parts.hostname)
        or parts.netloc.startswith("[")
        or parts.hostname in LOCAL_NAMES
    ):
        raise UnsafeUrl("Give the receiver's host name, not an address or localhost.")
    try:
        infos = resolve(
            parts.hostname, port or (443 if parts.scheme == "https" else 80), proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError):
        if unresolved_ok:
            return Target(url, parts.hostname, None)
        raise UnsafeUrl(f"The host {parts.hostname!r} does not resolve.") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses or any(address_refused(a) for a in addresses):
        raise UnsafeUrl(
            f"The host {parts.hostname!r} resolves to an address that is not publicly routable "
            "(loopback, private, link-local, shared, multicast or reserved)."
        )
    return Target(url, parts.hostname, str(addresses[0]))
