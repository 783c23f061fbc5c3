"""`manage.py broadcast --message TEXT [--subject S] [--template KEY] [--channel C ...]`: one message to
every customer (or `--customer ID ...`), written in chunks, with a progress bar."""

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.notifications.broadcast import broadcast_send
from apps.notifications.planning import MessageSource
from apps.notifications.rendering import TemplateError, template_check


class Command(BaseCommand):
    help = "Send one message to many customers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--message", default="")
        parser.add_argument("--subject", default="")
        parser.add_argument("--template", default="", help="a template key instead of --message")
        parser.add_argument("--context", default="{}", help="JSON object for the template")
        parser.add_argument("--channel", action="append", dest="channels")
        parser.add_argument("--customer", action="append", type=int, dest="customers")
        parser.add_argument("--chunk-size", type=int, default=1000)
        parser.add_argument("--category", default="marketing", choices=["marketing", "order_updates"])

    def handle(self, *args: Any, **options: Any) -> None:
        if bool(options["message"]) == bool(options["template"]):
            raise CommandError("Give either --message or --template.")
        try:
            context = json.loads(options["context"])
            template_check(options["message"])
            template_check(options["subject"])
        except (ValueError, TemplateError) as exc:
            raise CommandError(str(exc)) from exc
        started = time.monotonic()
        result = broadcast_send(
            source=MessageSource(
                template_key=options["template"], subject=options["subject"], message=options["message"]
            ),
            context=context,
            channels=options["channels"],
            category=options["category"],
            customer_ids=options["customers"],
            chunk_size=options["chunk_size"],
            progress=self._progress,
        )
        self.stdout.write("")
        self.stdout.write(
            f"Broadcast to {result.customers} customers in {time.monotonic() - started:.1f} s: "
            f"{json.dumps(dict(result.deliveries), sort_keys=True)}"
        )

    def _progress(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        self.stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", ending="")
        self.stdout.flush()
