"""Tessellation against NumPy reference geometry: vertices on the analytic surfaces, closed and
outward-oriented meshes with the analytic volume, exact transforms and mirrors, exact counts."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proto3d.compiler.primitives import PRIMITIVES, largest_unfolded_round
from proto3d.compiler.primitives import _largest_round as largest_round
from proto3d.compiler.shape import Primitive
from proto3d.compiler.tessellate import local_bounds, local_shapes, tessellate, triangle_count
from proto3d.errors import Span

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# The parameters the normalisers add when a program leaves them out.
FLAT = {"round": 0.0, "smooth": False}  # an extrusion's parameters when the program leaves them out
DEFAULTS = {"extrude": FLAT, "lathe": {"smooth": False}}


def prim(kind, params, matrix=None, segments=32):
    m = np.eye(4) if matrix is None else matrix
    return Primitive(kind, {**DEFAULTS.get(kind, {}), **params}, m, segments, 0, 0, (0.5, 0.5, 0.5))


def tess(kind, params, matrix=None, segments=32):
    return tessellate([prim(kind, params, matrix, segments)])


def signed_volume(t):
    v = t.vertices.astype(np.float64)
    a, b, c = v[t.faces[:, 0]], v[t.faces[:, 1]], v[t.faces[:, 2]]
    return np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6


def merged_faces(t):
    """Faces re-indexed so that vertices at the same position share one index."""
    _, inverse = np.unique(t.vertices + np.float32(0.0), axis=0, return_inverse=True)
    return inverse.reshape(-1)[t.faces]


def assert_closed_and_oriented(t):
    """Every directed edge appears exactly once and its reverse exactly once."""
    f = merged_faces(t)
    assert len(f) > 0
    assert np.all((f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])), "collapsed triangle"
    edges = f[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2).astype(np.int64)
    n = edges.max() + 1
    keys = edges[:, 0] * n + edges[:, 1]
    rev = edges[:, 1] * n + edges[:, 0]
    assert len(np.unique(keys)) == len(keys), "an edge is used twice in the same direction"
    assert np.array_equal(np.sort(keys), np.sort(rev)), "an edge has no opposite neighbour"


def assert_sane(t):
    assert np.isfinite(t.vertices).all() and np.isfinite(t.normals).all()
    assert t.vertices.dtype == np.float32 and t.normals.dtype == np.float32
    assert t.faces.dtype == np.int32 and t.face_primitive.dtype == np.int32
    if len(t.normals):
        np.testing.assert_allclose(np.linalg.norm(t.normals, axis=1), 1.0, atol=1e-5)
    if len(t.faces):
        assert t.faces.min() >= 0 and t.faces.max() < len(t.vertices)


def assert_normals_agree_with_winding(t, min_area=1e-5):
    """The geometric normal of each real triangle points the way of its vertex normals.

    (At least one of them: on coarse, strongly flattened shapes the three can differ by more
    than 90 degrees, but a flipped winding disagrees with all three.)
    """
    v = t.vertices.astype(np.float64)
    cross = np.cross(v[t.faces[:, 1]] - v[t.faces[:, 0]], v[t.faces[:, 2]] - v[t.faces[:, 0]])
    area = np.linalg.norm(cross, axis=1)
    real = area > min_area * area.max()
    agree = np.einsum("ij,ikj->ik", cross, t.normals[t.faces]).max(axis=1)
    assert np.all(agree[real] > 0)


def rho(v):
    return np.hypot(v[:, 0], v[:, 1])


# ---------------------------------------------------------------------------------------------
# Parameter strategies. `nice` parameters give closed solids; `wild` ones include degenerate
# values (zeros, collinear polygons, repeated points) that must still give finite output.

pos = st.floats(0.05, 2.0)
vec3 = st.tuples(pos, pos, pos).map(np.array)


@st.composite
def frustum_params(draw):
    r1, r2 = draw(pos), draw(pos)
    if draw(st.booleans()):  # an apex at one end
        r1, r2 = (0.0, r2) if draw(st.booleans()) else (r1, 0.0)
    return {"r1": r1, "r2": r2, "h": draw(pos)}


@st.composite
def capsule_params(draw):
    r = draw(pos)
    return {"r": r, "h": 2 * r + draw(st.floats(0.0, 2.0))}


@st.composite
def torus_params(draw):
    big = draw(st.floats(0.5, 2.0))
    angle = (
        draw(st.sampled_from([360.0, 90.0, 180.0, 270.0]))
        if draw(st.booleans())
        else draw(st.floats(10.0, 350.0))
    )
    return {
        "R": big,
        "r": draw(st.floats(0.05, 0.45)) * big,
        "angle": angle,
        "start": draw(st.floats(-360.0, 360.0)),
    }


@st.composite
def tube_params(draw):
    r = draw(pos)
    return {"r": r, "thickness": draw(st.floats(0.05, 1.2)) * r, "h": draw(pos)}


@st.composite
def box_params(draw):
    size = draw(vec3)
    bevel = draw(st.sampled_from([0.0, 0.1, 0.45])) * size.min()
    return {"size": size, "round": float(bevel)}


@st.composite
def lathe_params(draw):
    n = draw(st.integers(2, 7))
    z = np.cumsum(draw(st.lists(st.floats(0.05, 0.5), min_size=n, max_size=n)))
    r = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n)))
    if n >= 3 and draw(st.booleans()):
        r[0] = 0.0
    if n >= 3 and draw(st.booleans()):
        r[-1] = 0.0
    profile = np.stack([r, z], axis=1)
    if draw(st.booleans()):
        profile = profile[::-1].copy()
    angle = 360.0 if draw(st.booleans()) else draw(st.floats(20.0, 340.0))
    start = draw(st.sampled_from([0.0, 30.0, -135.0]))
    if draw(st.booleans()):  # a wall much thinner than the profile's steps
        span = Span()
        return PRIMITIVES["lathe"].normalise(
            {"profile": profile, "angle": angle, "start": start, "thickness": 0.004, "smooth": False}, span
        )
    return {"profile": profile, "angle": angle, "start": start, "smooth": draw(st.booleans())}


@st.composite
def cut(draw, radii):
    """A cut and a wall for a sphere or ellipsoid of semi-axes `radii` (normalised parameters)."""
    top = draw(st.just(0.0) | st.floats(1.0, 150.0))
    bottom = min(180.0, top + draw(st.floats(10.0, 180.0)))
    angle = 360.0 if draw(st.booleans()) else draw(st.floats(20.0, 340.0))
    wall = draw(st.sampled_from([0.0, 0.05, 0.5])) * min(radii)
    cut = {"angle": angle, "start": draw(st.floats(-360.0, 360.0)), "polar": (top, bottom)}
    return {**cut, "thickness": wall} if wall > 0 else cut


@st.composite
def sphere_params(draw):
    r = draw(pos)
    return {"r": r, **(draw(cut((r,))) if draw(st.booleans()) else {})}


@st.composite
def ellipsoid_params(draw):
    size = draw(vec3)
    return {"size": size, **(draw(cut(size / 2)) if draw(st.booleans()) else {})}


@st.composite
def star_polygon(draw):
    """A star-shaped (so simple) polygon, often concave, in either orientation."""
    n = draw(st.integers(3, 12))
    angles = np.sort(
        np.array(draw(st.lists(st.floats(0.0, 2 * np.pi, exclude_max=True), min_size=n, max_size=n)))
    )
    gaps = np.diff(np.concatenate([angles, [angles[0] + 2 * np.pi]]))
    if gaps.max() >= np.pi - 1e-3 or gaps.min() < 1e-2:  # keep the origin strictly inside
        angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    radii = np.array(draw(st.lists(st.floats(0.2, 1.0), min_size=n, max_size=n)))
    poly = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1) + draw(st.tuples(pos, pos))
    return poly[::-1].copy() if draw(st.booleans()) else poly


def narrowest(poly):
    """The shortest distance between two points of the polygon that are not neighbours: a round
    this large could fold the fillets of opposite sides through each other (a documented limit)."""
    d = np.linalg.norm(poly[:, None] - poly[None], axis=2)
    n = len(poly)
    steps = np.abs(np.arange(n)[:, None] - np.arange(n)[None])
    return d[np.minimum(steps, n - steps) >= 2].min(initial=np.inf)


@st.composite
def extrude_params(draw):
    """Sharp, rounded (up to the largest round that fits) or smooth, or both."""
    poly, h = draw(star_polygon()), draw(pos)
    smooth = draw(st.booleans())
    largest = h / 2 if smooth else min(h / 2, largest_round(poly), narrowest(poly) / 2.5)
    return {
        "polygon": poly,
        "h": h,
        "round": draw(st.sampled_from([0.0, 0.3, 0.9])) * largest,
        "smooth": smooth,
    }


@st.composite
def sweep_params(draw):
    """Paths without U-turns (each step turns less than 90 degrees)."""
    n = draw(st.integers(2, 6))
    pts = [np.zeros(3)]
    direction = np.array([1.0, 0.0, 0.0])
    for _ in range(n - 1):
        turn = np.array(draw(st.tuples(*[st.floats(-0.7, 0.7)] * 3)))
        direction = direction + turn
        direction /= np.linalg.norm(direction)
        pts.append(pts[-1] + direction * draw(st.floats(0.5, 1.5)))
    r = np.array(draw(st.lists(st.floats(0.02, 0.1), min_size=n, max_size=n)))
    return {"path": np.array(pts), "r": r, "smooth": draw(st.booleans())}


@st.composite
def profile_sweep_params(draw):
    """A sweep's path with a star-shaped profile small enough for its bends."""
    params = draw(sweep_params())
    del params["r"]
    profile = draw(star_polygon())
    params["profile"] = (profile - profile.mean(axis=0)) * 0.05
    return params


