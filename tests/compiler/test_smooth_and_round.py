"""Smooth outlines and rounded edges against NumPy reference math: the spline through the control
points (the centripetal Catmull-Rom formula), rounded boxes and extrusions on their analytic
surfaces with the analytic normals and volume, watertight, and their errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from proto3d.compiler import compile_text, tessellate
from proto3d.compiler.geometry import catmull_rom
from proto3d.compiler.primitives import _largest_round
from proto3d.compiler.tessellate import _crossing_edges, _lathe_profile, local_bounds
from proto3d.errors import Proto3dError
from tests.compiler.test_tessellate import (
    assert_closed_and_oriented,
    assert_normals_agree_with_winding,
    signed_volume,
    tess,
)


def reference_spline(points, closed, per_span):
    """Centripetal Catmull-Rom (alpha = 1/2) in its textbook form: the cubic Hermite segment
    whose end tangents come from the non-uniform knots (Yuksel, Schaefer and Keyser 2011)."""
    p = np.asarray(points, float)
    m = len(p)
    out = []
    for i in range(m if closed else m - 1):
        p1, p2 = p[i], p[(i + 1) % m]
        p0 = p[(i - 1) % m] if closed or i > 0 else 2 * p1 - p2
        p3 = p[(i + 2) % m] if closed or i + 2 < m else 2 * p2 - p1
        d01, d12, d23 = (np.linalg.norm(b - a) ** 0.5 for a, b in ((p0, p1), (p1, p2), (p2, p3)))
        m1 = d12 * ((p1 - p0) / d01 - (p2 - p0) / (d01 + d12) + (p2 - p1) / d12)
        m2 = d12 * ((p2 - p1) / d12 - (p3 - p1) / (d12 + d23) + (p3 - p2) / d23)
        for u in np.arange(per_span) / per_span:
            h00, h10, h01, h11 = (
                2 * u**3 - 3 * u**2 + 1,
                u**3 - 2 * u**2 + u,
                -2 * u**3 + 3 * u**2,
                u**3 - u**2,
            )
            out.append(h00 * p1 + h10 * m1 + h01 * p2 + h11 * m2)
    if not closed:
        out.append(p[-1])
    return np.array(out)


CONTROL = np.array([[0.0, 0.0], [1.0, 0.1], [1.3, 1.0], [0.2, 2.5], [-0.4, 1.0]])


@pytest.mark.parametrize("closed", [False, True])
@pytest.mark.parametrize("per_span", [1, 3, 8])
def test_spline_matches_the_centripetal_formula_and_passes_through_every_point(closed, per_span):
    curve = catmull_rom(CONTROL, closed, per_span)
    spans = len(CONTROL) if closed else len(CONTROL) - 1
    assert len(curve) == spans * per_span + (0 if closed else 1)
    np.testing.assert_allclose(curve, reference_spline(CONTROL, closed, per_span), atol=1e-12)
    np.testing.assert_array_equal(curve[::per_span][: len(CONTROL)], CONTROL)  # exactly, not nearly


def test_spline_works_in_three_dimensions_and_on_a_straight_pair():
    path = np.array([[0.0, 0, 0], [0.1, 0, 0.08], [0.13, 0.02, 0.13]])
    np.testing.assert_allclose(catmull_rom(path, False, 8), reference_spline(path, False, 8), atol=1e-12)
    np.testing.assert_allclose(
        catmull_rom(np.array([[0.0, 0.0], [1.0, 0.0]]), False, 4)[:, 0], [0, 0.25, 0.5, 0.75, 1], atol=1e-12
    )


def outline(t, z):
    """The vertices of a mesh at height z, as (x, y) points."""
    v = t.vertices.astype(np.float64)
    return v[np.abs(v[:, 2] - z) < 1e-6][:, :2]


@pytest.mark.parametrize("segments, per_span", [(32, 8), (12, 3), (3, 2), (256, 64)])
def test_smooth_extrude_walls_follow_the_spline_sampled_segments_over_four_per_span(segments, per_span):
    params = {"polygon": CONTROL, "h": 0.2, "round": 0.0, "smooth": True}
    t = tess("extrude", params, segments=segments)
    expected = reference_spline(CONTROL, True, per_span)
    bottom = np.unique(outline(t, 0.0).round(6), axis=0)
    assert len(bottom) == len(expected)
    d = np.linalg.norm(bottom[:, None] - expected[None], axis=2)
    assert d.min(axis=1).max() < 1e-6 and d.min(axis=0).max() < 1e-6
    assert_closed_and_oriented(t)
    area = 0.5 * np.sum(
        expected[:, 0] * np.roll(expected[:, 1], -1) - np.roll(expected[:, 0], -1) * expected[:, 1]
    )
    assert signed_volume(t) == pytest.approx(abs(area) * 0.2, rel=1e-6)


def test_a_smooth_outline_has_at_most_the_points_limit_of_samples():
    angles = np.linspace(0, 2 * np.pi, 1500, endpoint=False)
    circle = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    t = tess("extrude", {"polygon": circle, "h": 0.1, "round": 0.0, "smooth": True}, segments=256)
    assert len(np.unique(outline(t, 0.0).round(7), axis=0)) == 1500  # one sample per span: 2000 // 1500


def test_smooth_lathe_keeps_its_ends_on_the_axis_and_passes_through_every_point():
    profile = np.array([[0.0, 0.0], [0.05, 0.01], [0.03, 0.08], [0.045, 0.16], [0.0, 0.2]])
    t = tess("lathe", {"profile": profile, "angle": 360.0, "smooth": True}, segments=32)
    v = t.vertices.astype(np.float64)
    rz = np.stack([np.hypot(v[:, 0], v[:, 1]), v[:, 2]], axis=1)
    expected = reference_spline(profile, False, 8)
    d = np.linalg.norm(rz[:, None] - expected[None], axis=2)
    assert d.min(axis=0).max() < 1e-6  # every spline sample is a ring of the mesh
    assert d.min(axis=1).max() < 1e-6  # and nothing else is: the ends need no closing to the axis
    assert rz[:, 1].min() == 0.0 and rz[:, 1].max() == pytest.approx(0.2)
    assert_closed_and_oriented(t)


def test_smooth_closed_lathe_profile_is_a_closed_spline_ring():
    ring = np.array([[0.3, 0.0], [0.4, 0.1], [0.3, 0.2], [0.2, 0.1], [0.3, 0.0]])
    t = tess("lathe", {"profile": ring, "angle": 360.0, "smooth": True}, segments=32)
    v = t.vertices.astype(np.float64)
    rho = np.hypot(v[:, 0], v[:, 1])
    assert rho.min() > 0.19  # no closing to the axis
    expected = reference_spline(ring[:-1], True, 8)
    d = np.hypot(rho[:, None] - expected[None, :, 0], v[:, 2:3] - expected[None, :, 1])
    assert d.min(axis=1).max() < 1e-6
    assert_closed_and_oriented(t)


# ---------------------------------------------------------------------------------------------
# Rounded edges.


def closest_in_box(p, lo, hi):
    return np.clip(p, lo, hi)


@pytest.mark.parametrize("segments", [4, 12, 32])
def test_rounded_box_vertices_and_normals_are_those_of_the_analytic_surface(segments):
    size, r = np.array([0.3, 0.2, 0.1]), 0.02
    t = tess("box", {"size": size, "round": r}, segments=segments)
    v, n = t.vertices.astype(np.float64), t.normals.astype(np.float64)
    inner = size / 2 - r
    offset = v - closest_in_box(v, -inner, inner)
    np.testing.assert_allclose(np.linalg.norm(offset, axis=1), r, rtol=1e-5)
    np.testing.assert_allclose(n, offset / r, atol=1e-5)
    assert trimesh.Trimesh(t.vertices, t.faces).is_watertight


def inset_convex(poly, r):
    """A convex counter-clockwise polygon moved inward by r: the corners of the offset edge lines."""
    e = np.roll(poly, -1, axis=0) - poly
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    normal = np.stack([e[:, 1], -e[:, 0]], axis=1)
    start = poly - r * normal  # a point of each offset line
    prev_start, prev_e = np.roll(start, 1, axis=0), np.roll(e, 1, axis=0)
    # prev_start + s * prev_e = start + t * e, solved for s
    a = np.stack([prev_e, -e], axis=2)
    s = np.linalg.solve(a, (start - prev_start)[..., None])[:, 0, 0]
    return prev_start + s[:, None] * prev_e


def closest_in_polygon(p, poly):
    """Closest points of a convex polygon (region) to the points p (2D)."""
    a, b = poly, np.roll(poly, -1, axis=0)
    ab = b - a
    t = np.clip(np.einsum("pkj,kj->pk", p[:, None] - a[None], ab) / np.einsum("kj,kj->k", ab, ab), 0, 1)
    q = a[None] + t[..., None] * ab[None]
    best = q[np.arange(len(p)), np.argmin(np.linalg.norm(q - p[:, None], axis=2), axis=1)]
    normal = np.stack([ab[:, 1], -ab[:, 0]], axis=1)
    inside = np.all(np.einsum("pkj,kj->pk", p[:, None] - a[None], normal) <= 1e-12, axis=1)
    return np.where(inside[:, None], p, best)


HEXAGON = np.array([[0.0, 0.0], [0.3, -0.05], [0.45, 0.15], [0.35, 0.4], [0.05, 0.42], [-0.1, 0.2]])


@pytest.mark.parametrize("segments", [4, 16, 64])
def test_rounded_convex_extrusion_lies_on_its_analytic_surface_with_exact_normals(segments):
    h, r = 0.12, 0.03
    t = tess("extrude", {"polygon": HEXAGON, "h": h, "round": r, "smooth": False}, segments=segments)
    v, n = t.vertices.astype(np.float64), t.normals.astype(np.float64)
    core = inset_convex(HEXAGON, r)  # the solid is this prism over [r, h - r], grown by r
    closest = np.column_stack([closest_in_polygon(v[:, :2], core), np.clip(v[:, 2], r, h - r)])
    offset = v - closest
    np.testing.assert_allclose(np.linalg.norm(offset, axis=1), r, rtol=1e-6)
    np.testing.assert_allclose(n, offset / r, atol=1e-6)
    assert_closed_and_oriented(t)
    mesh = trimesh.Trimesh(t.vertices, t.faces)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0


def rounded_prism_volume(poly, h, r):
    """Every edge of a prism rounded by r: at height z the section is the rounded outline moved
    inward by d = r (1 - cos phi), of area A - L d + pi d^2 (lines shift, arcs change radius)."""
    e = np.roll(poly, -1, axis=0) - poly
    length = np.linalg.norm(e, axis=1)
    before = np.roll(e, 1, axis=0)
    turn = np.arctan2(before[:, 0] * e[:, 1] - before[:, 1] * e[:, 0], np.einsum("ij,ij->i", before, e))
    area = 0.5 * np.sum(poly[:, 0] * np.roll(poly[:, 1], -1) - np.roll(poly[:, 0], -1) * poly[:, 1])
    area_r = area - r**2 * np.sum(np.tan(turn / 2) - turn / 2)
    perimeter_r = length.sum() - np.sum(2 * r * np.tan(np.abs(turn) / 2) - r * np.abs(turn))
    fillets = 2 * r * (area_r - perimeter_r * r * (1 - np.pi / 4) + np.pi * r**2 * (5 / 3 - np.pi / 2))
    return area_r * (h - 2 * r) + fillets


L_SHAPE = np.array([[0.0, 0.0], [0.4, 0.0], [0.4, 0.15], [0.15, 0.15], [0.15, 0.3], [0.0, 0.3]])


@pytest.mark.parametrize(
    "poly, h, r",
    [(HEXAGON, 0.12, 0.03), (L_SHAPE, 0.1, 0.04), (L_SHAPE[::-1], 0.08, 0.04), (L_SHAPE, 0.2, 0.01)],
)
def test_rounded_extrusion_volume_is_the_analytic_one_concave_corners_too(poly, h, r):
    t = tess("extrude", {"polygon": poly, "h": h, "round": r, "smooth": False}, segments=256)
    ccw = (
        poly
        if 0 < np.sum(poly[:, 0] * np.roll(poly[:, 1], -1) - np.roll(poly[:, 0], -1) * poly[:, 1])
        else poly[::-1]
    )
    assert signed_volume(t) == pytest.approx(rounded_prism_volume(ccw, h, r), rel=2e-4)
    assert_closed_and_oriented(t)
    assert trimesh.Trimesh(t.vertices, t.faces).is_watertight


def test_rounded_concave_corner_is_a_fillet_around_an_axis_outside_the_solid():
    """The notch of the L: its wall is a quarter cylinder of radius r about the vertical line
    through (0.15 + r, 0.15 + r), normals pointing to that line."""
    r = 0.04
    t = tess("extrude", {"polygon": L_SHAPE, "h": 0.1, "round": r, "smooth": False}, segments=64)
    v, n = t.vertices.astype(np.float64), t.normals.astype(np.float64)
    axis = np.array([0.15 + r, 0.15 + r])
    wall = (
        (np.abs(v[:, 2] - 0.05) <= 0.01 + 1e-7)
        & np.all(v[:, :2] < axis, axis=1)
        & np.all(v[:, :2] > 0.14, axis=1)
    )
    assert wall.sum() >= 2 * 17
    d = v[wall, :2] - axis
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), r, rtol=1e-6)
    np.testing.assert_allclose(n[wall, :2], -d / r, atol=1e-6)
    assert np.all(n[wall, 2] == 0)


def test_rounded_extrusion_of_a_smooth_outline_is_closed():
    t = tess("extrude", {"polygon": CONTROL, "h": 0.3, "round": 0.05, "smooth": True}, segments=24)
    assert_closed_and_oriented(t)
    assert trimesh.Trimesh(t.vertices, t.faces).is_watertight


# ---------------------------------------------------------------------------------------------
# The language: names, old names, errors.


def compile_one(call):
    return compile_text(f"part p {{ {call} }}")


def error(call):
    with pytest.raises(Proto3dError) as caught:
        compile_one(call)
    return caught.value.diagnostics[0]


def test_bevel_is_the_old_name_of_round():
    old = compile_one("box(size=[0.2, 0.2, 0.1], bevel=0.02)")
    new = compile_one("box(size=[0.2, 0.2, 0.1], round=0.02)")
    np.testing.assert_array_equal(old.vertices, new.vertices)
    assert new.primitives[0].params["round"] == 0.02
    both = error("box(size=[0.2, 0.2, 0.1], round=0.02, bevel=0.02)")
    assert (both.code, both.span.line, both.span.column) == ("E104", 1, 10)
    assert "old name" in both.message


@pytest.mark.parametrize(
    "call, largest",
    [
        ("extrude(polygon=[[0, 0], [1, 0], [1, 0.1], [0, 0.1]], h=1, round=0.06)", "0.05"),
        ("extrude(polygon=[[0, 0], [1, 0], [1, 1], [0, 1]], h=0.1, round=0.06)", "0.05"),
        ("extrude(polygon=[[0, 0], [1, 0], [1, 1], [0, 1]], h=0.1, round=0.06, smooth=true)", "0.05"),
        ("extrude(polygon=[[0, 0], [1, 0], [0, 0.1]], h=1, round=0.1)", "0.0475062"),  # a triangle's inradius
    ],
)
def test_a_round_too_large_for_the_edges_or_the_height_is_e125(call, largest):
    diagnostic = error(call)
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) == ("E125", 1, 10)
    assert f"at most {largest}" in diagnostic.message


def test_a_corner_all_but_straight_limits_no_round_and_warns_nothing():
    """Found by the fuzzer: a turn of 1e-308 rad needs 5e-309 of each edge per unit of round, and
    the edge's length over that overflowed with a RuntimeWarning on the user's terminal."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        largest = _largest_round(np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 1e-308], [1.0, 1.0]]))
    assert largest == pytest.approx(np.sqrt(2) - 1)  # the corners that do turn decide


