"""Step accounting: what bounds the time of any program.

Every operation costs steps in proportion to its work (see `evaluate`'s docstring for the
prices), paid before it runs. The meter stops evaluation at the step limit (E304) and, if a
wall-clock limit is set, reads the clock only every `STEPS_PER_CLOCK_CHECK` steps (E308), so
the check costs nothing on the hot path: one addition and one comparison.
"""

from __future__ import annotations

import time

from proto3d.compiler.values import fail
from proto3d.errors import Span
from proto3d.limits import Limits

STEPS_PER_CLOCK_CHECK = 2_000  # the clock is read every ~2-30 ms of work (a step costs 1-15 µs at most)


class StepMeter:
    """`used` steps so far; they may run up to `budget`: the step limit, or the next clock check."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.used = 0
        self.deadline = None if limits.max_seconds is None else time.monotonic() + limits.max_seconds
        self.budget = (
            limits.max_steps if self.deadline is None else min(limits.max_steps, STEPS_PER_CLOCK_CHECK)
        )

    def charge(self, span: Span, amount: int = 1) -> None:
        self.used += amount
        if self.used > self.budget:
            self.over_budget(span)

    def over_budget(self, span: Span) -> None:
        """The steps passed the budget: the step limit (E304), or a checkpoint to read the clock (E308)."""
        limits = self.limits
        if self.used > limits.max_steps:
            fail(
                "E304",
                f"the program needs more than {limits.max_steps} evaluation steps",
                span,
                hint="use fewer loop iterations or smaller lists",
            )
        if time.monotonic() > self.deadline:
            fail(
                "E308",
                f"evaluation passed its time limit of {limits.max_seconds:g} s while running this",
                span,
                hint="use fewer loop iterations or smaller lists",
            )
        self.budget = min(limits.max_steps, self.used + STEPS_PER_CLOCK_CHECK)
