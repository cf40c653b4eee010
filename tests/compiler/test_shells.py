"""Shells and partial solids (cut and hollow spheres, ellipsoids and lathes) and primitives placed
between two points, against NumPy reference geometry; closed and outward meshes checked with trimesh."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proto3d.compiler import compile_text
from proto3d.compiler.primitives import PRIMITIVES
from proto3d.errors import Proto3dError, Span
from tests.compiler.test_tessellate import assert_closed_and_oriented, signed_volume, tess

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def mesh_of(program: str) -> trimesh.Trimesh:
    shape = compile_text(program)
    return trimesh.Trimesh(shape.vertices.astype(np.float64), shape.faces, process=True)


def assert_watertight_outward(mesh: trimesh.Trimesh) -> None:
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume > 0


def normalised(kind: str, **args) -> dict:
    defaults = {p.name: p.default for p in PRIMITIVES[kind].signature}
    values = {
        **defaults,
        **{k: np.asarray(v, float) if isinstance(v, list) else float(v) for k, v in args.items()},
    }
    return PRIMITIVES[kind].normalise(values, Span())


def azimuths(v: np.ndarray, start: float) -> np.ndarray:
    """Azimuth of each off-axis vertex in degrees, counted from `start` into [0, 360)."""
    off = np.hypot(v[:, 0], v[:, 1]) > 1e-9
    rel = (np.degrees(np.arctan2(v[off, 1], v[off, 0])) - start) % 360.0
    return np.where(rel > 360.0 - 1e-4, rel - 360.0, rel)


# ---------------------------------------------------------------------------------------------
# Spheres and ellipsoids: thickness, polar and azimuth cuts.

cuts = st.tuples(st.just(0.0) | st.floats(1.0, 150.0), st.floats(10.0, 180.0)).map(
    lambda p: (p[0], min(180.0, p[0] + p[1]))
)


@SETTINGS
@given(
    r=st.floats(0.1, 2.0),
    wall=st.floats(0.02, 0.9),
    polar=cuts,
    angle=st.sampled_from([360.0, 90.0, 180.0, 250.0]),
    start=st.floats(-180.0, 180.0),
    segments=st.integers(3, 64),
)
def test_a_sphere_shell_lies_on_its_outer_and_inner_spheres_within_its_cuts(
    r, wall, polar, angle, start, segments
):
    params = normalised("sphere", r=r, thickness=wall * r, polar=list(polar), angle=angle, start=start)
    t = tess("sphere", params, segments=segments)
    v = t.vertices.astype(np.float64)
    d = np.linalg.norm(v, axis=1)
    assert np.all(np.isclose(d, r, rtol=1e-5) | np.isclose(d, r - wall * r, rtol=1e-5))
    polar_angle = np.degrees(np.arccos(np.clip(v[:, 2] / d, -1, 1)))
    assert polar_angle.min() == pytest.approx(polar[0], abs=1e-3)
    assert polar_angle.max() == pytest.approx(polar[1], abs=1e-3)
    if angle < 360:
        rel = azimuths(v, start)
        assert rel.min() > -1e-3 and rel.max() == pytest.approx(angle, abs=1e-3)
    assert_closed_and_oriented(t)
    assert signed_volume(t) > 0


@pytest.mark.parametrize(
    "args, volume",
    [
        ({"r": 1.0, "thickness": 0.1, "polar": [0, 90]}, 2 / 3 * np.pi * (1 - 0.9**3)),  # a dome
        ({"r": 1.0, "thickness": 0.2}, 4 / 3 * np.pi * (1 - 0.8**3)),  # a hollow ball
        (
            {"r": 1.0, "thickness": 0.1, "polar": [0, 100], "angle": 180},  # a hood
            np.pi / 3 * (1 - 0.9**3) * (1 - np.cos(np.radians(100))),
        ),
        ({"r": 1.0, "polar": [0, 60]}, np.pi * (2 / 3 - (0.5 - 0.5**3 / 3))),  # a cap cut by a plane
        ({"r": 1.0, "polar": [60, 120], "angle": 90}, np.pi * (1 - 1 / 12) / 4),  # a slab of an orange slice
        ({"r": 1.0, "polar": [90, 180], "angle": 270, "start": 45}, 2 / 3 * np.pi * 0.75),
    ],
)
def test_sphere_cuts_and_walls_have_the_analytic_volume(args, volume):
    t = tess("sphere", normalised("sphere", **args), segments=128)
    assert_closed_and_oriented(t)
    assert signed_volume(t) == pytest.approx(volume, rel=3e-3)


@SETTINGS
@given(
    size=st.tuples(*[st.floats(0.2, 2.0)] * 3).map(np.array),
    wall=st.floats(0.05, 0.9),
    polar=cuts,
    angle=st.sampled_from([360.0, 120.0]),
)
def test_an_ellipsoid_shell_lies_on_its_outer_ellipsoid_and_the_one_a_wall_smaller(size, wall, polar, angle):
    thickness = wall * size.min() / 2
    params = normalised("ellipsoid", size=list(size), thickness=thickness, polar=list(polar), angle=angle)
    t = tess("ellipsoid", params, segments=24)
    v = t.vertices.astype(np.float64)
    outer = np.sum((v / (size / 2)) ** 2, axis=1)
    inner = np.sum((v / (size / 2 - thickness)) ** 2, axis=1)
    assert np.all(np.isclose(outer, 1.0, rtol=1e-4) | np.isclose(inner, 1.0, rtol=1e-4))
    assert np.isclose(outer, 1.0, rtol=1e-4).any() and np.isclose(inner, 1.0, rtol=1e-4).any()
    assert_closed_and_oriented(t)
    assert signed_volume(t) > 0


def test_the_wall_along_each_axis_is_the_thickness():
    t = tess("ellipsoid", normalised("ellipsoid", size=[0.6, 0.4, 0.3], thickness=0.02), segments=32)
    v = t.vertices.astype(np.float64)
    on_x = np.abs(v[:, 1]) + np.abs(v[:, 2]) < 1e-9
    assert sorted(np.round(np.abs(v[on_x, 0]), 6).tolist()) == [0.28, 0.28, 0.3, 0.3]
    top = sorted(np.round(v[np.hypot(v[:, 0], v[:, 1]) < 1e-9, 2], 6).tolist())
    assert top == [-0.15, -0.13, 0.13, 0.15]


def test_a_whole_solid_sphere_keeps_its_own_kernel():
    code, floats, points = PRIMITIVES["sphere"].pack(normalised("sphere", r=0.5))
    assert (code, floats, points) == (1, (0.5, 0.0, 0.0, 0.0), None)
    code, floats, points = PRIMITIVES["sphere"].pack(normalised("sphere", r=0.5, polar=[0, 90]))
    assert (code, floats, points.tolist()) == (14, (0.5, 0.5, 0.5, 0.0), [[360.0, 0.0, 0.0, 90.0]])


@pytest.mark.parametrize(
    "program",
    [
        "sphere(r=0.3, thickness=0.01, polar=[0, 90])",
        "sphere(r=0.3, thickness=0.01, polar=[0, 100], angle=180, start=0, rot=[0, 0, 90])",
        "sphere(r=0.3, polar=[20, 140], angle=300, start=30)",
        "ellipsoid(size=[0.5, 0.7, 0.4], thickness=0.01, polar=[0, 110], angle=160, start=10)",
        "ellipsoid(size=[0.5, 0.7, 0.4], polar=[90, 180])",
    ],
)
def test_cut_spheres_compile_watertight_and_outward(program):
    assert_watertight_outward(mesh_of(f"part a {{ {program} }}"))


def test_align_uses_the_box_of_the_cut():
    """A dome's bottom is its rim plane; a quarter sphere's left is the axis."""
    m = mesh_of('part a { sphere(r=0.5, thickness=0.02, polar=[0, 90], align="bottom") }')
    np.testing.assert_allclose(m.bounds, [[-0.5, -0.5, 0.0], [0.5, 0.5, 0.5]], atol=1e-6)
    m = mesh_of('part a { sphere(r=0.5, angle=90, align="left front bottom") }')
    np.testing.assert_allclose(m.bounds, [[0.0, 0.0, 0.0], [0.5, 0.5, 1.0]], atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Lathe: start and thickness.


def distance_to_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    a, b = line[:-1][None], line[1:][None]
    p = points[:, None]
    ab = b - a
    s = np.clip(np.sum((p - a) * ab, axis=2) / np.sum(ab * ab, axis=2), 0.0, 1.0)
    return np.linalg.norm(p - (a + s[..., None] * ab), axis=2).min(axis=1)


def inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule: a ray from each point towards +x crosses the polygon's edges an odd number of times."""
    a, b = polygon[None], np.roll(polygon, -1, axis=0)[None]
    x, y = points[:, :1], points[:, 1:]
    spans = (a[..., 1] > y) != (b[..., 1] > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        cross_x = a[..., 0] + (y - a[..., 1]) * (b[..., 0] - a[..., 0]) / (b[..., 1] - a[..., 1])
    return (np.sum(spans & (x < cross_x), axis=1) % 2) == 1


@pytest.mark.parametrize(
    "profile",
    [
        [[0, 0], [0.05, 0], [0.08, 0.06]],  # a bowl: from the axis, out and up
        [[0.08, 0.06], [0.05, 0], [0, 0]],  # the same written from the rim
        [[0.03, 0], [0.05, 0.1], [0.04, 0.2]],  # a vase's side, open at both ends
        [[0.1, 0], [0.1, 0.05], [0, 0.1]],  # a dome ending on the axis
    ],
)
def test_a_lathe_wall_is_the_profile_and_its_offset_by_the_thickness_inward(profile):
    profile = np.array(profile, float)
    t = tess("lathe", normalised("lathe", profile=profile.tolist(), thickness=0.004), segments=48)
    v = t.vertices.astype(np.float64)
    rz = np.stack([np.hypot(v[:, 0], v[:, 1]), v[:, 2]], axis=1)
    d = distance_to_polyline(rz, profile)
    assert np.all(np.isclose(d, 0.0, atol=1e-7) | np.isclose(d, 0.004, rtol=1e-4))
    assert np.isclose(d, 0.004, rtol=1e-4).sum() >= 48
    # the wall is on the inside: the inner surface is in the solid the profile alone makes (but
    # for the corners of a rim, square to the wall, which may stand a little above or below it)
    solid = np.vstack([profile, [[0.0, profile[-1, 1]], [0.0, profile[0, 1]]]])
    inner = rz[(d > 1e-3) & (rz[:, 1] > profile[:, 1].min()) & (rz[:, 1] < profile[:, 1].max())]
    assert len(inner) >= 48 and inside_polygon(inner + [1e-9, 0.0], solid).all()
    assert_closed_and_oriented(t)
    assert signed_volume(t) > 0


def test_a_lathe_wall_has_the_volume_of_its_ring():
    """A cylinder's side from r = 0.1, 0.2 high, 0.01 thick: pi (0.1^2 - 0.09^2) 0.2."""
    t = tess("lathe", normalised("lathe", profile=[[0.1, 0], [0.1, 0.2]], thickness=0.01), segments=256)
    assert signed_volume(t) == pytest.approx(np.pi * (0.01 - 0.0081) * 0.2, rel=1e-3)


@pytest.mark.parametrize("start, angle", [(0.0, 90.0), (45.0, 120.0), (-90.0, 180.0), (200.0, 300.0)])
def test_a_partial_lathe_turns_from_start(start, angle):
    params = normalised("lathe", profile=[[0, 0], [0.1, 0], [0.1, 0.1], [0, 0.1]], angle=angle, start=start)
    t = tess("lathe", params, segments=64)
    rel = azimuths(t.vertices.astype(np.float64), start)
    assert rel.min() > -1e-3 and rel.max() == pytest.approx(angle, abs=1e-3)
    assert signed_volume(t) == pytest.approx(np.pi * 0.01 * 0.1 * angle / 360, rel=3e-3)
    assert_watertight_outward(
        mesh_of(
            f"part a {{ lathe(profile=[[0, 0], [0.1, 0], [0.1, 0.1]], start={start}, angle={angle}, thickness=0.01) }}"
        )
    )


# ---------------------------------------------------------------------------------------------
# Placement between two points.

A, B = np.array([0.1, -0.2, 0.3]), np.array([0.5, 0.4, 0.9])
AXIS = (B - A) / np.linalg.norm(B - A)


def along(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each vertex's position along the axis from A, and its distance from the axis."""
    s = (v - A) @ AXIS
    return s, np.linalg.norm(v - A - s[:, None] * AXIS, axis=1)


@pytest.mark.parametrize(
    "call, r_from, r_to",
    [
        ("cylinder(r=0.05", 0.05, 0.05),
        ("cylinder(r1=0.05, r2=0.02", 0.05, 0.02),
        ("frustum(r1=0.06, r2=0.03", 0.06, 0.03),
        ("cone(r=0.05", 0.05, 0.0),
        ("tube(r=0.05, thickness=0.01", 0.05, 0.05),
    ],
)
def test_the_ends_are_at_the_points(call, r_from, r_to):
    m = mesh_of(f"part a {{ {call}, from={A.tolist()}, to={B.tolist()}) }}")
    assert_watertight_outward(m)
    s, radius = along(m.vertices)
    length = np.linalg.norm(B - A)
    assert s.min() == pytest.approx(0.0, abs=1e-6) and s.max() == pytest.approx(length, abs=1e-6)
    at_from, at_to = np.isclose(s, 0.0, atol=1e-6), np.isclose(s, length, atol=1e-6)
    assert radius[at_from].max() == pytest.approx(r_from, abs=1e-6)
    assert radius[at_to].max() == pytest.approx(r_to, abs=1e-6)
    if r_to == 0.0:  # a cone's apex is the point `to` itself
        assert np.linalg.norm(m.vertices - B, axis=1).min() < 1e-6


def test_a_capsule_between_two_points_has_its_tips_at_them():
    m = mesh_of(f"part a {{ capsule(r=0.05, from={A.tolist()}, to={B.tolist()}) }}")
    assert_watertight_outward(m)
    for point in (A, B):
        assert np.linalg.norm(m.vertices - point, axis=1).min() < 1e-6
    s, radius = along(m.vertices)
    assert s.min() == pytest.approx(0.0, abs=1e-6) and s.max() == pytest.approx(
        np.linalg.norm(B - A), abs=1e-6
    )
    assert radius.max() == pytest.approx(0.05, abs=1e-6)


def test_from_to_follow_the_enclosing_transform_and_keep_segments_and_colour():
    shape = compile_text(
        'part a { translate([1, 0, 0]) cylinder(r=0.1, from=[0, 0, 0], to=[0, 0, 1], segments=6, color="red") }'
    )
    assert len(shape.faces) == 6 * 4  # 6 facets: side quads and two 6-gon fans
    v = shape.vertices.astype(np.float64)
    assert np.hypot(v[:, 0] - 1.0, v[:, 1]).max() == pytest.approx(0.1, abs=1e-6)
    assert (v[:, 2].min(), v[:, 2].max()) == pytest.approx((0.0, 1.0), abs=1e-6)
    assert shape.primitives[0].color == (1.0, 0.0, 0.0)


def test_capsule_points_closer_than_its_diameter_are_a_positioned_error():
    with pytest.raises(Proto3dError) as caught:
        compile_text("part a {\n  capsule(r=0.1, from=[0, 0, 0], to=[0, 0, 0.15])\n}")
    [d] = caught.value.diagnostics
    assert (d.code, d.line, d.column) == ("E107", 2, 3)
    assert "the caps end at the points" in d.message


@pytest.mark.parametrize(
    "profile",
    [
        "[[0, 0], [5e-324, 0], [0.08, 0.06]]",  # an edge whose length underflows (found by fuzzing)
        "[[0, 0], [1e-300, 1], [0.08, 1.06]]",  # an axis end on an almost vertical edge
    ],
)
def test_a_lathe_wall_from_hostile_numbers_is_finite(profile):
    shape = compile_text(f"part a {{ lathe(profile={profile}, thickness=0.004) }}")
    assert np.isfinite(shape.vertices).all() and np.isfinite(shape.normals).all()
    assert np.abs(shape.vertices).max() < 1.2 and len(shape.faces) == 2 * 32 * 3