def test_negative_round_is_e107():
    assert error("extrude(polygon=[[0, 0], [1, 0], [0, 1]], h=1, round=-0.1)").code == "E107"
    assert error("box(size=[1, 1, 1], round=-0.1)").code == "E107"


@pytest.mark.parametrize(
    "kind, params",
    [
        ("extrude", {"polygon": CONTROL, "h": 0.3, "round": 0.05, "smooth": True}),
        ("extrude", {"polygon": L_SHAPE, "h": 0.1, "round": 0.04, "smooth": False}),
        ("extrude", {"polygon": CONTROL, "h": -0.2, "round": 0.0, "smooth": True}),
        ("lathe", {"profile": CONTROL * [0.1, 0.1] + [0.2, 0], "angle": 360.0, "smooth": True}),
        ("lathe", {"profile": CONTROL * [0.1, 0.1] + [0.2, 0], "angle": 100.0, "smooth": True}),
    ],
)
def test_bounds_of_a_smooth_or_rounded_outline_hold_its_mesh_at_256_facets_tightly(kind, params):
    lo, hi = local_bounds(kind, params)
    t = tess(kind, params, segments=256)
    vmin, vmax = t.vertices.min(axis=0), t.vertices.max(axis=0)
    assert np.all(lo <= vmin + 2e-7) and np.all(hi >= vmax - 2e-7)  # a revolution's box is exact in angle
    np.testing.assert_allclose(lo, vmin, atol=1e-5)
    np.testing.assert_allclose(hi, vmax, atol=1e-5)


