"""The contact graph (which instances touch, which groups of them float: W101) and the hosts of
hidden instances (W104).

Two instances touch when their surfaces come within their tolerance (`triangles.py`) or when a
primitive of one lies inside the other; bounding boxes only prune candidate pairs. Numba
compiles a kernel on its first call, so the kernels run only where they can find something:
none for a single instance, and W104's (`_hosts`) only for pairs where one box can hold the other.

Cost is bounded whatever the program: the surface tests draw on budgets of work units (a
triangle listed, a box compared, a vertex-triangle test); where one runs out the fallback is
deterministic and never a wrong warning.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from proto3d.compiler.geometry import (
    apart,
    box_distance,
    boxes_overlap,
    closest_on_triangle,
    corner,
    dot,
    kernel_helper,
    merge_sort,
    point_in_box,
    sub,
    triangle,
    triangle_box,
    triangle_distance,
    winding,
)
from proto3d.compiler.lints.triangles import Triangles

MAX_PAIRS = 200_000  # W101 and W104 are skipped beyond this many overlapping instance pairs
CONTACT_BUDGET = 25_000_000  # units of surface tests (W101, W104), then the surfaces count as touching ...
NEAR_COST = 16  # ... where an exact triangle test counts this many
SURFACE_EPS = 1e-4  # W104: a vertex this close to a surface counts as inside
HIDDEN_SAMPLES = 128  # W104: triangles sampled per primitive (all of them if fewer) ...
HIDDEN_BUDGET = 10_000_000  # ... while their vertex-triangle tests stay below this, then nothing is hidden


class Budget(NamedTuple):
    """Work units left, one-element arrays the kernels count down."""

    contact: np.ndarray  # CONTACT_BUDGET: the surface tests of the contact graph and of W104
    hidden: np.ndarray  # HIDDEN_BUDGET: W104's vertex tests


class Scratch(NamedTuple):
    """Buffers for `_surfaces_within`: the indices and boxes of the two groups' triangles it
    compares, sized for the largest group (allocated once per lint, not per group pair)."""

    index_a: np.ndarray
    lo_a: np.ndarray
    hi_a: np.ndarray
    index_b: np.ndarray
    lo_b: np.ndarray
    hi_b: np.ndarray


class Contacts(NamedTuple):
    floating: list[
        list[int]
    ]  # groups of touching instances that no contact joins to the ground, by first member
    grounded: np.ndarray  # the instances joined to the ground
    hosts: np.ndarray  # (I,) for each instance, an instance that contains it, or -1
    ground_z: float


def find_contacts(geo: Triangles) -> Contacts | None:
    """The contact graph's floating groups and the hosts of hidden instances, from the instance
    pairs whose grown boxes overlap; None with fewer than two instances (nothing to touch, nothing
    to hide in) or beyond MAX_PAIRS candidate pairs (thousands of instances piled in one place),
    where a floating verdict on an incomplete contact graph would be wrong."""
    present = geo.present
    if np.count_nonzero(present) < 2:
        return None
    lo, hi = geo.instance_lo, geo.instance_hi
    ground_z = geo.lowest[1]
    tol = geo.base_tol + geo.facet  # how far an instance may be from a contact and still touch it
    centre = lo + hi
    axis = int(np.argmax(centre.max(axis=0) - centre.min(axis=0)))  # where the instances spread most
    pairs, complete = _candidate_pairs(lo, hi, tol, present, axis, MAX_PAIRS)
    if not complete:
        return None
    a, b = pairs[:, 0], pairs[:, 1]
    pair_tol = np.maximum(geo.base_tol[a], geo.base_tol[b]) + geo.facet[a] + geo.facet[b]
    on_ground = present & (lo[:, 2] <= ground_z + tol)
    scratch = _scratch(geo.groups.start)
    budget = Budget(np.array([CONTACT_BUDGET], np.int64), np.array([HIDDEN_BUDGET]))
    n = len(present)
    root = np.arange(n + 1)  # union-find parents, the ground last
    root[:n][on_ground] = n
    _connect(geo.mesh, geo.groups, pairs, pair_tol, root, budget, scratch)
    solid = geo.solid()
    nesting = _may_hold(geo, solid, a, b) | _may_hold(geo, solid, b, a)
    hosts = np.full(n, -1, np.int64)
    if nesting.any():
        nested = pairs[nesting]
        nested = nested[np.argsort(nested[:, 0] * n + nested[:, 1])]  # by first then second instance
        _hosts(geo.mesh, geo.groups, lo, hi, nested, solid, geo.closed, budget, scratch, hosts)
    floating: dict[int, list[int]] = {}
    for i in np.flatnonzero(present & (root[:n] != root[n])):
        floating.setdefault(int(root[i]), []).append(int(i))
    grounded = np.flatnonzero(present & (root[:n] == root[n]))
    return Contacts(list(floating.values()), grounded, hosts, ground_z)


def _scratch(group_start: np.ndarray) -> Scratch:
    most = int(np.diff(group_start).max(initial=0))
    return Scratch(
        np.empty(most, np.int64),
        np.empty((most, 3)),
        np.empty((most, 3)),
        np.empty(most, np.int64),
        np.empty((most, 3)),
        np.empty((most, 3)),
    )


def _may_hold(geo: Triangles, solid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Of each pair, whether instance x is solid and its box lies in closed y's (`_fits`, for all pairs at once)."""
    lo, hi = geo.instance_lo, geo.instance_hi
    outside = (lo[x] < lo[y] - SURFACE_EPS) | (hi[x] > hi[y] + SURFACE_EPS)
    return solid[x] & geo.closed[y] & ~outside.any(axis=1)