@st.composite
def loft_params(draw):
    """Scaled copies of one star polygon (sometimes a tip at an end) at rising heights, or
    along a gently bending path."""
    n = draw(st.integers(2, 5))
    poly = draw(star_polygon())
    scales = draw(st.lists(st.floats(0.3, 1.0), min_size=n, max_size=n))
    sections = [poly * s for s in scales]
    for end in (0, n - 1):
        if draw(st.booleans()) and n >= 3:
            sections[end] = poly.mean(axis=0, keepdims=True) * scales[end]
    steps = np.array(draw(st.lists(st.floats(0.3, 0.5), min_size=n, max_size=n)))
    if draw(st.booleans()):
        return {"sections": sections, "z": np.cumsum(steps), "path": None, "smooth": draw(st.booleans())}
    wobble = np.array(
        draw(st.lists(st.tuples(st.floats(-0.1, 0.1), st.floats(-0.1, 0.1)), min_size=n, max_size=n))
    )
    path = np.cumsum(np.stack([wobble[:, 0], 3 * steps, wobble[:, 1]], axis=1), axis=0)
    return {"sections": [p * 0.3 for p in sections], "z": None, "path": path, "smooth": draw(st.booleans())}


@st.composite
def elliptical_torus_params(draw):
    params = draw(torus_params())
    params["R"] = np.array([params["R"], draw(st.floats(0.5, 2.0))])
    params["r"] = min(params["r"], 0.8 * params["R"].min() ** 2 / params["R"].max())  # the tightest bend
    params["angle"] = 360.0  # an arc's box is widened by the tube at its ends: not tight
    return params


NICE = {
    "box": box_params(),
    "sphere": sphere_params(),
    "ellipsoid": ellipsoid_params(),
    "cylinder": frustum_params(),
    "frustum": frustum_params(),
    "rod": st.builds(lambda r, h: {"r": r, "h": h}, pos, pos),
    "cone": st.builds(lambda r, h: {"r": r, "h": h}, pos, pos),
    "capsule": capsule_params(),
    "torus": st.one_of(torus_params(), elliptical_torus_params()),
    "tube": tube_params(),
    "wedge": st.builds(lambda s: {"size": s}, vec3),
    "lathe": lathe_params(),
    "extrude": extrude_params(),
    "sweep": st.one_of(sweep_params(), profile_sweep_params()),
    "loft": loft_params(),
}

nonneg = st.sampled_from([0.0, 0.0, 1e-9, 0.3, 1.0])
wild_vec = st.tuples(nonneg, nonneg, nonneg).map(np.array)
wild_xy = st.lists(
    st.tuples(st.sampled_from([0.0, 0.5, 1.0]), st.sampled_from([0.0, 0.5, 1.0])), min_size=1, max_size=8
)
WILD = {
    "box": st.builds(lambda s, b: {"size": s, "round": b}, wild_vec, nonneg),
    "sphere": st.builds(lambda r: {"r": r}, nonneg),
    "ellipsoid": st.builds(lambda s: {"size": s}, wild_vec)
    | st.builds(
        lambda s, wall, angle, polar: {
            "size": s,
            "thickness": wall,
            "angle": angle,
            "start": 0.0,
            "polar": polar,
        },
        wild_vec,
        nonneg,
        st.sampled_from([0.0, 1.0, 90.0, 360.0, 400.0]),
        st.sampled_from([(0.0, 0.0), (0.0, 1e-9), (90.0, 90.0), (0.0, 180.0), (170.0, 180.0), (-5.0, 200.0)]),
    ),
    "cylinder": st.builds(lambda a, b, h: {"r1": a, "r2": b, "h": h}, nonneg, nonneg, nonneg),
    "frustum": st.builds(lambda a, b, h: {"r1": a, "r2": b, "h": h}, nonneg, nonneg, nonneg),
    "rod": st.builds(lambda r, h: {"r": r, "h": h}, nonneg, nonneg),
    "cone": st.builds(lambda r, h: {"r": r, "h": h}, nonneg, nonneg),
    "capsule": st.builds(lambda r, h: {"r": r, "h": h}, nonneg, nonneg),
    "torus": st.builds(
        lambda a, b, angle, start: {"R": a, "r": b, "angle": angle, "start": start},
        nonneg,
        nonneg,
        st.sampled_from([0.0, 1.0, 90.0, 360.0, 400.0]),
        st.sampled_from([0.0, 45.0]),
    ),
    "tube": st.builds(lambda r, t, h: {"r": r, "thickness": t, "h": h}, nonneg, nonneg, nonneg),
    "wedge": st.builds(lambda s: {"size": s}, wild_vec),
    "lathe": st.builds(
        lambda p, a: {"profile": np.array(p, dtype=float), "angle": a, "smooth": False},
        wild_xy,
        st.sampled_from([0.0, 90.0, 360.0]),
    ),
    "extrude": st.builds(
        lambda p, h: {"polygon": np.array(p, dtype=float), "h": h, "round": 0.0, "smooth": False},
        wild_xy,
        nonneg,
    ),
    "sweep": st.builds(
        lambda p, r, s, profile, closed: {
            "path": np.array([(x, y, x) for x, y in p], dtype=float),
            "smooth": s,
            "closed": closed,
            **({"r": np.full(len(p), r)} if profile is None else {"profile": np.array(profile, dtype=float)}),
        },
        wild_xy,
        nonneg,
        st.booleans(),
        st.none() | wild_xy,
        st.booleans(),
    ),
    "loft": st.builds(
        lambda sections, z, path, s: {
            "sections": [np.array(p, dtype=float) for p in sections],
            "z": None if path else np.array(z[: len(sections)] + [0.0] * (len(sections) - len(z))),
            "path": np.array(
                [(x, x, 0.0) for x in z[: len(sections)]] + [(1.0, 1.0, 1.0)] * (len(sections) - len(z))
            )
            if path
            else None,
            "smooth": s,
        },
        st.lists(wild_xy, min_size=2, max_size=4),
        st.lists(nonneg, min_size=2, max_size=4),
        st.booleans(),
        st.booleans(),
    ),
}
KINDS = sorted(NICE)