@pytest.mark.parametrize(
    "call",
    [
        "extrude(polygon=[[0, 0], [1, 0], [1, 1], [0, 1]], h=0.2, holes=[[[0.4, 0.4], [0.6, 0.4], [0.5, 0.6]]],"
        " round=0.01)",
        "extrude(polygon=[[0, 0], [1, 0], [1, 1], [0, 1]], h=0.2, holes=[[[0.4, 0.4], [0.6, 0.4], [0.5, 0.6]]],"
        " smooth=true)",
        "lathe(profile=[[0, 0], [0.1, 0.05], [0.1, 0.2]], thickness=0.01, smooth=true)",
    ],
)
def test_round_and_smooth_do_not_combine_with_holes_or_a_lathe_wall_yet(call):
    diagnostic = error(call)
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) == ("E126", 1, 10)


def test_smooth_lathe_revolves_from_start():
    profile = np.array([[0.0, 0.0], [0.05, 0.01], [0.03, 0.08], [0.0, 0.1]])
    t = tess("lathe", {"profile": profile, "angle": 90.0, "start": 90.0, "smooth": True}, segments=32)
    v = t.vertices.astype(np.float64)
    assert v[:, 0].min() < -0.04 and v[:, 0].max() <= 1e-7  # the quarter from +Y to -X
    assert v[:, 1].min() >= -1e-7 and v[:, 1].max() > 0.04
    assert_closed_and_oriented(t)


