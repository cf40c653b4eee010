# pyright: basic
"""The compiler's entry points: text or syntax tree → `CompiledShape`.

The stages run in order: parse, static checks, evaluate, assemble (tessellate and label), lint.
Evaluate may tessellate early to answer part anchors (`seat.top` is a point of the seat's
triangles' box): it measures through the `EarlyTessellation` given here, and `assemble`
reuses those meshes where that is cheaper than tessellating them again (see `measure`).
"""

from __future__ import annotations

from itertools import chain
from operator import attrgetter

import numpy as np
from numba import njit

from proto3d.compiler.check import check_program
from proto3d.compiler.evaluate import EvalError, Evaluation, evaluate
from proto3d.compiler.lints import lint
from proto3d.compiler.measure import EarlyTessellation, complete
from proto3d.compiler.shape import CompiledShape
from proto3d.errors import Diagnostic, Proto3dError, Span, errors
from proto3d.grammar import ast, parse_with_diagnostics
from proto3d.limits import Limits

DEFAULT_LIMITS = Limits()
# A shape without a primitive has nothing to export or render: an error of the whole program.
NOTHING_DRAWN = Diagnostic(
    "E007",
    "the program draws nothing: no primitive was made",
    hint="put primitives in a part, e.g. `part body { box(size=[0.4, 0.3, 0.2]) }`",
)


def compile_text(
    text: str | bytes,
    *,
    params: dict | None = None,
    limits: Limits = DEFAULT_LIMITS,
    filename: str = "<input>",
) -> CompiledShape:
    """Parse and compile; raise `Proto3dError` with every error found. Lints are in `shape.diagnostics`.

    `text` is a str or UTF-8 bytes, a byte order mark and any line ends allowed (see `grammar.source`).
    """
    shape, diagnostics = _compile(text, params, limits, filename)
    if shape is None:
        raise Proto3dError(diagnostics, filename)
    return shape


def check(
    text: str | bytes,
    *,
    params: dict | None = None,
    limits: Limits = DEFAULT_LIMITS,
    filename: str = "<input>",
) -> list[Diagnostic]:
    """Every error and lint of a program, sorted by position; never raises for any input."""
    return _compile(text, params, limits, filename)[1]


def compile_program(
    program: ast.Program, *, params: dict | None = None, limits: Limits = DEFAULT_LIMITS
) -> CompiledShape:
    """Compile an already parsed program."""
    diagnostics = check_program(program)
    problems = sorted(
        (d.with_source(program.text) for d in errors(diagnostics)), key=lambda d: (d.line, d.column)
    )
    if problems:
        raise Proto3dError(problems, program.filename)
    early = EarlyTessellation()
    try:
        evaluation = evaluate(program, limits, params, early.measure)
    except EvalError as error:
        raise Proto3dError([error.diagnostic.with_source(program.text)], program.filename) from None
    except (RecursionError, MemoryError):
        raise Proto3dError(
            [
                Diagnostic(
                    "E306",
                    "the program is too complex to evaluate",
                    Span(1, 1, 1, 2),
                    hint="simplify nesting and loops",
                ).with_source(program.text)
            ],
            program.filename,
        ) from None
    if not evaluation.primitives:
        raise Proto3dError([NOTHING_DRAWN], program.filename)
    shape = assemble(evaluation, early)
    warnings = (
        [d for d in diagnostics if d.severity != "error"]
        + program.warnings
        + evaluation.warnings
        + lint(shape)
    )
    shape.diagnostics = sorted(
        (d.with_source(program.text) for d in warnings), key=lambda d: (d.line, d.column)
    )
    return shape


def _compile(text, params, limits, filename):
    program, diagnostics = parse_with_diagnostics(
        text,
        filename,
        max_bytes=limits.max_program_bytes,
        max_depth=limits.max_depth,
        max_string=limits.max_string,
    )
    if program is None:
        return None, diagnostics
    try:
        shape = compile_program(program, params=params, limits=limits)
    except Proto3dError as error:
        return None, error.diagnostics
    return shape, shape.diagnostics