# ---------------------------------------------------------------------------------------------
# Counts, sanity and degenerate input.


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=st.data(), segments=st.integers(3, 64))
def test_triangle_count_is_exact_and_output_finite(kind, data, segments):
    params = data.draw(st.one_of(NICE[kind], WILD[kind]))
    t = tess(kind, params, segments=segments)
    assert triangle_count(kind, params, segments) == len(t.faces)
    assert_sane(t)


@pytest.mark.parametrize(
    "kind, params",
    [
        ("sphere", {"r": 0.0}),
        ("box", {"size": np.zeros(3), "round": 0.0}),
        ("box", {"size": np.array([1.0, 0.0, 1.0]), "round": 0.5}),
        ("cylinder", {"r1": 0.0, "r2": 0.0, "h": 1.0}),
        ("capsule", {"r": 0.0, "h": 0.0}),
        ("torus", {"R": 0.0, "r": 0.0, "angle": 90.0, "start": 0.0}),
        (
            "extrude",
            {**FLAT, "polygon": np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), "h": 1.0},
        ),
        ("extrude", {**FLAT, "polygon": np.array([[0.0, 0.0], [1.0, 0.0]]), "h": 1.0}),
        ("lathe", {"profile": np.array([[0.0, 0.0], [0.0, 1.0]]), "angle": 180.0, "smooth": False}),
        ("lathe", {"profile": np.array([[1.0, 0.0], [1.0, 0.0]]), "angle": 360.0, "smooth": False}),
        (
            "sweep",
            {
                "path": np.array([[0.0, 0, 0], [0, 0, 0], [1, 0, 0], [1, 0, 0]]),
                "r": np.full(4, 0.1),
                "smooth": True,
            },
        ),
        ("sweep", {"path": np.array([[1.0, 2, 3]] * 3), "r": np.full(3, 0.1), "smooth": False}),
        (
            "sweep",
            {"path": np.array([[0.0, 0, 0], [1, 0, 0], [0, 0, 0]]), "r": np.full(3, 0.1), "smooth": False},
        ),
    ],
)
def test_degenerate_input_gives_finite_output(kind, params):
    t = (
        tessellate([prim(kind, params, np.diag([0.0, 1.0, 1.0, 1.0]))])
        if kind == "sphere"
        else tess(kind, params)
    )
    assert_sane(t)
    assert triangle_count(kind, params, 32) == len(t.faces)


def test_collinear_polygon_gives_flat_triangles():
    params = {**FLAT, "polygon": np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]), "h": 1.0}
    t = tess("extrude", params)
    assert len(t.faces) == triangle_count("extrude", params, 32) > 0
    assert abs(signed_volume(t)) < 1e-9


# ---------------------------------------------------------------------------------------------
# Closed, outward, the right volume.


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=st.data(), segments=st.integers(3, 48))
def test_meshes_are_closed_and_outward(kind, data, segments):
    params = data.draw(NICE[kind])
    if kind == "extrude" and params["round"] > 0:  # at most the round E125 lets through at these segments
        polygon, r, h, smooth = params["polygon"], params["round"], params["h"], params["smooth"]
        params["round"] = largest_unfolded_round(polygon, r, h, smooth, segments)
    t = tess(kind, params, segments=segments)
    assert_closed_and_oriented(t)
    assert signed_volume(t) > 0
    assert_normals_agree_with_winding(t)


def lathe_volume(profile, angle):
    """Pappus: angle * integral of r dA over the (r, z) polygon closed to the axis."""
    p = np.asarray(profile, dtype=float)
    if p[0, 0] > 0:
        p = np.vstack([[0.0, p[0, 1]], p])
    if p[-1, 0] > 0:
        p = np.vstack([p, [0.0, p[-1, 1]]])
    r, z = p[:, 0], p[:, 1]
    r1, z1 = np.roll(r, -1), np.roll(z, -1)
    return abs(np.sum((r + r1) * (r * z1 - r1 * z)) / 6) * np.radians(angle)


def polygon_area(p):
    x, y = p[:, 0], p[:, 1]
    return abs(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)) / 2


def rounded_box_volume(size, b):
    a, c, d = size - 2 * b
    return a * c * d + 2 * b * (a * c + c * d + d * a) + np.pi * b * b * (a + c + d) + 4 / 3 * np.pi * b**3


@pytest.mark.parametrize(
    "kind, params, volume",
    [
        ("box", {"size": np.array([1.0, 2.0, 3.0]), "round": 0.0}, 6.0),
        (
            "box",
            {"size": np.array([1.0, 2.0, 3.0]), "round": 0.3},
            rounded_box_volume(np.array([1.0, 2.0, 3.0]), 0.3),
        ),
        ("sphere", {"r": 0.7}, 4 / 3 * np.pi * 0.7**3),
        ("ellipsoid", {"size": np.array([1.0, 2.0, 3.0])}, 4 / 3 * np.pi * 0.5 * 1.0 * 1.5),
        ("cylinder", {"r1": 0.5, "r2": 0.5, "h": 2.0}, np.pi * 0.25 * 2.0),
        ("frustum", {"r1": 0.5, "r2": 0.2, "h": 2.0}, np.pi * 2.0 / 3 * (0.25 + 0.1 + 0.04)),
        ("rod", {"r": 0.1, "h": 3.0}, np.pi * 0.01 * 3.0),
        ("cone", {"r": 1.0, "h": 3.0}, np.pi / 3 * 3.0),
        ("capsule", {"r": 0.5, "h": 3.0}, np.pi * 0.25 * 2.0 + 4 / 3 * np.pi * 0.125),
        ("torus", {"R": 1.0, "r": 0.25, "angle": 360.0, "start": 0.0}, 2 * np.pi**2 * 0.0625),
        ("torus", {"R": 1.0, "r": 0.25, "angle": 135.0, "start": 30.0}, 2 * np.pi**2 * 0.0625 * 135 / 360),
        ("tube", {"r": 1.0, "thickness": 0.2, "h": 0.5}, np.pi * 0.5 * (1 - 0.64)),
        ("tube", {"r": 1.0, "thickness": 1.5, "h": 0.5}, np.pi * 0.5),
        ("wedge", {"size": np.array([1.0, 2.0, 3.0])}, 3.0),
        (
            "lathe",
            {"profile": np.array([[0.5, 0.0], [0.8, 0.5], [0.3, 1.0], [0.4, 1.5]]), "angle": 360.0},
            lathe_volume([[0.5, 0.0], [0.8, 0.5], [0.3, 1.0], [0.4, 1.5]], 360.0),
        ),
        (
            "lathe",
            {"profile": np.array([[0.4, 1.5], [0.3, 1.0], [0.8, 0.5], [0.5, 0.0]]), "angle": 100.0},
            lathe_volume([[0.5, 0.0], [0.8, 0.5], [0.3, 1.0], [0.4, 1.5]], 100.0),
        ),
        (
            "lathe",
            {
                "profile": np.array([[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0], [0.5, 0.0]]),
                "angle": 360.0,
            },
            np.pi * (1.0 - 0.25),
        ),  # a closed profile is a ring, not closed to the axis
        (
            "lathe",
            {
                "profile": np.array([[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0], [0.5, 0.0]]),
                "angle": 90.0,
            },
            np.pi * (1.0 - 0.25) / 4,
        ),
        (
            "extrude",
            {"polygon": np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [1.0, 0.5], [0.0, 2.0]]), "h": 0.5},
            polygon_area(np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [1.0, 0.5], [0.0, 2.0]])) * 0.5,
        ),
        (
            "sweep",
            {"path": np.array([[0.0, 0, 0], [0, 0, 2.0]]), "r": np.array([0.3, 0.3]), "smooth": False},
            np.pi * 0.09 * 2.0,
        ),
        (
            "sweep",
            {"path": np.array([[0.0, 0, 0], [0, 0, 2.0]]), "r": np.array([0.3, 0.0]), "smooth": False},
            np.pi * 0.09 * 2.0 / 3,
        ),
        (
            "sweep",
            {
                "path": np.array([[0.0, 0, 0], [0, 0, 1.0], [0, 0, 2.0]]),
                "r": np.array([0.0, 0.3, 0.0]),
                "smooth": True,
            },
            2 * np.pi * 0.09 / 3,
        ),
    ],
)
def test_volume_matches_analytic(kind, params, volume):
    t = tess(kind, params, segments=128)
    assert_closed_and_oriented(t)
    assert signed_volume(t) == pytest.approx(volume, rel=3e-3)