NECK = "[[2, 1], [1.5, 1.8660254], [0.875, 1.21650635], [0, 1], [0.5, 0.1339746], [1.125, 0.78349365]]"
DUMBBELL = "[[0, 0], [1, 0], [1, 0.45], [2, 0.45], [2, 0], [3, 0], [3, 1], [2, 1], [2, 0.55], [1, 0.55], [1, 1], [0, 1]]"


@pytest.mark.parametrize(
    "call, largest",
    [  # a smooth outline pinched to a neck (found by the property test), a dumbbell's 0.1 wide bar
        (f"extrude(polygon={NECK}, h=1, round=0.45, smooth=true, segments=3)", 0.299645 * 0.999),
        (f"extrude(polygon={DUMBBELL}, h=1, round=0.1)", 0.05 * 0.999),
    ],
)
def test_a_round_whose_opposite_fillets_cross_is_e125_and_the_largest_that_fits_is_closed(call, largest):
    diagnostic = error(call)
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) == ("E125", 1, 10)
    stated = float(diagnostic.message.split("at most ")[1].split()[0])
    assert stated == pytest.approx(largest, rel=1e-5)
    for fits in (stated, stated * 0.9):
        t = compile_one(
            call.replace(f"round={call.split('round=')[1].split(',')[0].rstrip(')')}", f"round={fits!r}")
        )
        assert_closed_and_oriented(t)
        mesh = trimesh.Trimesh(t.vertices, t.faces)
        assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
        assert signed_volume(t) > 0


