"""The baseline endpoints' own table: one narrow row per request."""

from django.db import models


class BenchRow(models.Model):
    name = models.CharField(max_length=64)
    at = models.DateTimeField()

    # Spelled out: the type checker runs with the service's settings, where this app is not installed.
    objects: "models.Manager[BenchRow]" = models.Manager()

    def __str__(self) -> str:
        return self.name
