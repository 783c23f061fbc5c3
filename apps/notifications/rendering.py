"""Rendering notification templates in a sandbox that sees only the context it is given."""

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.template import Context, Engine, Template, TemplateSyntaxError

from apps.notifications.template_budget import TemplateLimit, budget

__all__ = ["TemplateLimit"]


class _SandboxEngine(Engine):
    # Engine always prepends its default builtins (all of Django's tags, {% debug %} included);
    # the sandbox has only the library it is given.
    default_builtins: list[str] = []


def _sandbox(*, debug: bool) -> Engine:
    """No loaders (nothing to include), no context processors (no settings, no request)."""
    return _SandboxEngine(
        debug=debug,
        loaders=[],
        libraries={},
        builtins=["apps.notifications.sandbox_tags"],
        string_if_invalid="",
        autoescape=True,
    )


_ENGINE = _sandbox(debug=False)
# The same sandbox with debug on, only to locate a compile error (line) for whoever saves a template.
_LOCATING_ENGINE = _sandbox(debug=True)


class TemplateError(ValueError):
    """A template that does not compile in the sandbox (unknown or forbidden tag, bad syntax)."""


@lru_cache(maxsize=1024)
def _compile(source: str) -> Template:
    try:
        return _ENGINE.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(str(exc)) from exc


def render_string(source: str, context: dict[str, Any], *, autoescape: bool) -> str:
    """Render `source` (compiled once per process) with nothing but `context`, within the rendering
    budget (one for every render inside the same `budget()`, e.g. a message's three parts)."""
    with budget() as spent:
        rendered = _compile(source).render(Context(context, autoescape=autoescape))
        spent.charge(output=len(rendered))
    return rendered


def template_check(source: str) -> None:
    """Raise TemplateError if the source would not render in the sandbox, TemplateLimit if rendering
    it with an empty context goes over the budget (loops over literals need no context)."""
    render_string(source, {}, autoescape=True)


def template_problem(source: str) -> tuple[int, str] | None:
    """Where and why the source does not compile in the sandbox: (line, reason), or None."""
    try:
        _compile(source)
    except TemplateError:
        try:
            _LOCATING_ENGINE.from_string(source)
        except TemplateSyntaxError as exc:
            line = int(getattr(exc, "template_debug", {}).get("line", 1))
            return line, str(exc)
        return 1, "The template does not compile."
    return None


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str  # for Telegram: HTML-escaped, sent with parse_mode=HTML; for email: plain text
    body_plain: str  # never escaped: the email text part, and Telegram's plain-text fallback
    body_html: str  # email HTML alternative, autoescaped


def render_message(
    *, subject: str, body_text: str, body_html: str, context: dict[str, Any], escape_body: bool
) -> RenderedMessage:
    with budget():  # one budget for the message's parts
        plain = render_string(body_text, context, autoescape=False).strip()
        return RenderedMessage(
            subject=" ".join(render_string(subject, context, autoescape=False).split()),
            body=render_string(body_text, context, autoescape=True).strip() if escape_body else plain,
            body_plain=plain,
            body_html=render_string(body_html, context, autoescape=True) if body_html else "",
        )
