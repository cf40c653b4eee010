"""Tessellation: the primitive table becomes one triangle mesh, in Numba kernels.

Each primitive is generated in its local frame by one of nine small generators (box, rounded
box, wedge, surface of revolution, extrusion, rounded extrusion, sweep, hollow sphere, skin) into
a local buffer (smooth outlines, paths and lofts are first sampled from the one spline,
`geometry.catmull_rom`), then moved to world space by its matrix: positions by the affine
map, normals by the cofactor matrix (the inverse-transpose without the division, so singular
scales never give inf), and the winding flipped when the matrix mirrors. Ten of the fifteen
kinds are surfaces of revolution of an (r, z) profile, so they share one generator and one
counting rule (a cut sphere or ellipsoid too, when solid; a hollow one has two surfaces of its
own, joined by rims). A skin joins rings of one outline's points: a loft's sections, a sweep's
profile (or a closed sweep's circle, an elliptical torus's) along its path.

The kinds come in families (flat, rounded box, revolved, lathe, extrusion, rounded extrusion,
holed extrusion, sweep, shell, skin), each with one function that sizes and generates every
distinct local shape of its kinds at once; one more kernel places every primitive's shape, in
input order, so the faces of primitive i precede those of primitive i + 1. Numba compiles a
kernel on its first call (then caches it on disk), and a first run waits for every kernel it
calls (issue 9), so a program pays only for what it uses: sharp boxes and wedges are fixed
corner patterns scaled in NumPy (no kernel), the revolved kinds' profiles are a few dozen points
made in Python, so a cylinder compiles only the one revolving kernel that every surface of
revolution shares, and the other families have a kernel each.
`triangle_count` runs the same family function without generating, so it is exact by
construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from math import atan2, ceil, cos, floor, pi, sin, sqrt, tan

import numpy as np
from numba import njit

from proto3d.compiler.geometry import catmull_rom, cross, dot
from proto3d.compiler.primitives import (
    BOX,
    CAPSULE,
    ELLIPSOID,
    EXTRUDE,
    EXTRUDE_HOLES,
    FRUSTUM,
    LATHE,
    LOFT,
    PRIMITIVES,
    PROFILE_SWEEP,
    ROUNDED_EXTRUDE,
    SHELL,
    SPHERE,
    SWEEP,
    TORUS,
    TUBE,
    WEDGE,
)
from proto3d.compiler.shape import Primitive

# Outline corners that turn more than this stay sharp (duplicated vertices); gentler ones are
# smoothed. Lathe profiles are mostly coarse samples of smooth curves (vases, bottles), extrude
# polygons mostly real polygons (a hexagon keeps its edges, a 12-gon reads as round).
LATHE_HARD_COS = 0.5  # 60 degrees
EXTRUDE_HARD_COS = 0.766  # 40 degrees
SPLINE_POINTS = 2000  # samples of one smooth outline at most (the default points limit)
STRAIGHT_TURN = 1e-6  # radians: a polygon corner turning less is straight (one column, no arc)
ROUND_FIT = 0.999  # a rounded outline's fillets take at most this share of an edge
SWEEP_SAMPLES = (
    8  # spline samples per span of a smooth sweep's path or between loft sections, whatever segments
)
MITRE_LIMIT = 0.25  # cosine floor of a sweep's half-turn: mitres stay within 4 radii
# A smooth lathe span whose spline makes its outline cross itself keeps these shares of its
# offset from its straight chord in turn (0: the chord), for at most UNLOOP_ROUNDS rounds.
UNLOOP_SHARES = (0.5, 0.25, 0.125, 0.0)
UNLOOP_ROUNDS = 8
UNLOOP_PAIRS = 32  # edge pairs tested per outline edge, over all rounds, before giving up


@dataclass
class Tessellation:
    vertices: np.ndarray  # (V, 3) float32, world coordinates
    normals: np.ndarray  # (V, 3) float32, unit; hard edges have duplicated vertices
    faces: np.ndarray  # (F, 3) int32, counter-clockwise seen from outside
    face_primitive: np.ndarray  # (F,) int32, index into the primitives given to tessellate()
    vertex_start: np.ndarray  # (P + 1,) int64: primitive i's vertices are vertex_start[i]:vertex_start[i + 1]


# ---------------------------------------------------------------------------------------------
# Python side: each kind's record packs its parameters (`PrimitiveKind.pack`); the batches
# gather them into flat arrays.

_NO_POINTS = np.zeros((0, 4))


def _pack(primitives: Sequence[Primitive]):
    """The distinct local shapes, in one batch per family of kinds, and each primitive's shape.

    Primitives that differ only by their matrix (a leg repeated by a loop) share one local
    shape: the kernel generates it once and places it once per primitive. Shapes are numbered
    family by family (in order of first use), so the batches' outputs simply follow each other.
    """
    batches: dict[object, _Batch] = {}  # family kernel -> its shapes
    shape_of = []
    by_params: dict[tuple, tuple] = {}  # (id of the params dict, kind, segments) -> (batch, index in it)
    by_value: dict[tuple, tuple] = {}  # equal shapes from distinct dicts
    for p in primitives:
        key = (id(p.params), p.kind, p.segments)
        shape = by_params.get(key)
        if shape is None:
            code, row, pts = PRIMITIVES[p.kind].pack(p.params)
            value = (code, *row, p.segments, None if pts is None else pts.tobytes())
            shape = by_value.get(value)
            if shape is None:
                family = _family(code, row)
                batch = batches.setdefault(family, _Batch(family))
                shape = by_value[value] = (batch, batch.add(code, row, p.segments, pts))
            by_params[key] = shape
        shape_of.append(shape)
    first = 0
    for batch in batches.values():
        batch.first, first = first, first + len(batch.codes)
    return list(batches.values()), np.array([b.first + k for b, k in shape_of], dtype=np.int64)


class _Batch:
    """The local shapes of one family of kinds, packed as its kernel reads them."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.codes, self.rows, self.segments, self.chunks, self.offsets = [], [], [], [], [0]
        self.first = 0  # number of the first shape among all batches

    def add(self, code, row, segments, pts) -> int:
        self.codes.append(code)
        self.rows.append(row)
        self.segments.append(segments)
        if pts is not None:
            self.chunks.append(pts)
        self.offsets.append(self.offsets[-1] + (0 if pts is None else len(pts)))
        return len(self.codes) - 1

    def run(self, generate: bool):
        """(lv, lf, positions, normals, faces): vertex and face offsets of each shape and, if
        `generate`, the shapes themselves (else empty arrays: only the sizes are wanted)."""
        return self.kernel(
            np.array(self.codes, dtype=np.int64),
            np.array(self.rows, dtype=np.float64).reshape(-1, 4),
            np.array(self.segments, dtype=np.int64),
            np.concatenate(self.chunks) if self.chunks else _NO_POINTS,
            np.array(self.offsets, dtype=np.int64),
            generate,
        )


def tessellate(primitives: Sequence[Primitive]) -> Tessellation:
    """Triangulate every primitive (in order) into one mesh in world coordinates."""
    mats = np.array([p.matrix for p in primitives], dtype=np.float64).reshape(-1, 4, 4)
    batches, shape_of = _pack(primitives)
    return Tessellation(*_place_all(*_generate(batches), shape_of, mats))


def local_shapes(primitives: Sequence[Primitive]) -> tuple[Tessellation, np.ndarray]:
    """Each distinct local shape of the primitives once, placed by the identity (what `tessellate`
    gives for a primitive at the origin), and the number of each primitive's shape (primitives that
    differ only by their matrix share one): a boolean reads each shape into manifold3d once."""
    batches, shape_of = _pack(primitives)
    count = sum(len(batch.codes) for batch in batches)
    identity = np.tile(np.eye(4), (count, 1, 1))
    return Tessellation(*_place_all(*_generate(batches), np.arange(count), identity)), shape_of


def _generate(batches: list[_Batch]) -> tuple[np.ndarray, ...]:
    """(lv, lf, positions, normals, faces) of the batches' shapes, one after the other."""
    lv, lf, lp, ln, local_faces = zip(_NO_SHAPES, *(batch.run(True) for batch in batches))
    return _join(lv), _join(lf), np.concatenate(lp), np.concatenate(ln), np.concatenate(local_faces)


def _offsets(sizes: Sequence[int]) -> np.ndarray:
    """Where each of consecutive blocks of these sizes starts, and their total (a few blocks)."""
    return np.array([0, *accumulate(sizes)], dtype=np.int64)


def _join(offsets) -> np.ndarray:
    """The offsets of consecutive batches (each starting at 0) as one array."""
    out = [offsets[0]]
    for more in offsets[1:]:
        out.append(more[1:] + out[-1][-1])
    return np.concatenate(out)


_NO_SHAPES = (
    np.zeros(1, dtype=np.int64),
    np.zeros(1, dtype=np.int64),
    np.zeros((0, 3)),
    np.zeros((0, 3)),
    np.zeros((0, 3), dtype=np.int32),
)


def triangle_count(kind: str, params: dict, segments: int) -> int:
    """Exactly len(tessellate([that primitive]).faces), without tessellating."""
    code, row, pts = PRIMITIVES[kind].pack(params)
    batch = _Batch(_family(code, row))
    batch.add(code, row, segments, pts)
    return int(batch.run(False)[1][1])


def local_bounds(kind: str, params: dict) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) corners of the untransformed primitive, from its parameters.

    Analytic for every kind that has a closed form (its record's `bounds`); a sweep's are those
    of its mesh at 256 facets, within 0.01% of its radius of the exact tube. A smooth or rounded
    outline's are the analytic ones of the outline it is drawn through at 256 facets (the same
    points, without generating the faces). A tessellation lies inside them.
    """
    record = PRIMITIVES[kind]
    box = record.bounds(params) if record.bounds is not None else None
    if box is not None:
        return box
    code, row, pts = record.pack(params)
    if code in (EXTRUDE, ROUNDED_EXTRUDE, LATHE):
        outline = _drawn_outline(code, row, pts, 256)
        key = "profile" if code == LATHE else "polygon"
        return record.bounds({**params, key: outline, "smooth": False, "round": 0.0})
    t = tessellate([Primitive(kind, params, np.eye(4), 256, 0, 0, (0.0, 0.0, 0.0))])
    if len(t.vertices):
        return t.vertices.min(axis=0).astype(np.float64), t.vertices.max(axis=0).astype(np.float64)
    points = record.pack(params).points[:, :3]  # no mesh: the bounds of the path
    return (points.min(axis=0), points.max(axis=0)) if len(points) else (np.zeros(3), np.zeros(3))


# ---------------------------------------------------------------------------------------------
# Families: one function per family of kinds, so that Numba compiles (once, then caches) only the
# kernels a program uses. A family's function sizes all its shapes, allocates their local buffers
# once and fills them (or only sizes them, for `triangle_count`); `_place_all` then places every
# primitive's shape in order.


@njit(cache=True)
def _buffers(lv, lf, generate):
    """Local positions, normals and faces for shapes of lv[-1] vertices and lf[-1] faces (none if
    only sizes are wanted)."""
    nv, nf = (lv[-1], lf[-1]) if generate else (0, 0)
    return np.empty((nv, 3)), np.empty((nv, 3)), np.empty((nf, 3), dtype=np.int32)


def _flat_shapes(codes, prm, segs, pts, offs, generate):
    """Boxes and wedges: fixed patterns of corners scaled by the half sizes, in NumPy (nothing to
    compile); the arguments and results are those of `_Batch.run`."""
    halves = np.abs(prm[:, :3]) / 2
    shapes = [_wedge(*h.tolist()) if code == WEDGE else _box(h) for code, h in zip(codes.tolist(), halves)]
    lv, lf = _offsets([len(shape[0]) for shape in shapes]), _offsets([len(shape[2]) for shape in shapes])
    if not generate:
        return lv, lf, *_NO_SHAPES[2:]
    return lv, lf, *(np.concatenate(arrays) for arrays in zip(*shapes))


@njit(cache=True)
def _rounded_boxes(codes, prm, segs, pts, offs, generate):
    """Boxes with rounded edges (a family of their own, so that sharp boxes need no kernel)."""
    m = len(codes)
    lv = np.zeros(m + 1, dtype=np.int64)
    lf = np.zeros(m + 1, dtype=np.int64)
    for s in range(m):
        q = max(1, max(segs[s], 3) // 4)
        cols, rows = 4 * (q + 1), 2 * (q + 1)
        lv[s + 1], lf[s + 1] = lv[s] + rows * cols, lf[s] + 2 * cols * (rows - 1) - 8 * q + 4
    lp, ln, f = _buffers(lv, lf, generate)
    for s in range(m if generate else 0):
        _rounded_box(
            np.abs(prm[s, :3]) / 2,
            prm[s, 3],
            max(1, max(segs[s], 3) // 4),
            lp[lv[s] : lv[s + 1]],
            ln[lv[s] : lv[s + 1]],
            f[lf[s] : lf[s + 1]],
        )
    return lv, lf, lp, ln, f


def _revolved_shapes(codes, prm, segs, pts, offs, generate):
    """Spheres, ellipsoids, frusta (cylinders, cones, rods), capsules, tori and tubes."""
    rows = zip(codes.tolist(), prm.tolist(), segs.tolist())
    return _revolve_all([_revolution(code, row, max(seg, 3)) for code, row, seg in rows], generate)


def _lathe_shapes(codes, prm, segs, pts, offs, generate):
    """Lathes: the user's (r, z) profile revolved (see `_lathe_profile`)."""
    rows = zip(prm.tolist(), segs.tolist(), offs[:-1].tolist(), offs[1:].tolist())
    return _revolve_all([_lathe(row, seg, pts[a:b]) for row, seg, a, b in rows], generate)


