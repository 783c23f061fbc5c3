"""Templates as the API manages them: checked in the sandbox that renders them before anything is
saved, versioned on every change (by signals, so admin and shell edits are versioned too), restored,
previewed exactly as a send renders, and kept when order events need them."""

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from apps.customers.models import Customer
from apps.notifications.models import NotificationTemplate, TemplateVersion
from apps.notifications.planning import HTML_BODY_CHANNELS, render_context
from apps.notifications.rendering import (
    RenderedMessage,
    TemplateError,
    TemplateLimit,
    render_message,
    template_check,
    template_problem,
)
from apps.orders.state_machine import OrderStatus

# Keys order events render (order_created, order_<status>); their English variant is the fallback of
# every language, so it cannot be deleted while order events exist.
ORDER_EVENT_KEYS = frozenset({"order_created", *(f"order_{status}" for status in OrderStatus.values)})
CONTENT_FIELDS = ("subject", "body_text", "body_html")


class TemplateInvalid(Exception):
    """Fields that do not compile: {field: ["Line n: reason"]}."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(errors)
        self.errors = errors


class TemplateExists(Exception):
    """Another template has this key, channel and language."""


class TemplateInUse(Exception):
    """Order events render this template."""


def template_errors(**sources: str) -> dict[str, Any]:
    """Compile each given source (subject, body, body_html) in the sandbox and render it with an
    empty context within the rendering budget; the problems by field, and `reason: template_limit`
    beside them when a source is over the budget."""
    errors: dict[str, Any] = {}
    for field, source in sources.items():
        problem = template_problem(source or "")
        if problem is not None:
            line, reason = problem
            errors[field] = [f"Line {line}: {reason}"]
            continue
        try:
            template_check(source or "")
        except TemplateLimit as exc:
            errors[field] = [f"Over the rendering budget: the template {exc}."]
            errors["reason"] = TemplateLimit.reason
        except TemplateError as exc:
            errors[field] = [str(exc)]
    return errors


def _check(template: NotificationTemplate) -> None:
    errors = template_errors(subject=template.subject, body=template.body_text, body_html=template.body_html)
    if errors:
        raise TemplateInvalid(errors)


def _save(template: NotificationTemplate) -> NotificationTemplate:
    _check(template)
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError as exc:
        raise TemplateExists() from exc
    return template


@transaction.atomic
def template_create(**fields: Any) -> NotificationTemplate:
    return _save(NotificationTemplate(**fields))


@transaction.atomic
def template_update(*, template: NotificationTemplate, fields: dict[str, Any]) -> NotificationTemplate:
    template = NotificationTemplate.objects.select_for_update().get(pk=template.pk)
    for name, value in fields.items():
        setattr(template, name, value)
    return _save(template)


@transaction.atomic
def template_delete(*, template: NotificationTemplate) -> None:
    if template.key in ORDER_EVENT_KEYS and template.language == "en":
        raise TemplateInUse(template.key)
    template.delete()


@transaction.atomic
def template_restore(*, template: NotificationTemplate, version: TemplateVersion) -> NotificationTemplate:
    """Make an earlier version's content current (recorded as a new version)."""
    return template_update(
        template=template, fields={name: getattr(version, name) for name in CONTENT_FIELDS}
    )


def template_versions(template: NotificationTemplate) -> list[TemplateVersion]:
    """Newest first, the current content included. A template never changed since versions exist
    (seeded by a migration) shows its content as version 1, unsaved: reading writes nothing, and its
    first change keeps it (on_template_saving)."""
    versions = list(template.versions.order_by("-version"))
    if not versions:
        content = {name: getattr(template, name) for name in CONTENT_FIELDS}
        versions = [TemplateVersion(template=template, version=1, created_at=template.updated_at, **content)]
    return versions


def template_version_number(template: NotificationTemplate) -> int:
    """The current version's number: annotated by a list (`latest_version`), else read."""
    latest = getattr(template, "latest_version", None)
    if latest is None:
        latest = template.versions.aggregate(latest=Max("version"))["latest"]
    return int(latest or 1)


def version_record(template: NotificationTemplate) -> TemplateVersion:
    """Keep the template's current content as its next version, unless the latest one is the same."""
    latest = template.versions.order_by("-version").first()
    content = {name: getattr(template, name) for name in CONTENT_FIELDS}
    if latest is not None and all(getattr(latest, name) == value for name, value in content.items()):
        return latest
    return TemplateVersion.objects.create(
        template=template, version=(latest.version + 1) if latest else 1, **content
    )


def on_template_saving(instance: NotificationTemplate, **_: Any) -> None:
    """Before a change: a template that has no versions yet keeps its stored content as version 1."""
    if instance.pk is None or TemplateVersion.objects.filter(template_id=instance.pk).exists():
        return
    stored = NotificationTemplate.objects.filter(pk=instance.pk).first()
    if stored is not None:
        version_record(stored)


def on_template_saved(instance: NotificationTemplate, **_: Any) -> None:
    version_record(instance)


@dataclass(frozen=True)
class InlineTemplate:
    channel: str
    body_text: str
    subject: str = ""
    body_html: str = ""


def template_preview(
    *, template: NotificationTemplate | InlineTemplate, customer: Customer | None, context: dict[str, Any]
) -> RenderedMessage:
    """Render as a send to `customer` would (the same context, the same escaping), sending nothing.
    A template that does not compile raises TemplateInvalid (an inline one, or one saved unchecked)."""
    errors = template_errors(subject=template.subject, body=template.body_text, body_html=template.body_html)
    if errors:
        raise TemplateInvalid(errors)
    try:
        return render_message(
            subject=template.subject,
            body_text=template.body_text,
            body_html=template.body_html,
            context=render_context(customer, context),
            escape_body=template.channel in HTML_BODY_CHANNELS,
        )
    except TemplateLimit as exc:
        raise TemplateInvalid(
            {"template": [f"Over the rendering budget: the template {exc}."], "reason": TemplateLimit.reason}
        ) from None
