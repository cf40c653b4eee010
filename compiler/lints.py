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

Contact is decided on the triangles, never on bounding boxes: two instances touch when
their surfaces come within a tolerance or when one primitive lies inside another. The
tolerance is max(1 mm, 0.5 % of the larger instance's extent), for rounding in typed
numbers, plus the faceting error of each side's curved primitives (radius * (1 -
cos(pi / segments))), since exactly tangent spheres can show a gap once tessellated.
Bounding boxes only prune candidate pairs. The exact kernels (point-triangle,
segment-segment, segment-triangle and triangle-triangle distance, generalised winding
number) are Numba functions.

W101's gap is the exact smallest distance between triangles (printed in millimetres), found
by branch and bound over a tree of boxes per instance (`_forest`, `_tree_distance`): only the
few triangle pairs that can still be nearest are measured.

Cost is bounded whatever the program: every search draws on a fixed budget of work units (a
triangle pair, a node pair, a vertex-triangle test), so the lints of any program within the
limits take a fraction of a second on one core, and the fallbacks are deterministic. Where a
budget runs out (surfaces running parallel or threaded through each other over hundreds of
thousands of triangles):

* W101 gaps are searched to GAP_PRECISION (0.5 mm) and the message says "about", then get an
  upper bound from a few triangles and say "at most" (still a real pair of points);
* surfaces not yet proven apart count as touching: a floating part may go unreported, but no
  part is reported floating that touches (CONTACT_BUDGET, shared by the contact graph and W104);
* W104 samples fewer vertices (a pair takes at most a quarter of what is left) and, with
  nothing left, claims nothing (HIDDEN_BUDGET): a hidden part may go unreported.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from proto3d.compiler.primitives import PRIMITIVES
from proto3d.compiler.shape import CompiledShape
from proto3d.grammar.diagnostics import Diagnostic, Span

ABS_TOL = 1e-3  # contact tolerance floor, metres
REL_TOL = 0.005  # contact tolerance as a fraction of an instance's largest extent
GROUND_TOL = 1e-3  # W103: allowed |lowest z|
BOUNDS_ABS_TOL = 5e-3  # W102: allowed overshoot, metres ...
BOUNDS_REL_TOL = 0.05  # ... or this fraction of the bound, whichever is larger
SMALL_FRACTION = 0.5  # W102: overall size below this fraction of a bound is reported
SURFACE_EPS = 1e-4  # W104: a vertex this close to a surface counts as inside
HIDDEN_SAMPLES = 128  # W104: triangles sampled per primitive (all of them if fewer) ...
HIDDEN_BUDGET = 10_000_000  # ... while the vertex-triangle tests of all samples stay below this
CONTACT_BUDGET = 25_000_000  # W101/W104: triangles listed and compared in surface tests, then "touching" ...
NEAR_COST = 16  # ... where an exact triangle test counts this many
FLAT_RATIO = 1e-5  # W105: volume / area**1.5 below this is a flat primitive
MIN_AREA = 1e-12  # W105: triangle area (m²) counted as zero
MAX_PAIRS = 200_000  # W101/W104 are skipped beyond this many overlapping instance pairs
MAX_FLOATING = 20  # W101: floating groups reported one by one, then one summary
MAX_MEASURED = 200  # W101: floating groups whose gaps are measured (in source order)
MEASURE_BUDGET = 1_000_000  # W101: triangle and node pairs examined measuring gaps exactly (~0.2 s), then ...
GAP_PRECISION = 5e-4  # ... half as many to this precision (half the printed millimetre), then ...
LAST_TRY = 256  # ... this many per instance pair (an eighth of the budget in all) for an upper bound
EXACT, NEAR, AT_MOST = 0, 1, 2  # how precise a measured gap is


def lint(shape: CompiledShape) -> list[Diagnostic]:
    """All geometric warnings of a compiled shape, sorted by code then position."""
    geo = _Geometry.of(shape)
    found = _degenerate(shape, geo) + _grounding(shape, geo) + _bounds(shape, geo)
    if geo.n_triangles:
        found += _contacts(shape, geo)
    return sorted(found, key=lambda d: (d.code, d.span.line, d.span.column))


# --------------------------------------------------------------------------- geometry


@dataclass
class _Geometry:
    """Triangles sorted by (instance, primitive), in groups of one primitive each.

    Group g owns triangles gstart[g]:gstart[g+1]; instance i owns groups ig[i]:ig[i+1].
    """

    mesh: tuple  # (vertices (V, 3) float32, faces (F, 3) int32 in group order); kernels read float64
    gstart: np.ndarray  # (G + 1,) int64
    gprim: np.ndarray  # (G,) primitive id of each group
    glo: np.ndarray  # (G, 3) group bounding boxes
    ghi: np.ndarray
    ig: np.ndarray  # (I + 1,) int64
    ilo: np.ndarray  # (I, 3) instance bounding boxes (zeros for empty instances)
    ihi: np.ndarray
    base_tol: np.ndarray  # (I,) max(ABS_TOL, REL_TOL * largest extent) of each instance
    facet: np.ndarray  # (I,) largest faceting error of an instance's curved primitives
    measures: np.ndarray  # (G, 3) area, largest triangle area, enclosed volume of each group
    reasons: np.ndarray  # (P,) object: why a primitive's own numbers make it degenerate, or None

    @classmethod
    def of(cls, shape: CompiledShape) -> _Geometry:
        n_inst = len(shape.instances)
        which, alike = _placed_alike(shape.primitives)
        reasons = np.array([_bad_params(p.params) for p in alike], dtype=object)[which]
        error = np.array([_facet_error(p) for p in alike], dtype=float)[which]
        curved = [shape.primitives[k] for k in np.flatnonzero(error).tolist()]  # only their matrices are read
        facet = _facet(
            np.array([p.matrix for p in curved], dtype=float).reshape(-1, 4, 4),
            np.array([p.instance_id for p in curved], dtype=np.int64),
            error[error != 0.0],
            n_inst,
        )
        faces, inst, prim = shape.faces.reshape(-1, 3), shape.instance_id, shape.primitive_id
        prepared = _prepare(shape.vertices, faces, inst, prim, n_inst)
        if not prepared[0]:  # assembled shapes come sorted: no copies then
            order = np.lexsort((prim, inst))
            faces, inst, prim = faces[order], inst[order], prim[order]
            prepared = _prepare(shape.vertices, faces, inst, prim, n_inst)
        _, gstart, gprim, glo, ghi, ig, ilo, ihi, measures = prepared
        mesh = (shape.vertices, faces)
        base_tol = np.maximum(ABS_TOL, REL_TOL * (ihi - ilo).max(axis=1, initial=0.0))
        return cls(mesh, gstart, gprim, glo, ghi, ig, ilo, ihi, base_tol, facet, measures, reasons)

    @property
    def n_triangles(self) -> int:
        return int(self.gstart[-1])

    @property
    def present(self) -> np.ndarray:
        """(I,) whether an instance has triangles."""
        return self.ig[:-1] < self.ig[1:]

    @property
    def lowest(self) -> tuple[int, float]:
        """The instance with the lowest point of the shape (the first one on a tie), and that point's z."""
        z = np.where(self.present, self.ilo[:, 2], np.inf)
        i = int(np.argmin(z))
        return i, float(z[i])

    def has_geometry(self, i: int) -> bool:
        return bool(self.ig[i] < self.ig[i + 1])

    def tri_range(self, i: int) -> tuple[int, int]:
        return int(self.gstart[self.ig[i]]), int(self.gstart[self.ig[i + 1]])

    def solid(self) -> np.ndarray:
        """(I,) whether an instance has a primitive that encloses volume."""
        area, _, volume = self.measures.T
        solid_group = volume > FLAT_RATIO * area**1.5
        owner = np.searchsorted(self.ig, np.arange(len(self.gprim)), side="right") - 1
        out = np.zeros(len(self.ig) - 1, bool)
        out[owner[solid_group]] = True
        return out


def _placed_alike(primitives) -> tuple[np.ndarray, list]:
    """(index (P,), one primitive per index): primitives placed alike share their params (and
    kind and segments), so what depends on those alone is computed once per index."""
    index: dict[tuple, int] = {}
    which = [index.setdefault((id(p.params), p.kind, p.segments), len(index)) for p in primitives]
    first = dict(zip(reversed(which), reversed(primitives)))
    return np.array(which, dtype=np.int64), [first[k] for k in range(len(first))]


