"""Inbox tokens: what a shop's page hands the browser so it can read and mark one customer's inbox.

A token is signed with SECRET_KEY (django.core.signing) and names the customer and the moment it
expires; nothing is stored, so checking one costs no query and any process can check it.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing

SALT = "apps.inbox.token"


class BadToken(Exception):
    """Missing, malformed, forged or expired."""


@dataclass(frozen=True)
class InboxToken:
    token: str
    customer_id: int
    expires_at: datetime


def token_issue(customer_id: int, *, now: datetime | None = None, ttl: int | None = None) -> InboxToken:
    """A token for the customer's browser, valid `ttl` seconds (INBOX_TOKEN_TTL by default)."""
    expires_at = (now or datetime.now(UTC)) + timedelta(seconds=ttl or settings.INBOX_TOKEN_TTL)
    expires = int(expires_at.timestamp())
    token = signing.dumps({"c": customer_id, "e": expires}, salt=SALT)
    return InboxToken(token, customer_id, datetime.fromtimestamp(expires, UTC))


def token_check(token: str, *, now: datetime | None = None) -> InboxToken:
    """The token's customer and expiry; BadToken when it is not one we signed or it has expired."""
    if not token or len(token) > 512:
        raise BadToken("No inbox token given.")
    try:
        claims = signing.loads(token, salt=SALT)
        customer_id, expires = int(claims["c"]), int(claims["e"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise BadToken("The inbox token is not valid.") from None
    expires_at = datetime.fromtimestamp(expires, UTC)
    if expires_at <= (now or datetime.now(UTC)):
        raise BadToken("The inbox token has expired.")
    return InboxToken(token, customer_id, expires_at)


def token_from(query_token: str | None, authorization: str | None) -> str:
    """The token a request carries: `?token=` or `Authorization: Bearer <token>`; BadToken when it
    carries two that differ."""
    if authorization and authorization[:7].lower() == "bearer ":
        header = authorization[7:].strip()
        if query_token is not None and query_token != header:
            raise BadToken("Two different inbox tokens given (?token= and Authorization); give one.")
        return header
    return query_token or ""