def test_mitred_sweep_volume_is_exact_for_its_polygonal_section():
    """Mitred corners add and lose nothing: volume = section polygon area x centreline length."""
    path = np.array([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1], [2, 1, 2]])
    n, r = 24, 0.1
    t = tess("sweep", {"path": path, "r": np.full(5, r), "smooth": False}, segments=n)
    length = np.linalg.norm(np.diff(path, axis=0), axis=1).sum()
    section = n / 2 * r * r * np.sin(2 * np.pi / n)
    assert_closed_and_oriented(t)
    assert signed_volume(t) == pytest.approx(section * length, rel=1e-4)


# ---------------------------------------------------------------------------------------------
# Vertices on the analytic surfaces.


def test_box_corners_are_exact():
    t = tess("box", {"size": np.array([0.46, 0.44, 0.05]), "round": 0.0})
    corners = np.array(
        [[x, y, z] for x in (-0.23, 0.23) for y in (-0.22, 0.22) for z in (-0.025, 0.025)], dtype=np.float32
    )
    assert len(t.vertices) == 24 and len(t.faces) == 12
    assert {tuple(v) for v in t.vertices} == {tuple(c) for c in corners}
    # each vertex normal is the axis of its face, pointing away from the centre
    assert np.all(np.abs(t.normals).max(axis=1) == 1.0)
    assert np.all(np.einsum("ij,ij->i", t.normals, t.vertices) > 0)


@SETTINGS
@given(params=box_params().filter(lambda p: p["round"] > 0), segments=st.integers(3, 40))
def test_rounded_box_vertices_lie_at_bevel_distance_from_the_inner_box(params, segments):
    t = tess("box", params, segments=segments)
    inner = params["size"] / 2 - params["round"]
    v = t.vertices.astype(np.float64)
    outside = np.maximum(np.abs(v) - inner, 0.0)
    np.testing.assert_allclose(np.linalg.norm(outside, axis=1), params["round"], rtol=1e-5, atol=1e-6)
    outward = np.sign(v) * outside
    np.testing.assert_allclose(t.normals, outward / np.linalg.norm(outward, axis=1, keepdims=True), atol=1e-5)
    lo, hi = local_bounds("box", params)
    np.testing.assert_allclose(v.min(axis=0), lo, atol=1e-6)
    np.testing.assert_allclose(v.max(axis=0), hi, atol=1e-6)


