"""Boolean blocks (`difference`, `union`, `intersection`) over a part's primitives, by manifold3d.

Each operand primitive enters manifold3d as a mesh of its own, so it gets an original id of its
own, and manifold3d keeps that id on every face of the result that comes from it (the walls a
cutter leaves are its faces). Mapping the ids back gives every result face its primitive, and
through it its part, instance, colour and source line. Vertex normals ride along as vertex
properties: manifold3d interpolates them along the cut lines and says which faces it turned
inside out (a cutter's walls), whose normals are flipped, so a drilled cylinder stays smooth.

The result is a `Tessellation` of the operands, in their order, with a primitive's faces and
vertices together as `tessellate` gives them, so the rest of the pipeline sees an ordinary mesh.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import manifold3d
import numpy as np

from proto3d.compiler.shape import Primitive
from proto3d.compiler.tessellate import Tessellation
from proto3d.compiler.values import fail
from proto3d.errors import Span

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


def solve(node: BooleanNode, operands: list[Primitive], mesh: Tessellation, first: int) -> Tessellation:
    """The result of a boolean block whose operands are the primitives numbered from `first`, and
    `mesh` their tessellation (both results number them from 0); EvalError E141 at an operand
    manifold3d cannot read as a closed solid."""
    face_start = np.searchsorted(mesh.face_primitive, np.arange(len(operands) + 1))
    of_original: dict[int, int] = {}

    def solid(node) -> manifold3d.Manifold:
        if isinstance(node, BooleanNode):
            solids = [solid(operand) for operand in node.operands]
            return manifold3d.Manifold.batch_boolean(solids, _OPS[node.op])
        k = node - first
        result = _manifold(mesh, k, face_start)
        if result.status() != manifold3d.Error.NoError:
            fail(
                "E141",
                f"`{operands[k].kind}` is not a closed solid, so it cannot be an operand of a boolean "
                f"({result.status().name})",
                operands[k].span,
                hint="check that its outline does not cross itself and its sizes are positive",
            )
        of_original[result.original_id()] = k
        return result

    return _tessellation(solid(node).to_mesh(), of_original, len(operands))


def _manifold(mesh: Tessellation, k: int, face_start: np.ndarray) -> manifold3d.Manifold:
    """Primitive k of `mesh` as a manifold: positions and normals as its properties, the copies of a
    vertex at hard edges merged by position."""
    a, b = int(mesh.vertex_start[k]), int(mesh.vertex_start[k + 1])
    properties = np.empty((b - a, 6), dtype=np.float32)
    properties[:, :3], properties[:, 3:] = mesh.vertices[a:b], mesh.normals[a:b]
    triangles = (mesh.faces[face_start[k] : face_start[k + 1]] - a).astype(np.uint32)
    solid = manifold3d.Mesh(vert_properties=properties, tri_verts=triangles)
    solid.merge()
    return manifold3d.Manifold(solid).as_original()


def _tessellation(result: manifold3d.Mesh, of_original: dict[int, int], count: int) -> Tessellation:
    """manifold3d's output as a `Tessellation` of `count` primitives: each run of triangles gets the
    primitive of its original id and vertices of its own (so hard edges between operands stay hard)."""
    triangles = np.asarray(result.tri_verts, dtype=np.int64).reshape(-1, 3)
    properties = np.asarray(result.vert_properties, dtype=np.float32).reshape(-1, 6)
    bounds = np.asarray(result.run_index, dtype=np.int64) // 3
    owners = [of_original[i] for i in np.asarray(result.run_original_id).tolist()]
    vertices, normals, faces, face_primitive = [], [], [], []
    vertex_counts = np.zeros(count, dtype=np.int64)
    used_so_far = 0
    for run in sorted(range(len(owners)), key=owners.__getitem__):
        used, local = np.unique(triangles[bounds[run] : bounds[run + 1]].ravel(), return_inverse=True)
        normal = properties[used, 3:] * (-1.0 if result.backside(run) else 1.0)
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-30)  # interpolated: shorter
        vertices.append(properties[used, :3])
        normals.append(normal)
        faces.append(local.reshape(-1, 3) + used_so_far)
        face_primitive.append(np.full(len(local) // 3, owners[run], dtype=np.int32))
        vertex_counts[owners[run]] += len(used)
        used_so_far += len(used)
    return Tessellation(
        np.concatenate([np.zeros((0, 3), np.float32), *vertices]),
        np.concatenate([np.zeros((0, 3), np.float32), *normals]),
        np.concatenate([np.zeros((0, 3), np.int64), *faces]).astype(np.int32),
        np.concatenate([np.zeros(0, np.int32), *face_primitive]),
        np.concatenate([[0], np.cumsum(vertex_counts)]),
    )
