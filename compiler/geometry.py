"""Geometry kernels shared by the tessellator and the lints: 3-vectors, closest points,
segment and triangle tests, triangle distance, winding numbers, boxes, a sort and the one
spline of the compiler, as Numba functions.

Vectors are 3-tuples of floats (or any 3-element array: each kernel compiles once per argument
type), so that nothing is allocated in the inner loops. The triangle kernels read a `mesh`,
any named tuple with `vertices` (V, 3) and `faces` (F, 3); they compute in float64 whatever
the vertices' type.

Numba's on-disk cache is checked against each kernel's own source file only; kernel_cache.py
drops every cached kernel of the compiler when this file (or primitives.py) changes.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

kernel_helper = njit(cache=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
"""The decorator of a kernel that only other kernels call: Numba then builds no entry point for
Python or C into it, which saves a tenth of a first compile. Python cannot call it."""


class Mesh(NamedTuple):
    """Triangles as the kernels read them. Only these two arrays: every array in a tuple passed
    to a kernel costs reference counting at each call, and the triangle kernels are called in
    the innermost loops."""

    vertices: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3) vertex indices


@kernel_helper
def sub(a, b):
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


@kernel_helper
def axpy(a, s, b):
    """a + s * b"""
    return (a[0] + s * b[0], a[1] + s * b[1], a[2] + s * b[2])


@kernel_helper
def dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


@kernel_helper
def cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


@kernel_helper
def clamp01(x):
    return min(max(x, 0.0), 1.0)


@kernel_helper
def corner(mesh, t, k):
    """Corner k of triangle t."""
    v = mesh.faces[t, k]
    vertices = mesh.vertices
    return (np.float64(vertices[v, 0]), np.float64(vertices[v, 1]), np.float64(vertices[v, 2]))


@kernel_helper
def triangle(mesh, t):
    """The three corners of triangle t (a constant k in `corner(mesh, t, k)` would make Numba
    compile one more copy of it per value)."""
    k = np.int64(0)
    return corner(mesh, t, k), corner(mesh, t, k + 1), corner(mesh, t, k + 2)


@kernel_helper
def triangle_box(mesh, t):
    """Bounding box (lo, hi) of triangle t, computed when needed rather than stored for every triangle."""
    a, b, c = triangle(mesh, t)
    lo = (min(a[0], b[0], c[0]), min(a[1], b[1], c[1]), min(a[2], b[2], c[2]))
    hi = (max(a[0], b[0], c[0]), max(a[1], b[1], c[1]), max(a[2], b[2], c[2]))
    return lo, hi


@kernel_helper
def closest_on_segment(p, a, b):
    ab = sub(b, a)
    den = dot(ab, ab)
    t = clamp01(dot(sub(p, a), ab) / den) if den > 0.0 else 0.0
    return axpy(a, t, ab)


@kernel_helper
def closest_on_triangle(p, a, b, c):
    """Closest point of triangle abc to p (Ericson, Real-Time Collision Detection 5.1.5)."""
    ab, ac, ap = sub(b, a), sub(c, a), sub(p, a)
    d1, d2 = dot(ab, ap), dot(ac, ap)
    if d1 <= 0.0 and d2 <= 0.0:
        return a
    bp = sub(p, b)
    d3, d4 = dot(ab, bp), dot(ac, bp)
    if d3 >= 0.0 and d4 <= d3:
        return b
    cp = sub(p, c)
    d5, d6 = dot(ab, cp), dot(ac, cp)
    if d6 >= 0.0 and d5 <= d6:
        return c
    vc = d1 * d4 - d3 * d2
    if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:
        return closest_on_segment(p, a, b)
    vb = d5 * d2 - d1 * d6
    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:
        return closest_on_segment(p, a, c)
    va = d3 * d6 - d5 * d4
    if va <= 0.0 and d4 - d3 >= 0.0 and d5 - d6 >= 0.0:
        return closest_on_segment(p, b, c)
    den = va + vb + vc
    if den <= 0.0:  # zero-area triangle: its closest point lies on an edge
        q1, q2, q3 = closest_on_segment(p, a, b), closest_on_segment(p, b, c), closest_on_segment(p, a, c)
        e1, e2, e3 = sub(q1, p), sub(q2, p), sub(q3, p)
        s1, s2, s3 = dot(e1, e1), dot(e2, e2), dot(e3, e3)
        return q1 if s1 <= s2 and s1 <= s3 else (q2 if s2 <= s3 else q3)
    return axpy(axpy(a, vb / den, ab), vc / den, ac)


@kernel_helper
def closest_between_segments(p1, q1, p2, q2):
    """Closest points of segments p1q1 and p2q2 (Ericson 5.1.9), degenerate segments included."""
    d1, d2, r = sub(q1, p1), sub(q2, p2), sub(p1, p2)
    a, e, f = dot(d1, d1), dot(d2, d2), dot(d2, r)
    if a <= 0.0 and e <= 0.0:
        return p1, p2
    if a <= 0.0:
        s, t = 0.0, clamp01(f / e)
    else:
        c = dot(d1, r)
        if e <= 0.0:
            s, t = clamp01(-c / a), 0.0
        else:
            b = dot(d1, d2)
            den = a * e - b * b
            s = clamp01((b * f - c * e) / den) if den > 0.0 else 0.0
            t = (b * s + f) / e
            if t < 0.0:
                s, t = clamp01(-c / a), 0.0
            elif t > 1.0:
                s, t = clamp01((b - c) / a), 1.0
    return axpy(p1, s, d1), axpy(p2, t, d2)


@kernel_helper
def segment_hits_triangle(p, q, a, b, c):
    """Parameter t in [0, 1] where segment pq crosses triangle abc, or -1 (Möller-Trumbore)."""
    d, e1, e2 = sub(q, p), sub(b, a), sub(c, a)
    h = cross(d, e2)
    det = dot(e1, h)
    if det * det <= 1e-24 * dot(d, d) * dot(e1, e1) * dot(e2, e2):
        return -1.0  # parallel, or too nearly so to tell: the closest-point tests decide
    s = sub(p, a)
    u = dot(s, h) / det
    if u < 0.0 or u > 1.0:
        return -1.0
    w = cross(s, e1)
    v = dot(d, w) / det
    if v < 0.0 or u + v > 1.0:
        return -1.0
    t = dot(e2, w) / det
    return t if 0.0 <= t <= 1.0 else -1.0


@kernel_helper
def triangle_distance(mesh, i, j, enough=-1.0):
    """Squared distance between triangles i and j with the closest points (0 if they cross).

    Stops at the first candidate pair of points at most `enough` apart (squared), for callers
    that only ask whether the distance is below a bound.
    """
    for s, o in ((i, j), (j, i)):
        a, b, c = triangle(mesh, o)
        for k in range(3):
            p, q = corner(mesh, s, k), corner(mesh, s, (k + 1) % 3)
            t = segment_hits_triangle(p, q, a, b, c)
            if t >= 0.0:
                x = axpy(p, t, sub(q, p))
                return 0.0, x, x
    best, bp, bq = np.inf, triangle(mesh, i)[0], triangle(mesh, j)[0]
    for s, o in ((i, j), (j, i)):
        a, b, c = triangle(mesh, o)
        for k in range(3):
            p = corner(mesh, s, k)
            q = closest_on_triangle(p, a, b, c)
            e = sub(q, p)
            d2 = dot(e, e)
            if d2 < best:
                best, bp, bq = d2, (p if s == i else q), (q if s == i else p)
                if best <= enough:
                    return best, bp, bq
    for k in range(3):
        p1, q1 = corner(mesh, i, k), corner(mesh, i, (k + 1) % 3)
        for m in range(3):
            p2, q2 = corner(mesh, j, m), corner(mesh, j, (m + 1) % 3)
            x, y = closest_between_segments(p1, q1, p2, q2)
            e = sub(y, x)
            d2 = dot(e, e)
            if d2 < best:
                best, bp, bq = d2, x, y
                if best <= enough:
                    return best, bp, bq
    return best, bp, bq


@kernel_helper
def plane_separated(mesh, i, j, gap):
    """Whether triangle j lies entirely farther than gap beyond the plane of triangle i, or beyond
    one of the planes through its edges square to it (outside the prism over the triangle).

    Cheap sufficient tests for distance > gap: the first settles most near-parallel pairs, the
    others pairs that cross the plane away from the triangle (a leg and the wrong half of a seat).
    """
    a, b, c = triangle(mesh, i)
    p, q, r = triangle(mesh, j)
    n = cross(sub(b, a), sub(c, a))
    length = math.sqrt(dot(n, n))
    if length == 0.0:
        return False
    above = below = 0
    for x in (p, q, r):
        d = dot(n, sub(x, a)) / length
        above += d > gap
        below += d < -gap
    if above == 3 or below == 3:
        return True
    for s, e in ((a, b), (b, c), (c, a)):
        m = cross(sub(e, s), n)  # in the plane, pointing away from the triangle
        length = math.sqrt(dot(m, m))
        if length > 0.0 and min(dot(m, sub(p, s)), dot(m, sub(q, s)), dot(m, sub(r, s))) > gap * length:
            return True
    return False


@kernel_helper
def apart(mesh, i, j, gap):
    """Whether triangles i and j are shown farther than gap apart by a plane of either."""
    return plane_separated(mesh, i, j, gap) or plane_separated(mesh, j, i, gap)


@kernel_helper
def winding(p, mesh, start, stop):
    """Generalised winding number of triangles start:stop around p (1 inside a closed mesh, 0 outside).

    Sum of signed solid angles (Van Oosterom & Strackee); robust to duplicated vertices and
    unwelded seams, and its sign flips for inward-facing meshes, so callers use abs().
    """
    total = 0.0
    for t in range(start, stop):
        a, b, c = triangle(mesh, t)
        a, b, c = sub(a, p), sub(b, p), sub(c, p)
        la, lb, lc = math.sqrt(dot(a, a)), math.sqrt(dot(b, b)), math.sqrt(dot(c, c))
        num = dot(a, cross(b, c))
        den = la * lb * lc + dot(a, b) * lc + dot(a, c) * lb + dot(b, c) * la
        total += math.atan2(num, den)
    return total / (2.0 * math.pi)


@kernel_helper
def boxes_overlap(lo1, hi1, lo2, hi2, pad):
    """Whether boxes lo1..hi1 and lo2..hi2 meet once each is grown by pad."""
    for k in range(3):
        if lo1[k] - pad > hi2[k] or lo2[k] - pad > hi1[k]:
            return False
    return True


@kernel_helper
def point_in_box(p, lo, hi):
    return lo[0] <= p[0] <= hi[0] and lo[1] <= p[1] <= hi[1] and lo[2] <= p[2] <= hi[2]


@kernel_helper
def box_distance(lo1, hi1, lo2, hi2):
    """Smallest distance between boxes lo1..hi1 and lo2..hi2 (0 if they meet)."""
    s = 0.0
    for k in range(3):
        d = max(0.0, lo1[k] - hi2[k], lo2[k] - hi1[k])
        s += d * d
    return math.sqrt(s)


@kernel_helper
def merge_sort(keys):
    """Sorts the 1-D float array `keys` in place, equal keys kept in order, and returns where each
    came from (what NumPy's stable argsort returns). Bottom-up: Numba's own argsort compiles six
    functions, a second on a first run, this one a fifth of that."""
    n = keys.shape[0]
    order = np.empty(n, np.int64)
    for i in range(n):
        order[i] = i
    keys_from, order_from, keys_to, order_to = keys, order, np.empty(n), np.empty(n, np.int64)
    width = 1
    while width < n:  # merge runs of `width` from one pair of buffers into the other
        for start in range(0, n, 2 * width):
            middle, stop = min(start + width, n), min(start + 2 * width, n)
            i, j = start, middle
            for k in range(start, stop):
                if j == stop or (i < middle and keys_from[i] <= keys_from[j]):
                    keys_to[k], order_to[k] = keys_from[i], order_from[i]
                    i += 1
                else:
                    keys_to[k], order_to[k] = keys_from[j], order_from[j]
                    j += 1
        keys_from, order_from, keys_to, order_to = keys_to, order_to, keys_from, order_from
        width *= 2
    for i in range(n):
        keys[i] = keys_from[i]
    return order_from


@njit(cache=True)
def catmull_rom(points, closed, per_span):
    """Centripetal Catmull-Rom spline through the rows of `points` (m, d), m >= 2, consecutive
    rows distinct: `per_span` samples per span, the first of each being its control point
    exactly; an open curve ends with its last point, a closed one returns to its first.

    Centripetal (knots spaced by the square root of the chord) so that it neither loops nor
    cusps between unevenly spaced points. An open curve's missing end neighbours are the
    reflections of the second and the second-last points. Scalar loops, not array expressions:
    they compile in a fraction of the time.
    """
    m, d = points.shape
    spans = m if closed else m - 1
    out = np.empty((spans * per_span + (0 if closed else 1), d))
    c = np.empty((4, d))  # the span's four control points
    for i in range(spans):
        for j in range(d):
            p1, p2 = points[i, j], points[(i + 1) % m, j]
            if closed:
                p0, p3 = points[(i - 1) % m, j], points[(i + 2) % m, j]
            else:
                p0 = points[i - 1, j] if i > 0 else 2.0 * p1 - p2
                p3 = points[i + 2, j] if i + 2 < m else 2.0 * p2 - p1
            c[0, j], c[1, j], c[2, j], c[3, j] = p0, p1, p2, p3
            out[i * per_span, j] = p1
        t1 = math.sqrt(_chord(c, 0))
        t2 = t1 + math.sqrt(_chord(c, 1))
        t3 = t2 + math.sqrt(_chord(c, 2))
        for k in range(1, per_span):
            t = t1 + (t2 - t1) * k / per_span
            for j in range(d):
                a1 = _knot_lerp(c[0, j], c[1, j], 0.0, t1, t)
                a2 = _knot_lerp(c[1, j], c[2, j], t1, t2, t)
                a3 = _knot_lerp(c[2, j], c[3, j], t2, t3, t)
                b1, b2 = _knot_lerp(a1, a2, 0.0, t2, t), _knot_lerp(a2, a3, t1, t3, t)
                out[i * per_span + k, j] = _knot_lerp(b1, b2, t1, t2, t)
    if not closed:
        for j in range(d):
            out[-1, j] = points[m - 1, j]
    return out


@kernel_helper
def _chord(c, k):
    """Length of the chord from control point k to k + 1."""
    s = 0.0
    for j in range(c.shape[1]):
        s += (c[k + 1, j] - c[k, j]) ** 2
    return math.sqrt(s)


@kernel_helper
def _knot_lerp(a, b, ta, tb, t):
    """The value at knot t on the line through a (at knot ta) and b (at knot tb): one step of
    Barry and Goldman's pyramid. Coincident knots give a."""
    if tb <= ta:
        return a
    return a * ((tb - t) / (tb - ta)) + b * ((t - ta) / (tb - ta))
