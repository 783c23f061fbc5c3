"""Local development and `make run`: debug on, SQLite and the embedded broker unless configured."""

from .base import *  # noqa: F403
from .base import LOGGING, env, env_text

DEBUG = env.bool("DEBUG", default=True)
# The demo writes real emails as files under var/mail/ instead of needing an SMTP server.
EMAIL_BACKEND = env_text("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
WHITENOISE_USE_FINDERS = True
LOG_FORMAT = env_text("LOG_FORMAT", "plain")
LOGGING["handlers"]["console"]["formatter"] = "json" if LOG_FORMAT == "json" else "plain"  # type: ignore[index]
