"""W101's gaps: how far each floating group is from what holds it, and how far each of its members
would drop straight down, measured exactly on the triangles.

Groups are attached one at a time, the nearest first, to the grounded geometry grown by the
groups already attached (Prim's algorithm rooted at the ground), so a tower of floating blocks
reports each gap once, between neighbours. A gap is the exact smallest distance between
triangles, found by branch and bound over a tree of boxes per instance (`_forest`,
`_tree_distance`): only the few triangle pairs that can still be nearest are measured.

Every search draws on a fixed budget of work units (a triangle pair, a node pair), so the
measuring of any program within the limits takes a fraction of a second, and the fallbacks are
deterministic: where surfaces run parallel over hundreds of thousands of triangles, gaps are
searched to GAP_PRECISION and the message says "about", then get an upper bound from a few
triangles and say "at most" (still a real pair of points).

The nearest gap alone can mislead (a part 1 cm from a column but 30 cm over the base it should
sit on), so each member also gets its support straight below (`_drop`): the ground, or the
instance outside the group whose triangles it would meet first moving down.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from numba import njit

from proto3d.compiler.geometry import (
    apart,
    axpy,
    box_distance,
    corner,
    cross,
    dot,
    kernel_helper,
    merge_sort,
    sub,
    triangle,
    triangle_box,
    triangle_distance,
)
from proto3d.compiler.lints.triangles import Triangles

MAX_MEASURED = 200  # floating groups whose gaps are measured (in source order); the others are only counted
MEASURE_BUDGET = 1_000_000  # triangle and node pairs examined measuring gaps exactly (~0.2 s), then ...
GAP_PRECISION = 5e-4  # ... half as many to this precision (half the printed millimetre): "about", then ...
LAST_TRY = 256  # ... this many per instance pair (an eighth of the budget in all) for an "at most" bound
EXACT, AT_MOST = 0, 2  # how precise a measured gap is; 1 is "to GAP_PRECISION"
MAX_LISTED = 12  # members of a floating group whose support straight below is measured (and listed)
SUPPORT_BUDGET = 1_000_000  # node and triangle pairs for them (~0.25 s), then the best so far: "at most"
LEAF = 8  # triangles in a leaf of a distance tree
FANOUT = 4  # nodes grouped under one node of the level above


class Gap(NamedTuple):
    """The smallest gap that would join a floating group to something held."""

    members: list[int]  # the group's instances
    gap: float  # metres
    source: int  # the member where it starts
    target: int  # the instance where it ends, or -1 for the ground
    p: np.ndarray  # (3,) its end on the source
    q: np.ndarray  # (3,) its end on the target
    precision: int  # EXACT, 1 (to GAP_PRECISION) or AT_MOST
    below: list[Support]  # what lies straight below each of the first MAX_LISTED members


class Support(NamedTuple):
    """The nearest geometry straight below a member of a floating group: what it would land on
    if it were moved down."""

    member: int
    target: int  # an instance outside the group, or -1 for the ground
    gap: float  # how far it would move down, metres
    precision: int  # EXACT or AT_MOST (the budget ran out: a real vertical gap, maybe not the smallest)


class Gaps(NamedTuple):
    """The best gap found so far of each floating group, arrays the kernels lower in place."""

    gap: np.ndarray  # (C,)
    source: np.ndarray  # (C,) int64
    target: np.ndarray  # (C,) int64
    p: np.ndarray  # (C, 3)
    q: np.ndarray  # (C, 3)
    precision: np.ndarray  # (C,) int64


class Forest(NamedTuple):
    """Bounding-box trees over each instance's triangles (see `_forest`), as node arrays."""

    lo: np.ndarray  # (N, 3) node boxes
    hi: np.ndarray
    first: np.ndarray  # (N,) node k covers triangles first[k]:last[k]
    last: np.ndarray
    child: np.ndarray  # (N,) its children are nodes child[k]:child_end[k], -1 for a leaf
    child_end: np.ndarray
    normal: np.ndarray  # (N, 3) a leaf's unit normal (area-weighted), or zeros
    span: np.ndarray  # (N, 2) the range of the leaf's corners along it


