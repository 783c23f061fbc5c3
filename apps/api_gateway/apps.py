from django.apps import AppConfig


class ApiGatewayConfig(AppConfig):
    name = "apps.api_gateway"
    label = "api_gateway"
    verbose_name = "API gateway"

    def ready(self) -> None:
        from apps.api_gateway import schema  # noqa: F401 - registers the OpenAPI auth extension
