"""`python manage.py test` runs the pytest suite (the runner pytest-django's docs describe), so the classic
`manage.py test` and `coverage run manage.py test` give the same result as `make test`."""

from argparse import ArgumentParser
from typing import Any


class PytestTestRunner:
    def __init__(self, verbosity: int = 1, failfast: bool = False, keepdb: bool = False, **_: Any) -> None:
        self.verbosity = verbosity
        self.failfast = failfast
        self.keepdb = keepdb

    @classmethod
    def add_arguments(cls, parser: ArgumentParser) -> None:
        parser.add_argument("--keepdb", action="store_true", help="Keep the test database between runs.")

    def run_tests(self, test_labels: list[str], **_: Any) -> int:
        """Test labels are pytest node ids or paths (`tests/orders`, `tests/deploy/test_nginx.py::test_x`)."""
        import pytest

        argv = []
        if self.verbosity == 0:
            argv.append("--quiet")
        elif self.verbosity > 1:
            argv.append("-" + "v" * (self.verbosity - 1))
        if self.failfast:
            argv.append("--exitfirst")
        if self.keepdb:
            argv.append("--reuse-db")
        argv.extend(test_labels)
        return int(pytest.main(argv))
