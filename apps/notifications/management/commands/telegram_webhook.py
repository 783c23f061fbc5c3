"""Register (or remove) the bot's webhook with Telegram: setWebhook with our URL and secret."""

from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse


class Command(BaseCommand):
    help = "Point the Telegram bot's webhook at this service (setWebhook), or remove it with --delete."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url", default="", help="webhook URL; default: PUBLIC_BASE_URL + /telegram/webhook/"
        )
        parser.add_argument("--delete", action="store_true", help="remove the webhook instead")

    def handle(self, *args: Any, **options: Any) -> None:
        token = settings.TELEGRAM_BOT_TOKEN
        if not token:
            raise CommandError("TELEGRAM_BOT_TOKEN is not set.")
        if options["delete"]:
            params: dict[str, Any] = {"url": ""}
        else:
            if not settings.TELEGRAM_WEBHOOK_SECRET:
                raise CommandError("Set TELEGRAM_WEBHOOK_SECRET: without it the webhook refuses updates.")
            url = options["url"] or settings.PUBLIC_BASE_URL.rstrip("/") + reverse("telegram-webhook")
            params = {
                "url": url,
                "secret_token": settings.TELEGRAM_WEBHOOK_SECRET,
                "allowed_updates": ["message"],
            }
        try:
            endpoint = f"{settings.TELEGRAM_API_BASE_URL}/bot{token}/setWebhook"
            response = httpx.post(endpoint, json=params, timeout=15)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise CommandError(f"Telegram did not answer: {exc.__class__.__name__}") from None
        if not body.get("ok"):
            raise CommandError(f"Telegram refused: {body.get('description', response.status_code)}")
        self.stdout.write(body.get("description") or "OK")
        if not options["delete"]:
            self.stdout.write(f"Webhook: {params['url']}")
