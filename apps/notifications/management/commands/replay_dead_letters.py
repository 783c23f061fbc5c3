"""`manage.py replay_dead_letters [--channel C] [--since ISO] [--id N ...] [--dry-run]`."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from apps.notifications.outbox.sweep import deliveries_retry
from apps.notifications.selectors import dead_letters


class Command(BaseCommand):
    help = "Queue permanently failed deliveries again (all, or filtered by channel, time or id)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--channel")
        parser.add_argument("--since", help="only deliveries that failed at or after this ISO 8601 time")
        parser.add_argument("--id", type=int, action="append", dest="ids", help="a delivery id (repeatable)")
        parser.add_argument("--dry-run", action="store_true", help="list, do not replay")

    def handle(self, *args: Any, **options: Any) -> None:
        since = None
        if options["since"]:
            since = parse_datetime(options["since"])
            if since is None:
                raise CommandError(f"--since is not an ISO 8601 time: {options['since']}")
        queryset = dead_letters(channel=options["channel"], since=since)
        if options["ids"]:
            queryset = queryset.filter(pk__in=options["ids"])
        ids = list(queryset.values_list("pk", flat=True))
        if options["dry_run"]:
            for delivery in queryset:
                self.stdout.write(
                    f"{delivery.pk}\t{delivery.channel}\t{delivery.address}\t{delivery.last_error}"
                )
            self.stdout.write(f"{len(ids)} dead letters (dry run, nothing replayed)")
            return
        self.stdout.write(f"Replayed {deliveries_retry(delivery_ids=ids)} dead letters")
