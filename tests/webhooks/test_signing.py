"""Webhook signatures as a receiver checks them: with the `standardwebhooks` package, unchanged,
including the overlap of two secrets after a rotation."""

import base64
import json
from collections.abc import Callable

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from apps.webhooks.signing import PREFIX, message_id_new, secret_new, signed_headers

BODY = json.dumps({"id": "msg_1", "type": "delivery.sent", "data": {"channel": "email"}})


def test_a_secret_is_whsec_and_the_base64_of_32_random_bytes() -> None:
    first, second = secret_new(), secret_new()

    assert first.startswith(PREFIX)
    assert len(base64.b64decode(first.removeprefix(PREFIX))) == 32
    assert first != second


def test_a_receiver_with_the_standardwebhooks_package_verifies_a_signed_request() -> None:
    secret = secret_new()
    headers = signed_headers(message_id="msg_1", body=BODY, secrets_=[secret])

    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-signature"].startswith("v1,")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body.replace("email", "telegram"), headers),
        lambda body, headers: (body, {**headers, "webhook-id": "msg_2"}),
        lambda body, headers: (
            body,
            {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)},
        ),
    ],
    ids=["body", "id", "timestamp"],
)
def test_a_changed_body_id_or_timestamp_fails_verification(
    tamper: Callable[[str, dict[str, str]], tuple[str, dict[str, str]]],
) -> None:
    secret = secret_new()
    body, headers = tamper(BODY, signed_headers(message_id="msg_1", body=BODY, secrets_=[secret]))

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


def test_after_a_rotation_both_secrets_verify_and_no_other() -> None:
    old, new = secret_new(), secret_new()
    headers = signed_headers(message_id="msg_1", body=BODY, secrets_=[new, old])

    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret_new()).verify(BODY, headers)


def test_message_ids_are_unique() -> None:
    ids = {message_id_new() for _ in range(1000)}

    assert len(ids) == 1000
    assert all(i.startswith("msg_") for i in ids)