# --------------------------------------------------------------------------- candidate pairs


def _candidate_pairs(lo, hi, tol, present, axis, limit):
    """Pairs (i < j) of instances whose boxes, each grown by its tolerance, overlap.

    Sweep and prune along `axis` (the one where the instances spread most).

    Returns (pairs, True), or (no pairs, False) when there would be more than `limit`.
    """
    out = np.empty((min(8 * len(lo), limit), 2), np.int64)
    order = np.argsort(lo[:, axis] - tol, kind="stable")
    count = _sweep_and_prune(lo, hi, tol, present, order, axis, limit, out)
    if count > limit:
        return out[:0], False
    if count > len(out):  # more than the first guess: sweep again
        out = np.empty((count, 2), np.int64)
        _sweep_and_prune(lo, hi, tol, present, order, axis, limit, out)
    return out[:count], True


@njit(cache=True)
def _sweep_and_prune(lo, hi, tol, present, order, axis, limit, out):
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
            if present[j] and boxes_overlap(lo[i], hi[i], lo[j], hi[j], tol[i] + tol[j]):
                if count < out.shape[0]:
                    out[count, 0], out[count, 1] = min(i, j), max(i, j)
                count += 1
                if count > limit:
                    return count
    return count


@kernel_helper
def _group_pairs(groups, g0, g1, h0, h1, pad):
    """Pairs (g, h) of groups g0:g1 and h0:h1 whose boxes, grown by pad, overlap.

    Few groups are paired directly; many (a part made of thousands of primitives) by a sweep
    along X over the groups h sorted by their low end, so that the cost follows the overlaps
    rather than the product of the counts.
    """
    glo, ghi = groups.lo, groups.hi
    if (g1 - g0) * (h1 - h0) <= 64:
        out = np.empty(((g1 - g0) * (h1 - h0), 2), np.int64)
        n = 0
        for g in range(g0, g1):
            for h in range(h0, h1):
                if boxes_overlap(glo[g], ghi[g], glo[h], ghi[h], pad):
                    out[n, 0], out[n, 1] = g, h
                    n += 1
        return out[:n]
    keys = np.empty(h1 - h0)
    width = 0.0
    for h in range(h0, h1):
        keys[h - h0] = glo[h, 0]
        width = max(width, ghi[h, 0] - glo[h, 0])
    order = merge_sort(keys)
    out = np.empty((max(16, g1 - g0), 2), np.int64)
    n = 0
    for g in range(g0, g1):
        first, last = _window(keys, glo[g, 0] - pad - width, ghi[g, 0] + pad)
        for w in range(first, last):
            h = h0 + order[w]
            if boxes_overlap(glo[g], ghi[g], glo[h], ghi[h], pad):
                if n == out.shape[0]:
                    out = _doubled(out)
                out[n, 0], out[n, 1] = g, h
                n += 1
    return out[:n]


