"""Hand-built `CompiledShape`s for the renderer tests (boxes with exact, known geometry)."""

from __future__ import annotations

import numpy as np

from proto3d.compiler.shape import CompiledShape, Instance, Part, Primitive
from proto3d.grammar.diagnostics import Span

# (normal, the two in-face axes (u, v) with u x v = normal)
_SIDES = [
    ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    ((-1, 0, 0), (0, 0, 1), (0, 1, 0)),
    ((0, 1, 0), (0, 0, 1), (1, 0, 0)),
    ((0, -1, 0), (1, 0, 0), (0, 0, 1)),
    ((0, 0, 1), (1, 0, 0), (0, 1, 0)),
    ((0, 0, -1), (0, 1, 0), (1, 0, 0)),
]


def box_mesh(center, size):
    """24 vertices (hard edges), 12 counter-clockwise triangles, unit normals."""
    center, half = np.asarray(center, float), np.asarray(size, float) / 2
    vertices, normals, faces = [], [], []
    for n, u, v in _SIDES:
        n, u, v = (np.array(a, float) for a in (n, u, v))
        base = len(vertices)
        for su, sv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            vertices.append(center + half * (n + su * u + sv * v))
            normals.append(n)
        faces += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    return np.array(vertices, np.float32), np.array(normals, np.float32), np.array(faces, np.int32)


def boxes(spec, name="boxes") -> CompiledShape:
    """spec: [(label, center, size, color)]; each box is one primitive and one instance on line k + 1."""
    vertices, normals, faces, colors, part_ids, instance_ids = [], [], [], [], [], []
    parts: list[Part] = []
    instances: list[Instance] = []
    primitives: list[Primitive] = []
    for k, (label, center, size, color) in enumerate(spec):
        v, n, f = box_mesh(center, size)
        part_id = next((i for i, p in enumerate(parts) if p.label == label), len(parts))
        span = Span(k + 1, 1, k + 1, 20)
        if part_id == len(parts):
            parts.append(Part(label, color, [], span))
        parts[part_id].instance_ids.append(k)
        lo, hi = v.min(axis=0), v.max(axis=0)
        instances.append(Instance(part_id, len(parts[part_id].instance_ids) - 1, [k], span, lo, hi))
        matrix = np.eye(4)
        matrix[:3, 3] = center
        primitives.append(
            Primitive("box", {"size": np.asarray(size, float)}, matrix, 4, part_id, k, color, span)
        )
        faces.append(f + sum(len(x) for x in vertices))
        vertices.append(v)
        normals.append(n)
        colors.append(np.tile(np.asarray(color, np.float32), (len(f), 1)))
        part_ids.append(np.full(len(f), part_id, np.int32))
        instance_ids.append(np.full(len(f), k, np.int32))
    return CompiledShape(
        name=name,
        vertices=np.concatenate(vertices),
        normals=np.concatenate(normals),
        faces=np.concatenate(faces).astype(np.int32),
        face_colors=np.concatenate(colors),
        part_id=np.concatenate(part_ids),
        instance_id=np.concatenate(instance_ids),
        primitive_id=np.concatenate(instance_ids),
        parts=parts,
        instances=instances,
        primitives=primitives,
    )


def table() -> CompiledShape:
    """A table: top, four legs, and a block hidden inside the top."""
    wood, dark = (0.55, 0.35, 0.17), (0.3, 0.2, 0.1)
    spec = [("top", (0, 0, 0.72), (1.0, 0.6, 0.06), wood)]
    spec += [("leg", (x, y, 0.345), (0.05, 0.05, 0.69), dark) for x in (-0.45, 0.45) for y in (-0.25, 0.25)]
    spec += [("hidden", (0, 0, 0.72), (0.2, 0.2, 0.02), (0.0, 0.0, 1.0))]
    return boxes(spec, "table")
