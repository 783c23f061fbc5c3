from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "apps.inbox"
    verbose_name = "In-app inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.inbox import schema  # noqa: F401 - registers the token's OpenAPI scheme
