"""Boolean blocks (`difference`, `union`, `intersection`) over a part's primitives, by manifold3d.

Each distinct local shape (a kind, its parameters and segments, as `tessellate` shares them)
enters manifold3d once, as a mesh of its own, and every operand is that solid moved by its
matrix. manifold3d keeps, on every face of the result, the original id of the shape it comes
from and the transform of the copy (the walls a cutter leaves are its faces); the two give the
face's primitive back, and through it its part, instance, colour and source line. Vertex
normals ride along as vertex properties in the shape's own frame: manifold3d interpolates them
along the cut lines and says which faces it turned inside out (a cutter's walls), and they are
moved to the world as `tessellate` moves them, so a drilled cylinder stays smooth.

Sharing the shapes is what keeps the cost near manifold3d's own: reading a mesh into manifold3d
costs more than the transform of a copy (a plate with 200 holes reads two meshes, not 201).

The result is a `Tessellation` of the operands, in their order, each primitive's faces and
vertices together as `tessellate` gives them, so the rest of the pipeline sees an ordinary mesh.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import manifold3d
import numpy as np

from proto3d.compiler.primitives import PRIMITIVES
from proto3d.compiler.shape import Primitive
from proto3d.compiler.tessellate import Tessellation, tessellate
from proto3d.compiler.values import fail
from proto3d.errors import Span

_NEXT, _AFTER = [1, 2, 0], [2, 0, 1]  # the rows and columns a cofactor multiplies

_OPS = {
    "difference": manifold3d.OpType.Subtract,
    "union": manifold3d.OpType.Add,
    "intersection": manifold3d.OpType.Intersect,
}


@dataclass
class BooleanNode:
    """A boolean block as it ran: its operands are primitive ids and nested blocks, in order."""

    op: str  # difference union intersection
    span: Span  # the keyword
    operands: list = field(default_factory=list)  # int | BooleanNode


def solve(node: BooleanNode, operands: list[Primitive], first: int) -> Tessellation:
    """The result of a boolean block whose operands are the primitives numbered from `first` (the
    result numbers them from 0); EvalError E141 at an operand manifold3d cannot read as a solid."""
    packed: dict[int, tuple] = {}  # id of a params dict -> its local shape: equal shapes from distinct dicts
    numbers: dict[tuple, int] = {}  # each distinct local shape -> its number, in order of first use
    shape_of = np.array(
        [
            numbers.setdefault(
                (p.kind, p.segments, packed.get(id(p.params)) or _shape(p, packed)), len(numbers)
            )
            for p in operands
        ]
    )
    firsts = np.unique(shape_of, return_index=True)[1]  # each shape's first copy
    local = tessellate(
        [
            Primitive(operands[k].kind, operands[k].params, np.eye(4), operands[k].segments, 0, 0, (0, 0, 0))
            for k in firsts.tolist()
        ]
    )
    face_start = np.searchsorted(local.face_primitive, np.arange(len(firsts) + 1))
    solids = [closed_solid(_piece(local, s, face_start), operands[k]) for s, k in enumerate(firsts.tolist())]
    matrices = np.array([p.matrix[:3] for p in operands])

    def solid(node) -> manifold3d.Manifold:
        if isinstance(node, BooleanNode):
            return manifold3d.Manifold.batch_boolean(
                [solid(operand) for operand in node.operands], _OPS[node.op]
            )
        return solids[shape_of[node - first]].transform(matrices[node - first])

    originals = [s.original_id() for s in solids]
    return _tessellation(solid(node).to_mesh(), shape_of, matrices, originals)


def _shape(p: Primitive, packed: dict[int, tuple]) -> tuple:
    """What a primitive's local mesh depends on, as `tessellate` packs it."""
    code, row, points = PRIMITIVES[p.kind].pack(p.params)
    packed[id(p.params)] = (code, *row, None if points is None else points.tobytes())
    return packed[id(p.params)]


def piece_boxes(mesh: Tessellation) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """The world box of each primitive of a boolean's result (all its vertices are on its faces),
    None for one the result kept nothing of."""
    counts = np.diff(mesh.vertex_start)
    starts = mesh.vertex_start[:-1][counts > 0]
    lo = np.minimum.reduceat(mesh.vertices, starts).astype(np.float64) if len(starts) else np.zeros((0, 3))
    hi = np.maximum.reduceat(mesh.vertices, starts).astype(np.float64) if len(starts) else np.zeros((0, 3))
    found = iter(zip(lo, hi))
    return [next(found) if count else None for count in counts.tolist()]


def closed_solid(mesh: Tessellation, operand: Primitive) -> manifold3d.Manifold:
    """One primitive's local mesh as a manifold3d solid of its own original id: positions and
    normals as its properties, the copies of a vertex at hard edges merged by position; EvalError
    E141 at the operand if manifold3d cannot read it as a closed solid."""
    properties = np.empty((len(mesh.vertices), 6), dtype=np.float32)
    properties[:, :3], properties[:, 3:] = mesh.vertices, mesh.normals
    solid = manifold3d.Mesh(vert_properties=properties, tri_verts=mesh.faces.astype(np.uint32))
    solid.merge()
    result = manifold3d.Manifold(solid)
    if result.status() != manifold3d.Error.NoError:
        fail(
            "E141",
            f"`{operand.kind}` is not a closed solid, so it cannot be an operand of a boolean "
            f"({result.status().name})",
            operand.span,
            hint="check that its outline does not cross itself and its sizes are positive",
        )
    return result.as_original()


