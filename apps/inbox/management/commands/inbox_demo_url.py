"""`manage.py inbox_demo_url [external_id]`: the demo page's address with a token for that customer
(`make run` prints it for demo-ada; the stream process serves the page on STREAM_PORT)."""

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.customers.models import Customer
from apps.inbox.tokens import token_issue

DAY = 24 * 3600


class Command(BaseCommand):
    help = "Print the inbox demo page's URL with a day-long token for a customer."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("external_id", nargs="?", default="demo-ada")

    def handle(self, *args: Any, **options: Any) -> None:
        customer = Customer.objects.filter(external_id=options["external_id"]).first()
        if customer is None:
            raise CommandError(f"No customer with external_id {options['external_id']!r}.")
        port = os.environ.get("STREAM_PORT", "8001")
        token = token_issue(customer.pk, ttl=DAY).token
        self.stdout.write(f"http://127.0.0.1:{port}/inbox/demo/?token={token}")
