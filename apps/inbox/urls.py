"""The browser's inbox routes under /inbox/ (an inbox token, no API key). /inbox/stream/ itself is
served by the ASGI process (apps.inbox.stream, config/asgi.py); this view only answers when a
request for it reaches a WSGI process instead."""

from django.urls import path

from apps.inbox.api import BrowserInboxApi, BrowserInboxCountsApi, BrowserInboxMarkApi
from apps.inbox.views import demo, stream_elsewhere

urlpatterns = [
    path("", BrowserInboxApi.as_view(), name="inbox"),
    path("counts/", BrowserInboxCountsApi.as_view(), name="inbox-counts"),
    path("mark/", BrowserInboxMarkApi.as_view(), name="inbox-mark"),
    path("stream/", stream_elsewhere, name="inbox-stream"),
    path("demo/", demo, name="inbox-demo"),
]