# ---------------------------------------------------------------------------------------------
# Smooth lathe profiles that would loop.


def crossing_edges(loop):
    """Pairs of edges of the closed loop that cross properly (each strictly across the other's line),
    by brute force over every pair."""
    a, b = loop, np.roll(loop, -1, axis=0)
    n = len(loop)

    def side(p, q, r):
        return np.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]))

    return [
        (i, j)
        for i in range(n)
        for j in range(i + 2, n - 1 if i == 0 else n)
        if side(a[i], b[i], a[j]) * side(a[i], b[i], b[j]) < 0
        and side(a[j], b[j], a[i]) * side(a[j], b[j], b[i]) < 0
    ]


def closed_to_axis(curve):
    """The outline a lathe revolves: the open profile curve with its ends joined to the axis."""
    return np.vstack([[[0.0, curve[0, 1]]], curve, [[0.0, curve[-1, 1]]]])


def lathe_cap(profile, segments=32):
    """The outline the kernel revolves for a smooth open profile (its cap polygon)."""
    points = np.zeros((len(profile), 4))
    points[:, :2] = profile
    return _lathe_profile(points, True, segments)[3]


def revolved_volume(loop, angle, facets):
    """The volume of a polygon in the (r, z) half plane turned by `angle` degrees in `facets` flat
    facets: each point (r, z) sweeps a chord fan whose cross-section scales by sin(step), so the
    volume is facets * sin(step) times the polygon's first moment about the axis."""
    r, z = loop[:, 0], loop[:, 1]
    r2, z2 = np.roll(r, -1), np.roll(z, -1)
    moment = np.sum((r * z2 - r2 * z) * (r + r2)) / 6
    return facets * np.sin(np.radians(angle) / facets) * abs(moment)


