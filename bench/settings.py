"""Settings of `make bench` and bench/profile.py: the service's own settings (DJANGO_BENCH_BASE, the
production ones by default), plus the baseline endpoints, routed from bench/urls.py and writing to a
table of their own (bench_row), so no production table or health check sees a benchmark."""

import importlib
import os

_base = importlib.import_module(os.environ.get("DJANGO_BENCH_BASE", "config.settings.prod"))
globals().update({name: value for name, value in vars(_base).items() if name.isupper()})

INSTALLED_APPS = [*_base.INSTALLED_APPS, "bench"]
ROOT_URLCONF = "bench.urls"