def _facet_error(prim) -> float:
    """How far a faceted surface may sit inside the true one: radius * (1 - cos(pi / segments)).

    In local units; the caller multiplies by the primitive's largest scale factor.

    Two curved parts placed exactly tangent can show a gap this large on each side once
    tessellated, so it widens the contact tolerance (and the ground test of W103).
    """
    radius = PRIMITIVES[prim.kind].facet_radius
    if radius is None:  # flat faces are tessellated exactly
        return 0.0
    return radius(prim.params) * (1.0 - math.cos(math.pi / max(prim.segments, 3)))


# --------------------------------------------------------------------------- W105


def _degenerate(shape: CompiledShape, geo: _Geometry) -> list[Diagnostic]:
    """Primitives with a non-positive size, no triangles, no area or no volume."""
    measures = np.zeros((len(shape.primitives), 3))
    measures[geo.gprim] = geo.measures
    area, max_area, volume = measures.T
    has_faces = np.zeros(len(shape.primitives), bool)
    has_faces[geo.gprim] = True

    out = []
    reasons = geo.reasons
    suspect = (
        ~has_faces | (max_area < MIN_AREA) | (volume <= FLAT_RATIO * area**1.5) | np.not_equal(reasons, None)
    )
    for k in np.flatnonzero(suspect).tolist():
        prim, why = shape.primitives[k], reasons[k]
        if why is None:
            if not has_faces[k]:
                why = "it produced no triangles"
            elif max_area[k] < MIN_AREA:
                why = "all its triangles have zero area"
            elif volume[k] <= FLAT_RATIO * area[k] ** 1.5:
                why = "it encloses no volume (it is flat)"
        if why is None:
            continue
        owner = shape.instance_name(prim.instance_id) if prim.instance_id < len(shape.instances) else "?"
        out.append(
            _warning(
                "W105",
                f"degenerate `{prim.kind}` in part `{owner}`: {why}",
                prim.span,
                "give every size a positive value in metres (a scale of 0 also flattens it), or remove the primitive",
            )
        )
    return out


_SIZES = ("size", "r", "h", "R", "thickness")


def _bad_params(params: dict) -> str | None:
    """Why the primitive's own numbers make it degenerate, or None."""
    for name in _SIZES:
        if name not in params:
            continue
        values = params[name]
        if values is None:
            continue
        if isinstance(values, (int, float)):
            if not values > 0:
                return f"{name} = {_num(values)}"
            continue
        values = np.ravel(np.asarray(values, dtype=float))
        bad = np.flatnonzero(~(values > 0))
        if len(bad):
            label = name if values.size == 1 else f"{name}[{bad[0]}]"
            return f"{label} = {_num(values[bad[0]])}"
    r1, r2 = params.get("r1"), params.get("r2")
    if r1 is not None and r2 is not None:
        r1, r2 = float(r1), float(r2)
        if r1 < 0 or r2 < 0 or max(r1, r2) <= 0:
            return f"r1 = {_num(r1)}, r2 = {_num(r2)}"
    return None


# --------------------------------------------------------------------------- W103


def _grounding(shape: CompiledShape, geo: _Geometry) -> list[Diagnostic]:
    if not geo.n_triangles:
        return []
    owner, z = geo.lowest
    if -GROUND_TOL <= z <= GROUND_TOL + geo.facet[owner]:  # facets only ever lift the lowest point
        return []
    where = "above" if z > 0 else "below"
    return [
        _warning(
            "W103",
            f"the shape does not stand on the ground: its lowest point (in `{shape.instance_name(owner)}`) "
            f"is at z = {_num(z)} m, {_num(abs(z))} m {where} z = 0",
            shape.instances[owner].span,
            f"objects rest with their lowest point on z = 0: move everything by [0, 0, {_num(-z)}] "
            f"(wrap it in translate([0, 0, {_num(-z)}]) {{ ... }}) or fix the height of the lowest part",
        )
    ]


# --------------------------------------------------------------------------- W102

_AXES = ("width", "depth", "height")
_SIDES = (
    ("past the left side", "past the right side"),
    ("past the front", "past the back"),
    ("", "above the top"),
)


def _bounds(shape: CompiledShape, geo: _Geometry) -> list[Diagnostic]:
    """Instances poking out of the declared box, and an overall size far from it.

    The box is [-w/2, w/2] × [-d/2, d/2] × [0, h]; its floor is left to W103, which
    already reports anything below z = 0.
    """
    if shape.bounds is None or not geo.n_triangles:
        return []
    size = np.asarray(shape.bounds, dtype=float).reshape(3)
    tol = np.maximum(BOUNDS_ABS_TOL, BOUNDS_REL_TOL * size)
    box_lo = np.array([-size[0] / 2, -size[1] / 2, -np.inf])
    box_hi = np.array([size[0] / 2, size[1] / 2, size[2]])
    declared = _vec(size)
    out = []
    for i, inst in enumerate(shape.instances):
        if not geo.has_geometry(i):
            continue
        below, above = box_lo - geo.ilo[i], geo.ihi[i] - box_hi
        sides = []
        for axis, (low_side, high_side) in enumerate(_SIDES):
            if below[axis] > tol[axis]:
                sides.append(f"{_num(below[axis])} m {low_side}")
            if above[axis] > tol[axis]:
                sides.append(f"{_num(above[axis])} m {high_side}")
        if sides:
            out.append(
                _warning(
                    "W102",
                    f"part `{shape.instance_name(i)}` extends outside the declared bounds {declared}: "
                    + ", ".join(sides),
                    inst.span,
                    "bounds are centred on x = 0, y = 0 and span z from 0 to h: move or shrink this part, "
                    "or correct `bounds` if the object really is that large",
                )
            )

    lo, hi = geo.ilo[geo.present].min(axis=0), geo.ihi[geo.present].max(axis=0)
    actual = hi - lo
    problems = []
    for axis in range(3):
        if actual[axis] > size[axis] + tol[axis]:
            problems.append(f"{_num(actual[axis] - size[axis])} m too large in {_AXES[axis]}")
        elif actual[axis] < SMALL_FRACTION * size[axis]:
            problems.append(f"only {100 * actual[axis] / size[axis]:.0f} % of the declared {_AXES[axis]}")
    if problems:
        out.append(
            _warning(
                "W102",
                f"the shape measures {_vec(actual)} m but bounds are {declared}: " + ", ".join(problems),
                Span(),
                "check the units (2cm = 0.02, sizes are full extents in metres) and the part sizes, "
                "or correct `bounds`",
            )
        )
    return out


# --------------------------------------------------------------------------- W101, W104


def _contacts(shape: CompiledShape, geo: _Geometry) -> list[Diagnostic]:
    """W101 and W104, from instance pairs whose grown boxes overlap.

    Beyond MAX_PAIRS candidate pairs (thousands of instances piled in one place) both are
    skipped: a floating verdict on an incomplete contact graph would be wrong. Numba compiles
    a kernel on its first call, so the kernels run only where they can find something: none
    for a single instance, and W104's (`_hosts`) only for pairs where one box can hold the other.
    """
    present = geo.present
    if np.count_nonzero(present) < 2:  # nothing to touch, nothing to hide in
        return []
    ground_z = geo.lowest[1]
    tol = geo.base_tol + geo.facet  # how far an instance may be from a contact and still touch it
    centre = geo.ilo + geo.ihi
    axis = int(np.argmax(centre.max(axis=0) - centre.min(axis=0)))  # where the instances spread most
    pairs, complete = _candidate_pairs(geo.ilo, geo.ihi, tol, present, axis, MAX_PAIRS)
    if not complete:
        return []
    a, b = pairs[:, 0], pairs[:, 1]
    pair_tol = np.maximum(geo.base_tol[a], geo.base_tol[b]) + geo.facet[a] + geo.facet[b]
    on_ground = present & (geo.ilo[:, 2] <= ground_z + tol)
    scratch = _scratch(geo.gstart, CONTACT_BUDGET)  # one budget for the surface tests of both
    root = _connect(geo.mesh, geo.gstart, geo.glo, geo.ghi, geo.ig, pairs, pair_tol, on_ground, scratch)
    solid = geo.solid()
    nesting = _may_hold(geo, solid, a, b) | _may_hold(geo, solid, b, a)
    hosts = np.full(len(present), -1, np.int64)
    if nesting.any():
        hosts = _hosts(
            geo.mesh,
            geo.gstart,
            geo.glo,
            geo.ghi,
            geo.ig,
            geo.ilo,
            geo.ihi,
            pairs[nesting],
            solid,
            SURFACE_EPS,
            HIDDEN_SAMPLES,
            HIDDEN_BUDGET,
            scratch,
        )
    return _hidden(shape, hosts) + _floating(shape, geo, root, present, ground_z)


