"""`manage.py create_api_key NAME [--scopes a,b,...] [--read-only]`: prints the new key on its last line."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.api_gateway.scopes import ALL_SCOPES, scopes_parse
from apps.api_gateway.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key and print it (shown once; only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--scopes", default=None, help=f"comma-separated, of: {', '.join(ALL_SCOPES)} (default: all)"
        )
        parser.add_argument("--read-only", action="store_true", help="only the :read scopes")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            scopes = None if options["scopes"] is None else scopes_parse(options["scopes"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        api_key, plaintext = api_key_create(
            name=options["name"], scopes=scopes, can_write=not options["read_only"]
        )
        self.stderr.write(f"Created API key '{api_key.name}' (prefix {api_key.prefix}). Store it now:")
        self.stdout.write(plaintext)