@SETTINGS
@given(r=pos, segments=st.integers(3, 64))
def test_sphere_vertices_at_radius_with_radial_normals(r, segments):
    t = tess("sphere", {"r": r}, segments=segments)
    d = np.linalg.norm(t.vertices.astype(np.float64), axis=1)
    np.testing.assert_allclose(d, r, rtol=1e-6)
    np.testing.assert_allclose(t.normals, t.vertices / d[:, None], atol=1e-6)
    rings = max(2, segments // 2)
    assert len(np.unique(np.round(t.vertices[:, 2], 6))) == rings + 1


@SETTINGS
@given(size=vec3)
def test_ellipsoid_vertices_on_the_ellipsoid_with_gradient_normals(size):
    t = tess("ellipsoid", {"size": size})
    q = t.vertices.astype(np.float64) / (size / 2)
    np.testing.assert_allclose(np.sum(q * q, axis=1), 1.0, rtol=1e-5)
    grad = t.vertices / (size / 2) ** 2
    np.testing.assert_allclose(t.normals, grad / np.linalg.norm(grad, axis=1, keepdims=True), atol=1e-5)


@SETTINGS
@given(params=frustum_params(), segments=st.integers(3, 64))
def test_frustum_vertices_on_rims_and_axis(params, segments):
    t = tess("frustum", params, segments=segments)
    v, hh = t.vertices.astype(np.float64), params["h"] / 2
    bottom, top = np.isclose(v[:, 2], -hh, atol=1e-6), np.isclose(v[:, 2], hh, atol=1e-6)
    assert np.all(bottom | top)
    for mask, r in ((bottom, params["r1"]), (top, params["r2"])):
        radii = rho(v[mask])
        assert np.all(np.isclose(radii, r, atol=1e-6) | np.isclose(radii, 0.0, atol=1e-6))
        assert np.isclose(radii, r, atol=1e-6).sum() >= segments
    # cap normals are axial; side normals are perpendicular to the slant
    slant = np.array([params["r2"] - params["r1"], params["h"]])
    side = np.abs(t.normals[:, 2]) < 1 - 1e-6
    nr = np.einsum("ij,ij->i", t.normals[side, :2], v[side, :2]) / np.maximum(rho(v[side]), 1e-12)
    apex = rho(v[side]) < 1e-9
    np.testing.assert_allclose((nr * slant[0] + t.normals[side, 2] * slant[1])[~apex], 0.0, atol=1e-5)


def test_rod_and_cone_are_frusta():
    rod = tess("rod", {"r": 0.1, "h": 0.8})
    cyl = tess("cylinder", {"r1": 0.1, "r2": 0.1, "h": 0.8})
    np.testing.assert_array_equal(rod.vertices, cyl.vertices)
    np.testing.assert_array_equal(rod.faces, cyl.faces)
    cone = tess("cone", {"r": 0.3, "h": 1.0})
    apex = cone.vertices[:, 2] > 0.49
    assert np.allclose(cone.vertices[apex], [0, 0, 0.5])
    base = rho(cone.vertices[~apex].astype(np.float64))
    assert np.all(np.isclose(base, 0.3) | np.isclose(base, 0.0))
    assert np.allclose(cone.vertices[~apex, 2], -0.5)


@SETTINGS
@given(params=capsule_params())
def test_capsule_vertices_at_radius_from_its_axis_segment(params):
    t = tess("capsule", params)
    v = t.vertices.astype(np.float64)
    half = params["h"] / 2 - params["r"]
    nearest = np.stack([np.zeros(len(v)), np.zeros(len(v)), np.clip(v[:, 2], -half, half)], axis=1)
    np.testing.assert_allclose(np.linalg.norm(v - nearest, axis=1), params["r"], rtol=1e-5)
    np.testing.assert_allclose(v[:, 2].min(), -params["h"] / 2, rtol=1e-6)


@SETTINGS
@given(params=torus_params())
def test_torus_vertices_on_the_tube(params):
    t = tess("torus", params)
    v = t.vertices.astype(np.float64)
    np.testing.assert_allclose(np.hypot(rho(v) - params["R"], v[:, 2]), params["r"], rtol=1e-4, atol=1e-6)
    if params["angle"] < 360:  # every vertex lies within the arc [start, start + angle]
        ang = np.degrees(np.arctan2(v[:, 1], v[:, 0]))
        rel = (ang - params["start"]) % 360.0
        rel = np.where(rel > 360.0 - 1e-3, rel - 360.0, rel)
        assert rel.min() > -1e-3 and rel.max() < params["angle"] + 1e-3
        assert rel.max() > params["angle"] - 1e-3


@SETTINGS
@given(params=tube_params())
def test_tube_vertices_on_outer_and_inner_walls(params):
    t = tess("tube", params)
    v = t.vertices.astype(np.float64)
    inner = max(params["r"] - params["thickness"], 0.0)
    radii = rho(v)
    ok = np.isclose(radii, params["r"], rtol=1e-6) | np.isclose(radii, inner, rtol=1e-6, atol=1e-6)
    assert ok.all()
    assert np.allclose(np.abs(v[:, 2]), params["h"] / 2, rtol=1e-6)


def test_wedge_is_a_ramp():
    t = tess("wedge", {"size": np.array([0.4, 0.6, 0.2])})
    expected = {(x, y, -0.1) for x in (-0.2, 0.2) for y in (-0.3, 0.3)} | {(x, 0.3, 0.1) for x in (-0.2, 0.2)}
    assert {tuple(np.round(v, 6)) for v in t.vertices.astype(np.float64)} == {
        tuple(np.round(e, 6)) for e in expected
    }
    ramp = t.normals[(t.normals[:, 1] < 0)]
    np.testing.assert_allclose(ramp[0], np.array([0, -0.2, 0.6]) / np.linalg.norm([0, -0.2, 0.6]), atol=1e-6)


@SETTINGS
@given(params=lathe_params().map(lambda p: {**p, "smooth": False}))
def test_lathe_vertices_are_revolved_profile_points(params):
    t = tess("lathe", params)
    v = t.vertices.astype(np.float64)
    prof = params.get("outline", params["profile"])  # a wall's closed ring
    pts = np.vstack([prof, [[0.0, prof[0, 1]], [0.0, prof[-1, 1]]]])
    d = np.hypot(rho(v)[:, None] - pts[None, :, 0], v[:, 2:3] - pts[None, :, 1])
    assert d.min(axis=1).max() < 1e-5


@SETTINGS
@given(params=extrude_params().map(lambda p: {**p, **FLAT}))
def test_extrude_vertices_are_polygon_points_at_both_heights(params):
    t = tess("extrude", params)
    v = t.vertices.astype(np.float64)
    d = np.linalg.norm(v[:, None, :2] - params["polygon"][None], axis=2)
    assert d.min(axis=1).max() < 1e-6
    assert np.all(np.isclose(v[:, 2], 0.0) | np.isclose(v[:, 2], params["h"]))


def test_sharp_corners_stay_sharp_and_gentle_ones_are_smoothed():
    square = tess(
        "extrude", {"polygon": np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), "h": 1.0}
    )
    assert len(square.vertices) == 24  # four walls of four vertices, two caps of four
    assert np.all(np.abs(square.normals).max(axis=1) == 1.0)
    a = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    disc = tess("extrude", {"polygon": np.stack([np.cos(a), np.sin(a)], axis=1), "h": 1.0})
    side = disc.normals[:, 2] == 0
    np.testing.assert_allclose(disc.normals[side, :2], disc.vertices[side, :2], atol=1e-6)  # radial
    # a lathe profile sampled coarsely from a circle is shaded as a sphere; its flat base is not
    phi = np.linspace(-np.pi / 2, np.pi / 2, 7)
    ball = tess("lathe", {"profile": np.stack([np.cos(phi), np.sin(phi)], axis=1), "angle": 360.0})
    inner = np.abs(ball.vertices[:, 2]) < 0.999  # the poles take the normal of their one edge
    np.testing.assert_allclose(ball.normals[inner], ball.vertices[inner], atol=1e-6)
    assert np.all(np.einsum("ij,ij->i", ball.normals, ball.vertices) > np.cos(np.radians(16)))
    pot = tess("lathe", {"profile": np.array([[1.0, 0.0], [1.0, 1.0]]), "angle": 360.0})
    assert np.all((np.abs(pot.normals[:, 2]) == 1.0) | (pot.normals[:, 2] == 0.0))


def test_sweep_straight_path_is_a_cylinder_with_caps():
    t = tess(
        "sweep",
        {"path": np.array([[0.0, 0, 0], [0.5, 0, 0], [2.0, 0, 0]]), "r": np.full(3, 0.25), "smooth": True},
    )
    d = np.hypot(t.vertices[:, 1], t.vertices[:, 2])
    assert np.all(np.isclose(d, 0.25, atol=1e-6) | np.isclose(d, 0.0, atol=1e-6))
    np.testing.assert_allclose([t.vertices[:, 0].min(), t.vertices[:, 0].max()], [0.0, 2.0], atol=1e-6)


