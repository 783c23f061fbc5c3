"""The unsubscribe page: no login, no cookies, reached from a link in an email.

GET only shows what the link does (mail scanners and link previews fetch URLs, so a GET must change
nothing); POST unsubscribes. A mail client's one-click POST (RFC 8058, body
`List-Unsubscribe=One-Click`) and the page's button both land there; neither can carry a CSRF token,
and the signed token is what proves the request came from the email. The token is a credential in
the URL: the page is never cached (`no-store`), sends no Referer on, and the access logs of gunicorn
(config/gunicorn.py) and nginx mask it.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps.customers.models import Category
from apps.customers.preferences import preference_set, unsubscribe_read


def _masked(address: str) -> str:
    name, _, domain = address.partition("@")
    return f"{name[:1]}***@{domain}" if domain else "***"


@never_cache
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    response = _unsubscribe(request, token)
    response["Referrer-Policy"] = "no-referrer"
    return response


def _unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    found = unsubscribe_read(token)
    if found is None:
        return render(request, "customers/unsubscribe.html", {"invalid": True}, status=400)
    customer, category, channel = found
    context = {
        "token": token,
        "category": Category(category).label.lower(),
        "channel": channel,
        "address": _masked(customer.contact_for(channel)),
        "done": False,
    }
    if request.method == "POST":
        preference_set(customer_id=customer.pk, channel=channel, on=False, categories=[category])
        context["done"] = True
    return render(request, "customers/unsubscribe.html", context)