def _piece(mesh: Tessellation, s: int, face_start: np.ndarray) -> Tessellation:
    """The mesh of the s-th primitive alone."""
    a, b = int(mesh.vertex_start[s]), int(mesh.vertex_start[s + 1])
    faces = mesh.faces[face_start[s] : face_start[s + 1]] - a
    return Tessellation(
        mesh.vertices[a:b], mesh.normals[a:b], faces, np.zeros(len(faces), np.int32), np.array([0, b - a])
    )


def _tessellation(
    result: manifold3d.Mesh, shape_of: np.ndarray, matrices: np.ndarray, originals: list[int]
) -> Tessellation:
    """manifold3d's output as a `Tessellation` of the operands: each run of triangles goes to the
    copy its original id and transform name, with vertices of its own (so edges between operands
    stay hard), its normals moved to the world by the copy's cofactor matrix as `tessellate` does."""
    triangles = np.asarray(result.tri_verts, dtype=np.int64).reshape(-1, 3)
    properties = np.asarray(result.vert_properties, dtype=np.float64).reshape(-1, 6)
    bounds = np.asarray(result.run_index, dtype=np.int64) // 3
    runs = len(bounds) - 1
    transforms = np.asarray(result.run_transform, dtype=np.float64).reshape(-1, 4, 3).transpose(0, 2, 1)
    if len(transforms) != runs:  # manifold3d leaves them out when every one is the identity
        transforms = np.broadcast_to(np.eye(4)[:3], (runs, 3, 4))
    by_original = np.argsort(originals)
    run_shape = by_original[np.searchsorted(originals, result.run_original_id, sorter=by_original)]
    owners = _owners(run_shape, transforms, shape_of, matrices)
    rank = np.empty(runs, np.int64)
    rank[np.argsort(owners, kind="stable")] = np.arange(runs)  # runs in operand order
    run_of_triangle = np.repeat(rank, np.diff(bounds))
    order = np.argsort(run_of_triangle, kind="stable")
    keys = run_of_triangle[order, None] * len(properties) + triangles[order]
    kept, local = np.unique(keys.ravel(), return_inverse=True)  # a vertex per run that uses it
    vertex, run = kept % max(len(properties), 1), np.argsort(rank)[kept // max(len(properties), 1)]
    linear = transforms[:, :, :3]
    cofactor = linear[:, _NEXT][:, :, _NEXT] * linear[:, _AFTER][:, :, _AFTER] - (
        linear[:, _AFTER][:, :, _NEXT] * linear[:, _NEXT][:, :, _AFTER]
    )  # det · inverse-transpose
    determinant = np.einsum("ri,ri->r", linear[:, :, 0], cofactor[:, :, 0])
    backside = np.asarray(result.run_flags, dtype=np.int64) & 1
    sign = np.where((determinant < 0) != (backside == 1), -1.0, 1.0)
    normals = np.einsum("vij,vj->vi", cofactor[run], properties[vertex, 3:]) * sign[run, None]
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-300)
    counts = np.bincount(owners[run], minlength=len(shape_of))
    return Tessellation(
        properties[vertex, :3].astype(np.float32),
        normals.astype(np.float32),
        local.reshape(-1, 3).astype(np.int32),
        owners[np.argsort(rank)][run_of_triangle[order]].astype(np.int32),
        np.concatenate([[0], np.cumsum(counts)]),
    )


def _owners(
    run_shape: np.ndarray, transforms: np.ndarray, shape_of: np.ndarray, matrices: np.ndarray
) -> np.ndarray:
    """The operand each run comes from: the first copy of the run's shape whose matrix, rounded to
    manifold3d's float32, is the run's transform (manifold3d moves a shape's identity by the copy's
    matrix, which is exact), or the nearest copy if none is."""
    first: dict[bytes, int] = {}
    for k, key in enumerate(_keys(shape_of, matrices.astype(np.float32))):
        first.setdefault(key, k)
    owners = np.array([first.get(key, -1) for key in _keys(run_shape, transforms)], dtype=np.int64)
    for r in np.flatnonzero(owners < 0).tolist():
        candidates = np.flatnonzero(shape_of == run_shape[r])
        owners[r] = candidates[np.argmin(np.abs(matrices[candidates] - transforms[r]).sum(axis=(1, 2)))]
    return owners


def _keys(shape: np.ndarray, matrices: np.ndarray) -> list[bytes]:
    """Each row's shape number and 3 x 4 matrix as bytes to compare (-0.0 made 0.0)."""
    rows = np.concatenate([shape[:, None], matrices.reshape(-1, 12)], axis=1, dtype=np.float64) + 0.0
    return rows.view(np.dtype((np.void, 13 * 8))).ravel().tolist()