# Found by the transform property test: the spline's last span rises steeply off the vertical
# stretch, overshoots the top (z = 1.5546875) and dips back under it, so it crosses the line that
# closes the profile to the axis; a 20 degree turn's caps then had clockwise triangles.
LOOPING = np.array([[1.0, 0.5], [0.5, 1.0], [0.5, 1.5], [1.0, 1.5546875]])


def test_a_smooth_lathe_span_that_would_cross_the_closing_line_is_drawn_towards_its_chord():
    spline = reference_spline(LOOPING, False, 8)
    assert crossing_edges(closed_to_axis(spline)), "the plain spline must loop for this test to mean anything"
    cap = lathe_cap(LOOPING)
    assert crossing_edges(cap) == []
    assert len(cap) == len(spline) + 2
    curve = cap[1:-1] if cap[0, 1] == LOOPING[0, 1] else cap[::-1][1:-1]  # from the first point
    np.testing.assert_array_equal(curve[::8], LOOPING)  # every written point exactly
    np.testing.assert_allclose(curve[:17], spline[:17], atol=1e-12)  # the first two spans as they were
    chord = LOOPING[2] + (LOOPING[3] - LOOPING[2]) * (np.arange(9) / 8)[:, None]
    share = (curve[17:24] - chord[1:-1]) / (spline[17:24] - chord[1:-1])  # the last span: halfway there
    np.testing.assert_allclose(share, 0.5, atol=1e-9)

    t = tess("lathe", {"profile": LOOPING, "angle": 20.0, "start": 0.0, "smooth": True})
    assert_closed_and_oriented(t)
    assert_normals_agree_with_winding(t)
    assert signed_volume(t) == pytest.approx(revolved_volume(cap, 20.0, 3), rel=1e-6)


@st.composite
def stepped_profile(draw):
    """An open lathe profile rising in z (so it never crosses itself), often with a short first
    or last step, where a spline overshoots the line that closes the profile to the axis."""
    n = draw(st.integers(3, 7))
    steps = np.array(draw(st.lists(st.floats(0.005, 0.5), min_size=n, max_size=n)))
    r = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n)))
    for span in (1, n - 1):
        if draw(st.booleans()):
            steps[span] = draw(st.floats(0.005, 0.08))
    r[0] = 0.0 if draw(st.booleans()) else r[0]
    r[-1] = 0.0 if draw(st.booleans()) else r[-1]
    return np.stack([r, np.cumsum(steps)], axis=1)


