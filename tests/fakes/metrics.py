"""Reading /metrics/ in tests: a sample's value, so a test asserts what its own requests added rather
than that a labelled series exists (which an earlier test may have filled)."""

from prometheus_client.parser import text_string_to_metric_families


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the sample `name` with exactly these labels in a Prometheus text page (0 when
    absent, as a counter that has not counted yet)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return 0.0