def test_sweep_frames_do_not_twist_along_a_planar_path():
    """On a path in the XY plane, parallel transport keeps one facet pointing along +Z."""
    path = np.array([[0.0, 0, 0], [1, 0, 0], [1.5, 0.8, 0], [1.0, 2.0, 0], [0, 2.5, 0]])
    n = 16
    t = tess("sweep", {"path": path, "r": np.full(5, 0.1), "smooth": True}, segments=n)
    rings = len(t.vertices) - 2 * (n + 1)
    v = t.vertices[:rings].reshape(-1, n, 3)
    top = np.argmax(v[:, :, 2], axis=1)
    assert len(set(top.tolist())) == 1
    np.testing.assert_allclose(v[np.arange(len(v)), top, 2], 0.1, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Lofts, profile sweeps, closed sweeps and elliptical rings.


def on_polygon(points, poly):
    """Distance of each 2D point to the closed polygon's boundary."""
    a, b = poly, np.roll(poly, -1, axis=0)
    ab = b - a
    t = np.clip(np.einsum("pij,ij->pi", points[:, None] - a, ab) / np.maximum((ab * ab).sum(1), 1e-300), 0, 1)
    closest = a + t[..., None] * ab
    return np.linalg.norm(points[:, None] - closest, axis=2).min(axis=1)


SQUARE = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
HEXAGON = np.array([[np.cos(a), np.sin(a)] for a in np.radians(np.arange(0, 360, 60))]) * 0.7
L_SHAPE = np.array([[0.0, 0.0], [0.2, 0.0], [0.2, 0.1], [0.1, 0.1], [0.1, 0.3], [0.0, 0.3]])  # concave


@pytest.mark.parametrize("smooth", [False, True])
def test_loft_sections_lie_at_their_heights_on_their_polygons(smooth):
    sections = [SQUARE, HEXAGON, SQUARE[::-1] * 0.5 + [0.2, 0.1]]
    z = np.array([0.0, 0.6, 1.5])
    t = tess("loft", {"sections": sections, "z": z, "path": None, "smooth": smooth})
    v = t.vertices.astype(np.float64)
    for section, height in zip(sections, z):
        level = v[np.abs(v[:, 2] - height) < 1e-6]
        assert len(level) >= 6  # every resampled point, in the skin and in the cap
        assert on_polygon(level[:, :2], section).max() < 1e-6
    # the section with the most points keeps them all; the others are resampled onto theirs
    hexagon_level = v[np.abs(v[:, 2] - 0.6) < 1e-6, :2]
    assert on_polygon(HEXAGON, hexagon_level).max() < 1e-6 if len(hexagon_level) else False
    assert_closed_and_oriented(t)
    assert signed_volume(t) > 0
    if not smooth:  # the skin of straight rulings between convex sections: bounded by their hull
        assert v[:, 2].min() == 0.0 and v[:, 2].max() == pytest.approx(1.5)


def test_loft_of_equal_sections_is_a_prism_whatever_their_starting_points():
    """Sections of different counts and starting points are resampled and turned to line up:
    a square lofted to the same square listed from another corner makes straight vertical walls."""
    shifted = np.roll(SQUARE, 2, axis=0)
    octagon_square = np.array([[-1.0, -1], [0, -1], [1, -1], [1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0]])
    for top in (shifted, np.roll(octagon_square, 3, axis=0)):
        t = tess(
            "loft", {"sections": [SQUARE, top], "z": np.array([0.0, 1.0]), "path": None, "smooth": False}
        )
        assert signed_volume(t) == pytest.approx(4.0, rel=1e-6)
        assert_closed_and_oriented(t)
        side = np.abs(t.normals[:, 2]) < 0.5
        np.testing.assert_allclose(t.normals[side, 2], 0.0, atol=1e-6)  # no twist: walls stay vertical


def test_loft_tip_and_volume_of_a_pyramid():
    t = tess(
        "loft",
        {
            "sections": [SQUARE, np.array([[0.0, 0.0]])],
            "z": np.array([0.0, 3.0]),
            "path": None,
            "smooth": False,
        },
    )
    assert_closed_and_oriented(t)
    assert signed_volume(t) == pytest.approx(4.0, rel=1e-6)  # base 4, height 3: 4 * 3 / 3
    assert t.vertices[:, 2].max() == 3.0 and np.abs(t.vertices[t.vertices[:, 2] == 3.0, :2]).max() == 0.0


def test_loft_falling_heights_are_still_outward():
    t = tess(
        "loft", {"sections": [SQUARE, HEXAGON], "z": np.array([1.0, 0.0]), "path": None, "smooth": False}
    )
    assert_closed_and_oriented(t)
    assert signed_volume(t) > 0
    assert_normals_agree_with_winding(t)


def test_loft_along_a_path_places_congruent_sections_across_it():
    path = np.array([[0.0, 0, 0], [0, 1, 0], [0.5, 2, 0.5]])
    sections = [L_SHAPE, HEXAGON * 0.2, L_SHAPE]
    t = tess("loft", {"sections": sections, "z": None, "path": path, "smooth": False})
    assert_closed_and_oriented(t)
    assert signed_volume(t) > 0
    d_in = np.diff(path, axis=0) / np.linalg.norm(np.diff(path, axis=0), axis=1, keepdims=True)
    tangents = [d_in[0], (d_in[0] + d_in[1]) / np.linalg.norm(d_in[0] + d_in[1]), d_in[1]]
    v = t.vertices.astype(np.float64)
    for section, point, tangent in zip(sections, path, tangents):
        ring = v[np.linalg.norm(v - point, axis=1) < 0.5]
        ring = ring[np.abs((ring - point) @ tangent) < 1e-6]  # in the plane across the path
        assert len(ring) >= len(section)
        # congruent: the distances between its points are those of the polygon
        pairwise = lambda p: np.sort(np.linalg.norm(p[:, None] - p[None], axis=-1).ravel())  # noqa: E731
        unique = np.unique(np.round(ring, 6), axis=0)
        assert len(unique) == 6
        np.testing.assert_allclose(pairwise(unique), pairwise(section), atol=1e-5)
    # at the start (path along +Y) x is to the right (+X) and y up (+Z)
    start = v[np.abs(v[:, 1]) < 1e-9]
    np.testing.assert_allclose(
        np.unique(np.round(start[:, [0, 2]], 6), axis=0), np.unique(L_SHAPE, axis=0), atol=1e-6
    )


def test_straight_profile_sweep_is_a_prism_of_the_profile():
    """Along +X the profile's x is the right-hand side (-Y) and y is up (+Z); volume = area x length."""
    t = tess(
        "sweep",
        {"path": np.array([[0.0, 0, 0], [0.7, 0, 0], [2.0, 0, 0]]), "profile": L_SHAPE, "smooth": False},
    )
    assert_closed_and_oriented(t)
    assert signed_volume(t) == pytest.approx(polygon_area(L_SHAPE) * 2.0, rel=1e-6)
    assert_normals_agree_with_winding(t)
    for x in (0.0, 0.7, 2.0):
        ring = t.vertices[np.abs(t.vertices[:, 0] - x) < 1e-9].astype(np.float64)
        section = np.unique(np.round(np.stack([-ring[:, 1], ring[:, 2]], axis=1), 9), axis=0)
        np.testing.assert_allclose(section, np.unique(L_SHAPE, axis=0), atol=1e-7)
    rising = tess(
        "sweep", {"path": np.array([[0.0, 0, 0], [0, 0, 1.0]]), "profile": L_SHAPE, "smooth": False}
    )
    base = rising.vertices[rising.vertices[:, 2] == 0.0]
    assert base[:, 0].max() == pytest.approx(0.2) and base[:, 0].min() == pytest.approx(0.0)  # x along +X


def test_profile_sweep_cross_sections_are_congruent_and_perpendicular():
    path = np.array([[0.0, 0, 0], [1, 0, 0], [1.5, 0.8, 0.3], [1.0, 2.0, 0.6]])
    profile = L_SHAPE - L_SHAPE.mean(axis=0)
    t = tess("sweep", {"path": path, "profile": profile, "smooth": False}, segments=16)
    assert_closed_and_oriented(t)
    assert signed_volume(t) > 0
    v = t.vertices.astype(np.float64)
    d = np.diff(path, axis=0) / np.linalg.norm(np.diff(path, axis=0), axis=1, keepdims=True)
    for k in (1, 2):  # a mitre: the ring at a bend lies in the plane bisecting it
        bisector = (d[k - 1] + d[k]) / np.linalg.norm(d[k - 1] + d[k])
        near = v[np.linalg.norm(v - path[k], axis=1) < 0.4]
        assert np.sum(np.abs((near - path[k]) @ bisector) < 1e-5) >= len(profile)
    for end, tangent in ((path[0], path[1] - path[0]), (path[-1], path[-1] - path[-2])):
        tangent = tangent / np.linalg.norm(tangent)
        ring = np.unique(np.round(v[np.linalg.norm(v - end, axis=1) < 0.3], 7), axis=0)
        ring = ring[np.abs((ring - end) @ tangent) < 1e-5]
        assert len(ring) == len(profile)
        np.testing.assert_allclose(
            np.sort(np.linalg.norm(ring - end, axis=1)), np.sort(np.linalg.norm(profile, axis=1)), atol=1e-5
        )


def square_ring(side, profile, z=0.0):
    half = side / 2
    return {
        "path": np.array([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]]),
        "profile": profile,
        "smooth": False,
        "closed": True,
    }


