from django.apps import AppConfig


class ApiGatewayConfig(AppConfig):
    name = "apps.api_gateway"
    label = "api_gateway"
    verbose_name = "API gateway"