def _may_hold(geo: _Geometry, solid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Of each pair, whether instance x is solid and its box lies in y's (`_fits`, for all pairs at once)."""
    outside = (geo.ilo[x] < geo.ilo[y] - SURFACE_EPS) | (geo.ihi[x] > geo.ihi[y] + SURFACE_EPS)
    return solid[x] & ~outside.any(axis=1)


def _scratch(gstart: np.ndarray, work: int) -> tuple:
    """Buffers for `_surfaces_within` (indices and boxes of two groups' triangles), sized for the
    largest group: allocated once per lint instead of once per group pair; and its budget of
    `work` units."""
    most = int(np.diff(gstart).max(initial=0))
    return (
        np.empty(most, np.int64),
        np.empty((most, 3)),
        np.empty((most, 3)),
        np.empty(most, np.int64),
        np.empty((most, 3)),
        np.empty((most, 3)),
        np.array([work], np.int64),
    )


def _hidden(shape: CompiledShape, hosts: np.ndarray) -> list[Diagnostic]:
    """W104: an instance whose every primitive lies inside one primitive of another instance.

    Of two identical instances only the later one is reported; flat instances (W105) lying
    on a surface are not hidden.
    """
    out = []
    for x in np.flatnonzero(hosts >= 0):
        host = int(hosts[x])
        out.append(
            _warning(
                "W104",
                f"part `{shape.instance_name(x)}` is entirely inside `{shape.instance_name(host)}`: "
                "it cannot be seen from any view",
                shape.instances[x].span,
                "make it larger than its host or move it out so that it shows, or remove it if it duplicates the host",
            )
        )
    return out


def _floating(
    shape: CompiledShape, geo: _Geometry, root: np.ndarray, present: np.ndarray, ground_z: float
) -> list[Diagnostic]:
    """W101: connected components of the contact graph that do not reach the ground (node n).

    Groups are attached one at a time, the nearest first, to the grounded geometry grown
    by the groups already attached (Prim's algorithm rooted at the ground): each warning
    gives the smallest gap that would join that group to something held, so a tower of
    floating blocks reports each gap once, between neighbours.
    """
    n = len(shape.instances)
    groups: dict[int, list[int]] = {}
    for i in np.flatnonzero(present & (root[:n] != root[n])):
        groups.setdefault(int(root[i]), []).append(int(i))
    if not groups:
        return []
    members = list(groups.values())[:MAX_MEASURED]  # a flood of floating groups: measure the first ones
    comp = np.full(n, -1)
    for c, m in enumerate(members):
        comp[m] = c
    floating = np.flatnonzero(comp >= 0)
    support = [_ground_support(geo, m, ground_z) for m in members]
    gap = np.array([g for g, *_ in support], dtype=float).reshape(-1)
    source = np.array([i for _, i, *_ in support], dtype=np.int64)
    target = np.full(len(members), -1, np.int64)
    p = np.array([p for *_, p, _ in support], dtype=float).reshape(-1, 3)
    q = np.array([q for *_, q in support], dtype=float).reshape(-1, 3)
    precision = np.full(len(members), EXACT, np.int64)
    best = (gap, source, target, p, q, precision)
    starts, stops = geo.gstart[geo.ig[:-1]], geo.gstart[geo.ig[1:]]
    forest, roots = _forest(geo.mesh, starts, stops)
    budget = np.array(
        [MEASURE_BUDGET, MEASURE_BUDGET // 2, MEASURE_BUDGET // 8], np.int64
    )  # see _tree_distance
    _improve(
        geo.mesh,
        forest,
        roots,
        geo.ilo,
        geo.ihi,
        floating,
        np.flatnonzero(present & (root[:n] == root[n])),
        comp,
        best,
        budget,
    )
    left = set(range(len(members)))
    out = []
    while left and len(out) < MAX_FLOATING:
        c = min(left, key=lambda c: (gap[c], members[c][0]))
        left.remove(c)
        out.append(
            _floating_warning(
                shape,
                members[c],
                float(gap[c]),
                int(source[c]),
                int(target[c]),
                p[c],
                q[c],
                int(precision[c]),
            )
        )
        _improve(
            geo.mesh,
            forest,
            roots,
            geo.ilo,
            geo.ihi,
            floating[np.isin(comp[floating], list(left))],
            np.array(members[c], np.int64),
            comp,
            best,
            budget,
        )
    if len(out) < len(groups):
        out.append(
            _warning(
                "W101",
                f"{len(groups) - len(out)} more parts or groups of parts float",
                Span(),
                "fix the floating parts reported above first; the others are probably placed the same way",
            )
        )
    return out


def _ground_support(geo: _Geometry, members: list[int], ground_z: float):
    """(gap, member, lowest point, its foot on the ground plane) for a floating group."""
    low = min(members, key=lambda i: geo.ilo[i, 2])
    start, stop = geo.tri_range(low)
    vertices, faces = geo.mesh
    corners = vertices[faces[start:stop].ravel()].astype(np.float64)  # triangle by triangle
    p = corners[int(np.argmin(corners[:, 2]))]
    return float(p[2] - ground_z), low, p, np.array([p[0], p[1], ground_z])


@njit(cache=True)
def _improve(mesh, forest, roots, ilo, ihi, sources, targets, comp, best, budget):
    """Lower each floating group's best = (gap, source, target, p, q, precision) arrays, in place,
    with the distances from instances `sources` to instances `targets`.

    Source by source, targets are taken nearest box first and measured on the distance trees
    until their boxes are farther than the group's gap. Of equal gaps the pair met first in
    (box distance, source, target) order wins, and a gap only replaces an equal one found
    before this call (such as the ground's) if it is smaller. Once the budgets are spent (see
    `_tree_distance`), a group's gap is less precise.
    """
    gap, source, target, p, q, precision = best
    key = np.full((gap.shape[0], 3), -np.inf)  # (box distance, source, target) of each gap found in this call
    near = np.empty(targets.shape[0], np.int64)
    near_box = np.empty(targets.shape[0])
    for s in range(sources.shape[0]):
        i = sources[s]
        c = comp[i]
        n = 0
        for t in range(targets.shape[0]):
            d = _box_distance(ilo[i], ihi[i], ilo[targets[t]], ihi[targets[t]])
            if d <= gap[c]:
                near[n], near_box[n] = t, d
                n += 1
        for o in np.argsort(near_box[:n], kind="mergesort"):
            t, box = near[o], near_box[o]
            if box > gap[c]:
                break
            if box == gap[c] and not _key_before(box, s, t, key[c]):
                continue
            if budget[2] <= 0:
                precision[c] = AT_MOST
                continue
            j = targets[t]
            d, a, b, how = _tree_distance(
                mesh, forest, roots[i], roots[j], np.nextafter(gap[c], np.inf), budget
            )
            precision[c] = max(precision[c], how)
            if d < gap[c] or (d == gap[c] and _key_before(box, s, t, key[c])):
                gap[c], source[c], target[c] = d, i, j
                p[c], q[c] = a, b
                key[c, 0], key[c, 1], key[c, 2] = box, s, t


@njit(cache=True)
def _key_before(box, s, t, key):
    return box < key[0] or (box == key[0] and (s < key[1] or (s == key[1] and t < key[2])))


def _floating_warning(shape, members, gap, source, target, p, q, precision) -> Diagnostic:
    names = [shape.instance_name(i) for i in members]
    move = q - p
    if target < 0:
        relation, anchor = "above the ground", None
    else:
        axis = int(np.argmax(np.abs(move)))
        up = move[axis] > 0
        relation = ("left of", "in front of", "below")[axis] if up else ("right of", "behind", "above")[axis]
        relation += f" `{shape.instance_name(target)}`"
        side = ("left", "front", "bottom")[axis] if up else ("right", "back", "top")[axis]
        anchor = f"{_anchor_name(shape, target)}.{side}"
    if len(members) == 1:
        subject = f"part `{names[0]}` floats"
    else:
        listed = ", ".join(f"`{n}`" for n in names[:4]) + (
            f" and {len(names) - 4} more" if len(names) > 4 else ""
        )
        subject = f"parts {listed} touch each other but float together: `{names[members.index(source)]}` is"
    hint = f"move {'it' if len(members) == 1 else 'the group'} by {_vec(move)} to close the gap"
    hint += (
        f", or place it from an anchor such as `{anchor}`" if anchor else ", or support it with another part"
    )
    size = ("", "about ", "at most ")[precision] + f"{_num(gap)} m"
    return _warning("W101", f"{subject} {size} {relation}", shape.instances[source].span, hint)


def _anchor_name(shape: CompiledShape, i: int) -> str:
    part = shape.parts[shape.instances[i].part_id]
    return part.label if len(part.instance_ids) == 1 else f"{part.label}[{shape.instances[i].index}]"


# --------------------------------------------------------------------------- formatting


def _warning(code: str, message: str, span: Span, hint: str) -> Diagnostic:
    return Diagnostic(code, message, span, severity="warning", hint=hint)


def _num(x: float) -> str:
    text = f"{x:.3f}"
    return "0.000" if text == "-0.000" else text


def _vec(v) -> str:
    return "[" + ", ".join(_num(float(x)) for x in v) + "]"


# --------------------------------------------------------------------------- kernels
# Vectors are 3-tuples of floats so that nothing is allocated in the inner loops.


@njit(cache=True)
def _sub(a, b):
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


@njit(cache=True)
def _axpy(a, s, b):
    """a + s * b"""
    return (a[0] + s * b[0], a[1] + s * b[1], a[2] + s * b[2])


@njit(cache=True)
def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


@njit(cache=True)
def _cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


@njit(cache=True)
def _corner(mesh, t, k):
    vertices, faces = mesh
    v = faces[t, k]
    return (np.float64(vertices[v, 0]), np.float64(vertices[v, 1]), np.float64(vertices[v, 2]))


@njit(cache=True)
def _triangle(mesh, t):
    """The three corners of triangle t (a constant k in `_corner(mesh, t, k)` would make Numba
    compile one more copy of it per value)."""
    k = np.int64(0)
    return _corner(mesh, t, k), _corner(mesh, t, k + 1), _corner(mesh, t, k + 2)


@njit(cache=True)
def _clamp01(x):
    return min(max(x, 0.0), 1.0)


@njit(cache=True)
def _closest_on_segment(p, a, b):
    ab = _sub(b, a)
    den = _dot(ab, ab)
    t = _clamp01(_dot(_sub(p, a), ab) / den) if den > 0.0 else 0.0
    return _axpy(a, t, ab)


@njit(cache=True)
def _closest_on_triangle(p, a, b, c):
    """Closest point of triangle abc to p (Ericson, Real-Time Collision Detection 5.1.5)."""
    ab, ac, ap = _sub(b, a), _sub(c, a), _sub(p, a)
    d1, d2 = _dot(ab, ap), _dot(ac, ap)
    if d1 <= 0.0 and d2 <= 0.0:
        return a
    bp = _sub(p, b)
    d3, d4 = _dot(ab, bp), _dot(ac, bp)
    if d3 >= 0.0 and d4 <= d3:
        return b
    cp = _sub(p, c)
    d5, d6 = _dot(ab, cp), _dot(ac, cp)
    if d6 >= 0.0 and d5 <= d6:
        return c
    vc = d1 * d4 - d3 * d2
    if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:
        return _closest_on_segment(p, a, b)
    vb = d5 * d2 - d1 * d6
    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:
        return _closest_on_segment(p, a, c)
    va = d3 * d6 - d5 * d4
    if va <= 0.0 and d4 - d3 >= 0.0 and d5 - d6 >= 0.0:
        return _closest_on_segment(p, b, c)
    den = va + vb + vc
    if den <= 0.0:  # zero-area triangle: its closest point lies on an edge
        q1, q2, q3 = _closest_on_segment(p, a, b), _closest_on_segment(p, b, c), _closest_on_segment(p, a, c)
        e1, e2, e3 = _sub(q1, p), _sub(q2, p), _sub(q3, p)
        s1, s2, s3 = _dot(e1, e1), _dot(e2, e2), _dot(e3, e3)
        return q1 if s1 <= s2 and s1 <= s3 else (q2 if s2 <= s3 else q3)
    return _axpy(_axpy(a, vb / den, ab), vc / den, ac)


@njit(cache=True)
def _closest_between_segments(p1, q1, p2, q2):
    """Closest points of segments p1q1 and p2q2 (Ericson 5.1.9), degenerate segments included."""
    d1, d2, r = _sub(q1, p1), _sub(q2, p2), _sub(p1, p2)
    a, e, f = _dot(d1, d1), _dot(d2, d2), _dot(d2, r)
    if a <= 0.0 and e <= 0.0:
        return p1, p2
    if a <= 0.0:
        s, t = 0.0, _clamp01(f / e)
    else:
        c = _dot(d1, r)
        if e <= 0.0:
            s, t = _clamp01(-c / a), 0.0
        else:
            b = _dot(d1, d2)
            den = a * e - b * b
            s = _clamp01((b * f - c * e) / den) if den > 0.0 else 0.0
            t = (b * s + f) / e
            if t < 0.0:
                s, t = _clamp01(-c / a), 0.0
            elif t > 1.0:
                s, t = _clamp01((b - c) / a), 1.0
    return _axpy(p1, s, d1), _axpy(p2, t, d2)


@njit(cache=True)
def _segment_hits_triangle(p, q, a, b, c):
    """Parameter t in [0, 1] where segment pq crosses triangle abc, or -1 (Möller-Trumbore)."""
    d, e1, e2 = _sub(q, p), _sub(b, a), _sub(c, a)
    h = _cross(d, e2)
    det = _dot(e1, h)
    if det * det <= 1e-24 * _dot(d, d) * _dot(e1, e1) * _dot(e2, e2):
        return -1.0  # parallel, or too nearly so to tell: the closest-point tests decide
    s = _sub(p, a)
    u = _dot(s, h) / det
    if u < 0.0 or u > 1.0:
        return -1.0
    w = _cross(s, e1)
    v = _dot(d, w) / det
    if v < 0.0 or u + v > 1.0:
        return -1.0
    t = _dot(e2, w) / det
    return t if 0.0 <= t <= 1.0 else -1.0


@njit(cache=True)
def _triangle_distance(mesh, i, j, enough=-1.0):
    """Squared distance between triangles i and j with the closest points (0 if they cross).

    Stops at the first candidate pair of points at most `enough` apart (squared), for callers
    that only ask whether the distance is below a bound.
    """
    for s, o in ((i, j), (j, i)):
        a, b, c = _triangle(mesh, o)
        for k in range(3):
            p, q = _corner(mesh, s, k), _corner(mesh, s, (k + 1) % 3)
            t = _segment_hits_triangle(p, q, a, b, c)
            if t >= 0.0:
                x = _axpy(p, t, _sub(q, p))
                return 0.0, x, x
    best, bp, bq = np.inf, _triangle(mesh, i)[0], _triangle(mesh, j)[0]
    for s, o in ((i, j), (j, i)):
        a, b, c = _triangle(mesh, o)
        for k in range(3):
            p = _corner(mesh, s, k)
            q = _closest_on_triangle(p, a, b, c)
            e = _sub(q, p)
            d2 = _dot(e, e)
            if d2 < best:
                best, bp, bq = d2, (p if s == i else q), (q if s == i else p)
                if best <= enough:
                    return best, bp, bq
    for k in range(3):
        p1, q1 = _corner(mesh, i, k), _corner(mesh, i, (k + 1) % 3)
        for m in range(3):
            p2, q2 = _corner(mesh, j, m), _corner(mesh, j, (m + 1) % 3)
            x, y = _closest_between_segments(p1, q1, p2, q2)
            e = _sub(y, x)
            d2 = _dot(e, e)
            if d2 < best:
                best, bp, bq = d2, x, y
                if best <= enough:
                    return best, bp, bq
    return best, bp, bq


@njit(cache=True)
def _facet(matrices, owner, error, n_inst):
    """(I,) largest faceting error of each instance's primitives: local error times the largest
    scale factor (column norm) of the primitive's matrix."""
    facet = np.zeros(n_inst)
    for k in range(owner.shape[0]):
        scale = 0.0
        for j in range(3):
            scale = max(
                scale, math.sqrt(matrices[k, 0, j] ** 2 + matrices[k, 1, j] ** 2 + matrices[k, 2, j] ** 2)
            )
        if 0 <= owner[k] < n_inst:
            facet[owner[k]] = max(facet[owner[k]], scale * error[k])
    return facet


@njit(cache=True)
def _prepare(vertices, faces, inst, prim, n_inst):
    """(True, the groups of the sorted triangles (one per primitive and instance) with their boxes
    and measures (total area, largest triangle area, enclosed volume by the divergence theorem),
    the instances' groups and boxes), or (False, empty arrays) if the triangles do not run by
    instance, then primitive.

    Triangles go by blocks: their corners are gathered into a small buffer, their boxes, areas
    and volumes computed in loops the compiler vectorises, then summed group by group in order.
    """
    n = faces.shape[0]
    n_groups = 1 if n else 0
    for t in range(1, n):
        if inst[t] != inst[t - 1] or prim[t] != prim[t - 1]:
            if inst[t] < inst[t - 1] or (inst[t] == inst[t - 1] and prim[t] < prim[t - 1]):
                n_groups = -1
                break
            n_groups += 1
    if n_groups < 0:
        nothing = np.empty((0, 3))
        return (
            False,
            np.empty(0, np.int64),
            np.empty(0, prim.dtype),
            nothing,
            nothing,
            np.empty(0, np.int64),
            nothing,
            nothing,
            nothing,
        )
    gstart = np.empty(n_groups + 1, np.int64)
    gprim = np.empty(n_groups, prim.dtype)
    ig = np.zeros(n_inst + 1, np.int64)
    g = 0
    for t in range(n):
        if t == 0 or inst[t] != inst[t - 1] or prim[t] != prim[t - 1]:
            gstart[g], gprim[g] = t, prim[t]
            if inst[t] < 0:  # ig[i] counts the groups of instances below i
                ig[0] += 1
            elif inst[t] < n_inst:
                ig[inst[t] + 1] += 1
            g += 1
    gstart[n_groups] = n
    glo = np.empty((n_groups, 3))
    ghi = np.empty((n_groups, 3))
    measures = np.empty((n_groups, 3))
    block = 256
    corner = np.empty((9, block), vertices.dtype)  # x, y, z of corners 0, 1, 2 of each triangle of the block
    each = np.empty((8, block))  # its box (lo x, y, z, hi x, y, z), area and volume
    g = 0
    x0 = y0 = z0 = np.inf
    x1 = y1 = z1 = -np.inf
    area = largest = volume = 0.0
    for start in range(0, n, block):
        stop = min(n, start + block)
        for t in range(stop - start):
            for k in range(3):
                v = faces[start + t, k]
                for j in range(3):
                    corner[3 * k + j, t] = vertices[v, j]
        for t in range(stop - start):
            for j in range(3):
                a, b, c = np.float64(corner[j, t]), np.float64(corner[3 + j, t]), np.float64(corner[6 + j, t])
                lo = a if a < b else b
                hi = a if a > b else b
                each[j, t] = c if c < lo else lo
                each[3 + j, t] = c if c > hi else hi
            ax, ay, az = np.float64(corner[0, t]), np.float64(corner[1, t]), np.float64(corner[2, t])
            bx, by, bz = np.float64(corner[3, t]), np.float64(corner[4, t]), np.float64(corner[5, t])
            cx, cy, cz = np.float64(corner[6, t]), np.float64(corner[7, t]), np.float64(corner[8, t])
            ux, uy, uz = bx - ax, by - ay, bz - az
            wx, wy, wz = cx - ax, cy - ay, cz - az
            mx, my, mz = uy * wz - uz * wy, uz * wx - ux * wz, ux * wy - uy * wx
            each[6, t] = 0.5 * math.sqrt(mx * mx + my * my + mz * mz)
            each[7, t] = (
                ax * (by * cz - bz * cy) + ay * (bz * cx - bx * cz) + az * (bx * cy - by * cx)
            ) / 6.0
        while g < n_groups and gstart[g] < stop:  # the groups in this block, the last one maybe unfinished
            for t in range(max(gstart[g], start) - start, min(gstart[g + 1], stop) - start):
                x0, y0, z0 = min(x0, each[0, t]), min(y0, each[1, t]), min(z0, each[2, t])
                x1, y1, z1 = max(x1, each[3, t]), max(y1, each[4, t]), max(z1, each[5, t])
                area += each[6, t]
                largest = max(largest, each[6, t])
                volume += each[7, t]
            if gstart[g + 1] > stop:
                break
            glo[g, 0], glo[g, 1], glo[g, 2], ghi[g, 0], ghi[g, 1], ghi[g, 2] = x0, y0, z0, x1, y1, z1
            measures[g, 0], measures[g, 1], measures[g, 2] = area, largest, abs(volume)
            g += 1
            x0 = y0 = z0 = np.inf
            x1 = y1 = z1 = -np.inf
            area = largest = volume = 0.0
    ilo = np.zeros((n_inst, 3))
    ihi = np.zeros((n_inst, 3))
    for i in range(n_inst):
        ig[i + 1] += ig[i]
        for h in range(ig[i], ig[i + 1]):
            for k in range(3):
                ilo[i, k] = glo[h, k] if h == ig[i] else min(ilo[i, k], glo[h, k])
                ihi[i, k] = ghi[h, k] if h == ig[i] else max(ihi[i, k], ghi[h, k])
    return True, gstart, gprim, glo, ghi, ig, ilo, ihi, measures


@njit(cache=True)
def _plane_separated(mesh, i, j, gap):
    """Whether triangle j lies entirely farther than gap beyond the plane of triangle i, or beyond
    one of the planes through its edges square to it (outside the prism over the triangle).

    Cheap sufficient tests for distance > gap: the first settles most near-parallel pairs, the
    others pairs that cross the plane away from the triangle (a leg and the wrong half of a seat).
    """
    a, b, c = _triangle(mesh, i)
    p, q, r = _triangle(mesh, j)
    n = _cross(_sub(b, a), _sub(c, a))
    length = math.sqrt(_dot(n, n))
    if length == 0.0:
        return False
    above = below = 0
    for x in (p, q, r):
        d = _dot(n, _sub(x, a)) / length
        above += d > gap
        below += d < -gap
    if above == 3 or below == 3:
        return True
    for s, e in ((a, b), (b, c), (c, a)):
        m = _cross(_sub(e, s), n)  # in the plane, pointing away from the triangle
        length = math.sqrt(_dot(m, m))
        if length > 0.0 and min(_dot(m, _sub(p, s)), _dot(m, _sub(q, s)), _dot(m, _sub(r, s))) > gap * length:
            return True
    return False


@njit(cache=True)
def _apart(mesh, i, j, gap):
    return _plane_separated(mesh, i, j, gap) or _plane_separated(mesh, j, i, gap)


@njit(cache=True)
def _winding(p, mesh, start, stop):
    """Generalised winding number of triangles start:stop around p (1 inside a closed mesh, 0 outside).

    Sum of signed solid angles (Van Oosterom & Strackee); robust to duplicated vertices and
    unwelded seams, and its sign flips for inward-facing meshes, so callers use abs().
    """
    total = 0.0
    for t in range(start, stop):
        a, b, c = _triangle(mesh, t)
        a, b, c = _sub(a, p), _sub(b, p), _sub(c, p)
        la, lb, lc = math.sqrt(_dot(a, a)), math.sqrt(_dot(b, b)), math.sqrt(_dot(c, c))
        num = _dot(a, _cross(b, c))
        den = la * lb * lc + _dot(a, b) * lc + _dot(a, c) * lb + _dot(b, c) * la
        total += math.atan2(num, den)
    return total / (2.0 * math.pi)


@njit(cache=True)
def _boxes_overlap(lo1, hi1, lo2, hi2, pad):
    for k in range(3):
        if lo1[k] - pad > hi2[k] or lo2[k] - pad > hi1[k]:
            return False
    return True


@njit(cache=True)
def _point_in_box(p, lo, hi):
    return lo[0] <= p[0] <= hi[0] and lo[1] <= p[1] <= hi[1] and lo[2] <= p[2] <= hi[2]


@njit(cache=True)
def _candidate_pairs(lo, hi, tol, present, axis, limit):
    """Pairs (i < j) of instances whose boxes, each grown by its tolerance, overlap.

    Sweep and prune along `axis` (the one where the instances spread most).

    Returns (pairs, True), or (no pairs, False) when there would be more than `limit`.
    """
    out = np.empty((min(8 * lo.shape[0], limit), 2), np.int64)
    order = np.argsort(lo[:, axis] - tol)
    count = _sweep(lo, hi, tol, present, order, axis, limit, out)
    if count > limit:
        return out[:0].copy(), False
    if count > out.shape[0]:  # more than the first guess: sweep again
        out = np.empty((count, 2), np.int64)
        _sweep(lo, hi, tol, present, order, axis, limit, out)
    return out[:count].copy(), True


@njit(cache=True)
def _sweep(lo, hi, tol, present, order, axis, limit, out):
    """How many pairs overlap, counted up to limit + 1; the first len(out) of them are written to out."""
    n = lo.shape[0]
    count = 0
    for u in range(n):
        i = order[u]
        if not present[i]:
            continue
        for v in range(u + 1, n):
            j = order[v]
            if lo[j, axis] - tol[j] > hi[i, axis] + tol[i]:
                break
            if present[j] and _boxes_overlap(lo[i], hi[i], lo[j], hi[j], tol[i] + tol[j]):
                if count < out.shape[0]:
                    out[count, 0], out[count, 1] = min(i, j), max(i, j)
                count += 1
                if count > limit:
                    return count
    return count


@njit(cache=True)
def _box(mesh, t):
    """Bounding box (lo, hi) of triangle t, computed when needed rather than stored for every triangle."""
    a, b, c = _triangle(mesh, t)
    lo = (min(a[0], b[0], c[0]), min(a[1], b[1], c[1]), min(a[2], b[2], c[2]))
    hi = (max(a[0], b[0], c[0]), max(a[1], b[1], c[1]), max(a[2], b[2], c[2]))
    return lo, hi


@njit(cache=True)
def _triangles_in(mesh, start, stop, lo, hi, index, tlo, thi):
    """Triangles start:stop whose boxes meet the box lo..hi, with their boxes; returns how many."""
    n = 0
    for t in range(start, stop):
        a, b = _box(mesh, t)
        if _boxes_overlap(a, b, lo, hi, 0.0):
            index[n] = t
            for k in range(3):
                tlo[n, k], thi[n, k] = a[k], b[k]
            n += 1
    return n


@njit(cache=True)
def _surfaces_within(mesh, gstart, glo, ghi, g, h, tol, scratch):
    """Whether any triangle of group g comes within tol of one of group h.

    Only triangles inside the overlap of the two groups' boxes are compared. The smaller
    group's are listed first; when they are few, the other group's triangles are tested one by
    one against them, else both lists are compared pairwise or, when long, swept along the
    axis where each triangle meets the fewest of the other list. The outer loop strides
    through its triangles (see `_coprime_near`): a contact then shows after a few tests,
    wherever it is on the mesh. Every triangle listed or box compared costs a unit of the
    scratch's budget, an exact triangle test NEAR_COST; once it is spent, surfaces count as
    touching (no floating warning rather than a wrong one).
    """
    lo = (max(glo[g, 0], glo[h, 0]) - tol, max(glo[g, 1], glo[h, 1]) - tol, max(glo[g, 2], glo[h, 2]) - tol)
    hi = (min(ghi[g, 0], ghi[h, 0]) + tol, min(ghi[g, 1], ghi[h, 1]) + tol, min(ghi[g, 2], ghi[h, 2]) + tol)
    for k in range(3):
        if lo[k] > hi[k]:
            return False
    swap = gstart[g + 1] - gstart[g] > gstart[h + 1] - gstart[h]
    s, o = (h, g) if swap else (g, h)
    ia, alo, ahi, ib, blo, bhi, budget = scratch
    budget[0] -= gstart[g + 1] - gstart[g] + gstart[h + 1] - gstart[h]
    if budget[0] < 0:
        return True
    na = _triangles_in(mesh, gstart[s], gstart[s + 1], lo, hi, ia, alo, ahi)
    if na == 0:
        return False
    if na <= 16:
        n = gstart[o + 1] - gstart[o]
        budget[0] -= n * na
        jump = _coprime_near(n, 0.618 * n)
        for m in range(n):
            t = gstart[o] + m * jump % n
            tlo, thi = _box(mesh, t)
            if _boxes_overlap(tlo, thi, lo, hi, 0.0):
                for u in range(na):
                    if _boxes_overlap(alo[u], ahi[u], tlo, thi, tol):
                        budget[0] -= NEAR_COST
                        if _near(mesh, ia[u], t, swap, tol):
                            return True
        return False
    nb = _triangles_in(mesh, gstart[o], gstart[o + 1], lo, hi, ib, blo, bhi)
    if na * nb <= 16 * (na + nb):  # cheaper than sorting
        budget[0] -= na * nb
        outer = max(na, nb)  # the larger side in the outer loop
        jump = _coprime_near(outer, 0.618 * outer)
        for w in range(na * nb):
            x = w // min(na, nb) * jump % outer
            u, v = (x, w % nb) if na >= nb else (w % na, x)
            if _boxes_overlap(alo[u], ahi[u], blo[v], bhi[v], tol):
                budget[0] -= NEAR_COST
                if _near(mesh, ia[u], ib[v], swap, tol):
                    return True
        return False
    # The axis along which a triangle of one side meets the fewest of the other: the windows
    # (its length plus the other side's longest) are shortest against the overlap's length.
    axis, width, fewest = 0, 0.0, np.inf
    for k in range(3):
        longest = 0.0
        for v in range(nb):
            longest = max(longest, bhi[v, k] - blo[v, k])
        windows = 0.0
        for u in range(na):
            windows += ahi[u, k] - alo[u, k] + 2.0 * tol + longest
        share = windows / max(hi[k] - lo[k], 1e-300)
        if share < fewest:
            axis, width, fewest = k, longest, share
    order = np.argsort(
        np.ascontiguousarray(blo[:nb, axis])
    )  # contiguous: one compiled sort serves every call
    keys = blo[:nb, axis][order]
    jump = _coprime_near(na, 0.618 * na)
    for m in range(na):
        u = m * jump % na
        first = np.searchsorted(keys, alo[u, axis] - tol - width)
        last = np.searchsorted(keys, ahi[u, axis] + tol, side="right")
        budget[0] -= last - first
        if budget[0] < 0:
            return True
        for w in range(first, last):
            v = order[w]
            if _boxes_overlap(alo[u], ahi[u], blo[v], bhi[v], tol):
                budget[0] -= NEAR_COST
                if _near(mesh, ia[u], ib[v], swap, tol):
                    return True
    return False


@njit(cache=True)
def _near(mesh, i, j, swap, tol):
    """Whether triangles i and j (j and i if swap: the distance is always measured the same way round)
    come within tol, cheap rejections first."""
    if swap:
        i, j = j, i
    return not _apart(mesh, i, j, tol) and _triangle_distance(mesh, i, j, tol * tol)[0] <= tol * tol


@njit(cache=True)
def _instances_touch(mesh, gstart, glo, ghi, ig, a, b, tol, scratch):
    """Whether surfaces of instances a and b come within tol, or a primitive of one lies inside the other
    (or the scratch's budget is spent: see `_surfaces_within`)."""
    budget = scratch[-1]
    pairs = _group_pairs(glo, ghi, ig[a], ig[a + 1], ig[b], ig[b + 1], tol)
    for k in range(pairs.shape[0]):
        if _surfaces_within(mesh, gstart, glo, ghi, pairs[k, 0], pairs[k, 1], tol, scratch):
            return True
    # Surfaces apart: a primitive is then wholly inside the other or wholly outside it.
    for k in range(pairs.shape[0]):
        g, h = pairs[k, 0], pairs[k, 1]
        if not _boxes_overlap(glo[g], ghi[g], glo[h], ghi[h], 0.0):
            continue
        for s, o in ((g, h), (h, g)):
            p = _triangle(mesh, gstart[s])[0]
            if _point_in_box(p, glo[o], ghi[o]):
                budget[0] -= gstart[o + 1] - gstart[o]
                if budget[0] < 0 or abs(_winding(p, mesh, gstart[o], gstart[o + 1])) > 0.5:
                    return True  # inside, or no longer affordable to tell
    return False


@njit(cache=True)
def _group_pairs(glo, ghi, g0, g1, h0, h1, pad):
    """Pairs (g, h) of groups g0:g1 and h0:h1 whose boxes, grown by pad, overlap.

    Few groups are paired directly; many (a part made of thousands of primitives) by a sweep
    along X over the groups h sorted by their low end, so that the cost follows the overlaps
    rather than the product of the counts.
    """
    if (g1 - g0) * (h1 - h0) <= 64:
        out = np.empty(((g1 - g0) * (h1 - h0), 2), np.int64)
        n = 0
        for g in range(g0, g1):
            for h in range(h0, h1):
                if _boxes_overlap(glo[g], ghi[g], glo[h], ghi[h], pad):
                    out[n, 0], out[n, 1] = g, h
                    n += 1
        return out[:n]
    order = h0 + np.argsort(np.ascontiguousarray(glo[h0:h1, 0]))
    keys = glo[order, 0]
    width = (ghi[h0:h1, 0] - glo[h0:h1, 0]).max()
    out = np.empty((max(16, g1 - g0), 2), np.int64)
    n = 0
    for g in range(g0, g1):
        first = np.searchsorted(keys, glo[g, 0] - pad - width)
        last = np.searchsorted(keys, ghi[g, 0] + pad, side="right")
        for w in range(first, last):
            h = order[w]
            if _boxes_overlap(glo[g], ghi[g], glo[h], ghi[h], pad):
                if n == out.shape[0]:
                    out = np.concatenate((out, np.empty_like(out)))
                out[n, 0], out[n, 1] = g, h
                n += 1
    return out[:n]


@njit(cache=True)
def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@njit(cache=True)
def _connect(mesh, gstart, glo, ghi, ig, pairs, pair_tol, on_ground, scratch):
    """Component root of every instance and of the ground (last node) in the contact graph.

    A pair already connected through other contacts is not tested again, so a heap of
    overlapping instances costs about one test per instance.
    """
    n = on_ground.shape[0]
    parent = np.arange(n + 1)
    for i in range(n):
        if on_ground[i]:
            parent[_find(parent, i)] = _find(parent, n)
    for k in range(pairs.shape[0]):
        a, b = _find(parent, pairs[k, 0]), _find(parent, pairs[k, 1])
        if a != b and _instances_touch(
            mesh, gstart, glo, ghi, ig, pairs[k, 0], pairs[k, 1], pair_tol[k], scratch
        ):
            parent[a] = b
    for i in range(n + 1):
        parent[i] = _find(parent, i)
    return parent


@njit(cache=True)
def _near_surface(p, mesh, start, stop, eps):
    for t in range(start, stop):
        tlo, thi = _box(mesh, t)
        if _box_distance(tlo, thi, p, p) <= eps:
            a, b, c = _triangle(mesh, t)
            e = _sub(_closest_on_triangle(p, a, b, c), p)
            if _dot(e, e) <= eps * eps:
                return True
    return False


@njit(cache=True)
def _group_inside(mesh, gstart, glo, ghi, g, h, eps, samples, scratch, budget):
    """Whether group g lies inside group h, its surface allowed to touch h's from inside.

    With the surfaces apart one vertex decides; touching surfaces (duplicates, flush
    panels, liquid in a glass) need every vertex, of which up to `samples` triangles'
    worth are checked. A vertex costs up to two passes over h's triangles, counted off
    budget[0], and a pair takes at most a quarter of what is left, so that later pairs get
    their share; once it is spent, g is not shown to be inside (no W104 rather than a wrong one).
    """
    a0, a1, b0, b1 = gstart[g], gstart[g + 1], gstart[h], gstart[h + 1]
    if budget[0] <= 0:
        return False
    if not _surfaces_within(mesh, gstart, glo, ghi, g, h, eps, scratch):
        budget[0] -= b1 - b0
        return abs(_winding(_triangle(mesh, a0)[0], mesh, b0, b1)) > 0.5
    n = a1 - a0
    jump = _coprime_near(n, 0.618 * n)  # visits triangles spread over the whole mesh, so misses show early
    for m in range(min(n, samples, max(1, budget[0] // (24 * (b1 - b0))))):
        budget[0] -= 6 * (b1 - b0)
        t = a0 + (m * jump) % n
        for k in range(3):
            p = _corner(mesh, t, k)
            if not _near_surface(p, mesh, b0, b1, eps) and abs(_winding(p, mesh, b0, b1)) <= 0.5:
                return False
    return True


@njit(cache=True)
def _coprime_near(n, x):
    """The smallest integer >= x that is coprime with n (so m * it % n visits every residue)."""
    c = max(1, int(x))
    while True:
        a, b = n, c
        while b:
            a, b = b, a % b
        if a == 1:
            return c
        c += 1


@njit(cache=True)
def _instance_inside(mesh, gstart, glo, ghi, ig, a, b, eps, samples, scratch, budget):
    """Whether every primitive of instance a lies inside some primitive of instance b."""
    pairs = _group_pairs(glo, ghi, ig[a], ig[a + 1], ig[b], ig[b + 1], eps)
    k = 0
    for g in range(ig[a], ig[a + 1]):
        held = False
        while k < pairs.shape[0] and pairs[k, 0] == g:
            h = pairs[k, 1]
            k += 1
            if held:
                continue
            fits = True
            for j in range(3):
                if glo[g, j] < glo[h, j] - eps or ghi[g, j] > ghi[h, j] + eps:
                    fits = False
            if fits and _group_inside(mesh, gstart, glo, ghi, g, h, eps, samples, scratch, budget):
                held = True
        if not held:
            return False
    return True


@njit(cache=True)
def _hosts(mesh, gstart, glo, ghi, ig, lo, hi, pairs, solid, eps, samples, work, scratch):
    """For each instance, an instance that contains it, or -1.

    Of two instances inside each other (duplicates), the earlier one hosts the later one.
    Pairs run by first then second instance, and instances already hosted are not tested
    again, so n duplicates cost about 2n tests.
    """
    n = lo.shape[0]
    host = np.full(n, -1, np.int64)
    budget = np.array([work])
    for k in np.argsort(pairs[:, 0] * n + pairs[:, 1]):
        a, b = pairs[k, 0], pairs[k, 1]  # a < b
        a_in_b = (
            host[a] < 0
            and _fits(lo, hi, solid, a, b, eps)
            and _instance_inside(mesh, gstart, glo, ghi, ig, a, b, eps, samples, scratch, budget)
        )
        b_in_a = (
            (host[b] < 0 or a_in_b)
            and _fits(lo, hi, solid, b, a, eps)
            and _instance_inside(mesh, gstart, glo, ghi, ig, b, a, eps, samples, scratch, budget)
        )
        if b_in_a and host[b] < 0:
            host[b] = a
        if a_in_b and not b_in_a:
            host[a] = b
    return host


@njit(cache=True)
def _fits(lo, hi, solid, x, y, eps):
    """Whether instance x is solid and its box lies in y's: the cheap half of "x is inside y"."""
    if not solid[x]:
        return False
    for k in range(3):
        if lo[x, k] < lo[y, k] - eps or hi[x, k] > hi[y, k] + eps:
            return False
    return True


@njit(cache=True)
def _box_distance(lo1, hi1, lo2, hi2):
    s = 0.0
    for k in range(3):
        d = max(0.0, lo1[k] - hi2[k], lo2[k] - hi1[k])
        s += d * d
    return math.sqrt(s)


LEAF = 8  # triangles in a leaf of a distance tree
FANOUT = 4  # nodes grouped under one node of the level above


@njit(cache=True)
def _forest(mesh, starts, stops):
    """Bounding-box trees over the triangles of each instance (starts[i]:stops[i]), as node
    arrays (lo, hi, first, last, child, child_end) and the root of each instance's tree.

    Leaves hold LEAF consecutive triangles, each upper node FANOUT consecutive nodes of the
    level below, the root last. Tessellation lays triangles out strip by strip, so runs of
    consecutive triangles are compact patches: tight boxes without sorting anything. Node k
    covers triangles first[k]:last[k]; its children are nodes child[k]:child_end[k] (-1 for a
    leaf). A leaf also has a slab: the unit normal of its patch (area-weighted) and the range of
    its corners along it, a far tighter bound than its box where a surface runs obliquely.
    """
    n_inst = starts.shape[0]
    offset = np.zeros(n_inst + 1, np.int64)
    for i in range(n_inst):
        m = max(1, (stops[i] - starts[i] + LEAF - 1) // LEAF)
        total = m
        while m > 1:
            m = (m + FANOUT - 1) // FANOUT
            total += m
        offset[i + 1] = offset[i] + total
    total = offset[n_inst]
    lo, hi = np.empty((total, 3)), np.empty((total, 3))
    first, last = np.empty(total, np.int64), np.empty(total, np.int64)
    child, child_end = np.full(total, -1, np.int64), np.full(total, -1, np.int64)
    normal, span = np.zeros((total, 3)), np.zeros((total, 2))
    for i in range(n_inst):
        start, stop, k = starts[i], stops[i], offset[i]
        m = max(1, (stop - start + LEAF - 1) // LEAF)
        for leaf in range(m):
            first[k], last[k] = start + leaf * LEAF, min(stop, start + (leaf + 1) * LEAF)
            for j in range(3):
                lo[k, j], hi[k, j] = np.inf, -np.inf
            n = (0.0, 0.0, 0.0)
            for t in range(first[k], last[k]):
                tlo, thi = _box(mesh, t)
                for j in range(3):
                    lo[k, j], hi[k, j] = min(lo[k, j], tlo[j]), max(hi[k, j], thi[j])
                a, b, c = _triangle(mesh, t)
                n = _axpy(n, 1.0, _cross(_sub(b, a), _sub(c, a)))
            length = math.sqrt(_dot(n, n))
            if length > 0.0:
                n = (n[0] / length, n[1] / length, n[2] / length)
                normal[k, 0], normal[k, 1], normal[k, 2] = n
                span[k, 0], span[k, 1] = _extent_along(mesh, first[k], last[k], n)
            k += 1
        below = offset[i]
        while m > 1:
            for c in range(below, below + m, FANOUT):
                end = min(below + m, c + FANOUT)
                child[k], child_end[k], first[k], last[k] = c, end, first[c], last[end - 1]
                for j in range(3):
                    lo[k, j], hi[k, j] = lo[c:end, j].min(), hi[c:end, j].max()
                k += 1
            below, m = below + m, (m + FANOUT - 1) // FANOUT
    return (lo, hi, first, last, child, child_end, normal, span), offset[1:] - 1


@njit(cache=True)
def _extent_along(mesh, start, stop, n):
    """(min, max) of n · corner over the triangles start:stop."""
    low, high = np.inf, -np.inf
    for t in range(start, stop):
        for k in range(3):
            d = _dot(n, _corner(mesh, t, k))
            low, high = min(low, d), max(high, d)
    return low, high


@njit(cache=True)
def _slab_gap(mesh, forest, x, y):
    """A lower bound of the distance between leaves x and y: how far apart their corners lie along
    either leaf's normal (separating axes)."""
    _, _, first, last, _, _, normal, span = forest
    gap = 0.0
    for s, o in ((x, y), (y, x)):
        n = (normal[s, 0], normal[s, 1], normal[s, 2])
        if n[0] != 0.0 or n[1] != 0.0 or n[2] != 0.0:
            low, high = _extent_along(mesh, first[o], last[o], n)
            gap = max(gap, low - span[s, 1], span[s, 0] - high)
    return gap


@njit(cache=True)
def _later(fa, fb, bi, bj):
    """Whether the pair (fa, fb) comes at or after (bi, bj) in (source triangle, target triangle) order."""
    return fa > bi or (fa == bi and fb >= bj)


@njit(cache=True)
def _tree_distance(mesh, forest, ra, rb, bound, budget):
    """Smallest distance below `bound` between the triangles under roots ra and rb of the forest,
    with the closest points, as (distance, p, q, precision).

    Best-first branch and bound over pairs of nodes, nearest boxes first (of overlapping boxes,
    the smallest, to reach triangles and a first distance soon): a pair is dropped once
    its boxes are farther apart than the best distance found. Of pairs at the same distance the
    first in (source triangle, target triangle) order wins, as in a plain double loop. Returns
    (bound, …) when nothing is closer. Every triangle pair and node pair examined costs one unit
    of budget[0]; once it is spent (a surface running parallel to another: everything is nearly
    the minimum) the search goes on off budget[1] dropping pairs that cannot beat the best by
    GAP_PRECISION; once that is spent too, each search gets LAST_TRY units of budget[2], enough
    to reach a few triangles, and returns the best found (a real pair of points). precision is
    EXACT, NEAR (within GAP_PRECISION) or AT_MOST accordingly.
    """
    alo, ahi, afirst, alast, achild, aend, _, _ = forest
    blo, bhi, bfirst, blast, bchild, bend, _, _ = forest
    scale = 1.0
    for j in range(3):
        scale = max(scale, abs(alo[ra, j]), abs(ahi[ra, j]), abs(blo[rb, j]), abs(bhi[rb, j]))
    slack = 1e-12 * scale  # box and triangle distances round differently: never drop a pair on rounding
    best, bi, bj = bound, np.int64(-1), np.int64(-1)
    spend = 0 if budget[0] > 0 else (1 if budget[1] > 0 else 2)
    precision = spend  # EXACT, NEAR, AT_MOST
    give = GAP_PRECISION if spend else 0.0  # how much better a pair must be able to do to be searched
    last_try = budget[2] - LAST_TRY
    bp = (0.0, 0.0, 0.0)
    bq = (0.0, 0.0, 0.0)
    heap = [(_box_distance(alo[ra], ahi[ra], blo[rb], bhi[rb]), np.int64(0), afirst[ra], bfirst[rb], ra, rb)]
    leaf_lo, leaf_hi = np.empty((LEAF, 3)), np.empty((LEAF, 3))  # boxes of the target leaf's triangles
    while len(heap):
        lb, _, fa, fb, x, y = heapq.heappop(heap)
        budget[spend] -= 1
        if budget[spend] <= (last_try if spend == 2 else 0):
            if spend == 2:
                return best, np.array(bp), np.array(bq), AT_MOST
            spend += 1
            give, precision = GAP_PRECISION, spend
            last_try = budget[2] - LAST_TRY
        if lb - slack > best - give:
            if give:
                continue
            break
        if lb - slack >= best and _later(fa, fb, bi, bj):
            continue
        if achild[x] < 0 and bchild[y] < 0:
            lb = _slab_gap(mesh, forest, x, y) - slack
            if lb > best - give or (lb >= best and _later(fa, fb, bi, bj)):
                continue
            budget[spend] -= (alast[x] - afirst[x]) * (blast[y] - bfirst[y])
            nb = blast[y] - bfirst[y]
            for j in range(nb):
                jlo, jhi = _box(mesh, bfirst[y] + j)
                for k in range(3):
                    leaf_lo[j, k], leaf_hi[j, k] = jlo[k], jhi[k]
            for i in range(afirst[x], alast[x]):
                ilo, ihi = _box(mesh, i)
                if _box_distance(ilo, ihi, blo[y], bhi[y]) - slack > best - give:
                    continue
                for j in range(bfirst[y], blast[y]):
                    lb = _box_distance(ilo, ihi, leaf_lo[j - bfirst[y]], leaf_hi[j - bfirst[y]]) - slack
                    if (
                        lb > best - give
                        or (lb >= best and _later(i, j, bi, bj))
                        or _apart(mesh, i, j, best + slack)
                    ):
                        continue
                    d2, p, q = _triangle_distance(mesh, i, j)
                    d = math.sqrt(d2)
                    if d < best or (d == best and not _later(i, j, bi, bj)):
                        best, bi, bj, bp, bq = d, i, j, p, q
            continue
        split_a = bchild[y] < 0 or (achild[x] >= 0 and alast[x] - afirst[x] >= blast[y] - bfirst[y])
        if split_a:
            for c in range(achild[x], aend[x]):
                lb = _box_distance(alo[c], ahi[c], blo[y], bhi[y])
                if not (
                    lb - slack > best - give or (lb - slack >= best and _later(afirst[c], bfirst[y], bi, bj))
                ):
                    heapq.heappush(
                        heap, (lb, alast[c] - afirst[c] + blast[y] - bfirst[y], afirst[c], bfirst[y], c, y)
                    )
        else:
            for c in range(bchild[y], bend[y]):
                lb = _box_distance(alo[x], ahi[x], blo[c], bhi[c])
                if not (
                    lb - slack > best - give or (lb - slack >= best and _later(afirst[x], bfirst[c], bi, bj))
                ):
                    heapq.heappush(
                        heap, (lb, alast[x] - afirst[x] + blast[c] - bfirst[c], afirst[x], bfirst[c], x, c)
                    )
    return best, np.array(bp), np.array(bq), precision