@kernel_helper
def _doubled(pairs):
    """`pairs` in an array twice as long."""
    out = np.empty((2 * pairs.shape[0], 2), np.int64)
    for k in range(pairs.shape[0]):
        out[k, 0], out[k, 1] = pairs[k, 0], pairs[k, 1]
    return out


# --------------------------------------------------------------------------- surfaces


@kernel_helper
def _triangles_in(mesh, start, stop, lo, hi, index, tlo, thi):
    """Triangles start:stop whose boxes meet the box lo..hi, with their boxes; returns how many."""
    n = 0
    for t in range(start, stop):
        a, b = triangle_box(mesh, t)
        if boxes_overlap(a, b, lo, hi, 0.0):
            index[n] = t
            for k in range(3):
                tlo[n, k], thi[n, k] = a[k], b[k]
            n += 1
    return n


@kernel_helper
def _surfaces_within(mesh, groups, g, h, tol, budget, scratch):
    """Whether any triangle of group g comes within tol of one of group h.

    Only triangles inside the overlap of the two groups' boxes are compared. The smaller
    group's are listed first; when they are few, the other group's triangles are tested one by
    one against them, else both lists are compared pairwise or, when long, swept along the
    axis where each triangle meets the fewest of the other list. The outer loop strides
    through its triangles (see `_coprime_near`): a contact then shows after a few tests,
    wherever it is on the mesh. Every triangle listed or box compared costs a unit of
    budget.contact, an exact triangle test NEAR_COST; once it is spent, surfaces count as
    touching (no floating warning rather than a wrong one).
    """
    start, glo, ghi = groups.start, groups.lo, groups.hi
    lo = (max(glo[g, 0], glo[h, 0]) - tol, max(glo[g, 1], glo[h, 1]) - tol, max(glo[g, 2], glo[h, 2]) - tol)
    hi = (min(ghi[g, 0], ghi[h, 0]) + tol, min(ghi[g, 1], ghi[h, 1]) + tol, min(ghi[g, 2], ghi[h, 2]) + tol)
    for k in range(3):
        if lo[k] > hi[k]:
            return False
    swap = start[g + 1] - start[g] > start[h + 1] - start[h]
    s, o = (h, g) if swap else (g, h)
    ia, alo, ahi, ib, blo, bhi = scratch
    work = budget.contact
    work[0] -= start[g + 1] - start[g] + start[h + 1] - start[h]
    if work[0] < 0:
        return True
    na = _triangles_in(mesh, start[s], start[s + 1], lo, hi, ia, alo, ahi)
    if na == 0:
        return False
    if na <= 16:
        n = start[o + 1] - start[o]
        work[0] -= n * na
        jump = _coprime_near(n, 0.618 * n)
        for m in range(n):
            t = start[o] + m * jump % n
            tlo, thi = triangle_box(mesh, t)
            if boxes_overlap(tlo, thi, lo, hi, 0.0):
                for u in range(na):
                    if boxes_overlap(alo[u], ahi[u], tlo, thi, tol):
                        work[0] -= NEAR_COST
                        if _near(mesh, ia[u], t, swap, tol):
                            return True
        return False
    nb = _triangles_in(mesh, start[o], start[o + 1], lo, hi, ib, blo, bhi)
    if na * nb <= 16 * (na + nb):  # cheaper than sorting
        work[0] -= na * nb
        outer = max(na, nb)  # the larger side in the outer loop
        jump = _coprime_near(outer, 0.618 * outer)
        for w in range(na * nb):
            x = w // min(na, nb) * jump % outer
            u, v = (x, w % nb) if na >= nb else (w % na, x)
            if boxes_overlap(alo[u], ahi[u], blo[v], bhi[v], tol):
                work[0] -= NEAR_COST
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
    keys = np.empty(nb)
    for v in range(nb):
        keys[v] = blo[v, axis]
    order = merge_sort(keys)
    jump = _coprime_near(na, 0.618 * na)
    for m in range(na):
        u = m * jump % na
        first, last = _window(keys, alo[u, axis] - tol - width, ahi[u, axis] + tol)
        work[0] -= last - first
        if work[0] < 0:
            return True
        for w in range(first, last):
            v = order[w]
            if boxes_overlap(alo[u], ahi[u], blo[v], bhi[v], tol):
                work[0] -= NEAR_COST
                if _near(mesh, ia[u], ib[v], swap, tol):
                    return True
    return False


