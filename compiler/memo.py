"""The primitive statement's memo: a loop that places the same leg at four corners evaluates it once.

A statement that runs again with the same inputs does no work but pay the steps it cost: the
evaluator's answer (tables, diagnostics, step count) is the same with and without the memo,
which `tests/compiler/test_evaluate.py` checks by switching it off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from proto3d.compiler.steps import StepMeter


class Placement(NamedTuple):
    """A primitive call in its own frame: all the primitive table needs but the enclosing transforms."""

    kind: str
    params: dict  # normalised, as the tessellator reads them
    segments: int
    local: np.ndarray  # (4, 4) placement from at/rot/align (or from/to)
    triangles: int
    largest_entry: float  # max |local|: with the frame's reach it bounds the world matrix's entries


class Shape(NamedTuple):
    """A primitive call wherever it is placed: what its arguments but at, rot, align and color make."""

    params: dict
    segments: int
    triangles: int


class MemoEntry(NamedTuple):
    """One run of a primitive statement: its placement, its colour argument and the steps it cost."""

    placement: Placement
    color: tuple[float, float, float] | None
    steps: int


class PlacementCache:
    """What one primitive statement has computed, at three levels.

    Invariant: the same inputs give the same results, steps and checks. A run is a pure
    function of its inputs (the values of the slots its arguments read, numbers or strings
    only: they are immutable and never equal across types) and the evaluator's enclosing
    frame, which the placement does not include. So `runs` maps inputs to the whole run, and a
    hit pays its steps and evaluates nothing; `placements` maps the values of the variable
    arguments to the placement, for different inputs that give the same arguments; `shapes`
    maps those of the arguments that do not place it (all but at, rot, align and color) to its
    parameters and triangle count, for one primitive drawn in many places (a grid of boxes).
    """

    def __init__(self):
        self.runs: dict[tuple, MemoEntry] = {}
        self.placements: dict[tuple, Placement] = {}
        self.shapes: dict[tuple, Shape] = {}

    def recall(self, inputs: tuple | None, meter: StepMeter) -> MemoEntry | None:
        """The remembered run for these inputs, its steps paid; None to evaluate (also when paying
        would pass the budget: evaluating then stops exactly where it would have)."""
        if inputs is None:
            return None
        entry = self.runs.get(inputs)
        if entry is None or meter.used + entry.steps > meter.budget:
            return None
        meter.used += entry.steps
        return entry

    def remember(self, inputs: tuple | None, entry: MemoEntry) -> None:
        if inputs is not None:
            self.runs[inputs] = entry

    def placement(self, arguments: tuple, place: Callable[[], Placement]) -> Placement:
        """The placement for these argument values, placed (and its checks made) once."""
        return _once(self.placements, arguments, place)

    def shape(self, arguments: tuple, make: Callable[[], Shape]) -> Shape:
        """The shape for these values of the arguments that are not placing ones, made once."""
        return _once(self.shapes, arguments, make)


def _once(table: dict, key: tuple, make: Callable):
    """table[key], made by `make` the first time it is asked for."""
    made = table.get(key)
    if made is None:
        made = table[key] = make()
    return made