@settings(max_examples=60, deadline=None)
@given(profile=stepped_profile(), segments=st.sampled_from([8, 32, 64]), angle=st.floats(20.0, 340.0))
def test_a_smooth_lathe_never_loops_and_keeps_every_spline_that_does_not(profile, segments, angle):
    cap = lathe_cap(profile, segments)
    assert crossing_edges(cap) == []
    assert np.all(np.isin(profile.view(np.complex128), cap.view(np.complex128)))  # every written point
    plain = catmull_rom(profile, False, max(2, segments // 4))
    plain[:, 0] = np.maximum(plain[:, 0], 0.0)
    if not crossing_edges(closed_to_axis(plain)):  # a spline that does not loop is kept bit for bit
        assert np.all(np.isin(plain.view(np.complex128), cap.view(np.complex128)))
    t = tess("lathe", {"profile": profile, "angle": angle, "start": 0.0, "smooth": True}, segments=segments)
    assert_closed_and_oriented(t)
    assert_normals_agree_with_winding(t)


def flags(pairs, n):
    """The edges of an n-gon in any of the pairs."""
    out = np.zeros(n, dtype=bool)
    for pair in pairs:
        out[list(pair)] = True
    return out


grid_polygon = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=3, max_size=30)
float_polygon = st.lists(st.tuples(st.floats(-2.0, 2.0), st.floats(-2.0, 2.0)), min_size=3, max_size=30)


@settings(max_examples=300, deadline=None)
@given(polygon=st.one_of(grid_polygon, float_polygon).map(lambda p: np.array(p, dtype=float)))
def test_the_sweep_finds_the_crossings_of_every_pair_testing_each_pair_at_most_once(polygon):
    # The grid gives repeated points, edges that touch or overlap along a line: none of them cross.
    n = len(polygon)
    found, left = _crossing_edges(polygon, 10**9, False)
    np.testing.assert_array_equal(found, flags(crossing_edges(polygon), n))
    assert 10**9 - left <= n * (n - 1) // 2


def test_the_sweep_tests_a_few_pairs_per_edge_of_a_vase_and_no_more_than_its_budget():
    z = np.linspace(0.0, 1.0, 2000)
    vase = closed_to_axis(np.stack([0.3 + 0.1 * np.sin(20 * z), z], axis=1))
    found, left = _crossing_edges(vase, 10**9, False)
    assert not found.any() and 10**9 - left <= 3 * len(vase)  # not the 2 million pairs

    scribble = np.random.default_rng(7).random((300, 2))
    every, left = _crossing_edges(scribble, 10**9, False)
    np.testing.assert_array_equal(every, flags(crossing_edges(scribble), 300))
    tested = 10**9 - left
    some, left = _crossing_edges(scribble, tested // 2, False)
    assert left == -1 and np.all(every[some]) and some.sum() < every.sum()  # ran out: a part of them
    first, _ = _crossing_edges(scribble, 10**9, True)
    assert tuple(np.flatnonzero(first)) in crossing_edges(scribble)  # stopped at one crossing pair


# Each crosses itself as written (its chords cross), so no flattening could help: the spline
# stays as it is, loops and all. The zigzag has one sample per span: its spline is the profile.
CROSSED = np.array([[1.0, 0.0], [2.0, 1.0], [2.0, 0.0], [1.0, 1.0]])
ZIGZAG = np.array([[1.0 + i % 2, (i % 3) * 0.01 + i * 0.0001] for i in range(1500)])


@pytest.mark.parametrize(("profile", "per"), [(CROSSED, 8), (ZIGZAG, 1)], ids=["crossed", "zigzag"])
def test_a_smooth_lathe_profile_that_crosses_itself_as_written_keeps_its_spline(profile, per):
    assert crossing_edges(closed_to_axis(profile))
    spline = catmull_rom(profile, False, per)  # samples per span at the default 32 segments
    assert crossing_edges(closed_to_axis(spline))
    cap = lathe_cap(profile)
    assert len(cap) == len(spline) + 2
    assert np.all(np.isin(spline.view(np.complex128), cap.view(np.complex128)))


def test_a_smooth_lathe_check_that_runs_out_of_its_budget_keeps_the_spline(monkeypatch):
    spline = tessellate._spline(LOOPING, False, 32)
    flattened = tessellate._smooth_profile(LOOPING, 32)
    np.testing.assert_array_equal(tessellate._smooth_profile.py_func(LOOPING, 32), flattened)
    assert not np.array_equal(flattened, spline)
    monkeypatch.setattr(tessellate, "UNLOOP_PAIRS", 1)  # enough for the written profile, not the rounds
    np.testing.assert_array_equal(tessellate._smooth_profile.py_func(LOOPING, 32), spline)