@kernel_helper
def _near(mesh, i, j, swap, tol):
    """Whether triangles i and j (j and i if swap: the distance is always measured the same way round)
    come within tol, cheap rejections first."""
    if swap:
        i, j = j, i
    return not apart(mesh, i, j, tol) and triangle_distance(mesh, i, j, tol * tol)[0] <= tol * tol


@kernel_helper
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


@kernel_helper
def _window(keys, low, high):
    """(first, last): keys[first:last] are the sorted `keys` from low to high, both included."""
    first, last = 0, keys.shape[0]
    while first < last:  # the first key >= low
        middle = (first + last) // 2
        if keys[middle] < low:
            first = middle + 1
        else:
            last = middle
    stop, last = 0, keys.shape[0]
    while stop < last:  # the first key > high
        middle = (stop + last) // 2
        if keys[middle] <= high:
            stop = middle + 1
        else:
            last = middle
    return first, stop


# --------------------------------------------------------------------------- contact graph (W101)


@njit(cache=True)
def _connect(mesh, groups, pairs, pair_tol, parent, budget, scratch):
    """Joins the instances that touch in the contact graph `parent` (union-find parents of the
    instances and, last, the ground), then points every node at its component's root.

    Two instances touch when surfaces of theirs come within the pair's tolerance, or a primitive of
    one lies inside the other (or budget.contact is spent: see `_surfaces_within`). A pair already
    connected through other contacts is not tested again, so a heap of overlapping instances
    costs about one test per instance. The test is written out here rather than called: Numba
    re-optimises everything a kernel calls at each level of calls.
    """
    owned = groups.of_instance
    for k in range(pairs.shape[0]):
        a, b = pairs[k, 0], pairs[k, 1]
        root_a, root_b = _find(parent, a), _find(parent, b)
        if root_a == root_b:
            continue
        near = _group_pairs(groups, owned[a], owned[a + 1], owned[b], owned[b + 1], pair_tol[k])
        touch = False
        for m in range(near.shape[0]):
            if _surfaces_within(mesh, groups, near[m, 0], near[m, 1], pair_tol[k], budget, scratch):
                touch = True
                break
        if touch or _primitive_inside(mesh, groups, near, budget):
            parent[root_a] = root_b
    for i in range(parent.shape[0]):
        parent[i] = _find(parent, i)


@kernel_helper
def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@kernel_helper
def _primitive_inside(mesh, groups, near, budget):
    """Whether of a pair (g, h) in `near`, whose surfaces are apart, one lies inside the other
    (or budget.contact is spent): one vertex then tells."""
    start, glo, ghi = groups.start, groups.lo, groups.hi
    work = budget.contact
    for k in range(near.shape[0]):
        g, h = near[k, 0], near[k, 1]
        if not boxes_overlap(glo[g], ghi[g], glo[h], ghi[h], 0.0):
            continue
        for s, o in ((g, h), (h, g)):
            p = triangle(mesh, start[s])[0]
            if point_in_box(p, glo[o], ghi[o]):
                work[0] -= start[o + 1] - start[o]
                if work[0] < 0 or abs(winding(p, mesh, start[o], start[o + 1])) > 0.5:
                    return True
    return False


# --------------------------------------------------------------------------- hosts (W104)


