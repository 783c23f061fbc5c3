"""`manage.py create_api_key NAME [--read-only]`: prints the new key on its last line."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.api_gateway.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key and print it (shown once; only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--read-only", action="store_true", help="the key may only GET")

    def handle(self, *args: Any, **options: Any) -> None:
        api_key, plaintext = api_key_create(name=options["name"], can_write=not options["read_only"])
        self.stderr.write(f"Created API key '{api_key.name}' (prefix {api_key.prefix}). Store it now:")
        self.stdout.write(plaintext)