def nearest_first(
    geo: Triangles, groups: list[list[int]], grounded: np.ndarray, ground_z: float
) -> Iterator[Gap]:
    """The first MAX_MEASURED floating groups with their gaps, in the order Prim's algorithm
    attaches them: the smallest gap first (the first member breaks ties), each later gap allowed
    to end on a group attached before it."""
    members = groups[:MAX_MEASURED]
    comp = np.full(len(geo.instance_lo), -1)
    for c, m in enumerate(members):
        comp[m] = c
    floating = np.flatnonzero(comp >= 0)
    support = [_ground_support(geo, m, ground_z) for m in members]
    best = Gaps(
        np.array([g for g, *_ in support], dtype=float).reshape(-1),
        np.array([i for _, i, *_ in support], dtype=np.int64),
        np.full(len(members), -1, np.int64),
        np.array([p for *_, p, _ in support], dtype=float).reshape(-1, 3),
        np.array([q for *_, q in support], dtype=float).reshape(-1, 3),
        np.full(len(members), EXACT, np.int64),
    )
    mesh = geo.mesh
    starts = geo.groups.start[geo.groups.of_instance[:-1]]
    stops = geo.groups.start[geo.groups.of_instance[1:]]
    nodes, offset = _forest(mesh, starts, stops)
    roots = offset[1:] - 1
    forest = Forest(*nodes)
    budget = np.array(
        [MEASURE_BUDGET, MEASURE_BUDGET // 2, MEASURE_BUDGET // 8], np.int64
    )  # see _tree_distance
    lo, hi = geo.instance_lo, geo.instance_hi
    _improve(mesh, forest, roots, lo, hi, floating, grounded, comp, best, budget)
    support_budget = np.array([SUPPORT_BUDGET], np.int64)
    present = np.flatnonzero(geo.present)
    left = set(range(len(members)))
    while left:
        c = min(left, key=lambda c: (best.gap[c], members[c][0]))
        left.remove(c)
        yield Gap(
            members[c],
            float(best.gap[c]),
            int(best.source[c]),
            int(best.target[c]),
            best.p[c].copy(),
            best.q[c].copy(),
            int(best.precision[c]),
            [
                _support_below(
                    mesh, forest, roots, lo, hi, i, present[comp[present] != c], ground_z, support_budget
                )
                for i in members[c][:MAX_LISTED]
            ],
        )
        attached = np.array(members[c], np.int64)
        _improve(
            mesh,
            forest,
            roots,
            lo,
            hi,
            floating[np.isin(comp[floating], list(left))],
            attached,
            comp,
            best,
            budget,
        )


def _ground_support(geo: Triangles, members: list[int], ground_z: float):
    """(gap, member, lowest point, its foot on the ground plane) for a floating group."""
    low = min(members, key=lambda i: geo.instance_lo[i, 2])
    start, stop = geo.triangle_range(low)
    corners = geo.mesh.vertices[geo.mesh.faces[start:stop].ravel()].astype(np.float64)  # triangle by triangle
    p = corners[int(np.argmin(corners[:, 2]))]
    return float(p[2] - ground_z), low, p, np.array([p[0], p[1], ground_z])


@njit(cache=True)
def _improve(mesh, forest, roots, lo, hi, sources, targets, comp, best, budget):
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
            d = box_distance(lo[i], hi[i], lo[targets[t]], hi[targets[t]])
            if d <= gap[c]:
                near[n], near_box[n] = t, d
                n += 1
        keys = near_box[:n]  # sorted in place
        order = merge_sort(keys)
        for w in range(n):
            t, box = near[order[w]], keys[w]
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
                for k in range(3):
                    p[c, k], q[c, k] = a[k], b[k]
                key[c, 0], key[c, 1], key[c, 2] = box, s, t


@kernel_helper
def _key_before(box, s, t, key):
    return box < key[0] or (box == key[0] and (s < key[1] or (s == key[1] and t < key[2])))


@njit(cache=True)
def _forest(mesh, starts, stops):
    """Bounding-box trees over the triangles of each instance (starts[i]:stops[i]), as node
    arrays (lo, hi, first, last, child, child_end, normal, span), and offsets: the tree of
    instance i is nodes offset[i]:offset[i + 1], its root the last of them.

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
    child, child_end = np.empty(total, np.int64), np.empty(total, np.int64)
    normal, span = np.zeros((total, 3)), np.zeros((total, 2))
    for i in range(n_inst):
        start, stop, k = starts[i], stops[i], offset[i]
        m = max(1, (stop - start + LEAF - 1) // LEAF)
        for leaf in range(m):
            first[k], last[k] = start + leaf * LEAF, min(stop, start + (leaf + 1) * LEAF)
            child[k], child_end[k] = -1, -1
            for j in range(3):
                lo[k, j], hi[k, j] = np.inf, -np.inf
            n = (0.0, 0.0, 0.0)
            for t in range(first[k], last[k]):
                tlo, thi = triangle_box(mesh, t)
                for j in range(3):
                    lo[k, j], hi[k, j] = min(lo[k, j], tlo[j]), max(hi[k, j], thi[j])
                a, b, c = triangle(mesh, t)
                n = axpy(n, 1.0, cross(sub(b, a), sub(c, a)))
            length = math.sqrt(dot(n, n))
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
                    lo[k, j], hi[k, j] = np.inf, -np.inf
                    for d in range(c, end):
                        lo[k, j], hi[k, j] = min(lo[k, j], lo[d, j]), max(hi[k, j], hi[d, j])
                k += 1
            below, m = below + m, (m + FANOUT - 1) // FANOUT
    return (lo, hi, first, last, child, child_end, normal, span), offset


@kernel_helper
def _extent_along(mesh, start, stop, n):
    """(min, max) of n · corner over the triangles start:stop."""
    low, high = np.inf, -np.inf
    for t in range(start, stop):
        for k in range(3):
            d = dot(n, corner(mesh, t, k))
            low, high = min(low, d), max(high, d)
    return low, high


@kernel_helper
def _slab_gap(mesh, forest, x, y):
    """A lower bound of the distance between leaves x and y: how far apart their corners lie along
    either leaf's normal (separating axes)."""
    first, last, normal, span = forest.first, forest.last, forest.normal, forest.span
    gap = 0.0
    for s, o in ((x, y), (y, x)):
        n = (normal[s, 0], normal[s, 1], normal[s, 2])
        if n[0] != 0.0 or n[1] != 0.0 or n[2] != 0.0:
            low, high = _extent_along(mesh, first[o], last[o], n)
            gap = max(gap, low - span[s, 1], span[s, 0] - high)
    return gap


@kernel_helper
def _later(fa, fb, bi, bj):
    """Whether the pair (fa, fb) comes at or after (bi, bj) in (source triangle, target triangle) order."""
    return fa > bi or (fa == bi and fb >= bj)


@kernel_helper
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
    EXACT, 1 (within GAP_PRECISION) or AT_MOST accordingly.
    """
    alo, ahi, afirst, alast, achild, aend = (
        forest.lo,
        forest.hi,
        forest.first,
        forest.last,
        forest.child,
        forest.child_end,
    )
    blo, bhi, bfirst, blast, bchild, bend = alo, ahi, afirst, alast, achild, aend
    scale = 1.0
    for j in range(3):
        scale = max(scale, abs(alo[ra, j]), abs(ahi[ra, j]), abs(blo[rb, j]), abs(bhi[rb, j]))
    slack = 1e-12 * scale  # box and triangle distances round differently: never drop a pair on rounding
    best, bi, bj = bound, np.int64(-1), np.int64(-1)
    spend = 0 if budget[0] > 0 else (1 if budget[1] > 0 else 2)
    precision = spend  # EXACT, 1 (within GAP_PRECISION), AT_MOST
    give = GAP_PRECISION if spend else 0.0  # how much better a pair must be able to do to be searched
    last_try = budget[2] - LAST_TRY
    bp = (0.0, 0.0, 0.0)
    bq = (0.0, 0.0, 0.0)
    heap = [(box_distance(alo[ra], ahi[ra], blo[rb], bhi[rb]), np.int64(0), afirst[ra], bfirst[rb], ra, rb)]
    leaf_lo, leaf_hi = np.empty((LEAF, 3)), np.empty((LEAF, 3))  # boxes of the target leaf's triangles
    while len(heap):
        lb, _, fa, fb, x, y = heapq.heappop(heap)
        budget[spend] -= 1
        if budget[spend] <= (last_try if spend == 2 else 0):
            if spend == 2:
                return best, bp, bq, AT_MOST
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
                jlo, jhi = triangle_box(mesh, bfirst[y] + j)
                for k in range(3):
                    leaf_lo[j, k], leaf_hi[j, k] = jlo[k], jhi[k]
            for i in range(afirst[x], alast[x]):
                ilo, ihi = triangle_box(mesh, i)
                if box_distance(ilo, ihi, blo[y], bhi[y]) - slack > best - give:
                    continue
                for j in range(bfirst[y], blast[y]):
                    lb = box_distance(ilo, ihi, leaf_lo[j - bfirst[y]], leaf_hi[j - bfirst[y]]) - slack
                    if (
                        lb > best - give
                        or (lb >= best and _later(i, j, bi, bj))
                        or apart(mesh, i, j, best + slack)
                    ):
                        continue
                    # `enough` given (no early stop), as contact.py does: one specialisation for both
                    d2, p, q = triangle_distance(mesh, i, j, -1.0)
                    d = math.sqrt(d2)
                    if d < best or (d == best and not _later(i, j, bi, bj)):
                        best, bi, bj, bp, bq = d, i, j, p, q
            continue
        split_a = bchild[y] < 0 or (achild[x] >= 0 and alast[x] - afirst[x] >= blast[y] - bfirst[y])
        if split_a:
            for c in range(achild[x], aend[x]):
                lb = box_distance(alo[c], ahi[c], blo[y], bhi[y])
                if not (
                    lb - slack > best - give or (lb - slack >= best and _later(afirst[c], bfirst[y], bi, bj))
                ):
                    heapq.heappush(
                        heap, (lb, alast[c] - afirst[c] + blast[y] - bfirst[y], afirst[c], bfirst[y], c, y)
                    )
        else:
            for c in range(bchild[y], bend[y]):
                lb = box_distance(alo[x], ahi[x], blo[c], bhi[c])
                if not (
                    lb - slack > best - give or (lb - slack >= best and _later(afirst[x], bfirst[c], bi, bj))
                ):
                    heapq.heappush(
                        heap, (lb, alast[x] - afirst[x] + blast[c] - bfirst[c], afirst[x], bfirst[c], x, c)
                    )
    return best, bp, bq, precision


# --------------------------------------------------------------------------- support below


def _support_below(mesh, forest, roots, lo, hi, member, others, ground_z, budget) -> Support:
    """The ground, or the instance of `others` nearer straight below `member` (a tie keeps the ground)."""
    gap, target, spent = _drop(mesh, forest, roots, lo, hi, member, others, lo[member, 2] - ground_z, budget)
    return Support(member, int(target), float(gap), AT_MOST if spent else EXACT)


@njit(cache=True)
def _drop(mesh, forest, roots, lo, hi, member, others, bound, budget):
    """(gap, instance, whether budget[0] ran out): the smallest distance instance `member` would move
    straight down before its triangles meet those of one of `others`, if below `bound` (else
    (bound, -1, …)).

    Instances are taken nearest box first; each pair by best-first branch and bound over their
    trees, node pairs ordered by how far apart their boxes are in z. Every node pair and
    triangle pair examined costs a unit of budget[0]; once it is spent the best found so far
    is returned.
    """
    best, target = bound, np.int64(-1)
    near = np.empty(others.shape[0])
    for k in range(others.shape[0]):
        j = others[k]
        near[k] = max(0.0, lo[member, 2] - hi[j, 2]) if _may_be_below(lo, hi, member, j) else np.inf
    order = merge_sort(near)
    for w in range(order.shape[0]):
        if near[w] >= best:
            break
        k = order[w]
        d, spent = _tree_drop(mesh, forest, roots[member], roots[others[k]], best, budget)
        if d < best:
            best, target = d, others[k]
        if spent:
            return best, target, True
    return best, target, False


@kernel_helper
def _may_be_below(lo, hi, x, y):
    """Whether box y can hold something straight below something of box x (their footprints meet)."""
    return (
        lo[x, 0] <= hi[y, 0]
        and lo[y, 0] <= hi[x, 0]
        and lo[x, 1] <= hi[y, 1]
        and lo[y, 1] <= hi[x, 1]
        and lo[y, 2] <= hi[x, 2]
    )


@kernel_helper
def _tree_drop(mesh, forest, ra, rb, bound, budget):
    """(smallest vertical distance below `bound` from the triangles under root ra down to those
    under rb, or bound; whether budget[0] ran out)."""
    lo, hi, first, last, child, end = (
        forest.lo,
        forest.hi,
        forest.first,
        forest.last,
        forest.child,
        forest.child_end,
    )
    best = bound
    # Entries shaped as `_tree_distance`'s (three zeros between the bound and the nodes): Numba
    # then compiles one heap for both.
    zero = np.int64(0)
    heap = [(max(0.0, lo[ra, 2] - hi[rb, 2]), zero, zero, zero, ra, rb)]
    while len(heap):
        lb, _, _, _, x, y = heapq.heappop(heap)
        if lb >= best:
            break
        budget[0] -= 1
        if budget[0] < 0:
            return best, True
        if child[x] < 0 and child[y] < 0:
            budget[0] -= (last[x] - first[x]) * (last[y] - first[y])
            for i in range(first[x], last[x]):
                ilo, ihi = triangle_box(mesh, i)
                for j in range(first[y], last[y]):
                    jlo, jhi = triangle_box(mesh, j)
                    if (
                        ilo[0] <= jhi[0]
                        and jlo[0] <= ihi[0]
                        and ilo[1] <= jhi[1]
                        and jlo[1] <= ihi[1]
                        and jlo[2] <= ihi[2]
                        and ilo[2] - jhi[2] < best
                    ):  # else j is not below i, or not nearer than best
                        best = min(best, _vertical_gap(mesh, i, j))
            continue
        if child[y] < 0 or (child[x] >= 0 and last[x] - first[x] >= last[y] - first[y]):
            for c in range(child[x], end[x]):
                if _may_be_below(lo, hi, c, y):
                    heapq.heappush(heap, (max(0.0, lo[c, 2] - hi[y, 2]), zero, zero, zero, c, y))
        else:
            for c in range(child[y], end[y]):
                if _may_be_below(lo, hi, x, c):
                    heapq.heappush(heap, (max(0.0, lo[x, 2] - hi[c, 2]), zero, zero, zero, x, c))
    return best, False


@kernel_helper
def _vertical_gap(mesh, i, j):
    """How far triangle i would move straight down before it meets triangle j (0 if they cross),
    or inf if j is nowhere below it.

    Where the two overlap seen from above, the height between them varies linearly, so its
    extremes lie at corners of the overlap: corners of either triangle inside the other, or
    crossings of their edges. Triangles standing on edge (no area seen from above) are skipped:
    the faces around them cover their edges.
    """
    a = triangle(mesh, i)
    b = triangle(mesh, j)
    na = cross(sub(a[1], a[0]), sub(a[2], a[0]))
    nb = cross(sub(b[1], b[0]), sub(b[2], b[0]))
    if abs(na[2]) <= 1e-12 * math.sqrt(dot(na, na)) or abs(nb[2]) <= 1e-12 * math.sqrt(dot(nb, nb)):
        return np.inf
    low, high = np.inf, -np.inf
    for k in range(3):
        if _inside_seen_from_above(a[k], b):
            d = a[k][2] - _height(b[0], nb, a[k])
            low, high = min(low, d), max(high, d)
        if _inside_seen_from_above(b[k], a):
            d = _height(a[0], na, b[k]) - b[k][2]
            low, high = min(low, d), max(high, d)
    for k in range(3):
        p, q = a[k], a[(k + 1) % 3]
        for m in range(3):
            r, s = b[m], b[(m + 1) % 3]
            ex, ey, fx, fy = q[0] - p[0], q[1] - p[1], s[0] - r[0], s[1] - r[1]
            den = ex * fy - ey * fx
            if den == 0.0:
                continue  # parallel seen from above: their ends are corners inside the other triangle
            gx, gy = r[0] - p[0], r[1] - p[1]
            t = (gx * fy - gy * fx) / den
            u = (gx * ey - gy * ex) / den
            if 0.0 <= t <= 1.0 and 0.0 <= u <= 1.0:
                d = p[2] + t * (q[2] - p[2]) - (r[2] + u * (s[2] - r[2]))
                low, high = min(low, d), max(high, d)
    if high < 0.0:
        return np.inf  # j is above i wherever they overlap, or they do not overlap
    return max(low, 0.0)


@kernel_helper
def _inside_seen_from_above(p, t):
    """Whether point p lies in triangle t projected on the xy plane (its edges included)."""
    a, b, c = t
    d1 = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
    d2 = (c[0] - b[0]) * (p[1] - b[1]) - (c[1] - b[1]) * (p[0] - b[0])
    d3 = (a[0] - c[0]) * (p[1] - c[1]) - (a[1] - c[1]) * (p[0] - c[0])
    return (d1 >= 0.0 and d2 >= 0.0 and d3 >= 0.0) or (d1 <= 0.0 and d2 <= 0.0 and d3 <= 0.0)


@kernel_helper
def _height(a, n, p):
    """z of the plane through a with normal n (n[2] != 0) above the point p."""
    return a[2] - (n[0] * (p[0] - a[0]) + n[1] * (p[1] - a[1])) / n[2]