def _revolve_all(turns, generate):
    """Every surface of revolution, given as the arguments of `_revolve` before its buffers: one
    kernel call per shape, so that no kernel loops over (and compiles) the profiles of every kind."""
    vertices, faces = zip(*(_revolve_size(*turn[:4], *turn[5:7]) for turn in turns))
    lv, lf = _offsets(vertices), _offsets(faces)
    if not generate:
        return lv, lf, *_NO_SHAPES[2:]
    lp, ln, f = np.empty((lv[-1], 3)), np.empty((lv[-1], 3)), np.empty((lf[-1], 3), dtype=np.int32)
    for turn, v0, v1, f0, f1 in zip(turns, lv.tolist(), lv[1:].tolist(), lf.tolist(), lf[1:].tolist()):
        _revolve(*turn, lp[v0:v1], ln[v0:v1], f[f0:f1])
    return lv, lf, lp, ln, f


@njit(cache=True)
def _extruded_shapes(codes, prm, segs, pts, offs, generate):
    """Extrusions of a polygon (or the spline through it) along Z."""
    m = len(codes)
    lv = np.zeros(m + 1, dtype=np.int64)
    lf = np.zeros(m + 1, dtype=np.int64)
    for s in range(m):
        poly = _extrude_polygon(pts[offs[s] : offs[s + 1]], prm[s, 2] > 0.0, segs[s])
        nv = nf = 0
        if len(poly) >= 3:
            columns = _outline(poly, True, EXTRUDE_HARD_COS)[0]
            nv, nf = 2 * len(columns) + 2 * len(poly), 2 * (len(poly) - 2) + 2 * len(poly)
        lv[s + 1], lf[s + 1] = lv[s] + nv, lf[s] + nf
    lp, ln, f = _buffers(lv, lf, generate)
    for s in range(m if generate else 0):
        poly = _extrude_polygon(pts[offs[s] : offs[s + 1]], prm[s, 2] > 0.0, segs[s])
        _extrude(poly, prm[s, 0], lp[lv[s] : lv[s + 1]], ln[lv[s] : lv[s + 1]], f[lf[s] : lf[s + 1]])
    return lv, lf, lp, ln, f


@njit(cache=True)
def _rounded_extruded_shapes(codes, prm, segs, pts, offs, generate):
    """Extrusions with every edge rounded (a family of their own: most programs never compile it)."""
    m = len(codes)
    lv = np.zeros(m + 1, dtype=np.int64)
    lf = np.zeros(m + 1, dtype=np.int64)
    for s in range(m):
        poly = _extrude_polygon(pts[offs[s] : offs[s + 1]], prm[s, 2] > 0.0, segs[s])
        nv = nf = 0
        if len(poly) >= 3:
            q, h = _quarter(segs[s]), abs(prm[s, 0])
            nv, nf = _rounded_extrude_size(*_rounded_outline(poly, prm[s, 1], h, q), h, q)
        lv[s + 1], lf[s + 1] = lv[s] + nv, lf[s] + nf
    lp, ln, f = _buffers(lv, lf, generate)
    for s in range(m if generate else 0):
        poly = _extrude_polygon(pts[offs[s] : offs[s + 1]], prm[s, 2] > 0.0, segs[s])
        if len(poly) >= 3:
            q = _quarter(segs[s])
            _rounded_extrude(
                *_rounded_outline(poly, prm[s, 1], abs(prm[s, 0]), q),
                prm[s, 0],
                q,
                lp[lv[s] : lv[s + 1]],
                ln[lv[s] : lv[s + 1]],
                f[lf[s] : lf[s + 1]],
            )
    return lv, lf, lp, ln, f


@njit(cache=True)
def _shell_shapes(codes, prm, segs, pts, offs, generate):
    """Spheres and ellipsoids cut to an angular extent, solid or hollowed to a wall (see `_shell`)."""
    m = len(codes)
    lv = np.zeros(m + 1, dtype=np.int64)
    lf = np.zeros(m + 1, dtype=np.int64)
    for s in range(m):
        nv, nf = _shell_size(prm[s], pts[offs[s]], max(segs[s], 3))
        lv[s + 1], lf[s + 1] = lv[s] + nv, lf[s] + nf
    lp, ln, f = _buffers(lv, lf, generate)
    for s in range(m if generate else 0):
        _shell(
            prm[s],
            pts[offs[s]],
            max(segs[s], 3),
            lp[lv[s] : lv[s + 1]],
            ln[lv[s] : lv[s + 1]],
            f[lf[s] : lf[s + 1]],
        )
    return lv, lf, lp, ln, f


@njit(cache=True)
def _holed_shapes(codes, prm, segs, pts, offs, generate):
    """Extrusions of a polygon with holes: its outline and its holes' as rows (x, y, loop, 0), then
    its cap's triangles as rows (a, b, c, 1) (see `primitives._extrude_pack`)."""
    m = len(codes)
    lv = np.zeros(m + 1, dtype=np.int64)
    lf = np.zeros(m + 1, dtype=np.int64)
    for s in range(m):
        rows = pts[offs[s] : offs[s + 1]]
        nv = nf = 0
        a = 0
        while a < len(rows) and rows[a, 3] == 0.0:  # one loop after the other
            b = a
            while b < len(rows) and rows[b, 3] == 0.0 and rows[b, 2] == rows[a, 2]:
                b += 1
            nv, nf = nv + 2 * len(_outline(rows[a:b, :2].copy(), True, EXTRUDE_HARD_COS)[0]), nf + 2 * (b - a)
            a = b
        lv[s + 1], lf[s + 1] = lv[s] + nv + 2 * a, lf[s] + nf + 2 * (len(rows) - a)
    lp, ln, f = _buffers(lv, lf, generate)
    for s in range(m if generate else 0):
        _holed(
            pts[offs[s] : offs[s + 1]],
            prm[s, 0],
            lp[lv[s] : lv[s + 1]],
            ln[lv[s] : lv[s + 1]],
            f[lf[s] : lf[s + 1]],
        )
    return lv, lf, lp, ln, f


@njit(cache=True)
def _swept_shapes(codes, prm, segs, pts, offs, generate):
    """Sweeps: a circle of varying radius along a path (a polyline, or a spline if smooth)."""
    m = len(codes)
    lv = np.zeros(m + 1, dtype=np.int64)
    lf = np.zeros(m + 1, dtype=np.int64)
    for s in range(m):
        c, r = _sweep_path(pts[offs[s] : offs[s + 1]], prm[s, 0] > 0.0)
        seg = max(segs[s], 3)
        nv = nf = 0
        if len(c) >= 2:
            caps = (r[0] != 0.0) + (r[-1] != 0.0)
            bands = 0
            for i in range(len(c) - 1):
                bands += (r[i] != 0.0) + (r[i + 1] != 0.0)
            nv, nf = len(c) * seg + caps * (seg + 1), seg * (bands + caps)
        lv[s + 1], lf[s + 1] = lv[s] + nv, lf[s] + nf
    lp, ln, f = _buffers(lv, lf, generate)
    for s in range(m if generate else 0):
        c, r = _sweep_path(pts[offs[s] : offs[s + 1]], prm[s, 0] > 0.0)
        if len(c) >= 2:
            _sweep(c, r, max(segs[s], 3), lp[lv[s] : lv[s + 1]], ln[lv[s] : lv[s + 1]], f[lf[s] : lf[s + 1]])
    return lv, lf, lp, ln, f


@njit(cache=True)
def _skinned_shapes(codes, prm, segs, pts, offs, generate):
    """Lofts and profile sweeps (closed circular sweeps and elliptical tori among them). The
    sizes come from the sections alone: the rings are only made when generating."""
    m = len(codes)
    lv = np.zeros(m + 1, dtype=np.int64)
    lf = np.zeros(m + 1, dtype=np.int64)
    for s in range(m):
        sections, tips, hard, closed = _skin_plan(
            codes[s], prm[s], max(segs[s], 3), pts[offs[s] : offs[s + 1]]
        )
        nv, nf = _skin_size(sections, tips, hard, closed)
        lv[s + 1], lf[s + 1] = lv[s] + nv, lf[s] + nf
    lp, ln, f = _buffers(lv, lf, generate)
    for s in range(m if generate else 0):
        seg, own = max(segs[s], 3), pts[offs[s] : offs[s + 1]]
        sections, tips, hard, closed = _skin_plan(codes[s], prm[s], seg, own)
        if len(tips) >= 2:
            rings = _skin_rings(codes[s], prm[s], seg, own, sections)
            _skin(
                rings,
                sections,
                tips,
                hard,
                closed,
                lp[lv[s] : lv[s + 1]],
                ln[lv[s] : lv[s + 1]],
                f[lf[s] : lf[s + 1]],
            )
    return lv, lf, lp, ln, f


def _family(code: int, row: tuple):
    """The function that makes shapes of this kind: a rounded box is not made as a sharp one."""
    return _rounded_boxes if code == BOX and row[3] > 0.0 else _FAMILY[code]


_FAMILY = {
    BOX: _flat_shapes,
    WEDGE: _flat_shapes,
    SPHERE: _revolved_shapes,
    ELLIPSOID: _revolved_shapes,
    FRUSTUM: _revolved_shapes,
    CAPSULE: _revolved_shapes,
    TORUS: _revolved_shapes,
    TUBE: _revolved_shapes,
    LATHE: _lathe_shapes,
    EXTRUDE: _extruded_shapes,
    ROUNDED_EXTRUDE: _rounded_extruded_shapes,
    SWEEP: _swept_shapes,
    LOFT: _skinned_shapes,
    PROFILE_SWEEP: _skinned_shapes,
    SHELL: _shell_shapes,
    EXTRUDE_HOLES: _holed_shapes,
}


def _place_all(lv, lf, lp, ln, local_faces, shape_of, mats):
    """(vertices, normals, faces, face_primitive, vertex_start) of all primitives, in order: each places the
    local shape it uses (positions lp[lv[s]:lv[s + 1]], faces local_faces[lf[s]:lf[s + 1]])
    with its own matrix."""
    voff = np.zeros(len(shape_of) + 1, dtype=np.int64)
    foff = np.zeros(len(shape_of) + 1, dtype=np.int64)
    np.cumsum((lv[1:] - lv[:-1])[shape_of], out=voff[1:])
    np.cumsum((lf[1:] - lf[:-1])[shape_of], out=foff[1:])
    placed = (
        np.empty((voff[-1], 3), dtype=np.float32),
        np.empty((voff[-1], 3), dtype=np.float32),
        np.empty((foff[-1], 3), dtype=np.int32),
        np.empty(foff[-1], dtype=np.int32),
    )
    _place(lv, lf, lp, ln, local_faces, shape_of, mats, voff, foff, *placed)
    return *placed, voff


@njit(cache=True)
def _place(lv, lf, lp, ln, local_faces, shape_of, mats, voff, foff, vertices, normals, faces, face_primitive):
    """Local -> world, primitive i's shape into rows voff[i] (vertices) and foff[i] (faces) on:
    affine positions, cofactor normals, winding flipped under mirrors."""
    for i in range(len(shape_of)):
        s, m, v0 = shape_of[i], mats[i], voff[i]
        a00, a01, a02, a10, a11, a12, a20, a21, a22 = (
            m[0, 0],
            m[0, 1],
            m[0, 2],
            m[1, 0],
            m[1, 1],
            m[1, 2],
            m[2, 0],
            m[2, 1],
            m[2, 2],
        )
        c00, c01, c02 = a11 * a22 - a12 * a21, a12 * a20 - a10 * a22, a10 * a21 - a11 * a20
        c10, c11, c12 = a02 * a21 - a01 * a22, a00 * a22 - a02 * a20, a01 * a20 - a00 * a21
        c20, c21, c22 = a01 * a12 - a02 * a11, a02 * a10 - a00 * a12, a00 * a11 - a01 * a10
        det = a00 * c00 + a01 * c01 + a02 * c02
        sgn = -1.0 if det < 0.0 else 1.0
        # slices indexed from 0: indices known not to be negative need no wraparound on every access
        src, srcn, dst, dstn = lp[lv[s] : lv[s + 1]], ln[lv[s] : lv[s + 1]], vertices[v0:], normals[v0:]
        for v in range(len(src)):
            x, y, z = src[v, 0], src[v, 1], src[v, 2]
            dst[v, 0] = a00 * x + a01 * y + a02 * z + m[0, 3]
            dst[v, 1] = a10 * x + a11 * y + a12 * z + m[1, 3]
            dst[v, 2] = a20 * x + a21 * y + a22 * z + m[2, 3]
            x, y, z = srcn[v, 0], srcn[v, 1], srcn[v, 2]
            nx = c00 * x + c01 * y + c02 * z
            ny = c10 * x + c11 * y + c12 * z
            nz = c20 * x + c21 * y + c22 * z
            length = sqrt(nx * nx + ny * ny + nz * nz)
            if length > 1e-300 and length < 1e300:
                k = sgn / length
                dstn[v, 0], dstn[v, 1], dstn[v, 2] = nx * k, ny * k, nz * k
            else:  # degenerate primitive (zero size or singular matrix): any unit vector will do
                dstn[v, 0], dstn[v, 1], dstn[v, 2] = 0.0, 0.0, 1.0
        own, placed, labels = local_faces[lf[s] : lf[s + 1]], faces[foff[i] :], face_primitive[foff[i] :]
        for k in range(len(own)):
            a, b, c = own[k, 0] + v0, own[k, 1] + v0, own[k, 2] + v0
            placed[k, 0] = a
            placed[k, 1] = c if det < 0.0 else b
            placed[k, 2] = b if det < 0.0 else c
            labels[k] = i


