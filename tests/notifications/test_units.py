"""Pure logic of the notification pipeline: splitting, rendering sandbox, error classification,
strategies, backoff."""

import smtplib

import httpx
import pytest
from django.test import override_settings

from apps.notifications.channels import PermanentError, TransientError
from apps.notifications.channels.email import classify_smtp_error
from apps.notifications.channels.telegram import TelegramChannel, split_text
from apps.notifications.outbox.policy import backoff_delay
from apps.notifications.rendering import TemplateError, render_message, render_string
from apps.notifications.strategies import AllStrategy, FailoverStrategy


@pytest.mark.parametrize("length", [0, 1, 4096])
def test_short_text_is_one_part(length: int) -> None:
    assert split_text("x" * length) == ["x" * length]


def test_split_prefers_line_breaks() -> None:
    text = "a" * 3000 + "\n" + "b" * 3000
    assert split_text(text) == ["a" * 3000, "b" * 3000]


def test_split_falls_back_to_spaces_then_hard_cuts() -> None:
    words = " ".join(["word"] * 2000)
    parts = split_text(words)
    assert all(len(p) <= 4096 for p in parts)
    assert " ".join(parts) == words
    assert split_text("x" * 5000) == ["x" * 4096, "x" * 904]


def test_split_never_cuts_an_entity() -> None:
    text = "x" * 4094 + "&amp;" + "y" * 10
    parts = split_text(text)
    assert parts[0] == "x" * 4094
    assert parts[1].startswith("&amp;")


@pytest.mark.parametrize(
    "source", ["{% debug %}", "{% load static %}", "{% include 'x.html' %}", "{% url 'a' %}"]
)
def test_sandbox_refuses_tags_that_reach_outside(source: str) -> None:
    with pytest.raises(TemplateError):
        render_string(source, {}, autoescape=True)


def test_sandbox_sees_only_its_context() -> None:
    rendered = render_string(
        "[{{ settings.SECRET_KEY }}][{{ request }}][{{ name|upper }}]", {"name": "a"}, autoescape=True
    )
    assert rendered == "[][][A]"


def test_values_are_escaped_for_html_but_not_for_plain_text() -> None:
    message = render_message(
        subject="Hi {{ name }}",
        body_text="Hi {{ name }}",
        body_html="<p>{{ name }}</p>",
        context={"name": "<b>&"},
        escape_body=True,
    )
    assert message.subject == "Hi <b>&"
    assert message.body == "Hi &lt;b&gt;&amp;"
    assert message.body_plain == "Hi <b>&"
    assert message.body_html == "<p>&lt;b&gt;&amp;</p>"


@pytest.mark.parametrize(
    ("exc", "transient", "code"),
    [
        (smtplib.SMTPRecipientsRefused({"a@x": (451, b"try later")}), True, "smtp_451"),
        (smtplib.SMTPRecipientsRefused({"a@x": (550, b"no such user")}), False, "smtp_550"),
        (smtplib.SMTPDataError(452, b"storage"), True, "smtp_452"),
        (smtplib.SMTPDataError(554, b"rejected"), False, "smtp_554"),
        (smtplib.SMTPSenderRefused(553, b"bad sender", "shop@x"), False, "smtp_553"),
        (smtplib.SMTPServerDisconnected("gone"), True, "smtp_connection"),
        (ConnectionRefusedError(), True, "smtp_connection"),
    ],
)
def test_smtp_errors_are_classified(exc: Exception, transient: bool, code: str) -> None:
    error = classify_smtp_error(exc)
    assert error.transient is transient
    assert error.code == code


def _telegram(status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_telegram_success_returns_the_result() -> None:
    assert TelegramChannel._interpret(_telegram(200, {"ok": True, "result": {"message_id": 7}})) == {
        "message_id": 7
    }


@pytest.mark.parametrize(
    ("status", "description", "kind"),
    [
        (400, "Bad Request: chat not found", PermanentError),
        (401, "Unauthorized", PermanentError),
        (403, "Forbidden: bot was blocked by the user", PermanentError),
        (500, "Internal Server Error", TransientError),
        (502, "Bad Gateway", TransientError),
    ],
)
def test_telegram_errors_are_classified(status: int, description: str, kind: type[Exception]) -> None:
    with pytest.raises(kind, match=description):
        TelegramChannel._interpret(
            _telegram(status, {"ok": False, "error_code": status, "description": description})
        )


def test_telegram_429_carries_retry_after() -> None:
    body = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    with pytest.raises(TransientError) as caught:
        TelegramChannel._interpret(_telegram(429, body, {"Retry-After": "7"}))
    assert caught.value.retry_after == 7


@pytest.mark.parametrize(
    ("statuses", "all_", "failover"),
    [
        ([], "suppressed", "suppressed"),
        (["skipped", "skipped"], "suppressed", "suppressed"),
        (["sent", "queued"], "queued", "sent"),
        (["sent", "sent"], "sent", "sent"),
        (["sent", "failed"], "partially_sent", "sent"),
        (["failed", "skipped"], "failed", "failed"),
        (["failed", "retrying"], "queued", "queued"),
        (["sent", "skipped"], "sent", "sent"),
    ],
)
def test_notification_status_is_derived_from_deliveries(
    statuses: list[str], all_: str, failover: str
) -> None:
    assert AllStrategy().status(statuses) == all_
    assert FailoverStrategy().status(statuses) == failover


@override_settings(NOTIFICATION_BACKOFF_BASE=2.0, NOTIFICATION_BACKOFF_CAP=600.0)
@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 2), (2, 4), (5, 32), (10, 600), (30, 600)])
def test_backoff_has_full_jitter_under_an_exponential_cap(attempt: int, ceiling: float) -> None:
    delays = [backoff_delay(attempt) for _ in range(300)]
    assert all(0 <= d <= ceiling for d in delays)
    assert max(delays) > ceiling / 2  # jittered across the range, not a constant