def test_closed_profile_sweep_is_a_mitred_frame():
    """A picture frame: volume = profile area x the length of the path through its centroid."""
    profile = L_SHAPE - [0.075, 0.125]  # its area's centroid on the path
    t = tess("sweep", square_ring(2.0, profile))
    assert_closed_and_oriented(t)
    assert signed_volume(t) == pytest.approx(polygon_area(L_SHAPE) * 8.0, rel=1e-6)
    mesh = trimesh.Trimesh(t.vertices, t.faces)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0


def test_closed_sweep_spreads_its_twist_so_the_seam_meets():
    """Around a closed path that is not planar the frame gathers a twist; spread over the loop,
    the band across the seam is no longer than the others."""
    a = np.radians(np.arange(0, 360, 30))
    path = np.stack([np.cos(a), np.sin(a), 0.6 * np.sin(2 * a)], axis=1)  # a saddle loop
    for params in (
        {"path": path, "profile": SQUARE * 0.1, "smooth": True, "closed": True},
        {"path": path, "r": np.full(len(path), 0.1), "smooth": False, "closed": True},
    ):
        t = tess("sweep", params, segments=12)
        mesh = trimesh.Trimesh(t.vertices, t.faces)
        assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
        rings = t.vertices.astype(np.float64).reshape(len(path) * (8 if params["smooth"] else 1), -1, 3)
        bands = np.linalg.norm(np.roll(rings, -1, axis=0) - rings, axis=2).max(axis=1)
        assert bands[-1] <= 1.2 * np.median(bands[:-1])


def centripetal_catmull_rom(points, closed, per_span):
    """NumPy reference: Barry and Goldman's pyramid with knots spaced by the square root of the
    chord; an open curve's missing end neighbours are reflections, as the compiler's."""
    p = np.asarray(points, dtype=np.float64)
    m = len(p)
    out = []
    for i in range(m if closed else m - 1):
        p1, p2 = p[i], p[(i + 1) % m]
        if closed:
            p0, p3 = p[i - 1], p[(i + 2) % m]
        else:
            p0 = p[i - 1] if i > 0 else 2 * p1 - p2
            p3 = p[i + 2] if i + 2 < m else 2 * p2 - p1
        t1 = np.linalg.norm(p1 - p0) ** 0.5
        t2 = t1 + np.linalg.norm(p2 - p1) ** 0.5
        t3 = t2 + np.linalg.norm(p3 - p2) ** 0.5
        for t in t1 + (t2 - t1) * np.arange(per_span) / per_span:
            a1 = ((t1 - t) * p0 + t * p1) / t1
            a2 = ((t2 - t) * p1 + (t - t1) * p2) / (t2 - t1)
            a3 = ((t3 - t) * p2 + (t - t2) * p3) / (t3 - t2)
            b1 = ((t2 - t) * a1 + t * a2) / t2
            b2 = ((t3 - t) * a2 + (t - t1) * a3) / (t3 - t1)
            out.append(((t2 - t) * b1 + (t - t1) * b2) / (t2 - t1))
    if not closed:
        out.append(p[-1])
    return np.array(out)


def ellipse(rx, ry, n=32):
    a = 2 * np.pi * np.arange(n) / n
    return np.stack([rx * np.cos(a), ry * np.sin(a)], axis=1)


def test_smooth_loft_is_the_centripetal_spline_through_its_sections_kept_flat():
    """Unevenly spaced smooth sections: each given section is a ring exactly at its height, every
    sampled ring is flat (one blend of whole rings), and the rings follow the centripetal spline
    through the sections taken as points of one space, not a uniform one (which overshoots)."""
    sections = [ellipse(0.2, 0.1), ellipse(0.5, 0.3), ellipse(0.45, 0.3), ellipse(0.1, 0.1)]
    z = np.array([0.0, 0.1, 1.2, 1.3])
    t = tess("loft", {"sections": sections, "z": z, "path": None, "smooth": True})
    count = 3 * 8 + 1
    assert len(t.faces) == triangle_count(
        "loft", {"sections": sections, "z": z, "path": None, "smooth": True}, 32
    )
    rings = t.vertices[: count * 33].astype(np.float64).reshape(count, 33, 3)[:, :32]  # the skin's rings
    np.testing.assert_array_equal(rings[::8, :, 2], np.repeat(z.astype(np.float32), 32).reshape(4, 32))
    for ring, section in zip(rings[::8], sections):
        np.testing.assert_allclose(ring[:, :2], section, atol=1e-6)
    assert all(len(set(ring[:, 2])) == 1 for ring in rings)  # every ring flat, exactly
    reference = centripetal_catmull_rom(rings[::8].reshape(4, -1), False, 8).reshape(count, 32, 3)
    np.testing.assert_allclose(rings, reference, atol=2e-6)
    assert np.all(np.diff(rings[:, 0, 2]) > 0)  # heights keep rising between close sections
    assert_closed_and_oriented(t)


def test_smooth_closed_profile_sweep_passes_through_its_path_points():
    """A round profile (its centre on the path) along an uneven closed loop: every eighth ring is
    centred exactly on a path point, and the centres follow the closed centripetal spline."""
    path = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.1], [1.2, 0.3, 0.0], [0.2, 1.5, 0.2], [-0.4, 0.6, 0.0]])
    params = {"path": path, "profile": ellipse(0.05, 0.03, 16), "smooth": True, "closed": True}
    t = tess("sweep", params, segments=16)
    assert len(t.faces) == triangle_count("sweep", params, 16)
    mesh = trimesh.Trimesh(t.vertices, t.faces)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    centres = t.vertices.astype(np.float64).reshape(5 * 8, 17, 3)[:, :16].mean(axis=1)
    np.testing.assert_allclose(centres[::8], path, atol=1e-6)
    np.testing.assert_allclose(centres, centripetal_catmull_rom(path, True, 8), atol=1e-6)


def test_elliptical_torus_is_a_tube_around_the_ellipse():
    rx, ry, r = 0.3, 0.2, 0.02
    t = tess("torus", {"R": np.array([rx, ry]), "r": r, "angle": 360.0, "start": 0.0}, segments=64)
    mesh = trimesh.Trimesh(t.vertices, t.faces)
    assert mesh.is_watertight and mesh.is_winding_consistent
    a = np.linspace(0, 2 * np.pi, 20000, endpoint=False)
    ellipse = np.stack([rx * np.cos(a), ry * np.sin(a), 0 * a], axis=1)
    v = t.vertices.astype(np.float64)
    nearest = np.array([np.linalg.norm(ellipse - p, axis=1).min() for p in v])
    np.testing.assert_allclose(nearest, r, rtol=2e-3)
    perimeter = np.linalg.norm(np.diff(np.vstack([ellipse, ellipse[:1]]), axis=0), axis=1).sum()
    section = 32 / 2 * r * r * np.sin(2 * np.pi / 32)  # the 32-gon of segments // 2
    assert signed_volume(t) == pytest.approx(section * perimeter, rel=3e-3)
    arc = tess("torus", {"R": np.array([rx, ry]), "r": r, "angle": 90.0, "start": 45.0}, segments=64)
    assert_closed_and_oriented(arc)
    assert signed_volume(arc) > 0


