"""Standard Webhooks signatures: secrets, and the headers a signed request carries.

The signature is the `standardwebhooks` package's own (HMAC-SHA256 of "{id}.{timestamp}.{body}",
keyed with the base64-decoded secret after `whsec_`), so a receiver using that package, or svix's
verifier, checks it unchanged. After a rotation the previous secret signs too, for a while: the
header then carries both signatures, space-separated, and a receiver holding either secret accepts.
"""

import base64
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

from standardwebhooks import Webhook

PREFIX = "whsec_"
SECRET_BYTES = 32


def secret_new() -> str:
    """A new endpoint secret: `whsec_` and the base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def message_id_new() -> str:
    """A webhook-id: unique per event, kept across retries so receivers can deduplicate."""
    return f"msg_{secrets.token_urlsafe(18)}"


def signed_headers(
    *, message_id: str, body: str, secrets_: Iterable[str], at: datetime | None = None
) -> dict[str, str]:
    """The webhook-id, webhook-timestamp and webhook-signature headers for `body` (the exact bytes
    sent, as text), signed with every secret given (the current one, and a rotated one still valid)."""
    moment = (at or datetime.now(UTC)).replace(microsecond=0)
    signatures = [Webhook(secret).sign(msg_id=message_id, timestamp=moment, data=body) for secret in secrets_]
    if not signatures:
        raise ValueError("an endpoint without a secret cannot sign")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
