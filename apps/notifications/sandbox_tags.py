"""The only tags and filters a notification template may use.

Templates are untrusted: they get Django's harmless tags (if, for, with, ...) and the default filters,
but none that reach outside the given context (no {% debug %}, {% load %}, {% include %},
{% extends %}, {% url %} or {% csrf_token %}), none that turn escaping off ({% autoescape off %},
`safe`, `safeseq`: values are always escaped in email HTML and Telegram's HTML mode), and a `for` and
filters that keep to the rendering budget (apps.notifications.template_budget).
"""

from typing import Any, cast

from django.template import Library, Node, NodeList, defaultfilters, defaulttags
from django.template.base import FilterExpression, Parser, Token

from apps.notifications.template_budget import TemplateLimit, charge, max_output

ALLOWED_TAGS = (
    "comment",
    "cycle",
    "filter",
    "firstof",
    "if",
    "ifchanged",
    "now",
    "regroup",
    "spaceless",
    "templatetag",
    "verbatim",
    "widthratio",
    "with",
)
REFUSED_FILTERS = ("safe", "safeseq")

register = Library()
register.tags.update({name: defaulttags.register.tags[name] for name in ALLOWED_TAGS})
register.filters.update(
    {name: f for name, f in defaultfilters.register.filters.items() if name not in REFUSED_FILTERS}
)


class _ChargedSequence:
    """A `for` loop's sequence that charges its length to the budget each time it is walked."""

    def __init__(self, sequence: FilterExpression) -> None:
        self.sequence = sequence

    def resolve(self, context: Any, ignore_failures: bool = False) -> Any:
        values = self.sequence.resolve(context, ignore_failures=ignore_failures)
        try:
            charge(iterations=len(values))
        except TypeError:  # no length: Django's for renders it as one item or none
            charge(iterations=1)
        return values


class _MeteredNode(Node):
    """A node of a loop body whose output is charged to the budget as it is rendered."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.token = node.token
        self.origin = node.origin

    def render_annotated(self, context: Any) -> str:
        output = str(self.node.render_annotated(context))
        charge(output=len(output))
        return output

    def render(self, context: Any) -> str:
        return self.render_annotated(context)


@register.tag("for")
def budgeted_for(parser: Parser, token: Token) -> Node:
    node: Any = defaulttags.do_for(parser, token)
    node.sequence = _ChargedSequence(node.sequence)
    node.nodelist_loop = NodeList(_MeteredNode(n) for n in node.nodelist_loop)
    return cast(Node, node)


def _width(arg: Any) -> int:
    """A filter's size argument, refused when it would allocate more than the output budget."""
    try:
        width = int(arg)
    except (TypeError, ValueError):
        return 0
    if width > max_output():
        raise TemplateLimit(f"a filter argument of {width} is larger than the output budget")
    return width


@register.filter(is_safe=True)
def ljust(value: Any, arg: Any) -> str:
    return str(value).ljust(_width(arg))


@register.filter(is_safe=True)
def rjust(value: Any, arg: Any) -> str:
    return str(value).rjust(_width(arg))


@register.filter(is_safe=True)
def center(value: Any, arg: Any) -> str:
    return str(value).center(_width(arg))


@register.filter(is_safe=False)
def add(value: Any, arg: Any) -> Any:
    """Django's `add`, refusing results (strings, lists doubled again and again) over the budget."""
    result = defaultfilters.add(value, arg)
    if hasattr(result, "__len__") and len(result) > max_output():
        raise TemplateLimit("`add` would build a value larger than the output budget")
    return result


@register.filter(is_safe=True)
def floatformat(value: Any, arg: Any = -1) -> Any:
    digits = str(arg).rstrip("gu").lstrip("-")
    if digits.isdigit() and int(digits) > 100:
        raise TemplateLimit("`floatformat` with more than 100 decimal places")
    return defaultfilters.floatformat(value, arg)


@register.filter(is_safe=True)
def stringformat(value: Any, arg: Any) -> str:
    widths = [int(part) for part in "".join(c if c.isdigit() else " " for c in str(arg)).split()]
    if any(width > max_output() for width in widths):
        raise TemplateLimit("`stringformat` with a width larger than the output budget")
    return str(defaultfilters.stringformat(value, arg))