@njit(cache=True)
def _hosts(mesh, groups, lo, hi, pairs, solid, closed, budget, scratch, host):
    """Sets host[i] (-1 at first) to an instance that contains instance i. Only a closed instance
    can contain (inside a boolean's result, the pieces of its operands are not closed surfaces).

    Of two instances inside each other (duplicates), the earlier one hosts the later one.
    Pairs run by first then second instance, and instances already hosted are not tested
    again, so n duplicates cost about 2n tests.
    """
    for k in range(pairs.shape[0]):
        a, b = pairs[k, 0], pairs[k, 1]  # a < b
        a_in_b = (
            host[a] < 0
            and _fits(lo, hi, solid, closed, a, b)
            and _instance_inside(mesh, groups, a, b, budget, scratch)
        )
        b_in_a = (
            (host[b] < 0 or a_in_b)
            and _fits(lo, hi, solid, closed, b, a)
            and _instance_inside(mesh, groups, b, a, budget, scratch)
        )
        if b_in_a and host[b] < 0:
            host[b] = a
        if a_in_b and not b_in_a:
            host[a] = b


@kernel_helper
def _fits(lo, hi, solid, closed, x, y):
    """Whether instance x is solid, y closed and x's box lies in y's: the cheap half of "x is inside y"."""
    if not solid[x] or not closed[y]:
        return False
    for k in range(3):
        if lo[x, k] < lo[y, k] - SURFACE_EPS or hi[x, k] > hi[y, k] + SURFACE_EPS:
            return False
    return True


@kernel_helper
def _instance_inside(mesh, groups, a, b, budget, scratch):
    """Whether every primitive of instance a lies inside some primitive of instance b (while
    budget.hidden lasts: see `_group_inside`)."""
    glo, ghi, owned = groups.lo, groups.hi, groups.of_instance
    eps = SURFACE_EPS
    pairs = _group_pairs(groups, owned[a], owned[a + 1], owned[b], owned[b + 1], eps)
    k = 0
    for g in range(owned[a], owned[a + 1]):
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
            if fits and budget.hidden[0] > 0:
                touching = _surfaces_within(mesh, groups, g, h, eps, budget, scratch)
                held = _group_inside(mesh, groups, g, h, touching, budget)
        if not held:
            return False
    return True


@kernel_helper
def _group_inside(mesh, groups, g, h, touching, budget):
    """Whether group g lies inside group h, its surface allowed to touch h's from inside (`touching`:
    whether their surfaces come within SURFACE_EPS, from `_surfaces_within`, which the caller
    calls: one level of Numba calls less, see `_connect`).

    With the surfaces apart one vertex decides; touching surfaces (duplicates, flush
    panels, liquid in a glass) need every vertex, of which up to HIDDEN_SAMPLES triangles'
    worth are checked. A vertex costs up to two passes over h's triangles, counted off
    budget.hidden, and a pair takes at most a quarter of what is left, so that later pairs get
    their share; once it is spent, g is not shown to be inside (no W104 rather than a wrong one).
    """
    start, work = groups.start, budget.hidden
    a0, a1, b0, b1 = start[g], start[g + 1], start[h], start[h + 1]
    if not touching:
        work[0] -= b1 - b0
        return abs(winding(triangle(mesh, a0)[0], mesh, b0, b1)) > 0.5
    n = a1 - a0
    jump = _coprime_near(n, 0.618 * n)  # visits triangles spread over the whole mesh, so misses show early
    for m in range(min(n, HIDDEN_SAMPLES, max(1, work[0] // (24 * (b1 - b0))))):
        work[0] -= 6 * (b1 - b0)
        t = a0 + (m * jump) % n
        for k in range(3):
            p = corner(mesh, t, k)
            if not _near_surface(p, mesh, b0, b1, SURFACE_EPS) and abs(winding(p, mesh, b0, b1)) <= 0.5:
                return False
    return True


@kernel_helper
def _near_surface(p, mesh, start, stop, eps):
    """Whether p lies within eps of one of the triangles start:stop."""
    for t in range(start, stop):
        tlo, thi = triangle_box(mesh, t)
        if box_distance(tlo, thi, p, p) <= eps:
            a, b, c = triangle(mesh, t)
            e = sub(closest_on_triangle(p, a, b, c), p)
            if dot(e, e) <= eps * eps:
                return True
    return False