def assemble(evaluation: Evaluation, early: EarlyTessellation | None = None) -> CompiledShape:
    """Tessellate every primitive (one batched kernel call, or the meshes `early` made while
    evaluating joined to that of the rest) and attach the per-face labels and tables."""
    primitives = evaluation.primitives
    solved = evaluation.booleans
    if early is not None:
        mesh = early.mesh(primitives, evaluation.triangles, solved)
    else:
        mesh = complete(primitives, solved)
    n = len(primitives)
    part_of = np.fromiter(map(attrgetter("part_id"), primitives), np.int32, n)
    instance_of = np.fromiter(map(attrgetter("instance_id"), primitives), np.int32, n)
    color_of = np.fromiter(
        chain.from_iterable(map(attrgetter("color"), primitives)), np.float32, 3 * n
    ).reshape(n, 3)
    m, k = len(mesh.faces), len(evaluation.instances)
    part_id, instance_id = np.empty(m, np.int32), np.empty(m, np.int32)
    face_colors = np.empty((m, 3), np.float32)
    lo, hi = np.full((k, 3), np.inf), np.full((k, 3), -np.inf)
    _label(
        mesh.vertices,
        mesh.faces,
        mesh.face_primitive,
        part_of,
        instance_of,
        color_of,
        part_id,
        instance_id,
        face_colors,
        lo,
        hi,
    )
    empty = lo[:, 0] > hi[:, 0]  # an instance without faces
    lo[empty], hi[empty] = 0.0, 0.0
    for instance, a, b in zip(evaluation.instances, lo, hi):
        instance.bbox_min, instance.bbox_max = a, b
    return CompiledShape(
        name=evaluation.name,
        vertices=mesh.vertices,
        normals=mesh.normals,
        faces=mesh.faces,
        face_colors=face_colors,
        part_id=part_id,
        instance_id=instance_id,
        primitive_id=mesh.face_primitive,
        parts=evaluation.parts,
        instances=evaluation.instances,
        primitives=primitives,
        bounds=evaluation.bounds,
        params=evaluation.params,
        anchor_reads=evaluation.anchor_reads,
    )


@njit(cache=True)
def _label(
    vertices, faces, face_primitive, part_of, instance_of, color_of, part_id, instance_id, face_colors, lo, hi
):
    """Per-face part, instance and colour, and the (lo, hi) corners of each instance's vertices
    (merged into lo and hi), in one pass over the faces. The arrays are made by the caller: a
    kernel that allocates compiles NumPy's allocation code too, on the first run.

    Faces come in runs of one primitive: a run's labels are filled at once and its extent kept
    in locals (in the vertices' own type) and merged into its instance's at its end.
    """
    m = faces.shape[0]
    f = 0
    while f < m:
        p = face_primitive[f]
        start = f
        v = faces[f, 0]
        x0, y0, z0 = vertices[v, 0], vertices[v, 1], vertices[v, 2]
        x1, y1, z1 = x0, y0, z0
        while f < m and face_primitive[f] == p:
            for c in range(3):
                v = faces[f, c]
                x, y, z = vertices[v, 0], vertices[v, 1], vertices[v, 2]
                x0, y0, z0 = x if x < x0 else x0, y if y < y0 else y0, z if z < z0 else z0
                x1, y1, z1 = x if x > x1 else x1, y if y > y1 else y1, z if z > z1 else z1
            f += 1
        i = instance_of[p]
        for g in range(start, f):
            part_id[g], instance_id[g] = part_of[p], i
            face_colors[g, 0], face_colors[g, 1], face_colors[g, 2] = (
                color_of[p, 0],
                color_of[p, 1],
                color_of[p, 2],
            )
        lo[i, 0], lo[i, 1], lo[i, 2] = min(lo[i, 0], x0), min(lo[i, 1], y0), min(lo[i, 2], z0)
        hi[i, 0], hi[i, 1], hi[i, 2] = max(hi[i, 0], x1), max(hi[i, 1], y1), max(hi[i, 2], z1)
