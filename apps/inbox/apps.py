from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "apps.inbox"
    verbose_name = "In-app inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.api_gateway.health import check_register
        from apps.inbox import schema  # noqa: F401 - registers the token's OpenAPI scheme
        from apps.inbox.health import check_inbox, inbox_degrades

        check_register("inbox", check_inbox, degrades=inbox_degrades)
