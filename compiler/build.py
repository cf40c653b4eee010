"""The compiler's entry points: text or syntax tree → `CompiledShape`."""
from __future__ import annotations

import numpy as np
from numba import njit

from proto3d.compiler.check import check_program
from proto3d.compiler.evaluate import EvalError, evaluate
from proto3d.compiler.limits import Limits
from proto3d.compiler.lints import lint
from proto3d.compiler.shape import CompiledShape
from proto3d.compiler.tessellate import tessellate
from proto3d.grammar import ast, parse_with_diagnostics
from proto3d.grammar.diagnostics import Diagnostic, Proto3dError, Span

DEFAULT_LIMITS = Limits()


def compile_text(text: str, *, params: dict | None = None, limits: Limits = DEFAULT_LIMITS,
                 filename: str = "<input>") -> CompiledShape:
    """Parse and compile; raise `Proto3dError` with every error found. Lints are in `shape.diagnostics`."""
    shape, diagnostics = _compile(text, params, limits, filename)
    if shape is None:
        raise Proto3dError(diagnostics, filename)
    return shape


def check(text: str, *, params: dict | None = None, limits: Limits = DEFAULT_LIMITS,
          filename: str = "<input>") -> list[Diagnostic]:
    """Every error and lint of a program, sorted by position; never raises for any input."""
    return _compile(text, params, limits, filename)[1]


def compile_program(program: ast.Program, *, params: dict | None = None,
                    limits: Limits = DEFAULT_LIMITS) -> CompiledShape:
    """Compile an already parsed program."""
    diagnostics = check_program(program)
    errors = sorted((d.with_source(program.text) for d in diagnostics if d.severity == "error"),
                    key=lambda d: (d.line, d.column))
    if errors:
        raise Proto3dError(errors, program.filename)
    try:
        evaluation = evaluate(program, limits, params)
    except EvalError as error:
        raise Proto3dError([error.diagnostic.with_source(program.text)], program.filename) from None
    except (RecursionError, MemoryError):
        raise Proto3dError([Diagnostic("E306", "the program is too complex to evaluate", Span(1, 1, 1, 2),
                                       hint="simplify nesting and loops").with_source(program.text)],
                           program.filename) from None
    shape = assemble(evaluation)
    warnings = [d for d in diagnostics if d.severity != "error"] + evaluation.warnings + lint(shape)
    shape.diagnostics = sorted((d.with_source(program.text) for d in warnings), key=lambda d: (d.line, d.column))
    return shape


def _compile(text, params, limits, filename):
    program, diagnostics = parse_with_diagnostics(text, filename, max_bytes=limits.max_program_bytes,
                                                  max_depth=limits.max_depth, max_string=limits.max_string)
    if program is None:
        return None, diagnostics
    try:
        shape = compile_program(program, params=params, limits=limits)
    except Proto3dError as error:
        return None, error.diagnostics
    return shape, shape.diagnostics


def assemble(evaluation) -> CompiledShape:
    """Tessellate every primitive (one batched kernel call) and attach the per-face labels and tables."""
    primitives = evaluation.primitives
    mesh = tessellate(primitives)
    face_primitive = mesh.face_primitive
    if primitives:
        part_of = np.array([p.part_id for p in primitives], dtype=np.int32)
        instance_of = np.array([p.instance_id for p in primitives], dtype=np.int32)
        color_of = np.array([p.color for p in primitives], dtype=np.float32)
    else:
        part_of = instance_of = np.zeros(0, np.int32)
        color_of = np.zeros((0, 3), np.float32)
    part_id = np.take(part_of, face_primitive)  # np.take: several times faster than fancy indexing here
    instance_id = np.take(instance_of, face_primitive)
    shape = CompiledShape(
        name=evaluation.name, vertices=mesh.vertices, normals=mesh.normals, faces=mesh.faces,
        face_colors=np.take(color_of, face_primitive, axis=0), part_id=part_id, instance_id=instance_id,
        primitive_id=face_primitive.astype(np.int32), parts=evaluation.parts, instances=evaluation.instances,
        primitives=primitives, bounds=evaluation.bounds, params=evaluation.params)
    _instance_boxes(shape)
    return shape


def _instance_boxes(shape: CompiledShape) -> None:
    """Bounding box of each instance's vertices (zeros for an instance without faces)."""
    lo, hi = _instance_extents(shape.vertices, shape.faces, shape.instance_id, len(shape.instances))
    for instance, a, b in zip(shape.instances, lo, hi):
        instance.bbox_min, instance.bbox_max = a, b


@njit(cache=True)
def _instance_extents(vertices, faces, instance_id, n):
    """(lo, hi) corners of the vertices of each instance's faces, in one pass over the faces.

    Faces come in runs of one instance: a run's extent is kept in locals and merged at its end.
    """
    lo = np.full((n, 3), np.inf)
    hi = np.full((n, 3), -np.inf)
    m = faces.shape[0]
    f = 0
    while f < m:
        i = instance_id[f]
        x0 = y0 = z0 = np.inf
        x1 = y1 = z1 = -np.inf
        while f < m and instance_id[f] == i:
            for c in range(3):
                v = faces[f, c]
                x, y, z = np.float64(vertices[v, 0]), np.float64(vertices[v, 1]), np.float64(vertices[v, 2])
                x0, y0, z0 = min(x0, x), min(y0, y), min(z0, z)
                x1, y1, z1 = max(x1, x), max(y1, y), max(z1, z)
            f += 1
        lo[i, 0], lo[i, 1], lo[i, 2] = min(lo[i, 0], x0), min(lo[i, 1], y0), min(lo[i, 2], z0)
        hi[i, 0], hi[i, 1], hi[i, 2] = max(hi[i, 0], x1), max(hi[i, 1], y1), max(hi[i, 2], z1)
    for i in range(n):
        if lo[i, 0] > hi[i, 0]:  # no faces
            lo[i, :] = 0.0
            hi[i, :] = 0.0
    return lo, hi
