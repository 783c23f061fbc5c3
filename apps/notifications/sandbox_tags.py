"""The only tags and filters a notification template may use.

Templates are edited by staff and filled with customer data, so they get Django's harmless tags
(if, for, with, ...) and the default filters, but none that reach outside the given context:
no {% debug %}, {% load %}, {% include %}, {% extends %}, {% url %} or {% csrf_token %}.
"""

from django.template import Library, defaultfilters, defaulttags

ALLOWED_TAGS = (
    "autoescape",
    "comment",
    "cycle",
    "filter",
    "firstof",
    "for",
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

register = Library()
register.tags.update({name: defaulttags.register.tags[name] for name in ALLOWED_TAGS})
register.filters.update(defaultfilters.register.filters)