def test_a_round_torus_written_with_two_equal_radii_is_the_torus():
    ring = {"R": 0.3, "r": 0.02, "angle": 360.0, "start": 0.0}
    two = PRIMITIVES["torus"].normalise({**ring, "R": np.array([0.3, 0.3])}, Span(1, 1, 1, 1))
    assert two["R"] == 0.3
    np.testing.assert_array_equal(tess("torus", two).vertices, tess("torus", ring).vertices)


# ---------------------------------------------------------------------------------------------
# Bounds, transforms, mirrors, ids.


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=st.data())
def test_local_bounds_contain_the_mesh_tightly(kind, data):
    params = data.draw(NICE[kind])
    lo, hi = local_bounds(kind, params)
    t = tess(kind, params, segments=64)
    vmin, vmax = t.vertices.min(axis=0), t.vertices.max(axis=0)
    scale = np.max(hi - lo)
    assert np.all(vmin >= lo - 1e-5 * scale) and np.all(vmax <= hi + 1e-5 * scale)
    # a 64-gon's inscribed radius is within 0.13% of its circumradius, arcs lose at most that;
    # a round near a spline's radius of curvature cuts its samples' corners by how coarse they are
    slack = 1e-2 if params.get("smooth") and params.get("round") else 2e-3
    assert np.all(vmin - lo <= slack * scale + 1e-6) and np.all(hi - vmax <= slack * scale + 1e-6)


def rotation(floats):
    q, _ = np.linalg.qr(np.array(floats).reshape(3, 3) + np.eye(3) * 3)
    return q if np.linalg.det(q) > 0 else -q


def random_matrix(draw_floats, mirror):
    """Rotation, non-uniform scale (mirrored in x if asked), rotation, translation."""
    scale = np.diag(np.abs(np.array(draw_floats(3))) + 0.3)
    if mirror:
        scale[0, 0] *= -1
    m = np.eye(4)
    m[:3, :3] = rotation(draw_floats(9)) @ scale @ rotation(draw_floats(9))
    m[:3, 3] = draw_floats(3)
    return m


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=st.data(), mirror=st.booleans())
def test_transforms_apply_exactly_and_mirrors_keep_outward_winding(kind, data, mirror):
    params = data.draw(NICE[kind])
    m = random_matrix(lambda n: data.draw(st.lists(st.floats(-2, 2), min_size=n, max_size=n)), mirror)
    local = tess(kind, params)
    world = tess(kind, params, m)
    v = local.vertices.astype(np.float64)
    expected = (m @ np.hstack([v, np.ones((len(v), 1))]).T).T[:, :3]
    np.testing.assert_allclose(world.vertices, expected, atol=2e-5 * (1 + np.abs(expected).max()))
    n = (np.linalg.inv(m[:3, :3]).T @ local.normals.astype(np.float64).T).T
    np.testing.assert_allclose(world.normals, n / np.linalg.norm(n, axis=1, keepdims=True), atol=2e-4)
    flipped = local.faces[:, [0, 2, 1]] if mirror else local.faces
    np.testing.assert_array_equal(world.faces, flipped)
    assert signed_volume(world) == pytest.approx(
        abs(np.linalg.det(m[:3, :3])) * signed_volume(local), rel=1e-3
    )
    assert signed_volume(world) > 0
    # Outward winding in the world follows from the three checks above; the vertex normals are
    # compared with the winding before the map, since a strongly non-uniform scale may legitimately
    # turn a smoothed corner normal more than 90 degrees from a thin neighbouring face.
    assert_normals_agree_with_winding(local)


@SETTINGS
@given(data=st.data(), kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=6))
def test_face_primitive_ids_follow_input_order(data, kinds):
    prims = [prim(k, data.draw(NICE[k]), segments=data.draw(st.integers(3, 24))) for k in kinds]
    t = tessellate(prims)
    counts = [triangle_count(p.kind, p.params, p.segments) for p in prims]
    np.testing.assert_array_equal(t.face_primitive, np.repeat(np.arange(len(prims)), counts))
    vstart = 0
    for i, p in enumerate(prims):
        alone = tessellate([p])
        np.testing.assert_array_equal(t.vertices[vstart : vstart + len(alone.vertices)], alone.vertices)
        np.testing.assert_array_equal(t.faces[t.face_primitive == i], alone.faces + vstart)
        vstart += len(alone.vertices)
    assert vstart == len(t.vertices)


def test_integer_parameters_count_like_floats():
    floats = {"R": 1.0, "r": 0.5, "angle": 90.0, "start": 0.0}
    assert triangle_count("torus", {"R": 1, "r": 0.5, "angle": 90, "start": 0}, 32) == triangle_count(
        "torus", floats, 32
    )
    assert triangle_count("box", {"size": np.array([1, 1, 1]), "round": 0}, np.int64(32)) == 12
    assert (
        triangle_count("lathe", {"profile": np.array([[1, 0], [1, 1]]), "angle": 360, "smooth": False}, 8)
        == 4 * 8
    )


def test_empty_input():
    t = tessellate([])
    assert t.vertices.shape == (0, 3) and t.faces.shape == (0, 3) and t.face_primitive.shape == (0,)


def test_segments_follow_the_language_rules():
    # 32 facets around; sphere rings 16; capsule hemisphere rings 8; torus 16 minor x 32 major
    assert triangle_count("cylinder", {"r1": 1.0, "r2": 1.0, "h": 1.0}, 32) == 4 * 32
    assert triangle_count("sphere", {"r": 1.0}, 32) == 2 * 32 * 16 - 2 * 32
    assert triangle_count("capsule", {"r": 1.0, "h": 3.0}, 32) == 2 * 32 * 17 - 2 * 32
    assert triangle_count("torus", {"R": 1.0, "r": 0.2, "angle": 360.0, "start": 0.0}, 32) == 2 * 16 * 32
    half = triangle_count("torus", {"R": 1.0, "r": 0.2, "angle": 180.0, "start": 0.0}, 32)
    assert half == 2 * 16 * 16 + 2 * (16 - 2)


def test_local_shapes_are_each_distinct_shape_once_as_tessellate_gives_it_at_the_origin():
    """What a boolean reads into manifold3d: primitives that differ only by their matrix (or by
    their parameters' dict) share one shape; shapes are numbered family by family, in order of use."""
    moved = np.eye(4)
    moved[:3, 3] = [1.0, 2.0, 3.0]
    primitives = [
        prim("cylinder", {"r1": 0.1, "r2": 0.1, "h": 0.5}, moved),
        prim("box", {"size": np.array([1.0, 2.0, 3.0]), "round": 0.0}),
        prim("cylinder", {"r1": 0.1, "r2": 0.1, "h": 0.5}),
        prim("box", {"size": np.array([1.0, 2.0, 3.0]), "round": 0.0}, moved),
        prim("cylinder", {"r1": 0.1, "r2": 0.1, "h": 0.5}, segments=8),
    ]
    local, shape_of = local_shapes(primitives)
    assert shape_of.tolist() == [0, 2, 0, 2, 1]  # the frustums' family first: it is used first
    for s, k in enumerate([0, 4, 1]):
        alone = tessellate([Primitive(**{**primitives[k].__dict__, "matrix": np.eye(4)})])
        a, b = local.vertex_start[s], local.vertex_start[s + 1]
        faces = local.faces[local.face_primitive == s] - a
        assert np.array_equal(local.vertices[a:b], alone.vertices) and np.array_equal(faces, alone.faces)
        assert local.normals[a:b].tobytes() == alone.normals.tobytes()
