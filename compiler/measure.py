"""Early tessellation: evaluation measures parts to answer anchors (`seat.top`), `assemble` reuses it.

A part's anchors are points of its world box, and the box of a primitive is the box of its
triangles, so evaluation tessellates the primitives of a part when the part's anchor is first
read. `EarlyTessellation` keeps those meshes; `assemble` then tessellates only the others and
joins the pieces into exactly the mesh one call over every primitive gives (a primitive's
triangles depend on it alone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from proto3d.compiler.shape import Primitive
from proto3d.compiler.tessellate import Tessellation, tessellate

Box = tuple[np.ndarray, np.ndarray]  # (lo, hi) corners, float64
# The world boxes of primitives[i] for i in ids, None for one without triangles.
Measure = Callable[[Sequence[Primitive], Sequence[int]], list[Box | None]]


def measure_boxes(primitives: Sequence[Primitive], ids: Sequence[int]) -> list[Box | None]:
    """A `Measure` that keeps nothing."""
    return _boxes(tessellate([primitives[i] for i in ids]), len(ids))


class EarlyTessellation:
    """The meshes evaluation made to measure parts, each with the primitive ids it covers."""

    def __init__(self):
        self.pieces: list[tuple[Sequence[int], Tessellation]] = []

    def measure(self, primitives: Sequence[Primitive], ids: Sequence[int]) -> list[Box | None]:
        """A `Measure` that keeps its meshes for `mesh`."""
        mesh = tessellate([primitives[i] for i in ids])
        self.pieces.append((ids, mesh))
        return _boxes(mesh, len(ids))

    def mesh(self, primitives: Sequence[Primitive]) -> Tessellation:
        """The mesh of every primitive, in order, tessellating only those not measured yet."""
        if not self.pieces:
            return tessellate(primitives)
        measured = {i for ids, _ in self.pieces for i in ids}
        rest = [i for i in range(len(primitives)) if i not in measured]
        pieces = self.pieces + [(rest, tessellate([primitives[i] for i in rest]))] if rest else self.pieces
        return _join(pieces)


class PartBoxes:
    """The world boxes of parts and instances for their anchors, grown as they grow.

    A part only grows, so a box is kept per part (or instance) with the number of its
    primitives it covers, and a read measures only the primitives added since: each primitive
    is measured once, however many anchors are read.
    """

    def __init__(self, measure: Measure, primitives: Sequence[Primitive]):
        self.measure = measure
        self.primitives = primitives  # the evaluator's table, growing
        self.of_primitive: dict[int, Box | None] = {}
        self.kept: dict[
            object, tuple[int, np.ndarray | None, np.ndarray | None]
        ] = {}  # key -> (covered, lo, hi)

    def box(self, key, primitive_ids: Sequence[int]) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(lo, hi) of these primitives (all those of `key` so far, a list that only grows); Nones
        while none has triangles."""
        covered, lo, hi = self.kept.get(key, (0, None, None))
        if covered < len(primitive_ids):
            new = primitive_ids[covered:]
            missing = [p for p in new if p not in self.of_primitive]
            if missing:
                self.of_primitive.update(zip(missing, self.measure(self.primitives, missing)))
            boxes = [self.of_primitive[p] for p in new if self.of_primitive[p] is not None]
            if lo is not None:
                boxes.append((lo, hi))
            if boxes:
                lo, hi = np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)
            self.kept[key] = (len(primitive_ids), lo, hi)
        return lo, hi


def _boxes(mesh: Tessellation, count: int) -> list[Box | None]:
    corners = mesh.vertices[mesh.faces].astype(np.float64)
    boxes: list[Box | None] = []
    for local in range(count):
        chosen = corners[mesh.face_primitive == local].reshape(-1, 3)
        # a primitive without triangles adds nothing, as in the instance boxes of the compiled shape
        boxes.append((chosen.min(axis=0), chosen.max(axis=0)) if len(chosen) else None)
    return boxes


def _join(pieces: list[tuple[Sequence[int], Tessellation]]) -> Tessellation:
    """One mesh of primitives 0..n-1 from pieces that each tessellated some of them (every one once)."""
    ids = np.concatenate([np.asarray(i, dtype=np.int64) for i, _ in pieces])
    order = np.argsort(ids, kind="stable")  # where primitive 0, 1, ... sits in the pieces
    vertex_base = np.cumsum([0] + [len(mesh.vertices) for _, mesh in pieces])
    face_base = np.cumsum([0] + [len(mesh.faces) for _, mesh in pieces])
    vertex_count = np.concatenate([np.diff(mesh.vertex_start) for _, mesh in pieces])[order]
    vertex_from = np.concatenate([mesh.vertex_start[:-1] + b for (_, mesh), b in zip(pieces, vertex_base)])[
        order
    ]
    face_counts = [np.bincount(mesh.face_primitive, minlength=len(i)) for i, mesh in pieces]
    face_count = np.concatenate(face_counts)[order]
    face_from = np.concatenate([np.cumsum(c) - c + b for c, b in zip(face_counts, face_base)])[order]
    vertex_start = np.concatenate([[0], np.cumsum(vertex_count)])
    face_start = np.concatenate([[0], np.cumsum(face_count)])
    take_vertices = np.repeat(vertex_from - vertex_start[:-1], vertex_count) + np.arange(vertex_start[-1])
    take_faces = np.repeat(face_from - face_start[:-1], face_count) + np.arange(face_start[-1])
    faces = np.concatenate([mesh.faces + b for (_, mesh), b in zip(pieces, vertex_base)])[take_faces]
    faces += np.repeat(vertex_start[:-1] - vertex_from, face_count)[:, None]
    return Tessellation(
        np.concatenate([mesh.vertices for _, mesh in pieces])[take_vertices],
        np.concatenate([mesh.normals for _, mesh in pieces])[take_vertices],
        faces.astype(np.int32),
        np.repeat(np.arange(len(ids), dtype=np.int32), face_count),
        vertex_start,
    )
