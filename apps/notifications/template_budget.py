"""The budget of one message's rendering: templates are untrusted input (any key with
`templates:write` may store one, any send may carry one), so a render may take at most
TEMPLATE_RENDER_TIMEOUT_MS, loop at most TEMPLATE_MAX_ITERATIONS times in all, and produce at most
TEMPLATE_MAX_OUTPUT characters; a filter argument that would allocate more is refused before it does.

The sandbox's `for` charges the length of each sequence it walks to the budget (so nested loops are
charged as they multiply) and meters what each loop body renders; the budget's clock is read at each
charge. The clock is the thread's CPU time: a render is charged for the work it does, not for the
time its process waits for a core on a busy machine (with wall time, a two-line message could go
over 200 ms while the host was loaded and a valid send would be refused). Over budget raises
TemplateLimit, which the callers turn into a 400 (`template_limit`) in the API and a failed delivery
in a worker.
"""

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings


class TemplateLimit(ValueError):
    """A template went over its rendering budget."""

    reason = "template_limit"


@dataclass
class Budget:
    deadline: float
    iterations: int
    output: int
    spent_iterations: int = 0
    spent_output: int = 0
    started: float = field(default_factory=time.thread_time)

    def charge(self, iterations: int = 0, output: int = 0) -> None:
        self.spent_iterations += iterations
        self.spent_output += output
        if self.spent_iterations > self.iterations:
            raise TemplateLimit(f"loops more than {self.iterations} times")
        if self.spent_output > self.output:
            raise TemplateLimit(f"renders more than {self.output} characters")
        if time.thread_time() > self.deadline:
            raise TemplateLimit(f"takes longer than {settings.TEMPLATE_RENDER_TIMEOUT_MS} ms to render")


_current: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("template_budget", default=None)


@contextmanager
def budget() -> Iterator[Budget]:
    """One budget for everything rendered inside (a message's subject, text and HTML); nested calls
    share the outer one."""
    active = _current.get()
    if active is not None:
        yield active
        return
    fresh = Budget(
        deadline=time.thread_time() + settings.TEMPLATE_RENDER_TIMEOUT_MS / 1000,
        iterations=settings.TEMPLATE_MAX_ITERATIONS,
        output=settings.TEMPLATE_MAX_OUTPUT,
    )
    token = _current.set(fresh)
    try:
        yield fresh
    finally:
        _current.reset(token)


def charge(iterations: int = 0, output: int = 0) -> None:
    active = _current.get()
    if active is not None:
        active.charge(iterations, output)


def max_output() -> int:
    return int(settings.TEMPLATE_MAX_OUTPUT)