# ---------------------------------------------------------------------------------------------
# Flat-faced generators.


@njit(cache=True, inline="always")
def _put(lp, ln, v, x, y, z, nx, ny, nz):
    lp[v, 0], lp[v, 1], lp[v, 2] = x, y, z
    ln[v, 0], ln[v, 1], ln[v, 2] = nx, ny, nz


@njit(cache=True, inline="always")
def _quad(f, k, a, b, c, d):
    f[k, 0], f[k, 1], f[k, 2] = a, b, c
    f[k + 1, 0], f[k + 1, 1], f[k + 1, 2] = a, c, d


def _unit_box():
    """(corner signs, normals, faces) of a box: six faces, four vertices each, corners listed
    counter-clockwise about the outward axis. Signs times the half sizes are its corners, exactly."""
    signs, normals, faces = np.empty((24, 3)), np.empty((24, 3)), np.empty((12, 3), dtype=np.int32)
    v = 0
    for axis in range(3):
        uw = [axis, (axis + 1) % 3, (axis + 2) % 3]
        for side in (-1.0, 1.0):
            for k in range(4):
                # (u, w) signs: (-,-) (+,-) (+,+) (-,+), reversed on the negative side
                su, sw = (-1.0 if k in (0, 3) else 1.0), (-1.0 if k < 2 else 1.0)
                signs[v + k, uw] = (side, sw, su) if side < 0.0 else (side, su, sw)
                normals[v + k, uw] = side, 0.0, 0.0
            faces[v // 2], faces[v // 2 + 1] = (v, v + 1, v + 2), (v, v + 2, v + 3)
            v += 4
    return signs, normals, faces


_BOX = _unit_box()


def _box(halves: np.ndarray) -> tuple:
    """(positions, normals, faces) of a box of these half sizes."""
    return _BOX[0] * halves, _BOX[1], _BOX[2]


# A wedge's corners as signs of its half sizes and their normals (the ramp's, NaN here, depend on
# the slope): bottom, back and ramp quads, then the two triangular sides.
_WEDGE_CORNERS = np.array(
    (
        (-1, -1, -1, 0, 0, -1),
        (-1, 1, -1, 0, 0, -1),
        (1, 1, -1, 0, 0, -1),
        (1, -1, -1, 0, 0, -1),
        (-1, 1, -1, 0, 1, 0),
        (-1, 1, 1, 0, 1, 0),
        (1, 1, 1, 0, 1, 0),
        (1, 1, -1, 0, 1, 0),
        (-1, -1, -1, 0, np.nan, np.nan),
        (1, -1, -1, 0, np.nan, np.nan),
        (1, 1, 1, 0, np.nan, np.nan),
        (-1, 1, 1, 0, np.nan, np.nan),
        (1, -1, -1, 1, 0, 0),
        (1, 1, -1, 1, 0, 0),
        (1, 1, 1, 1, 0, 0),
        (-1, -1, -1, -1, 0, 0),
        (-1, 1, 1, -1, 0, 0),
        (-1, 1, -1, -1, 0, 0),
    ),
    dtype=np.float64,
)
_WEDGE_FACES = np.array(
    ((0, 1, 2), (0, 2, 3), (4, 5, 6), (4, 6, 7), (8, 9, 10), (8, 10, 11), (12, 13, 14), (15, 16, 17)),
    dtype=np.int32,
)


def _wedge(x: float, y: float, z: float):
    """(positions, normals, faces) of a wedge of half sizes x, y, z."""
    slope = sqrt(y * y + z * z)
    normals = _WEDGE_CORNERS[:, 3:].copy()
    normals[8:12, 1:] = (-z / slope, y / slope) if slope > 0.0 else (0.0, 1.0)
    return _WEDGE_CORNERS[:, :3] * (x, y, z), normals, _WEDGE_FACES


@njit(cache=True)
def _rounded_box(h, bevel, q, lp, ln, f):
    """A UV sphere of radius `bevel` cut at the axis planes, each octant pushed to its corner.

    Meridians and rings include the axis directions twice (once per octant), so the quads
    between the duplicates are the flat faces and the straight rounded edges. Columns run
    around Z in four quadrants of q + 1 meridians; rows run from the south to the north pole
    in two hemispheres of q + 1 rings.
    """
    b = min(bevel, h[0], h[1], h[2])
    cx, cy, cz = h[0] - b, h[1] - b, h[2] - b
    cols, rows = 4 * (q + 1), 2 * (q + 1)
    for row in range(rows):
        hemi = row // (q + 1)
        k = row % (q + 1)
        sz = 1.0 if hemi == 1 else -1.0
        phi = (k / q - 1.0) * pi / 2 if hemi == 0 else k / q * pi / 2
        cp, sp = cos(phi), sin(phi)
        if (hemi == 0 and k == 0) or (hemi == 1 and k == q):
            cp = 0.0
        if k == (q if hemi == 0 else 0):
            sp = 0.0
        for col in range(cols):
            quad, j = col // (q + 1), col % (q + 1)
            theta = (quad + j / q) * pi / 2
            ct, st = _axis_cos_sin(theta, j, q, quad)
            sx = 1.0 if (quad == 0 or quad == 3) else -1.0
            sy = 1.0 if quad < 2 else -1.0
            dx, dy, dz = cp * ct, cp * st, sp
            _put(lp, ln, row * cols + col, b * dx + sx * cx, b * dy + sy * cy, b * dz + sz * cz, dx, dy, dz)
    t = 0
    for row in range(rows - 1):
        for col in range(cols):
            nxt = (col + 1) % cols
            a, bb = row * cols + col, row * cols + nxt
            c, d = bb + cols, a + cols
            inside = col % (q + 1) != q  # neighbours within one quadrant meet at the poles
            if not (row == 0 and inside):
                f[t, 0], f[t, 1], f[t, 2] = a, bb, c
                t += 1
            if not (row == rows - 2 and inside):
                f[t, 0], f[t, 1], f[t, 2] = a, c, d
                t += 1
    # flat bottom and top: the four pole corners (first meridian of each quadrant)
    top = (rows - 1) * cols
    c0, c1, c2, c3 = 0, q + 1, 2 * (q + 1), 3 * (q + 1)
    _quad(f, t, c0, c3, c2, c1)
    f[t + 2, 0], f[t + 2, 1], f[t + 2, 2] = top + c0, top + c1, top + c2
    f[t + 3, 0], f[t + 3, 1], f[t + 3, 2] = top + c0, top + c2, top + c3


@njit(cache=True, inline="always")
def _axis_cos_sin(theta, j, q, quad):
    """cos/sin of a meridian angle, exact on the axes so mirrored corners match bit for bit."""
    if j == 0 or j == q:
        a = (quad + (1 if j == q else 0)) % 4
        return (1.0, 0.0) if a == 0 else (0.0, 1.0) if a == 1 else (-1.0, 0.0) if a == 2 else (0.0, -1.0)
    return cos(theta), sin(theta)


# ---------------------------------------------------------------------------------------------
# Polygons: cleaning, orientation, outlines with hard/smooth corners, ear clipping.


@njit(cache=True)
def _clean_polygon(pts):
    """Closed polygon from pts[:, :2]: repeated points dropped, counter-clockwise."""
    poly = _dedupe2(pts[:, :2].copy())
    if len(poly) >= 2 and poly[0, 0] == poly[-1, 0] and poly[0, 1] == poly[-1, 1]:
        poly = poly[:-1]
    if _signed_area(poly) < 0.0:
        poly = poly[::-1].copy()
    return poly


@njit(cache=True)
def _dedupe2(xy):
    out = np.empty((len(xy), 2))
    n = 0
    for i in range(len(xy)):
        if n == 0 or xy[i, 0] != out[n - 1, 0] or xy[i, 1] != out[n - 1, 1]:
            out[n, 0], out[n, 1] = xy[i, 0], xy[i, 1]
            n += 1
    return out[:n]


@njit(cache=True)
def _signed_area(poly):
    s = 0.0
    n = len(poly)
    for i in range(n):
        j = (i + 1) % n
        s += poly[i, 0] * poly[j, 1] - poly[j, 0] * poly[i, 1]
    return s / 2


@njit(cache=True)
def _outline(poly, closed, hard_cos):
    """Columns (point, 2D normal) along a counter-clockwise outline, split at hard corners.

    conn[k] says whether columns k and k + 1 bound a face (False between the two copies of a
    hard corner). A closed outline starts and ends with copies of its first point.
    """
    n = len(poly)
    ne = n if closed else n - 1
    en = np.zeros((ne, 2))
    for e in range(ne):
        dx, dy = poly[(e + 1) % n, 0] - poly[e, 0], poly[(e + 1) % n, 1] - poly[e, 1]
        length = sqrt(dx * dx + dy * dy)
        if length > 0.0:
            en[e, 0], en[e, 1] = dy / length, -dx / length
    cp = np.empty((2 * n + 2, 2))
    cn = np.empty((2 * n + 2, 2))
    link = np.ones(2 * n + 2, dtype=np.bool_)  # link[k]: column k - 1 and column k bound a face
    k = 0
    for i in range(n + 1 if closed else n):
        p = poly[i % n]
        a = en[(i - 1) % ne] if closed else en[max(i - 1, 0)]
        b = en[i % ne] if closed else en[min(i, ne - 1)]
        end = not closed and (i == 0 or i == n - 1)
        if end or a[0] * b[0] + a[1] * b[1] >= hard_cos:
            sx, sy = a[0] + b[0], a[1] + b[1]
            s = max(sqrt(sx * sx + sy * sy), 1e-300)
            cp[k, 0], cp[k, 1] = p[0], p[1]
            cn[k, 0], cn[k, 1] = sx / s, sy / s
            k += 1
        else:
            if not (closed and i == 0):  # the first copy of the first point only starts
                cp[k, 0], cp[k, 1] = p[0], p[1]
                cn[k, 0], cn[k, 1] = a[0], a[1]
                k += 1
            if not (closed and i == n):  # its closing copy only ends
                cp[k, 0], cp[k, 1] = p[0], p[1]
                cn[k, 0], cn[k, 1] = b[0], b[1]
                link[k] = False
                k += 1
    return cp[:k], cn[:k], link[1:k].copy()


@njit(cache=True)
def _earclip(poly):
    """Triangles (n - 2, 3) of a counter-clockwise simple polygon (index into poly).

    Degenerate input (collinear or touching points) still yields n - 2 triangles: when no ear
    is found in a full turn, the current vertex is clipped anyway.
    """
    n = len(poly)
    tris = np.empty((max(n - 2, 0), 3), dtype=np.int64)
    if n < 3:
        return tris
    prv = np.empty(n, dtype=np.int64)
    nxt = np.empty(n, dtype=np.int64)
    for i in range(n):
        prv[i], nxt[i] = (i - 1) % n, (i + 1) % n
    i, left, t, misses = nxt[n - 1], n, 0, 0  # start at vertex 0
    while left > 3:
        a, c = prv[i], nxt[i]
        if misses >= left or _is_ear(poly, nxt, a, i, c):
            tris[t, 0], tris[t, 1], tris[t, 2] = a, i, c
            t += 1
            nxt[a], prv[c] = c, a
            left -= 1
            misses = 0
        else:
            misses += 1
        i = c
    tris[t, 0], tris[t, 1], tris[t, 2] = prv[i], i, nxt[i]
    return tris


@njit(cache=True)
def _is_ear(poly, nxt, a, b, c):
    ax, ay, bx, by, cx, cy = poly[a, 0], poly[a, 1], poly[b, 0], poly[b, 1], poly[c, 0], poly[c, 1]
    if (bx - ax) * (cy - by) - (by - ay) * (cx - bx) <= 0.0:
        return False
    p = nxt[c]
    while p != a:
        px, py = poly[p, 0], poly[p, 1]
        corner = (px == ax and py == ay) or (px == bx and py == by) or (px == cx and py == cy)
        if (
            not corner
            and (bx - ax) * (py - ay) - (by - ay) * (px - ax) >= 0.0
            and (cx - bx) * (py - by) - (cy - by) * (px - bx) >= 0.0
            and (ax - cx) * (py - cy) - (ay - cy) * (px - cx) >= 0.0
        ):
            return False
        p = nxt[p]
    return True


# ---------------------------------------------------------------------------------------------
# Surfaces of revolution: sphere, ellipsoid, cylinder/frustum/rod/cone, capsule, torus, tube, lathe.


def _revolution(code: int, prm: list, seg: int) -> tuple:
    """The arguments of `_revolve` (profile points, profile normals, conn, cap polygon, its
    triangles, facets, full, start, span, scale) for a sphere, ellipsoid, frustum, capsule, torus
    or tube.

    Profiles are counter-clockwise in the (r, z) half plane, so the outward normal of a
    profile edge (dr, dz) is (dz, -dr). They are a few dozen points, made here in plain floats
    with the operations a kernel would do (the same bits), so no kernel is compiled for them.
    """
    one = _UNIT_SCALE
    if code == SPHERE or code == ELLIPSOID:
        rp, rn, conn = _sphere_profile(max(2, seg // 2))
        sc = np.abs(np.array(prm[:3])) / 2 if code == ELLIPSOID else np.full(3, abs(prm[0]))
        return rp, rn, conn, _NO_CAP, _NO_TRIANGLES, seg, True, 0.0, 2 * pi, sc
    if code == FRUSTUM:
        profile = _frustum_profile(max(prm[0], 0.0), max(prm[1], 0.0), abs(prm[2]) / 2)
        return *profile, _NO_CAP, _NO_TRIANGLES, seg, True, 0.0, 2 * pi, one
    if code == CAPSULE:
        profile = _capsule_profile(abs(prm[0]), abs(prm[1]) / 2, max(1, seg // 4))
        return *profile, _NO_CAP, _NO_TRIANGLES, seg, True, 0.0, 2 * pi, one
    if code == TORUS:
        nm = max(3, seg // 2)
        rp, rn, conn = _torus_profile(prm[0], abs(prm[1]), nm)
        angle = min(max(prm[2], 0.0), 360.0)
        n = max(3, floor(seg * angle / 360.0 + 0.5))
        full, cap = angle >= 360.0, rp[:nm].copy()
        tris = _NO_TRIANGLES if full else _earclip(cap)
        return rp, rn, conn, cap, tris, n, full, prm[3] * pi / 180, angle * pi / 180, one
    r, t, hh = abs(prm[0]), prm[1], abs(prm[2]) / 2  # TUBE
    profile = _frustum_profile(r, r, hh) if t >= r else _tube_profile(r - max(t, 0.0), r, hh)
    return *profile, _NO_CAP, _NO_TRIANGLES, seg, True, 0.0, 2 * pi, one


_NO_CAP = np.zeros((0, 2))
_NO_TRIANGLES = np.zeros((0, 3), dtype=np.int64)
_UNIT_SCALE = np.ones(3)


def _lathe(prm: list, seg: int, pts: np.ndarray) -> tuple:
    """`_revolution` of a lathe."""
    seg = max(seg, 3)
    rp, rn, conn, cap = _lathe_profile(pts, prm[2] > 0.0, seg)
    angle = min(max(prm[0], 0.0), 360.0)
    n = max(3, floor(seg * angle / 360.0 + 0.5))
    full = angle >= 360.0
    tris = _NO_TRIANGLES if full or len(cap) < 3 else _earclip(cap)
    return rp, rn, conn, cap, tris, n, full, prm[1] * pi / 180, angle * pi / 180, _UNIT_SCALE


def _profile(rp: list, rn: list, conn: list) -> tuple:
    """A profile's lists of points, normals and edge flags as `_revolve` takes them."""
    return np.array(rp, dtype=np.float64), np.array(rn, dtype=np.float64), np.array(conn, dtype=np.bool_)


def _sphere_profile(rings: int) -> tuple:
    phi = (-pi / 2 + pi * np.arange(rings + 1) / rings).tolist()  # elementwise, as a loop would
    rp = np.empty((rings + 1, 2))
    rp[:, 0], rp[:, 1] = [cos(a) for a in phi], [sin(a) for a in phi]  # the C library's, as Numba's
    rp[0], rp[rings] = (0.0, -1.0), (0.0, 1.0)
    return rp, rp.copy(), np.ones(rings, dtype=np.bool_)


def _frustum_profile(r1: float, r2: float, hh: float) -> tuple:
    """Bottom cap, side, top cap; a zero radius is an apex and has no cap."""
    sx, sz = 2 * hh, r1 - r2
    s = sqrt(sx * sx + sz * sz)
    sx, sz = (sx / s, sz / s) if s > 0.0 else (1.0, 0.0)
    rp, rn, conn = [(r1, -hh), (r2, hh)], [(sx, sz), (sx, sz)], [True]
    if r1 > 0.0:
        rp, rn, conn = [(0.0, -hh), (r1, -hh), *rp], [(0.0, -1.0), (0.0, -1.0), *rn], [True, False, *conn]
    if r2 > 0.0:
        rp, rn, conn = [*rp, (r2, hh), (0.0, hh)], [*rn, (0.0, 1.0), (0.0, 1.0)], [*conn, False, True]
    return _profile(rp, rn, conn)


def _capsule_profile(r: float, hh: float, q: int) -> tuple:
    """Two hemispheres of q + 1 rings each, joined by the cylinder between their equators
    (a single shared equator when the cylinder has no length)."""
    zc = max(hh - r, 0.0)
    m = 2 * q + 2 if zc > 0.0 else 2 * q + 1
    rp, rn = [], []
    for k in range(m):
        hemi = 0 if k <= q else 1
        i = k if hemi == 0 else k - (m - q - 1)
        phi = (i / q - 1.0) * pi / 2 if hemi == 0 else i / q * pi / 2
        c, s = cos(phi), sin(phi)
        if (hemi == 0 and i == 0) or (hemi == 1 and i == q):
            c = 0.0
        if (hemi == 0 and i == q) or (hemi == 1 and i == 0):
            s = 0.0
        rp.append((r * c, r * s + (zc if hemi == 1 else -zc)))
        rn.append((c, s))
    return _profile(rp, rn, [True] * (m - 1))


def _torus_profile(big: float, r: float, nm: int) -> tuple:
    """The minor circle, closed (its first point repeated at the end)."""
    psi = (2 * pi * (np.arange(nm + 1) % nm) / nm).tolist()
    rn = np.empty((nm + 1, 2))
    rn[:, 0], rn[:, 1] = [cos(a) for a in psi], [sin(a) for a in psi]
    rp = np.empty((nm + 1, 2))
    rp[:, 0], rp[:, 1] = big + r * rn[:, 0], r * rn[:, 1]
    return rp, rn, np.ones(nm, dtype=np.bool_)


def _tube_profile(ri: float, ro: float, hh: float) -> tuple:
    """The wall's rectangle: bottom ring, outer wall, top ring, inner wall; all corners hard."""
    corners = ((ri, -hh), (ro, -hh), (ro, hh), (ri, hh), (ri, -hh))
    normals = ((0.0, -1.0), (1.0, 0.0), (0.0, 1.0), (-1.0, 0.0))
    rp = [corner for e in range(4) for corner in corners[e : e + 2]]
    return _profile(rp, [normal for normal in normals for _ in range(2)], [e % 2 == 0 for e in range(7)])


@njit(cache=True)
def _lathe_profile(pts, smooth, seg):
    """The user's profile (or the spline through it if `smooth`): radii clamped to >= 0, repeats
    dropped, open ends closed to the axis.

    A profile whose last point equals its first is a closed ring (no closing to the axis; its
    spline is closed too). Returns the outline columns and the closed polygon used for the caps
    of a partial turn.
    """
    prof = _dedupe2(pts[:, :2].copy())
    if smooth and len(prof) >= 2:
        prof = _smooth_profile(prof, seg)
    for i in range(len(prof)):
        prof[i, 0] = max(prof[i, 0], 0.0)
    prof = _dedupe2(prof)
    if len(prof) < 2:
        return np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0, dtype=np.bool_), np.zeros((0, 2))
    poly, _, closed = _cap_polygon(prof)
    if _signed_area(poly) < 0.0:
        poly = poly[::-1].copy()
    rp, rn, conn = _outline(poly, closed, LATHE_HARD_COS)
    cap = poly
    if len(cap) >= 2 and cap[0, 0] == cap[-1, 0] and cap[0, 1] == cap[-1, 1]:
        cap = cap[:-1]
    return rp, rn, conn, cap


@njit(cache=True)
def _cap_polygon(prof):
    """The closed outline a profile of radii >= 0 bounds: a ring without its repeated point, or
    the profile with its ends off the axis joined to it. Also the index of the profile's first
    point in it, and whether the profile is a ring."""
    m = len(prof)
    if m >= 3 and prof[0, 0] == prof[-1, 0] and prof[0, 1] == prof[-1, 1]:
        return prof[:-1].copy(), 0, True
    poly = np.empty((m + 2, 2))
    k = 0
    if prof[0, 0] > 0.0:
        poly[0, 0], poly[0, 1] = 0.0, prof[0, 1]
        k = 1
    first = k
    poly[k : k + m] = prof
    k += m
    if prof[m - 1, 0] > 0.0:
        poly[k, 0], poly[k, 1] = 0.0, prof[m - 1, 1]
        k += 1
    return poly[:k], first, False


@njit(cache=True)
def _smooth_profile(prof, seg):
    """The spline through a lathe profile (closed for a ring), with each span whose curve makes
    the outline cross itself drawn towards its straight chord, by the UNLOOP_SHARES in turn.

    A spline may swing past the line that closes the profile to the axis (or past a neighbouring
    span) where the written profile does not, and a crossing outline revolves into a solid with
    an inside-out lobe. A written profile that does not cross itself so never loops once smooth
    (its chords are the profile); a spline that does not loop is kept exactly.

    The spline is kept as it is (as if unchecked) where no flattening could help or the check
    would cost too much: with one sample per span (it is the written profile), when the written
    profile crosses itself (so do its chords: found once, before any round), and when the
    edge-pair tests of that check and all the rounds would pass UNLOOP_PAIRS per outline edge
    (see `_crossing_edges`). So the check costs at most that many pair tests per spline sample,
    and a linear pass over the edges per round, whatever the profile.
    """
    ring = len(prof) >= 4 and prof[0, 0] == prof[-1, 0] and prof[0, 1] == prof[-1, 1]
    points = prof[:-1].copy() if ring else prof
    spans = len(points) if ring else len(points) - 1
    spline = _spline(points, ring, seg)
    if ring:
        spline = np.concatenate((spline, spline[:1]))
    per = (len(spline) - 1) // spans
    if per == 1:
        return spline
    budget = UNLOOP_PAIRS * (len(spline) + 2)
    curve = spline
    share = np.ones(spans)
    for step in range(-1, UNLOOP_ROUNDS):
        # Step -1 checks the written profile (the spline's every per-th sample), up to a crossing.
        # One call for both, with no constant arguments: Numba would compile a copy for those.
        written = step < 0
        looped, budget = _looped_spans(
            prof if written else curve, spans, 1 if written else per, budget, written
        )
        if budget < 0:
            return spline
        if written:  # a loop, not looped.any(): that makes the cached kernel load ~8 ms slower
            for s in range(spans):
                if looped[s]:  # crossed as written: no flattening can help
                    return spline
            continue
        level = UNLOOP_SHARES[min(step, len(UNLOOP_SHARES) - 1)]
        changed = False
        for s in range(spans):
            if looped[s] and share[s] > level:
                share[s] = level
                changed = True
        if not changed:
            break
        curve = _towards_chords(spline, share, per)
    return curve


@njit(cache=True)
def _looped_spans(curve, spans, per, budget, stop):
    """Which spans of a sampled profile spline (`per` samples each) have an edge that crosses
    another edge of the outline it bounds once its radii are clamped to >= 0 (if `stop`, only
    the first crossing found); and the budget of edge-pair tests left (below 0: it ran out, and
    the answer is incomplete)."""
    prof = curve.copy()
    for i in range(len(prof)):
        prof[i, 0] = max(prof[i, 0], 0.0)
    poly, first, _ = _cap_polygon(prof)
    crossing, budget = _crossing_edges(poly, budget, stop)
    looped = np.zeros(spans, dtype=np.bool_)
    for e in range(len(poly)):
        j = e - first  # the edge from sample j to sample j + 1, if it is the curve's
        if crossing[e] and 0 <= j < len(curve) - 1:
            looped[j // per] = True
    return looped, budget


@njit(cache=True)
def _crossing_edges(poly, budget, stop):
    """Which edges of the closed polygon cross another one properly (a point strictly on each
    side of the other): edges that only touch, or overlap along a line, do not count (if `stop`,
    only the first pair found). Also the budget of pair tests left: below 0 when it ran out,
    and the flags are then incomplete.

    A sweep along the axis on which the edges overlap less (the sum of their extents over the
    polygon's): edges in n buckets of their low ends in order, each tested only against later
    ones until a bucket starts past its high end. The tests are about the pairs overlapping along
    that axis, a few per edge for an outline that does not fold back on itself much (a vase
    along z), and at most `budget` in any case. (A counting sort, not np.argsort: linear, and
    the kernel loads from the cache faster.)
    """
    n = len(poly)
    crossing = np.zeros(n, dtype=np.bool_)
    lo = np.empty((n, 2))
    hi = np.empty((n, 2))
    extent, low, high = np.zeros(2), np.full(2, np.inf), np.full(2, -np.inf)
    for i in range(n):
        for k in range(2):
            lo[i, k] = min(poly[i, k], poly[(i + 1) % n, k])
            hi[i, k] = max(poly[i, k], poly[(i + 1) % n, k])
            extent[k] += hi[i, k] - lo[i, k]
            low[k], high[k] = min(low[k], lo[i, k]), max(high[k], hi[i, k])
    axis = 0 if extent[0] * (high[1] - low[1]) < extent[1] * (high[0] - low[0]) else 1
    width = (high[axis] - low[axis]) / n
    key = np.zeros(n, dtype=np.int64)
    first = np.zeros(n + 1, dtype=np.int64)  # bucket sizes, then where their edges go in `order`
    floor = np.full(n, np.inf)  # the lowest low end in each bucket
    for i in range(n):
        t = (lo[i, axis] - low[axis]) / width if width > 0.0 else 0.0
        key[i] = int(t) if 0.0 <= t < n else (0 if t < 0.0 else n - 1)
        first[key[i] + 1] += 1
        floor[key[i]] = min(floor[key[i]], lo[i, axis])
    for k in range(n):
        first[k + 1] += first[k]
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        order[first[key[i]]] = i
        first[key[i]] += 1
    for a in range(n):
        i = order[a]
        for b in range(a + 1, n):
            j = order[b]
            if floor[key[j]] > hi[i, axis]:
                break
            budget -= 1
            if budget < 0:
                return crossing, budget
            if abs(i - j) == 1 or abs(i - j) == n - 1:  # neighbours only touch
                continue
            if hi[i, 0] < lo[j, 0] or hi[j, 0] < lo[i, 0] or hi[i, 1] < lo[j, 1] or hi[j, 1] < lo[i, 1]:
                continue
            ax, ay, bx, by = poly[i, 0], poly[i, 1], poly[(i + 1) % n, 0], poly[(i + 1) % n, 1]
            cx, cy, dx, dy = poly[j, 0], poly[j, 1], poly[(j + 1) % n, 0], poly[(j + 1) % n, 1]
            if _apart(ax, ay, bx, by, cx, cy, dx, dy) and _apart(cx, cy, dx, dy, ax, ay, bx, by):
                crossing[i] = crossing[j] = True
                if stop:
                    return crossing, budget
    return crossing, budget


@njit(cache=True, inline="always")
def _apart(ax, ay, bx, by, cx, cy, dx, dy):
    """Whether c and d lie strictly on opposite sides of the line through a and b."""
    c = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    d = (bx - ax) * (dy - ay) - (by - ay) * (dx - ax)
    return (c > 0.0 and d < 0.0) or (c < 0.0 and d > 0.0)


@njit(cache=True)
def _towards_chords(spline, share, per):
    """The sampled spline with span s moved to its chord but for share[s] of the way off it:
    control points stay where they are, a share of 0 is the straight chord."""
    out = spline.copy()
    for s in range(len(share)):
        if share[s] < 1.0:
            a, b = s * per, (s + 1) * per
            for k in range(1, per):
                for j in range(2):
                    chord = spline[a, j] + (spline[b, j] - spline[a, j]) * (k / per)
                    out[a + k, j] = chord + share[s] * (spline[a + k, j] - chord)
    return out


@njit(cache=True, inline="always")
def _single(rp, rn, i):
    """A profile point on the axis with an axial normal needs one vertex, not one per facet."""
    return rp[i, 0] == 0.0 and rn[i, 0] == 0.0


@njit(cache=True)
def _revolve_size(rp, rn, conn, cap, n, full):
    ncol = n if full else n + 1
    nv, nf = 0, 0
    for i in range(len(rp)):
        nv += 1 if _single(rp, rn, i) else ncol
    for i in range(len(conn)):
        if conn[i]:
            nf += n * ((rp[i, 0] != 0.0) + (rp[i + 1, 0] != 0.0))
    if not full and len(cap) >= 3:
        nv += 2 * len(cap)
        nf += 2 * (len(cap) - 2)
    return nv, nf


@njit(cache=True)
def _revolve(rp, rn, conn, cap, tris, n, full, a0, span, sc, lp, ln, f):
    """Revolve the profile about Z: rows follow the profile, columns the angle.

    Quad (row i, col j) is split into (a_j, a_j+1, b_j+1) and (a_j, b_j+1, b_j); a triangle
    whose edge lies on the axis has zero area and is skipped. Partial turns get flat caps: the
    `cap` polygon cut into triangles `tris` (by the caller, so that whole turns never compile
    the ear clipping).
    """
    ncol = n if full else n + 1
    step = span / n
    ca = np.empty(ncol)
    sa = np.empty(ncol)
    for j in range(ncol):
        ca[j], sa[j] = cos(a0 + j * step), sin(a0 + j * step)
    sx, sy, sz = sc[0], sc[1], sc[2]
    nx, ny, nz = sy * sz, sx * sz, sx * sy  # cofactor of the local scale
    start = np.empty(len(rp) + 1, dtype=np.int64)
    v = 0
    for i in range(len(rp)):
        start[i] = v
        r, z, nr, nzz = rp[i, 0], rp[i, 1], rn[i, 0], rn[i, 1]
        if _single(rp, rn, i):
            _put(lp, ln, v, 0.0, 0.0, z * sz, 0.0, 0.0, nzz * nz)
            v += 1
        else:
            for j in range(ncol):
                _put(
                    lp,
                    ln,
                    v,
                    r * ca[j] * sx,
                    r * sa[j] * sy,
                    z * sz,
                    nr * ca[j] * nx,
                    nr * sa[j] * ny,
                    nzz * nz,
                )
                v += 1
    t = 0
    for i in range(len(conn)):
        if not conn[i]:
            continue
        ra, rb = rp[i, 0] != 0.0, rp[i + 1, 0] != 0.0
        sa_, sb_ = _single(rp, rn, i), _single(rp, rn, i + 1)
        for j in range(n):
            j1 = (j + 1) % ncol
            a = start[i] + (0 if sa_ else j)
            b = start[i] + (0 if sa_ else j1)
            c = start[i + 1] + (0 if sb_ else j1)
            d = start[i + 1] + (0 if sb_ else j)
            if ra:
                f[t, 0], f[t, 1], f[t, 2] = a, b, c
                t += 1
            if rb:
                f[t, 0], f[t, 1], f[t, 2] = a, c, d
                t += 1
    if full or len(cap) < 3:
        return
    a1 = a0 + span
    for end in range(2):
        ang = a0 if end == 0 else a1
        cc, ss = cos(ang), sin(ang)
        # the start cap faces back along the turn, the end cap forward
        tx, ty = (ss, -cc) if end == 0 else (-ss, cc)
        base = v
        for k in range(len(cap)):
            r, z = cap[k, 0], cap[k, 1]
            _put(lp, ln, v, r * cc * sx, r * ss * sy, z * sz, tx * nx, ty * ny, 0.0)
            v += 1
        for k in range(len(tris)):
            f[t, 0] = base + tris[k, 0]
            f[t, 1] = base + tris[k, 1 if end == 0 else 2]
            f[t, 2] = base + tris[k, 2 if end == 0 else 1]
            t += 1


# ---------------------------------------------------------------------------------------------
# Cut and hollow spheres and ellipsoids: the unit sphere between two polar angles and two
# azimuths, scaled to the semi-axes. A solid one is a surface of revolution (its profile closed by
# flat discs); a hollow one is two such surfaces, the inner scaled to the semi-axes less the
# wall, joined by rims along the polar cuts and strips at the azimuth ends.


@njit(cache=True)
def _shell_grid(prm, ext, seg):
    """(semi-axes, wall, top, bottom, rings, facets, full, start, span) of a cut sphere: angles in
    radians, `top` and `bottom` polar (from +Z), poles exactly 0 and pi."""
    angle, top, bottom = (
        min(max(ext[0], 0.0), 360.0),
        min(max(ext[2], 0.0), 180.0),
        min(max(ext[3], 0.0), 180.0),
    )
    bottom = max(bottom, top)
    rings = max(1, int(np.floor(max(2, seg // 2) * (bottom - top) / 180.0 + 0.5)))
    n = max(3, int(np.floor(seg * angle / 360.0 + 0.5)))
    sc = np.abs(prm[:3])
    return (
        sc,
        max(prm[3], 0.0),
        top * pi / 180,
        bottom * pi / 180,
        rings,
        n,
        angle >= 360.0,
        ext[1] * pi / 180,
        angle * pi / 180,
    )


@njit(cache=True, inline="always")
def _polar_point(theta):
    """(sin, cos) of a polar angle, exact at the poles so they fall on the axis."""
    if theta <= 0.0:
        return 0.0, 1.0
    if theta >= pi:
        return 0.0, -1.0
    return sin(theta), cos(theta)


@njit(cache=True)
def _cut_profile(top, bottom, rings):
    """(profile, normals, conn, cap polygon) of the solid cut unit sphere, from the bottom up: a
    flat disc over a bottom cut, the arc, a flat disc under a top cut."""
    rp = np.empty((rings + 5, 2))
    rn = np.empty((rings + 5, 2))
    conn = np.zeros(rings + 4, dtype=np.bool_)
    cap = np.empty((rings + 3, 2))
    k = c = 0
    rb, zb = _polar_point(bottom)
    if rb > 0.0 or zb > -1.0:
        rp[0, 0], rp[0, 1], rn[0, 0], rn[0, 1] = 0.0, zb, 0.0, -1.0
        rp[1, 0], rp[1, 1], rn[1, 0], rn[1, 1] = rb, zb, 0.0, -1.0
        cap[0, 0], cap[0, 1] = 0.0, zb
        conn[0] = True
        k, c = 2, 1
    for i in range(rings + 1):
        r, z = _polar_point(top if i == rings else bottom - (bottom - top) * i / rings)
        rp[k, 0], rp[k, 1], rn[k, 0], rn[k, 1] = r, z, r, z
        cap[c, 0], cap[c, 1] = r, z
        conn[k] = i < rings
        k, c = k + 1, c + 1
    rt, zt = _polar_point(top)
    if rt > 0.0 or zt < 1.0:
        rp[k, 0], rp[k, 1], rn[k, 0], rn[k, 1] = rt, zt, 0.0, 1.0
        rp[k + 1, 0], rp[k + 1, 1], rn[k + 1, 0], rn[k + 1, 1] = 0.0, zt, 0.0, 1.0
        cap[c, 0], cap[c, 1] = 0.0, zt
        conn[k] = True
        k, c = k + 2, c + 1
    return rp[:k], rn[:k], conn[: k - 1], cap[:c]


@njit(cache=True)
def _shell_size(prm, ext, seg):
    sc, wall, top, bottom, rings, n, full = _shell_grid(prm, ext, seg)[:7]
    if wall <= 0.0:
        rp, rn, conn, cap = _cut_profile(top, bottom, rings)
        return _revolve_size(rp, rn, conn, cap, n, full)
    ncol = n if full else n + 1
    poles = (_polar_point(top)[0] == 0.0) + (_polar_point(bottom)[0] == 0.0)
    nv = 2 * ((rings + 1 - poles) * ncol + poles)  # outer and inner surfaces
    nf = 2 * n * (2 * rings - poles)
    rims = 2 - poles
    nv, nf = nv + rims * 2 * ncol, nf + rims * 2 * n
    if not full:
        nv, nf = nv + 4 * (rings + 1), nf + 4 * rings
    return nv, nf


@njit(cache=True)
def _shell(prm, ext, seg, lp, ln, f):
    """A cut sphere scaled to its semi-axes: solid, or a wall of the given thickness whose inner
    surface is the ellipsoid with every semi-axis that much shorter."""
    sc, wall, top, bottom, rings, n, full, a0, span = _shell_grid(prm, ext, seg)
    if wall <= 0.0:
        rp, rn, conn, cap = _cut_profile(top, bottom, rings)
        tris = _earclip(cap) if not full and len(cap) >= 3 else np.zeros((0, 3), dtype=np.int64)
        _revolve(rp, rn, conn, cap, tris, n, full, a0, span, sc, lp, ln, f)
        return
    ncol = n if full else n + 1
    ca = np.empty(ncol)
    sa = np.empty(ncol)
    for j in range(ncol):
        ca[j], sa[j] = cos(a0 + j * span / n), sin(a0 + j * span / n)
    rs = np.empty(rings + 1)
    zs = np.empty(rings + 1)
    for i in range(rings + 1):  # rows from the top cut down to the bottom cut
        rs[i], zs[i] = _polar_point(bottom if i == rings else top + (bottom - top) * i / rings)
    scales = np.empty((2, 3))
    scales[0], scales[1] = sc, sc - wall
    v = t = 0
    rows = np.empty((2, rings + 1), dtype=np.int64)  # first vertex of each row of each surface
    for side in range(2):  # outer (normals out), inner (normals in)
        sx, sy, sz = scales[side, 0], scales[side, 1], scales[side, 2]
        sign = 1.0 if side == 0 else -1.0
        for i in range(rings + 1):
            rows[side, i] = v
            if rs[i] == 0.0:  # a pole: one vertex
                _put(lp, ln, v, 0.0, 0.0, zs[i] * sz, 0.0, 0.0, sign * zs[i])
                v += 1
                continue
            for j in range(ncol):
                x, y = rs[i] * ca[j], rs[i] * sa[j]
                _put(
                    lp,
                    ln,
                    v,
                    x * sx,
                    y * sy,
                    zs[i] * sz,
                    sign * x * sy * sz,
                    sign * y * sx * sz,
                    sign * zs[i] * sx * sy,
                )
                v += 1
        for i in range(rings):
            pa, pb = rs[i] == 0.0, rs[i + 1] == 0.0
            for j in range(n):
                j1 = (j + 1) % ncol
                a = rows[side, i] + (0 if pa else j)
                b = rows[side, i] + (0 if pa else j1)
                c = rows[side, i + 1] + (0 if pb else j1)
                d = rows[side, i + 1] + (0 if pb else j)
                if not pb:  # (a, d, c) outward on the outer surface
                    f[t, 0], f[t, 1], f[t, 2] = a, (d if side == 0 else c), (c if side == 0 else d)
                    t += 1
                if not pa:
                    f[t, 0], f[t, 1], f[t, 2] = a, (c if side == 0 else b), (b if side == 0 else c)
                    t += 1
    sx, sy, sz = sc[0], sc[1], sc[2]
    for cut in range(2):  # rims: the wall's end faces along the top and the bottom cut
        i = 0 if cut == 0 else rings
        if rs[i] == 0.0:
            continue
        towards = -1.0 if cut == 0 else 1.0  # the rim faces away from the surface, along -/+ the polar angle
        base = v
        for side in range(2):
            for j in range(ncol):
                p = rows[side, i] + j
                nr, nz = towards * zs[i], -towards * rs[i]  # d/d(theta) of (sin, cos) is (cos, -sin)
                _put(
                    lp,
                    ln,
                    v,
                    lp[p, 0],
                    lp[p, 1],
                    lp[p, 2],
                    nr * ca[j] * sy * sz,
                    nr * sa[j] * sx * sz,
                    nz * sx * sy,
                )
                v += 1
        for j in range(n):
            j1 = (j + 1) % ncol
            o0, o1, i0, i1 = base + j, base + j1, base + ncol + j, base + ncol + j1
            if cut == 0:
                _quad(f, t, o0, o1, i1, i0)
            else:
                _quad(f, t, o0, i0, i1, o1)
            t += 2
    if full:
        return
    for end in range(2):  # the flat ends of a partial turn
        j = 0 if end == 0 else n
        tx, ty = (sa[j], -ca[j]) if end == 0 else (-sa[j], ca[j])
        base = v
        for side in range(2):
            for i in range(rings + 1):
                p = rows[side, i] + (0 if rs[i] == 0.0 else j)
                _put(lp, ln, v, lp[p, 0], lp[p, 1], lp[p, 2], tx * sy * sz, ty * sx * sz, 0.0)
                v += 1
        for i in range(rings):
            o0, o1, i0, i1 = base + i, base + i + 1, base + rings + 1 + i, base + rings + 2 + i
            if end == 0:
                _quad(f, t, o0, i0, i1, o1)
            else:
                _quad(f, t, o0, o1, i1, i0)
            t += 2


# ---------------------------------------------------------------------------------------------
# Extrusion and sweep.


@njit(cache=True)
def _extrude(poly, h, lp, ln, f):
    """Side walls from the outline columns (two rows), caps by ear clipping."""
    n = len(poly)
    if n < 3:
        return
    z0, z1 = min(0.0, h), max(0.0, h)
    cp, cn, conn = _outline(poly, True, EXTRUDE_HARD_COS)
    k = len(cp)
    for j in range(k):
        _put(lp, ln, j, cp[j, 0], cp[j, 1], z0, cn[j, 0], cn[j, 1], 0.0)
        _put(lp, ln, k + j, cp[j, 0], cp[j, 1], z1, cn[j, 0], cn[j, 1], 0.0)
    t = 0
    for j in range(k - 1):
        if conn[j]:
            _quad(f, t, j, j + 1, k + j + 1, k + j)
            t += 2
    base = 2 * k
    for j in range(n):
        _put(lp, ln, base + j, poly[j, 0], poly[j, 1], z0, 0.0, 0.0, -1.0)
        _put(lp, ln, base + n + j, poly[j, 0], poly[j, 1], z1, 0.0, 0.0, 1.0)
    tris = _earclip(poly)
    for i in range(len(tris)):
        f[t, 0], f[t, 1], f[t, 2] = base + tris[i, 0], base + tris[i, 2], base + tris[i, 1]
        f[t + 1, 0], f[t + 1, 1], f[t + 1, 2] = (
            base + n + tris[i, 0],
            base + n + tris[i, 1],
            base + n + tris[i, 2],
        )
        t += 2


def _drawn_outline(code: int, row: tuple, pts: np.ndarray, seg: int) -> np.ndarray:
    """The (x, y) or (r, z) points an extrusion's walls or a lathe's profile pass through at
    `seg` facets: with a smooth outline's spline samples and a rounded one's arcs. (Dispatched
    here, not in a kernel, so that only the kernels of the kind at hand are compiled.)"""
    if code == LATHE:
        return _lathe_profile(pts, row[2] > 0.0, max(seg, 3))[0]
    poly = _extrude_polygon(pts, row[2] > 0.0, seg)
    if code != ROUNDED_EXTRUDE or len(poly) < 3:
        return poly
    spine, normal, _, _, r = _rounded_outline(poly, float(row[1]), abs(float(row[0])), _quarter(seg))
    return spine + r * normal


def rounded_spine(pts: np.ndarray, r: float, h: float, smooth: bool, seg: int) -> np.ndarray:
    """The spine of a rounded extrusion at `seg` facets: its drawn outline moved inward by r, the
    cap polygon its fillets meet (a point per convex corner, an arc per concave one)."""
    poly = _extrude_polygon(pts, smooth, seg)
    if len(poly) < 3:
        return poly
    return _rounded_outline(poly, float(r), float(h), _quarter(seg))[0]


@njit(cache=True)
def _extrude_polygon(pts, smooth, seg):
    """The counter-clockwise outline of an extrusion: the polygon, or the closed spline through it."""
    poly = _clean_polygon(pts)
    if smooth and len(poly) >= 3:
        poly = _clean_polygon(_spline(poly, True, seg))
    return poly


@njit(cache=True, inline="always")
def _quarter(seg):
    """Facets of a quarter circle at `segments` facets per full turn."""
    return max(1, max(seg, 3) // 4)


@njit(cache=True)
def _rounded_outline(poly, r, h, q):
    """The columns of an extrusion whose every edge is rounded by radius r (at most what the
    outline and the height allow): each column's spine point (the outline moved inward by r),
    its outward normal, and the number of the distinct spine point it belongs to.

    A convex corner becomes an arc of the outline around one spine point (a sphere patch at the
    caps), a concave one an arc of radius r around a centre outside (its spine an arc of radius
    2r); the cap faces are the spine polygon. Arcs get the facets of a circle of 4q.
    """
    n = len(poly)
    e = np.empty((n, 2))
    length = np.empty(n)
    for i in range(n):
        dx, dy = poly[(i + 1) % n, 0] - poly[i, 0], poly[(i + 1) % n, 1] - poly[i, 1]
        length[i] = sqrt(dx * dx + dy * dy)
        e[i, 0], e[i, 1] = dx / length[i], dy / length[i]
    turn = np.empty(n)  # signed turning angle at each corner: > 0 convex
    for i in range(n):
        a, b = e[i - 1], e[i]
        turn[i] = atan2(a[0] * b[1] - a[1] * b[0], a[0] * b[0] + a[1] * b[1])
    r = min(r, h / 2)
    for i in range(n):  # fillets that would meet exactly leave zero-width strips: stop just short
        need = tan(abs(turn[i]) / 2) + tan(abs(turn[(i + 1) % n]) / 2)
        if need * r > ROUND_FIT * length[i]:
            r = ROUND_FIT * length[i] / need
    arcs = np.empty(n, dtype=np.int64)
    for i in range(n):
        arcs[i] = int(ceil(abs(turn[i]) / (pi / 2) * q)) if abs(turn[i]) > STRAIGHT_TURN else 0
    m = int(np.sum(arcs)) + n
    spine = np.empty((m, 2))
    normal = np.empty((m, 2))
    group = np.empty(m, dtype=np.int64)
    j = 0
    for i in range(n):
        nx, ny = e[i - 1, 1], -e[i - 1, 0]  # outward normal of the incoming edge
        tangent = r * tan(abs(turn[i]) / 2)
        cx, cy = poly[i, 0] - tangent * e[i - 1, 0], poly[i, 1] - tangent * e[i - 1, 1]
        convex = turn[i] >= 0.0 or arcs[i] == 0  # a straight corner counts as convex: its arc has no length
        side = -1.0 if convex else 1.0  # the arc's centre: inside (convex) or outside
        cx, cy = cx + side * r * nx, cy + side * r * ny
        for k in range(arcs[i] + 1):
            if k == arcs[i] and k > 0:
                ux, uy = e[i, 1], -e[i, 0]
            else:
                a = turn[i] * k / max(arcs[i], 1)
                ux, uy = nx * cos(a) - ny * sin(a), nx * sin(a) + ny * cos(a)
            normal[j, 0], normal[j, 1] = ux, uy
            if convex:
                spine[j, 0], spine[j, 1] = cx, cy
            else:
                spine[j, 0], spine[j, 1] = cx - 2 * r * ux, cy - 2 * r * uy
            j += 1
    g = 0
    for j in range(m):
        if j > 0 and (spine[j, 0] != spine[j - 1, 0] or spine[j, 1] != spine[j - 1, 1]):
            g += 1
        group[j] = g
    if m > 1 and group[m - 1] > 0 and spine[m - 1, 0] == spine[0, 0] and spine[m - 1, 1] == spine[0, 1]:
        for j in range(m):
            if group[j] == g:
                group[j] = 0
        g -= 1
    return spine, normal, group, g + 1, r


@njit(cache=True)
def _rounded_extrude_size(spine, normal, group, groups, r, height, q):
    """(vertices, faces) of `_rounded_extrude` for these columns."""
    m = len(spine)
    changes = 0
    for j in range(m):
        changes += group[j] != group[(j + 1) % m]
    rows = len(_fillet_rows(r, height, q))
    return rows * m + 2 * groups, 2 * m * (rows - 1) + 2 * (m + changes) + 2 * max(groups - 2, 0)


@njit(cache=True)
def _fillet_rows(r, height, q):
    """(cos, sin, z) of the rings between the caps: a quarter circle up from the bottom cap, the
    wall (none when height = 2r), a quarter circle up to the top cap."""
    wall = height > 2 * r
    rows = np.empty((2 * q if wall else 2 * q - 1, 3))
    for k in range(len(rows)):
        i = k + 1 if k < q else k - q + (0 if wall else 1)  # quarter-circle step, 0 on the wall
        phi = (i / q - 1.0) * pi / 2 if k < q else i / q * pi / 2
        c, s = (cos(phi), sin(phi)) if i % q != 0 else (1.0, 0.0)
        rows[k, 0], rows[k, 1] = c, s
        rows[k, 2] = r + r * s if k < q else height - r + r * s
    return rows


@njit(cache=True)
def _rounded_extrude(spine, normal, group, groups, r, h, q, lp, ln, f):
    """An extrusion with every edge rounded: rings of the columns of `_rounded_outline` (each
    point its spine point pushed out by r along the exact normal of the fillet or the wall),
    closed by the spine polygon as bottom and top caps, which the fillets meet tangentially."""
    m = len(spine)
    z0 = min(0.0, h)
    rows = _fillet_rows(r, abs(h), q)
    v = 0
    for row in range(len(rows)):
        c, s, z = rows[row, 0], rows[row, 1], z0 + rows[row, 2]
        for j in range(m):
            nx, ny = normal[j, 0], normal[j, 1]
            _put(lp, ln, v, spine[j, 0] + r * c * nx, spine[j, 1] + r * c * ny, z, c * nx, c * ny, s)
            v += 1
    cap = np.empty((groups, 2))
    for j in range(m):
        cap[group[j], 0], cap[group[j], 1] = spine[j, 0], spine[j, 1]
    bottom, top = v, v + groups
    for k in range(groups):
        _put(lp, ln, bottom + k, cap[k, 0], cap[k, 1], z0, 0.0, 0.0, -1.0)
        _put(lp, ln, top + k, cap[k, 0], cap[k, 1], z0 + abs(h), 0.0, 0.0, 1.0)
    t = 0
    last = (len(rows) - 1) * m
    for j in range(m):
        j1 = (j + 1) % m
        for row in range(len(rows) - 1):
            a = row * m
            _quad(f, t, a + j, a + j1, a + m + j1, a + m + j)
            t += 2
        b0, b1, t0, t1 = bottom + group[j], bottom + group[j1], top + group[j], top + group[j1]
        if b0 != b1:
            f[t, 0], f[t, 1], f[t, 2] = b0, b1, j1
            t += 1
        f[t, 0], f[t, 1], f[t, 2] = b0, j1, j
        f[t + 1, 0], f[t + 1, 1], f[t + 1, 2] = last + j, last + j1, t1
        t += 2
        if t0 != t1:
            f[t, 0], f[t, 1], f[t, 2] = last + j, t1, t0
            t += 1
    tris = _earclip(cap)
    for i in range(len(tris)):
        f[t, 0], f[t, 1], f[t, 2] = bottom + tris[i, 0], bottom + tris[i, 2], bottom + tris[i, 1]
        f[t + 1, 0], f[t + 1, 1], f[t + 1, 2] = top + tris[i, 0], top + tris[i, 1], top + tris[i, 2]
        t += 2


@njit(cache=True)
def _holed(rows, h, lp, ln, f):
    """Side walls around each loop (a hole's, wound clockwise, face into the hole), caps from the
    triangles packed after the loops."""
    z0, z1 = min(0.0, h), max(0.0, h)
    v = t = a = 0
    while a < len(rows) and rows[a, 3] == 0.0:
        b = a
        while b < len(rows) and rows[b, 3] == 0.0 and rows[b, 2] == rows[a, 2]:
            b += 1
        cp, cn, conn = _outline(rows[a:b, :2].copy(), True, EXTRUDE_HARD_COS)
        k = len(cp)
        for j in range(k):
            _put(lp, ln, v + j, cp[j, 0], cp[j, 1], z0, cn[j, 0], cn[j, 1], 0.0)
            _put(lp, ln, v + k + j, cp[j, 0], cp[j, 1], z1, cn[j, 0], cn[j, 1], 0.0)
        for j in range(k - 1):
            if conn[j]:
                _quad(f, t, v + j, v + j + 1, v + k + j + 1, v + k + j)
                t += 2
        v, a = v + 2 * k, b
    for j in range(a):
        _put(lp, ln, v + j, rows[j, 0], rows[j, 1], z0, 0.0, 0.0, -1.0)
        _put(lp, ln, v + a + j, rows[j, 0], rows[j, 1], z1, 0.0, 0.0, 1.0)
    for i in range(a, len(rows)):
        p, q, r = v + int(rows[i, 0]), v + int(rows[i, 1]), v + int(rows[i, 2])
        f[t, 0], f[t, 1], f[t, 2] = p, r, q
        f[t + 1, 0], f[t + 1, 1], f[t + 1, 2] = p + a, q + a, r + a
        t += 2


@njit(cache=True)
def _sweep_path(pts, smooth):
    """Centres and radii along the path: repeats dropped, optionally the spline through it."""
    keep = np.empty((len(pts), 4))
    m = 0
    for i in range(len(pts)):
        if (
            m == 0
            or pts[i, 0] != keep[m - 1, 0]
            or pts[i, 1] != keep[m - 1, 1]
            or pts[i, 2] != keep[m - 1, 2]
        ):
            keep[m, :3] = pts[i, :3]
            keep[m, 3] = abs(pts[i, 3])
            m += 1
    keep = keep[:m]
    if m < 2 or not smooth:
        return keep[:, :3].copy(), keep[:, 3].copy()
    return _smooth_path(keep[:, :3].copy(), keep[:, 3].copy(), False)


@njit(cache=True)
def _smooth_path(c, r, closed):
    """The spline through the path's distinct consecutive points (closing on itself when
    `closed`), SWEEP_SAMPLES per span, with the radii linear along each span."""
    n = len(c)
    sc = catmull_rom(c, closed, SWEEP_SAMPLES)
    sr = np.empty(len(sc))
    for s in range(len(sc)):
        i, k = s // SWEEP_SAMPLES, s % SWEEP_SAMPLES
        sr[s] = r[i % n] + k / SWEEP_SAMPLES * (r[(i + 1) % n] - r[i % n])
    return sc, sr


@njit(cache=True)
def _spline(points, closed, seg):
    """The spline through an outline of distinct consecutive points, sampled
    segments / 4 times per span (8 at the default 32: a closed curve through four points of a
    circle gets as many points as a cylinder has facets), at most SPLINE_POINTS in all."""
    spans = len(points) if closed else len(points) - 1
    per = max(1, min(max(2, seg // 4), SPLINE_POINTS // max(spans, 1)))
    return catmull_rom(points, closed, per)


@njit(cache=True)
def _sweep(c, r, n, lp, ln, f):
    """Rings of n vertices along the path in rotation-minimising frames, mitred at corners.

    Each path segment has a frame (u, v = t x u) carried from the previous one by the smallest
    rotation taking its tangent to the next; a ring at an inner point is the incoming
    segment's circle projected along that segment onto the bisecting plane.
    """
    ns = len(c)
    tan = np.empty((ns - 1, 3))
    slope = np.zeros(ns - 1)
    last = np.array([0.0, 0.0, 1.0])
    for s in range(ns - 1):
        d = c[s + 1] - c[s]
        length = sqrt(dot(d, d))
        if length > 0.0:
            last = d / length
            slope[s] = (r[s + 1] - r[s]) / length
        tan[s] = last
    us = np.empty((ns - 1, 3))
    vs = np.empty((ns - 1, 3))
    u = _perpendicular(tan[0])
    for s in range(ns - 1):
        if s > 0:
            u = _transport(u, tan[s - 1], tan[s])
        us[s] = u
        vs[s, 0], vs[s, 1], vs[s, 2] = cross(tan[s], u)
    v = 0
    for i in range(ns):
        a = max(i - 1, 0)
        b = min(i, ns - 2)
        ta, tb = tan[a], tan[b]
        nb = ta + tb
        length = sqrt(dot(nb, nb))
        nb = nb / length if length > 1e-9 else ta
        den = max(dot(ta, nb), MITRE_LIMIT)
        for j in range(n):
            al = 2 * pi * j / n
            ca, sa = cos(al), sin(al)
            da = us[a] * ca + vs[a] * sa
            db = us[b] * ca + vs[b] * sa
            p = c[i] + r[i] * (da - ta * (dot(da, nb) / den))
            nrm = (da - slope[a] * ta) + (db - slope[b] * tb)
            _put(lp, ln, v, p[0], p[1], p[2], nrm[0], nrm[1], nrm[2])
            v += 1
    t = 0
    for i in range(ns - 1):
        for j in range(n):
            j1 = (j + 1) % n
            a, b, cc, d = i * n + j, i * n + j1, (i + 1) * n + j1, (i + 1) * n + j
            if r[i] != 0.0:  # a ring of zero radius is a point: one triangle per facet
                f[t, 0], f[t, 1], f[t, 2] = a, b, cc
                t += 1
            if r[i + 1] != 0.0:
                f[t, 0], f[t, 1], f[t, 2] = a, cc, d
                t += 1
    for end in range(2):
        if r[0 if end == 0 else ns - 1] == 0.0:  # a pointed end needs no cap
            continue
        ring = 0 if end == 0 else (ns - 1) * n
        ctr = c[0] if end == 0 else c[ns - 1]
        nrm = -tan[0] if end == 0 else tan[ns - 2]
        base = v
        _put(lp, ln, base, ctr[0], ctr[1], ctr[2], nrm[0], nrm[1], nrm[2])
        for j in range(n):
            _put(
                lp,
                ln,
                base + 1 + j,
                lp[ring + j, 0],
                lp[ring + j, 1],
                lp[ring + j, 2],
                nrm[0],
                nrm[1],
                nrm[2],
            )
        v += n + 1
        for j in range(n):
            j1 = (j + 1) % n
            f[t, 0] = base
            f[t, 1] = base + 1 + (j1 if end == 0 else j)
            f[t, 2] = base + 1 + (j if end == 0 else j1)
            t += 1


@njit(cache=True)
def _perpendicular(t):
    """A unit vector perpendicular to unit t (from the axis least aligned with it)."""
    k = 0
    if abs(t[1]) < abs(t[k]):
        k = 1
    if abs(t[2]) < abs(t[k]):
        k = 2
    e = np.zeros(3)
    e[k] = 1.0
    u = e - t * t[k]
    return u / sqrt(dot(u, u))


@njit(cache=True)
def _transport(u, ta, tb):
    """Rotate u by the smallest rotation taking ta to tb (Rodrigues), re-orthonormalised."""
    ax = np.array(cross(ta, tb))
    s = sqrt(dot(ax, ax))
    c = dot(ta, tb)
    if s > 1e-12:
        k = ax / s
        u = u * c + np.array(cross(k, u)) * s + k * (dot(k, u) * (1.0 - c))
    u = u - tb * dot(u, tb)
    length = sqrt(dot(u, u))
    return u / length if length > 1e-9 else _perpendicular(tb)


# ---------------------------------------------------------------------------------------------
# Skins: lofts and profile sweeps. Both are rings of one outline's m points (section k of a loft,
# the profile at path point k of a sweep) joined ring to ring, ends capped by ear clipping.


@njit(cache=True)
def _no_plan():
    """The plan of a skin with nothing to draw (fewer than 3 points in every section)."""
    return np.zeros((0, 0, 2)), np.zeros(0, dtype=np.bool_), np.zeros(0, dtype=np.bool_), False


@njit(cache=True)
def _skin_plan(code, prm, seg, pts):
    """(sections (one per ring before any spline, or one for all), tips: which rings are a point,
    hard columns, closed). Enough to size the skin; `_skin_rings` places it."""
    if code == LOFT:
        return _loft_plan(prm, pts)
    return _sweep_plan(prm, seg, pts)


@njit(cache=True)
def _skin_rings(code, prm, seg, pts, sections):
    """The rings (R, m, 3) of the plan's sections."""
    if code == LOFT:
        return _loft_rings(prm, pts, sections)
    return _sweep_rings(prm, seg, pts, sections)


@njit(cache=True)
def _loft_plan(prm, pts):
    """Sections resampled to one count and turned so their starts line up; a one-point section
    is a tip. With `smooth`, SWEEP_SAMPLES rings per gap."""
    k, smooth = int(prm[0]), prm[2] > 0.0
    polys = []
    start = k
    m = 0
    for i in range(k):
        n = int(pts[i, 3])
        poly = _clean_polygon(pts[start : start + n])
        start += n
        polys.append(poly)
        m = max(m, len(poly))
    if m < 3:
        return _no_plan()
    sections = np.empty((k, m, 2))
    reference = -1
    for i in range(k):
        sections[i] = _resample(polys[i], m)
        if len(polys[i]) > 1:
            if reference >= 0:
                sections[i] = _aligned(sections[reference], sections[i])
            reference = i
    step = SWEEP_SAMPLES if smooth else 1
    tips = np.zeros((k - 1) * step + 1, dtype=np.bool_)
    for i in range(k):
        tips[i * step] = len(polys[i]) == 1
    return sections, tips, _hard_columns(sections), False


@njit(cache=True)
def _loft_rings(prm, pts, sections):
    """Each section at its height (in XY) or across the path at its point, then the spline."""
    k, m = sections.shape[0], sections.shape[1]
    if prm[1] > 0.0:
        rings = _place_rings(pts[:k, :3].copy(), np.ones(k), sections, False, False)
    else:
        rings = np.empty((k, m, 3))
        for i in range(k):
            for j in range(m):
                rings[i, j, 0], rings[i, j, 1], rings[i, j, 2] = (
                    sections[i, j, 0],
                    sections[i, j, 1],
                    pts[i, 2],
                )
    return _spline_rings(rings) if prm[2] > 0.0 else rings


@njit(cache=True)
def _sweep_plan(prm, seg, pts):
    """One section, the profile (or a circle), for every point of the path; a point where the
    scale is zero is a tip."""
    n = int(prm[2])
    profile = _clean_polygon(pts[n:]) if len(pts) > n else _circle(seg // 2 if prm[0] == 2.0 else seg, prm[3])
    c, scale, closed = _sweep_centres(prm, seg, pts)
    if len(profile) < 3 or len(c) < 2:
        return _no_plan()
    sections = np.empty((1, len(profile), 2))
    sections[0] = profile
    return sections, scale == 0.0, _hard_columns(sections), closed


@njit(cache=True)
def _sweep_rings(prm, seg, pts, sections):
    """The profile along the path: mitred at bends, congruent around an elliptical ring."""
    c, scale, closed = _sweep_centres(prm, seg, pts)
    return _place_rings(c, scale, sections, closed, prm[0] != 2.0)


@njit(cache=True)
def _circle(n, r):
    """n points of a circle of radius r, counter-clockwise from +x."""
    n = max(n, 3)
    out = np.empty((n, 2))
    for j in range(n):
        out[j, 0], out[j, 1] = r * cos(2 * pi * j / n), r * sin(2 * pi * j / n)
    return out


@njit(cache=True)
def _ellipse_path(row, seg):
    """Centres of an elliptical ring (radii row[0], row[1]) through `angle` row[2] from `start`
    row[3], as a torus samples its circle; closed when the turn is whole."""
    angle = min(max(row[2], 0.0), 360.0)
    n = max(3, int(np.floor(seg * angle / 360.0 + 0.5)))
    full = angle >= 360.0
    count = n if full else n + 1
    c = np.zeros((count, 3))
    for j in range(count):
        a = (row[3] + angle * j / n) * pi / 180
        c[j, 0], c[j, 1] = row[0] * cos(a), row[1] * sin(a)
    return c, np.ones(count), full


@njit(cache=True)
def _sweep_centres(prm, seg, pts):
    """Path points, profile scales (rows[:, 3]) and whether the path closes: repeats dropped, a
    closed path's repeated first point dropped, optionally a Catmull-Rom spline (closing on
    itself when closed); or an elliptical ring's points."""
    if prm[0] == 2.0:
        return _ellipse_path(pts[0], seg)
    smooth, closed = prm[0] == 1.0, prm[1] > 0.0
    c, scale = _sweep_path(pts[: int(prm[2])], False)
    n = len(c)
    if closed and n >= 2 and c[0, 0] == c[-1, 0] and c[0, 1] == c[-1, 1] and c[0, 2] == c[-1, 2]:
        c, scale, n = c[:-1].copy(), scale[:-1].copy(), n - 1
    closed = closed and n >= 3
    if not smooth or n < 2:
        return c, scale, closed
    c, scale = _smooth_path(c, scale, closed)
    return c, scale, closed


@njit(cache=True)
def _right(t):
    """The profile's x axis at the start of a path: its right-hand side seen travelling along it
    with +Z up (t x Z), or +X when the path starts vertically."""
    x, y = t[1], -t[0]
    length = sqrt(x * x + y * y)
    if length > 1e-6:
        return np.array([x / length, y / length, 0.0])
    u = np.array([1.0, 0.0, 0.0]) - t * t[0]
    return u / sqrt(dot(u, u))


@njit(cache=True)
def _place_rings(c, scale, sections, closed, mitre):
    """Section i (or the only one; x to the path's right, y up) at point c[i], scaled by scale[i], in the
    rotation-minimising frame of the path (`_transport`, as the circular sweep).

    At an inner point the section lies in the plane bisecting the bend: projected there along
    the incoming segment when `mitre` (a mitre joint: the cross-section of every straight
    segment stays the section), else turned into it (congruent). A closed path's frames are
    turned a little more at each step so the twist it gathers around the loop is spread evenly.
    """
    n, m = len(c), sections.shape[1]
    nseg = n if closed else n - 1
    tan = np.empty((nseg, 3))
    length = np.zeros(nseg + 1)  # length[s]: path length before segment s
    last = np.array([0.0, 0.0, 1.0])
    for s in range(nseg):
        d = c[(s + 1) % n] - c[s]
        step = sqrt(dot(d, d))
        if step > 0.0:
            last = d / step
        tan[s] = last
        length[s + 1] = length[s] + step
    us = np.empty((nseg, 3))
    u = _right(tan[0])
    for s in range(nseg):
        if s > 0:
            u = _transport(u, tan[s - 1], tan[s])
        us[s] = u
    if closed:
        back = _transport(u, tan[nseg - 1], tan[0])
        twist = np.arctan2(dot(np.array(cross(us[0], back)), tan[0]), dot(us[0], back))
        for s in range(1, nseg):
            a = -twist * length[s] / max(length[nseg], 1e-300)
            us[s] = us[s] * cos(a) + np.array(cross(tan[s], us[s])) * sin(a)
    rings = np.empty((n, m, 3))
    for i in range(n):
        a = (i - 1) % nseg if closed else max(i - 1, 0)
        b = i % nseg if closed else min(i, nseg - 1)
        ta, tb = tan[a], tan[b]
        nb = ta + tb
        size = sqrt(dot(nb, nb))
        nb = nb / size if size > 1e-9 else ta
        den = max(dot(ta, nb), MITRE_LIMIT)
        x = us[a] if mitre else _transport(us[a], ta, nb)
        y = np.array(cross(x, ta if mitre else nb))
        for j in range(m):
            d = (x * sections[i % len(sections), j, 0] + y * sections[i % len(sections), j, 1]) * scale[i]
            p = c[i] + d - ta * (dot(d, nb) / den) if mitre else c[i] + d
            rings[i, j, 0], rings[i, j, 1], rings[i, j, 2] = p[0], p[1], p[2]
    return rings


@njit(cache=True)
def _resample(poly, m):
    """m points spaced evenly by arc length along the closed polygon, from its first point."""
    n = len(poly)
    out = np.empty((m, 2))
    perimeter = 0.0
    for e in range(n):
        perimeter += sqrt(((poly[(e + 1) % n] - poly[e]) ** 2).sum())
    if n == m or perimeter == 0.0:
        for j in range(m):
            out[j] = poly[j % n] if n == m else poly[0]
        return out
    e, walked = 0, 0.0  # walked: length of the edges before edge e
    for j in range(m):
        target = perimeter * j / m
        edge = sqrt(((poly[(e + 1) % n] - poly[e]) ** 2).sum())
        while walked + edge < target and e < n - 1:
            walked += edge
            e += 1
            edge = sqrt(((poly[(e + 1) % n] - poly[e]) ** 2).sum())
        t = min(max((target - walked) / edge, 0.0), 1.0) if edge > 0.0 else 0.0
        out[j] = poly[e] + t * (poly[(e + 1) % n] - poly[e])
    return out


@njit(cache=True)
def _aligned(reference, section):
    """`section` rotated (its points renumbered cyclically) to lie closest to `reference`, both
    taken about their centres, so the skin between them does not twist. Up to 64 points are
    compared, so the cost stays linear in the point count."""
    m = len(section)
    cr = reference.sum(axis=0) / m
    cs = section.sum(axis=0) / m
    stride = max(1, m // 64)
    best, shift = np.inf, 0
    for s in range(m):
        cost = 0.0
        for i in range(0, m, stride):
            j = (i + s) % m
            dx = section[j, 0] - cs[0] - reference[i, 0] + cr[0]
            dy = section[j, 1] - cs[1] - reference[i, 1] + cr[1]
            cost += dx * dx + dy * dy
        if cost < best:
            best, shift = cost, s
    out = np.empty((m, 2))
    for i in range(m):
        out[i] = section[(i + shift) % m]
    return out


@njit(cache=True)
def _spline_rings(rings):
    """The spline through the rings taken as points of one space (a row of all their
    coordinates), SWEEP_SAMPLES rings per gap: every given ring is kept exactly, and each
    sampled ring is one blend of the same four rings, so rings at heights stay flat."""
    k, m = rings.shape[0], rings.shape[1]
    flat = catmull_rom(rings.reshape(k, m * 3), False, SWEEP_SAMPLES)
    return flat.reshape(len(flat), m, 3)


@njit(cache=True)
def _hard_columns(sections):
    """Columns where some section's outline turns more than EXTRUDE_HARD_COS: kept sharp."""
    k, m = sections.shape[0], sections.shape[1]
    hard = np.zeros(m, dtype=np.bool_)
    for i in range(k):
        for j in range(m):
            a, b, c = sections[i, (j - 1) % m], sections[i, j], sections[i, (j + 1) % m]
            ax, ay, bx, by = b[0] - a[0], b[1] - a[1], c[0] - b[0], c[1] - b[1]
            la, lb = sqrt(ax * ax + ay * ay), sqrt(bx * bx + by * by)
            if la > 0.0 and lb > 0.0 and (ax * bx + ay * by) < EXTRUDE_HARD_COS * la * lb:
                hard[j] = True
    return hard


@njit(cache=True)
def _skin_columns(hard):
    """The columns of a ring's vertices: every point once, a hard one twice (one copy per side),
    the first again at the end to close the ring."""
    m = len(hard)
    cols = np.empty(2 * m + 1, dtype=np.int64)
    k = 0
    for j in range(m):
        cols[k] = j
        k += 1
        if hard[j] and j > 0:
            cols[k] = j
            k += 1
    cols[k] = 0
    return cols[: k + 1]


@njit(cache=True)
def _capped(sections, tips, closed):
    """Whether the first and the last ring get a cap."""
    flat = closed or sections.shape[1] < 3
    return not (flat or tips[0]), not (flat or tips[len(tips) - 1])


@njit(cache=True)
def _skin_size(sections, tips, hard, closed):
    r = len(tips)
    if r < 2:
        return 0, 0
    m = sections.shape[1]
    cols = _skin_columns(hard)
    links = 0
    for c in range(len(cols) - 1):
        links += cols[c] != cols[c + 1]
    nf = 0
    for i in range(r if closed else r - 1):
        nf += links * ((not tips[i]) + (not tips[(i + 1) % r]))
    cap0, cap1 = _capped(sections, tips, closed)
    return r * len(cols) + (cap0 + cap1) * m, nf + (cap0 + cap1) * (m - 2)


@njit(cache=True)
def _skin(rings, sections, tips, hard, closed, lp, ln, f):
    """Rings joined by quads (one triangle where a ring is a point), caps by ear clipping; the
    winding turned outward by the sign of the volume; vertex normals the area-weighted normals
    of the faces around them (hard columns have one copy per side, so they stay sharp)."""
    r = len(rings)
    m = rings.shape[1]
    cols = _skin_columns(hard)
    nc = len(cols)
    for i in range(r):
        for c in range(nc):
            p = rings[i, cols[c]]
            _put(lp, ln, i * nc + c, p[0], p[1], p[2], 0.0, 0.0, 0.0)
    t = 0
    for i in range(r if closed else r - 1):
        i2 = (i + 1) % r
        flat_a, flat_b = tips[i], tips[i2]
        for c in range(nc - 1):
            if cols[c] == cols[c + 1]:
                continue
            a, b, cc, d = i * nc + c, i * nc + c + 1, i2 * nc + c + 1, i2 * nc + c
            if not flat_a:
                f[t, 0], f[t, 1], f[t, 2] = a, b, cc
                t += 1
            if not flat_b:
                f[t, 0], f[t, 1], f[t, 2] = a, cc, d
                t += 1
    v = r * nc
    cap0, cap1 = _capped(sections, tips, closed)
    for end in range(2):
        if not (cap0 if end == 0 else cap1):
            continue
        ring = rings[0] if end == 0 else rings[r - 1]
        for j in range(m):
            _put(lp, ln, v + j, ring[j, 0], ring[j, 1], ring[j, 2], 0.0, 0.0, 0.0)
        tris = _earclip(sections[0] if end == 0 else sections[len(sections) - 1])
        for k in range(len(tris)):  # the first cap faces back along the skin, the last forward
            f[t, 0] = v + tris[k, 0]
            f[t, 1] = v + tris[k, 2 if end == 0 else 1]
            f[t, 2] = v + tris[k, 1 if end == 0 else 2]
            t += 1
        v += m
    volume = 0.0
    for k in range(t):
        volume += dot(lp[f[k, 0]], np.array(cross(lp[f[k, 1]], lp[f[k, 2]])))
    for k in range(t):
        if volume < 0.0:
            f[k, 1], f[k, 2] = f[k, 2], f[k, 1]
        a, b, c = lp[f[k, 0]], lp[f[k, 1]], lp[f[k, 2]]
        nrm = np.array(cross(b - a, c - a))
        for q in range(3):
            ln[f[k, q]] += nrm
    if not hard[0]:  # the ring's first and closing copies are one smooth column
        for i in range(r):
            shared = ln[i * nc] + ln[i * nc + nc - 1]
            ln[i * nc], ln[i * nc + nc - 1] = shared, shared
    for q in range(len(ln)):
        size = sqrt(dot(ln[q], ln[q]))
        if size > 0.0:
            ln[q] /= size
        else:
            ln[q, 0], ln[q, 1], ln[q, 2] = 0.0, 0.0, 1.0
