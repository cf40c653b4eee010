"""Geometric lints: problems a program can have although it compiles.

`lint(shape)` returns warnings about the tessellated geometry, each with a code, the span
of the offending `part` statement (or primitive) and a concrete fix:

* W101 floating: an instance, or a group of instances touching each other, that no chain
  of contacts connects to the ground; reports the gap to the nearest grounded geometry.
* W102 out of bounds: an instance outside the declared `bounds` box, or an overall size
  far from the declared one.
* W103 not grounded: the lowest point of the shape is not on z = 0.
* W104 hidden: an instance entirely inside another one.
* W105 degenerate primitive: non-positive size, or a mesh without area or volume.

The package, from what a newcomer adding a rule reads first to what a rule builds on:

* `rules.py`: each rule as a function (shape, triangles) -> warnings, with its messages;
* `triangles.py`: the triangles grouped by instance and primitive, boxes, measures, tolerances;
* `contact.py`: the contact graph (W101's groups) and the hosts of hidden instances (W104);
* `distance.py`: W101's gaps, exact distances between triangles by branch and bound;
* `compiler/geometry.py`: the Numba kernels on vectors, triangles and boxes, shared with the
  tessellator (Numba's cache does not see edits there from here: see its docstring).

A new rule is one function in rules.py and one line in `RULES`. Cost is bounded whatever the
program: every search draws on a fixed budget of work units, set next to the code that spends
it with its fallback, so the lints of any program within the limits take a fraction of a
second on one core, and the fallbacks are deterministic and never a wrong warning.
"""

from __future__ import annotations

from proto3d.compiler.lints import rules
from proto3d.compiler.lints.triangles import Triangles
from proto3d.compiler.shape import CompiledShape
from proto3d.errors import Diagnostic

RULES = (rules.degenerate, rules.grounding, rules.bounds, rules.contacts)


def lint(shape: CompiledShape) -> list[Diagnostic]:
    """All geometric warnings of a compiled shape, sorted by code then position."""
    geo = Triangles.of(shape)
    found = [warning for rule in RULES for warning in rule(shape, geo)]
    return sorted(found, key=lambda d: (d.code, d.span.line, d.span.column))
