"""Boolean blocks (`difference`, `union`, `intersection`) over a part's primitives, by manifold3d.

Each distinct local shape (a kind, its parameters and segments, as `tessellate` shares them)
enters manifold3d once, as a mesh of its own, and every operand is that solid moved by its
matrix. manifold3d keeps, on every face of the result, the original id of the shape it comes
from and the transform of the copy (the walls a cutter leaves are its faces); the two give the
face's primitive back, and through it its part, instance, colour and source line. A shape with
curved faces carries its vertex normals as vertex properties in its own frame: manifold3d
interpolates them along the cut lines, so a drilled cylinder stays smooth. A shape whose faces are
all flat (each triangle's corners share one normal: boxes, wedges, straight extrusions) enters with
positions only, which spares manifold3d its property pass, and each result triangle takes the
normal of the shape's triangle its `face_id` names, the value the property would carry. Either
way manifold3d says which faces it turned inside out (a cutter's walls), and the normals are moved
to the world as `tessellate` moves them.

Sharing the shapes is what keeps the cost near manifold3d's own: reading a mesh into manifold3d
costs more than the transform of a copy (a plate with 200 holes reads two meshes, not 201). So
does mapping the result back in one pass: a run's copy is found by its transform in a dictionary
(manifold3d gives back each copy's matrix exactly, in float32), and one Numba kernel gives every
run its vertices, world normals and box (NumPy calls over a few hundred rows cost more than the
arithmetic, and each is slow to start right after manifold3d's work has filled the caches).

A block is worked out one pair of solids at a time, in manifold3d's own order (the smallest
first, after composing the operands that touch no other, which costs no boolean), so that each
step is afforded before it runs and paid for after (`_Steps`). That is what bounds the time:
manifold3d's work grows with the triangles it makes, and a block's result can be small while its
steps are not (nine copies of a torus that crosses itself about triple the triangles at every
step, and a union of a thousand rotated boxes makes millions on the way). Exact repeats of an
operand (the same shape at the same place) are dropped first: A ∪ A = A ∩ A = A, and cutting twice
is cutting once. Which operands go together is planned from boxes around them before manifold3d
starts (`_plan`), for the same reason as the kernel above.

The result is a `Tessellation` of the operands, in their order, each primitive's faces and
vertices together as `tessellate` gives them, so the rest of the pipeline sees an ordinary mesh.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from math import ceil, inf, sqrt

import manifold3d
import numpy as np
from numba import njit

from proto3d.compiler.geometry import boxes_overlap
from proto3d.compiler.shape import Primitive
from proto3d.compiler.tessellate import Tessellation, local_shapes
from proto3d.compiler.values import fail
from proto3d.errors import Span


@dataclass
class BooleanNode:
    """A boolean block as it ran: its operands are primitive ids and nested blocks, in order."""

    op: str  # difference union intersection
    span: Span  # the keyword
    operands: list = field(default_factory=list)  # int | BooleanNode


Box = tuple[np.ndarray, np.ndarray]  # (lo, hi) world corners


Spend = Callable[[BooleanNode, int], None]  # given a block and a count of triangles


class _Steps:
    """Runs the steps of a block one pair of solids at a time. Before a step, `afford` is asked
    for a result as big as the step's inputs times the most any earlier step of the block grew its
    inputs (at least once), so a block whose steps keep growing stops before the step that would
    cost seconds; after it, `pay` is given the triangles it made."""

    def __init__(self, afford: Spend, pay: Spend):
        self.afford, self.pay, self.growth = afford, pay, 1.0

    def run(self, node: BooleanNode, op: manifold3d.OpType, a, b) -> manifold3d.Manifold:
        inputs = a.num_tri() + b.num_tri()
        self.afford(node, ceil(self.growth * inputs))
        result = manifold3d.Manifold.batch_boolean([a, b], op)
        made = result.num_tri()
        self.pay(node, made)
        self.growth = max(self.growth, made / max(inputs, 1))
        return result


def solve(
    node: BooleanNode, operands: list[Primitive], first: int, afford: Spend, pay: Spend
) -> tuple[Tessellation, list[Box | None]]:
    """The result of a boolean block whose operands are the primitives numbered from `first` (the
    result numbers them from 0), and the world box of each operand's piece of it (None for one the
    result kept nothing of); EvalError E141 at an operand manifold3d cannot read as a solid. Each
    step asks `afford` for the triangles it may make before it runs and tells `pay` those it made
    (see `_Steps`), and either may stop the block."""
    local, local_shape = local_shapes(operands)
    numbers: dict[tuple[str, int], int] = {}  # (kind, local shape) -> the number of its solid
    shape_of, firsts = [], []  # each operand's solid; each solid's first operand
    for k, key in enumerate(zip([p.kind for p in operands], local_shape.tolist())):
        if key not in numbers:
            numbers[key] = len(numbers)
            firsts.append(k)
        shape_of.append(numbers[key])
    matrices = np.array([p.matrix[:3] for p in operands])
    places = _places(matrices)
    boxes = _world_boxes(local, local_shape, matrices)
    plan, _ = _plan(node, first, shape_of, places, boxes)
    face_start = np.searchsorted(local.face_primitive, np.arange(len(local.vertex_start)))
    solids, face_normals = zip(
        *[closed_solid(_piece(local, s, face_start), operands[k]) for (_, s), k in zip(numbers, firsts)]
    )
    steps = _Steps(afford, pay)

    def solid(plan) -> manifold3d.Manifold:
        if isinstance(plan, int):
            return solids[shape_of[plan]].transform(matrices[plan])
        node, body, groups = plan
        if body is not None and not groups:
            return solid(body)
        op = manifold3d.OpType.Intersect if node.op == "intersection" else manifold3d.OpType.Add
        inputs = [
            manifold3d.Manifold.compose([solid(p) for p in g]) if len(g) > 1 else solid(g[0]) for g in groups
        ]
        together = _fold(inputs, partial(steps.run, node, op))
        return (
            together if body is None else steps.run(node, manifold3d.OpType.Subtract, solid(body), together)
        )

    result = solid(plan).to_mesh()
    transforms = np.array(result.run_transform, dtype=np.float32).reshape(-1, 4, 3)
    runs = len(result.run_original_id)
    if len(transforms) != runs:  # manifold3d leaves them out when every one is the identity
        transforms = np.tile(np.eye(4, 3, dtype=np.float32), (runs, 1, 1))
    solid_of = {solid.original_id(): s for s, solid in enumerate(solids)}
    run_solid = [solid_of[original] for original in result.run_original_id]
    flat_faces = [normals for normals in face_normals if normals is not None]
    table = np.concatenate(flat_faces) if flat_faces else np.zeros((0, 3), np.float32)
    starts = np.cumsum([0] + [len(normals) if normals is not None else 0 for normals in face_normals])
    *mesh, lo, hi = _split_runs(
        _read_only(result.tri_verts, 3),
        _read_only(result.vert_properties, result.vert_properties.shape[1]),
        np.asarray(result.face_id, dtype=np.int64),
        np.asarray(result.run_index, dtype=np.int64),
        _owners(run_solid, transforms, shape_of, places, matrices),
        transforms,
        np.asarray(result.run_flags, dtype=np.int64),
        np.array([starts[s] if face_normals[s] is not None else -1 for s in run_solid], dtype=np.int64),
        table,
        len(operands),
    )
    pieces = Tessellation(*mesh)
    counts = np.diff(pieces.vertex_start).tolist()
    return pieces, [(lo[k], hi[k]) if count else None for k, count in enumerate(counts)]


def _distinct(nodes: list, shape_of: list[int], places: list[bytes], first: int) -> list:
    """The operands without the repeats of an earlier one: the same shape by the same matrix, as
    manifold3d takes it (in float32, the precision of the meshes)."""
    seen: set[tuple[int, bytes]] = set()
    kept = []
    for operand in nodes:
        if not isinstance(operand, BooleanNode):
            key = (shape_of[operand - first], places[operand - first])
            if key in seen:
                continue
            seen.add(key)
        kept.append(operand)
    return kept


def _plan(node, first: int, shape_of: list[int], places: list[bytes], boxes: list[list[float]]):
    """How a block will run, worked out from the boxes before manifold3d does any work (NumPy and
    Python run slower right after it; see the module's docstring): an operand is its index; a
    block is (node, the plan of the solid it cuts or None, groups of plans). The groups are
    combined a pair at a time; the plans of one group, whose boxes do not touch one another, are
    composed at no boolean's cost, as manifold3d's batch union does (a plate's holes, a wall's
    openings). Returns (plan, a box around its solid)."""
    if not isinstance(node, BooleanNode):
        return node - first, boxes[node - first]
    head = node.operands[:1] if node.op == "difference" else []  # a cutter that is the body still cuts
    kept = head + _distinct(node.operands[len(head) :], shape_of, places, first)
    if not kept:  # a block with nothing in it is empty, and its box touches nothing
        return (node, None, []), [inf] * 3 + [-inf] * 3
    plans, around = zip(*[_plan(operand, first, shape_of, places, boxes) for operand in kept])
    box = [min(b[i] for b in around) for i in range(3)] + [max(b[i] for b in around) for i in range(3, 6)]
    if node.op == "intersection":
        return (node, None, [[p] for p in plans]), box
    body, start = (plans[0] if head else None), len(head)
    groups = []
    for chunk in range(start, len(plans), 1000):  # as manifold3d does, to bound the box comparisons
        groups += [[plans[k] for k in group] for group in _apart(list(around[chunk : chunk + 1000]), chunk)]
    return (node, body, groups), box


def _world_boxes(local: Tessellation, local_shape: np.ndarray, matrices: np.ndarray) -> list[list[float]]:
    """A box around each operand, [x0, y0, z0, x1, y1, z1]: its local shape's box moved by its matrix
    (the box of the moved box, so no smaller than the operand's own)."""
    if not len(local.vertices):
        return [[0.0] * 6 for _ in matrices]
    starts = np.minimum(local.vertex_start[:-1], len(local.vertices) - 1)  # an empty shape's box is any box
    corners = np.minimum.reduceat(local.vertices, starts), np.maximum.reduceat(local.vertices, starts)
    centre = ((corners[0] + corners[1]) / 2)[local_shape].astype(np.float64)
    half = ((corners[1] - corners[0]) / 2)[local_shape].astype(np.float64)
    linear = matrices[:, :, :3]
    middle = np.einsum("nij,nj->ni", linear, centre) + matrices[:, :, 3]
    reach = np.einsum("nij,nj->ni", np.abs(linear), half)
    return np.concatenate((middle - reach, middle + reach), axis=1).tolist()


def _apart(boxes: list, first: int) -> list[list[int]]:
    """Groups of the boxes ([x0, y0, z0, x1, y1, z1], numbered from `first`) in which no two touch:
    each box goes to the first group it touches no box of."""
    groups: list[list[int]] = []
    for k, g in enumerate(_first_groups(np.array(boxes, dtype=np.float64)).tolist()):
        if g == len(groups):
            groups.append([])
        groups[g].append(first + k)
    return groups


@njit(cache=True)
def _first_groups(boxes):
    """The group of each box, greedily in order (a kernel: in Python the comparisons of a few dozen
    boxes cost more than a house's boolean step, and NumPy's calls as much)."""
    group = np.empty(len(boxes), np.int64)
    blocked = np.zeros(len(boxes) + 1, np.bool_)  # the groups the box at hand touches
    for k in range(len(boxes)):
        blocked[:] = False
        for j in range(k):
            if boxes_overlap(boxes[j, :3], boxes[j, 3:], boxes[k, :3], boxes[k, 3:], 0.0):
                blocked[group[j]] = True
        g = 0
        while blocked[g]:
            g += 1
        group[k] = g
    return group


def _fold(solids: list[manifold3d.Manifold], combine: Callable) -> manifold3d.Manifold:
    """Solids combined a pair at a time by `combine`, the two with the fewest vertices first, as
    manifold3d's batch boolean orders them."""
    if not solids:
        return manifold3d.Manifold()
    heap = [(solid.num_vert(), k, solid) for k, solid in enumerate(solids)]
    heapq.heapify(heap)
    for k in itertools.count(len(heap)):
        if len(heap) == 1:
            return heap[0][2]
        (_, _, a), (_, _, b) = heapq.heappop(heap), heapq.heappop(heap)
        result = combine(a, b)
        heapq.heappush(heap, (result.num_vert(), k, result))


def closed_solid(mesh: Tessellation, operand: Primitive) -> tuple[manifold3d.Manifold, np.ndarray | None]:
    """One primitive's local mesh as a manifold3d solid of its own original id, the copies of a
    vertex at hard edges merged by position, and when every triangle is flat (its corners share one
    normal) the normal each face id of the solid names; EvalError E141 at the operand if manifold3d
    cannot read it as a closed solid. A flat mesh enters with positions only, a curved one with its
    normals as properties."""
    corners = mesh.normals[mesh.faces]
    flat = bool((corners == corners[:, :1]).all())
    if flat:
        face_id = np.arange(len(mesh.faces), dtype=np.uint32)
        solid = manifold3d.Mesh(vert_properties=mesh.vertices, tri_verts=mesh.faces, face_id=face_id)
    else:
        properties = np.concatenate((mesh.vertices, mesh.normals), axis=1, dtype=np.float32)
        solid = manifold3d.Mesh(vert_properties=properties, tri_verts=mesh.faces)
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
    if not flat:
        return result.as_original(), None
    # manifold3d has put the triangles in an order of its own, each with the `face_id` given (its
    # index here); `as_original` keeps that order and renames each face id to the first triangle of
    # its coplanar face in it, so the normals are listed in that order
    order = np.asarray(result.to_mesh().face_id, dtype=np.int64)
    return result.as_original(), corners[order, 0]


def _piece(mesh: Tessellation, s: int, face_start: np.ndarray) -> Tessellation:
    """The mesh of the s-th primitive alone."""
    a, b = int(mesh.vertex_start[s]), int(mesh.vertex_start[s + 1])
    faces = mesh.faces[face_start[s] : face_start[s + 1]] - a
    return Tessellation(
        mesh.vertices[a:b], mesh.normals[a:b], faces, np.zeros(len(faces), np.int32), np.array([0, b - a])
    )


@njit(cache=True)
def _split_runs(
    triangles, properties, face_id, run_index, owners, transforms, flags, run_faces, face_normals, operands
):
    """(vertices, normals, faces, face_primitive, vertex_start) of the runs in operand order (a
    stable sort), and each operand's (lo, hi) corners. A corner's normal, in the solid's frame, is
    its vertex's properties 3-5, or in a run of a flat solid (`run_faces` its first triangle in
    `face_normals`, else -1) the normal of the solid's triangle `face_id` names. Each run has its
    own copy of each (vertex, normal) it uses, in the order its triangles first use them (so edges
    between operands stay hard), each normal moved to the world by the cofactor matrix of the run's
    transform, as `tessellate` moves them, and turned around where manifold3d says the run is inside
    out (flag 1: a cutter's walls)."""
    seen = np.full(len(properties), -1, np.int64)  # the run that last took each vertex
    first = np.empty(len(properties), np.int64)  # its first copy in that run
    following = np.empty(3 * len(triangles), np.int64)  # the next copy of the same vertex, or -1
    copy_vertex = np.empty(3 * len(triangles), np.int64)
    copy_normal = np.empty((3 * len(triangles), 3), np.float32)
    vertices = np.empty((3 * len(triangles), 3), np.float32)
    normals = np.empty((3 * len(triangles), 3), np.float32)
    faces = np.empty((len(triangles), 3), np.int32)
    face_primitive = np.empty(len(triangles), np.int32)
    vertex_start = np.zeros(operands + 1, np.int64)
    lo, hi = np.full((operands, 3), np.inf), np.full((operands, 3), -np.inf)
    cofactor = np.empty((3, 3))
    normal = np.empty(3, np.float32)
    nv, nf = 0, 0
    for r in np.argsort(owners, kind="mergesort"):
        count = 0
        for t in range(run_index[r] // 3, run_index[r + 1] // 3):
            for c in range(3):
                v = triangles[t, c]
                for i in range(3):
                    normal[i] = (
                        properties[v, 3 + i]
                        if run_faces[r] < 0
                        else face_normals[run_faces[r] + face_id[t], i]
                    )
                k = first[v] if seen[v] == r else -1
                while k >= 0 and not (
                    copy_normal[k, 0] == normal[0]
                    and copy_normal[k, 1] == normal[1]
                    and copy_normal[k, 2] == normal[2]
                ):
                    k = following[k]
                if k < 0:
                    k = count
                    following[k] = first[v] if seen[v] == r else -1
                    seen[v], first[v] = r, k
                    copy_vertex[k] = v
                    copy_normal[k] = normal
                    count += 1
                faces[nf, c] = nv + k
            face_primitive[nf] = owners[r]
            nf += 1
        m = transforms[r].astype(np.float64)  # m[j, i]: row i, column j of the linear part
        for i in range(3):
            i1, i2 = (i + 1) % 3, (i + 2) % 3
            for j in range(3):
                j1, j2 = (j + 1) % 3, (j + 2) % 3
                cofactor[i, j] = m[j1, i1] * m[j2, i2] - m[j1, i2] * m[j2, i1]
        determinant = 0.0
        for i in range(3):
            determinant = determinant + m[0, i] * cofactor[i, 0]
        sign = -1.0 if (determinant < 0.0) != (flags[r] & 1 == 1) else 1.0
        for k in range(count):
            v = copy_vertex[k]
            x, y, z = (
                np.float64(copy_normal[k, 0]),
                np.float64(copy_normal[k, 1]),
                np.float64(copy_normal[k, 2]),
            )
            world = np.empty(3)
            for i in range(3):
                total = 0.0
                total = total + cofactor[i, 0] * x
                total = total + cofactor[i, 1] * y
                total = total + cofactor[i, 2] * z
                world[i] = total * sign
            length = max(sqrt((world[0] * world[0] + world[1] * world[1]) + world[2] * world[2]), 1e-300)
            for i in range(3):
                vertices[nv + k, i] = properties[v, i]
                normals[nv + k, i] = world[i] / length
                lo[owners[r], i] = min(lo[owners[r], i], properties[v, i])
                hi[owners[r], i] = max(hi[owners[r], i], properties[v, i])
        nv += count
        vertex_start[owners[r] + 1] += count
    return vertices[:nv], normals[:nv], faces, face_primitive, np.cumsum(vertex_start), lo, hi


def _read_only(array: np.ndarray, columns: int) -> np.ndarray:
    """A read-only (rows, columns) view: manifold3d gives its arrays writable or not, and the
    kernel is compiled (seconds, once per install) for each kind of array it is given."""
    view = array.reshape(-1, columns)
    view.flags.writeable = False
    return view


def _owners(
    run_solid: list[int],
    transforms: np.ndarray,
    shape_of: list[int],
    places: list[bytes],
    matrices: np.ndarray,
) -> np.ndarray:
    """The operand each run of the result comes from: the first copy of the run's solid whose
    matrix, in manifold3d's float32, is the run's transform (manifold3d moves the identity of a
    solid by the copy's matrix, which is exact), or failing that the nearest copy. `places` are the
    operands' matrices as `_places` gives them."""
    first_copy: dict[tuple[int, bytes], int] = {}  # (solid, its matrix as a run transform) -> operand
    for k, key in enumerate(zip(shape_of, places)):
        first_copy.setdefault(key, k)
    owners = [first_copy.get(key, -1) for key in zip(run_solid, _rows(transforms))]
    for r in [r for r, owner in enumerate(owners) if owner < 0]:
        candidates = np.flatnonzero(np.array(shape_of) == run_solid[r])
        distance = np.abs(matrices[candidates] - transforms[r].T).sum(axis=(1, 2))
        owners[r] = int(candidates[np.argmin(distance)])
    return np.array(owners, dtype=np.int64)


def _places(matrices: np.ndarray) -> list[bytes]:
    """Each operand's (3, 4) matrix as manifold3d gives back a run's transform, as bytes to compare."""
    return _rows(matrices.transpose(0, 2, 1).astype(np.float32))


def _rows(matrices: np.ndarray) -> list[bytes]:
    """Each 4 x 3 matrix (as manifold3d gives a transform) as bytes to compare, -0.0 made 0.0."""
    raw = (matrices + matrices.dtype.type(0)).tobytes()
    size = 12 * matrices.itemsize
    return [raw[i : i + size] for i in range(0, len(raw), size)]
