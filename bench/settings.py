"""Settings of `make bench` and bench/profile.py: the service's own settings (DJANGO_BENCH_BASE, the
production ones by default), plus the baseline endpoints, routed from bench/urls.py and writing to a
table of their own (bench_row), so no production table or health check sees a benchmark."""

import importlib
import importlib.util
import os

_base = importlib.import_module(os.environ.get("DJANGO_BENCH_BASE", "config.settings.prod"))
globals().update({name: value for name, value in vars(_base).items() if name.isupper()})

INSTALLED_APPS = [*_base.INSTALLED_APPS, "bench"]
ROOT_URLCONF = "bench.urls"

if importlib.util.find_spec("post_office") is not None:
    # The peer `make bench` compares the email drain with (requirements/bench.txt), on its defaults:
    # batches of 100, 5 sending threads, over Django's SMTP backend to the same sink.
    INSTALLED_APPS.append("post_office")
    POST_OFFICE = {"BACKENDS": {"default": "django.core.mail.backends.smtp.EmailBackend"}}
