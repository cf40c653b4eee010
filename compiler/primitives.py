"""The primitive kinds of pdsl, one record each: all the compiler knows about a kind, in one place.

A `PrimitiveKind` holds the kind's signature (read by the checker and the evaluator through
`language.py`), its normalisation (the written arguments become the tessellator's parameters,
value ranges checked), its packing for the tessellation kernels (an integer code, four floats
and a point array), the bounds of the untransformed primitive (for `align` and anchors), the
radius of its faceting error (for the lints' contact tolerance; flat kinds have none) and a
one-line doc. No other module of the compiler names a kind.

Cylinder, frustum, cone and rod are one geometry: each gives its (bottom radius, top radius,
height) and `_frustum_kind` derives the packing, bounds and facet radius from it, as trimesh's
`cylinder` delegates to `revolve`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import manifold3d
import numpy as np

from proto3d.errors import Diagnostic, Span

# Kernel codes: one per local geometry the tessellation kernels generate (Numba wants integers).
# The kernels in tessellate.py compile these values in, and Numba's disk cache only watches
# tessellate.py: add a code at the end, never renumber one.
BOX, SPHERE, ELLIPSOID, FRUSTUM, CAPSULE, TORUS, TUBE, WEDGE, LATHE, EXTRUDE, SWEEP = range(11)
ROUNDED_EXTRUDE = 11
# LOFT floats: (sections, along a path?, smooth, 0); points: a row per section ([0, 0, z] or its
# path point, and its point count), then the sections' points.
LOFT = 12
# PROFILE_SWEEP floats: (path: 0 polyline, 1 spline, 2 ellipse; closed?, path rows, radius of the
# circle when there is no profile); points: the path's rows (x, y, z, scale), then the profile.
PROFILE_SWEEP = 13
SHELL = 14  # a sphere or ellipsoid cut to an angular extent, solid or hollowed to a wall
EXTRUDE_HOLES = 16  # an extrusion of a polygon with holes

SEGMENTS_DEFAULT = 32  # when a primitive gives no `segments`
FOLD_CHECK_SEGMENTS = 256  # a rounded outline is checked for folds as drawn at most this fine
FOLD_MARGIN = 0.999  # a round must still fit when this much larger
FOLD_BISECTIONS = 30  # steps of the search for the largest round that does not fold

REQUIRED = object()


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # number, int, vec2, vec3, points2, points3, polygons, number_or_list, bool, string, number_or_vec3, axis
    default: object = REQUIRED


class Packed(NamedTuple):
    """A primitive as the tessellation kernels read it."""

    code: int  # BOX, SPHERE, ...
    floats: tuple  # four numbers, meaning fixed by the code
    points: np.ndarray | None  # (n, 4) float64 for outlines and paths, else None


class ArgumentError(Exception):
    """An argument out of its range; the evaluator reports the diagnostic as its own error."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass(frozen=True)
class PrimitiveKind:
    name: str
    doc: str
    signature: tuple[Param, ...]  # the kind's own parameters; language.PLACEMENT follows them
    normaliser: Callable[[str, dict, Span], dict]  # (name, written arguments, span) -> parameters
    pack: Callable[[dict], Packed]
    bounds: (
        Callable[[dict], tuple[np.ndarray, np.ndarray] | None] | None
    )  # None: no closed form, measure the mesh
    facet_radius: Callable[[dict], float] | None  # None: flat faces, tessellated exactly
    positional: int | None = None  # leading arguments that may be positional (None: the whole signature)
    either_radius: bool = False  # takes `r`, or both `r1` and `r2`: the checker asks for one of the two
    frame: Callable[[dict], np.ndarray | None] | None = None  # placed by `from`/`to` (None: by at/rot/align)

    def normalise(self, values: dict, span: Span) -> dict:
        """The written arguments as the tessellator's parameters; ArgumentError when one is out of range."""
        return self.normaliser(self.name, values, span)


def _fail(code: str, message: str, span: Span, expected: str = "", hint: str = ""):
    raise ArgumentError(Diagnostic(code, message, span, expected=expected, hint=hint))


def _nonneg(name: str, key: str, value, span: Span):
    if value < 0 if type(value) is float else min(value.ravel().tolist(), default=0.0) < 0:
        _fail("E107", f"`{key}` of `{name}` must not be negative", span)
    return value


def _points(xy) -> np.ndarray:
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    pts = np.zeros((len(xy), 4))
    pts[:, :2] = xy
    return pts


def _centred(r, hz) -> tuple[np.ndarray, np.ndarray]:
    return np.array([-r, -r, -hz]), np.array([r, r, hz])


def _half_size(p: dict) -> tuple[np.ndarray, np.ndarray]:
    half = np.abs(np.asarray(p["size"], dtype=np.float64)) / 2
    return -half, half


def _largest_radius(p: dict, keys: tuple[str, ...] = ("r",)) -> float:
    """The largest of the radii (numbers or lists) among `keys` that the parameters hold."""
    radius = 0.0
    for key in keys:
        value = p.get(key)
        if value is not None:
            radius = max(
                radius, abs(value) if isinstance(value, (int, float)) else float(np.max(np.abs(value)))
            )
    return radius


# ---------------------------------------------------------------------------------------------
# box, sphere, ellipsoid, wedge


def _box_args(name: str, v: dict, span: Span) -> dict:
    size = _nonneg(name, "size", v["size"], span)
    radius = v["round"]
    if v["bevel"] is not None:  # the v1 name of `round`
        if radius:
            _fail("E104", "`bevel` is the old name of `round`: give one of them", span)
        radius = v["bevel"]
    radius = _nonneg(name, "round", radius, span)
    smallest = min(size.tolist())
    if radius > smallest / 2:
        _fail("E107", f"round {radius:g} is more than half the smallest side ({smallest / 2:g})", span)
    return {"size": size, "round": radius}


def _size_args(name: str, v: dict, span: Span) -> dict:
    return {"size": _nonneg(name, "size", v["size"], span)}


def _cut_args(name: str, v: dict, span: Span, radii) -> dict:
    """The angular extent and the wall of a sphere or ellipsoid (`radii`: its semi-axes); none for a whole solid."""
    thickness = _nonneg(name, "thickness", v.get("thickness", 0.0), span)
    angle, start, polar = v.get("angle", 360.0), v.get("start", 0.0), v.get("polar")
    top, bottom = (0.0, 180.0) if polar is None else (float(polar[0]), float(polar[1]))
    if not 0 < angle <= 360:
        _fail("E107", f"{name} angle must be in (0, 360] degrees", span)
    if not 0 <= top < bottom <= 180:
        _fail(
            "E107",
            f"{name} polar must be [from, to] with 0 <= from < to <= 180, not [{top:g}, {bottom:g}]",
            span,
            hint="degrees from the top (+Z): [0, 90] is the upper half (a dome), [90, 180] the lower (a bowl)",
        )
    smallest = float(np.min(np.abs(radii)))
    if thickness > 0 and thickness >= smallest:
        _fail(
            "E107",
            f"{name} thickness {thickness:g} is not less than its smallest radius {smallest:g}",
            span,
            hint="the wall goes inward from the surface; leave `thickness` out for a solid",
        )
    if thickness == 0 and angle >= 360 and (top, bottom) == (0.0, 180.0):
        return {}
    cut = {"angle": angle, "start": start, "polar": (top, bottom)}
    return {**cut, "thickness": thickness} if thickness > 0 else cut


def _sphere_args(name: str, v: dict, span: Span) -> dict:
    r = _nonneg(name, "r", v["r"], span)
    return {"r": r, **_cut_args(name, v, span, (r,))}


def _ellipsoid_args(name: str, v: dict, span: Span) -> dict:
    size = _nonneg(name, "size", v["size"], span)
    return {"size": size, **_cut_args(name, v, span, size / 2)}


def _semi_axes(p: dict) -> np.ndarray:
    return np.abs(np.asarray(p["size"], dtype=np.float64)) / 2 if "size" in p else np.full(3, abs(p["r"]))


def _round_pack(code: int):
    """Packing of a sphere or ellipsoid: its own code when whole and solid, else a SHELL."""

    def pack(p: dict) -> Packed:
        a, b, c = _semi_axes(p).tolist()
        if "polar" not in p:
            return Packed(code, (a, 0.0, 0.0, 0.0) if code == SPHERE else (2 * a, 2 * b, 2 * c, 0.0), None)
        top, bottom = p["polar"]
        return Packed(
            SHELL, (a, b, c, p.get("thickness", 0.0)), np.array([[p["angle"], p["start"], top, bottom]])
        )

    return pack


def _round_bounds(p: dict) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the (cut) unit sphere's surfaces scaled to the outer and inner semi-axes; a solid
    reaches the axis."""
    semi = _semi_axes(p)
    if "polar" not in p:
        return -semi, semi
    top, bottom = np.radians(p["polar"])
    sin_lo, sin_hi = (
        min(np.sin(top), np.sin(bottom)),
        1.0 if top <= np.pi / 2 <= bottom else max(np.sin(top), np.sin(bottom)),
    )
    wall = p.get("thickness", 0.0)
    unit = _revolved_bounds(
        sin_lo if wall > 0 else 0.0, sin_hi, np.cos(bottom), np.cos(top), p["angle"], p["start"]
    )
    inner = semi - wall if wall > 0 else semi
    return np.minimum(unit[0] * semi, unit[0] * inner), np.maximum(unit[1] * semi, unit[1] * inner)


# ---------------------------------------------------------------------------------------------
# The frustum family: cylinder, frustum, cone, rod


def _frustum_kind(name: str, doc: str, signature, normaliser, radii, **more) -> PrimitiveKind:
    """A kind drawn as a frustum; `radii(params)` gives its (bottom radius, top radius, height)."""

    def pack(p: dict) -> Packed:
        r1, r2, h = radii(p)
        return Packed(FRUSTUM, (r1, r2, h, 0.0), None)

    def bounds(p: dict) -> tuple[np.ndarray, np.ndarray]:
        r1, r2, h = radii(p)
        return _centred(max(r1, r2, 0.0), abs(h) / 2)

    def facet_radius(p: dict) -> float:  # cone and rod hold `r`, cylinder and frustum `r1` and `r2`
        return _largest_radius(p, ("r", "r1", "r2"))

    return PrimitiveKind(name, doc, signature, normaliser, pack, bounds, facet_radius, **more)


def _length(name: str, v: dict, span: Span) -> dict:
    """`h` as written, or the distance between `from` and `to` (kept for the frame)."""
    if v.get("from") is None:
        return {"h": _nonneg(name, "h", v["h"], span)}
    return {"h": float(np.linalg.norm(v["to"] - v["from"])), "from": v["from"], "to": v["to"]}


def _frustum_args(name: str, v: dict, span: Span) -> dict:
    r1 = v.get("r1") if v.get("r1") is not None else v.get("r")
    r2 = v.get("r2") if v.get("r2") is not None else v.get("r")
    if r1 is None or r2 is None:
        _fail(
            "E103",
            f"`{name}` needs `r`, or both `r1` and `r2`",
            span,
            expected="cylinder(r, h) or cylinder(r1, r2, h)",
        )
    return {
        "r1": _nonneg(name, "r1", r1, span),
        "r2": _nonneg(name, "r2", r2, span),
        **_length(name, v, span),
    }


def _r1_r2_h(p: dict) -> tuple:
    return p["r1"], p["r2"], p["h"]


def _cone_args(name: str, v: dict, span: Span) -> dict:
    return {"r": _nonneg(name, "r", v["r"], span), **_length(name, v, span)}


def _rod_args(name: str, v: dict, span: Span) -> dict:
    length = float(np.linalg.norm(v["to"] - v["from"]))
    return {"r": _nonneg(name, "r", v["r"], span), "h": length, "from": v["from"], "to": v["to"]}


def _points_frame(p: dict) -> np.ndarray | None:
    """Local frame whose Z runs from `from` to `to`, centred between them; None for a primitive
    placed by at/rot/align."""
    if "from" not in p:
        return None
    start, end = p["from"], p["to"]
    direction = end - start
    length = np.linalg.norm(direction)
    z = direction / length if length > 0 else np.array([0.0, 0.0, 1.0])
    helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    frame = np.eye(4)
    frame[:3, :3] = np.column_stack([x, y, z])
    frame[:3, 3] = (start + end) / 2.0
    return frame


# ---------------------------------------------------------------------------------------------
# capsule, torus, tube


def _capsule_args(name: str, v: dict, span: Span) -> dict:
    r, length = _nonneg(name, "r", v["r"], span), _length(name, v, span)
    if length["h"] < 2 * r and "from" in length:
        _fail(
            "E107",
            f"capsule `from` and `to` are {length['h']:g} apart; the caps end at the points,"
            f" so they must be at least 2·r = {2 * r:g} apart",
            span,
        )
    if length["h"] < 2 * r:
        _fail("E107", f"capsule h is the total length and must be at least 2·r = {2 * r:g}", span)
    return {"r": r, **length}


def _capsule_bounds(p: dict) -> tuple[np.ndarray, np.ndarray]:
    r = abs(p["r"])
    return _centred(r, max(abs(p["h"]) / 2, r))


def _torus_args(name: str, v: dict, span: Span) -> dict:
    R, r = _nonneg(name, "R", v["R"], span), _nonneg(name, "r", v["r"], span)
    if isinstance(R, np.ndarray) and len(R) != 2:
        _fail(
            "E106",
            f"`R` of `torus` is one ring radius or two, [rx, ry]; not {len(R)} numbers",
            span,
            expected="R=0.3 or R=[0.4, 0.25]",
        )
    if isinstance(R, np.ndarray) and R[0] == R[1]:
        R = float(R[0])
    angle = v["angle"]
    if not 0 < angle <= 360:
        _fail("E107", "torus angle must be in (0, 360] degrees", span)
    return {"R": R, "r": r, "angle": angle, "start": v["start"]}


def _torus_pack(p: dict) -> Packed:
    """A round ring is revolved; an elliptical one is a circle swept along the ellipse."""
    R = p["R"]
    if np.ndim(R) == 0:
        return Packed(TORUS, (R, p["r"], p["angle"], p["start"]), None)
    return Packed(PROFILE_SWEEP, (2.0, 0.0, 1.0, p["r"]), np.array([[R[0], R[1], p["angle"], p["start"]]]))


def _torus_bounds(p: dict) -> tuple[np.ndarray, np.ndarray]:
    big, small = p["R"], abs(p["r"])
    if np.ndim(big) == 0:
        return _revolved_bounds(big - small, big + small, -small, small, p["angle"], p["start"])
    # the ellipse's arc (its extremes, where it crosses an axis, included), widened by the tube
    angle = min(max(p["angle"], 0.0), 360.0)
    turns = [p["start"], p["start"] + angle] + [
        90.0 * k
        for k in range(int(np.ceil(p["start"] / 90.0)), int(np.floor((p["start"] + angle) / 90.0)) + 1)
    ]
    t = np.radians(np.array(turns))
    x, y = big[0] * np.cos(t), big[1] * np.sin(t)
    return np.array([x.min() - small, y.min() - small, -small]), np.array(
        [x.max() + small, y.max() + small, small]
    )


def _tube_args(name: str, v: dict, span: Span) -> dict:
    r, t = _nonneg(name, "r", v["r"], span), _nonneg(name, "thickness", v["thickness"], span)
    if t > r:
        _fail(
            "E107",
            f"tube thickness {t:g} is more than its outer radius {r:g}",
            span,
            hint="`r` is the OUTER radius; the wall goes inward",
        )
    return {"r": r, "thickness": t, **_length(name, v, span)}


def _revolved_bounds(rho_lo, rho_hi, z_lo, z_hi, angle, start):
    """Bounds of {(rho cos t, rho sin t, z)} for rho in [rho_lo, rho_hi], t in the arc."""
    if angle >= 360.0:
        r = max(abs(rho_lo), abs(rho_hi))
        return np.array([-r, -r, z_lo]), np.array([r, r, z_hi])
    angle = max(angle, 0.0)
    ts = [start, start + angle] + [
        90.0 * k for k in range(int(np.ceil(start / 90.0)), int(np.floor((start + angle) / 90.0)) + 1)
    ]
    t = np.radians(np.array(ts))
    rho = np.array([rho_lo, rho_hi])[:, None]
    x, y = (rho * np.cos(t)).ravel(), (rho * np.sin(t)).ravel()
    return np.array([x.min(), y.min(), z_lo]), np.array([x.max(), y.max(), z_hi])


# ---------------------------------------------------------------------------------------------
# lathe, extrude, sweep: outlines and paths


def _lathe_args(name: str, v: dict, span: Span) -> dict:
    profile, angle = v["profile"], v["angle"]
    if len(profile) < 2:
        _fail("E107", "a lathe profile needs at least 2 [r, z] points", span)
    _nonneg(name, "profile radii", profile[:, 0], span)
    if not 0 < angle <= 360:
        _fail("E107", "lathe angle must be in (0, 360] degrees", span)
    params = {"profile": profile, "angle": angle, "start": v.get("start", 0.0), "smooth": v["smooth"]}
    thickness = _nonneg(name, "thickness", v.get("thickness", 0.0), span)
    if thickness > 0 and v["smooth"]:
        _fail("E126", "a lathe takes `smooth` or `thickness`, not both yet", span)
    if thickness > 0 and _is_closed(profile):
        _fail(
            "E136",
            "a closed lathe profile cannot take a `thickness`",
            span,
            hint="`thickness` turns an open profile (the outer surface) into a wall; leave out the"
            " repeated first point, or leave out `thickness`",
        )
    if thickness > 0:
        params["thickness"] = thickness
        params["outline"] = _wall_outline(profile, thickness)
    return params


def _is_closed(profile: np.ndarray) -> bool:
    return len(profile) >= 3 and np.array_equal(profile[0], profile[-1])


def _wall_outline(profile: np.ndarray, thickness: float) -> np.ndarray:
    """The closed [r, z] ring of a lathe wall: the profile, then the profile offset by `thickness`
    into the solid the profile alone would bound (closed to the axis), back to the start.

    Corners are mitred (at most 4 thicknesses out); an end on the axis stays on it.
    """
    kept = [profile[0]]
    for point in profile[1:]:  # repeats dropped, and points too close to give an edge a direction
        if np.hypot(*(point - kept[-1])) > 0.0:
            kept.append(point)
    prof = np.array(kept)
    if len(prof) < 2:
        return prof
    solid = np.vstack([prof, [[0.0, prof[-1, 1]], [0.0, prof[0, 1]]]])
    area = np.sum(solid[:, 0] * np.roll(solid[:, 1], -1) - np.roll(solid[:, 0], -1) * solid[:, 1])
    d = np.diff(prof, axis=0)
    d /= np.hypot(d[:, 0], d[:, 1])[:, None]  # hypot: no underflow to zero for the closest points kept
    normals = np.column_stack([-d[:, 1], d[:, 0]]) * (1.0 if area >= 0 else -1.0)  # towards the inside
    before, after = np.vstack([normals[:1], normals]), np.vstack([normals, normals[-1:]])
    mitre = before + after
    length = np.linalg.norm(mitre, axis=1)
    mitre = np.where(length[:, None] > 1e-9, mitre / np.maximum(length, 1e-9)[:, None], before)
    cosine = np.maximum(np.sum(mitre * before, axis=1), 0.25)
    inner = prof + mitre * (thickness / cosine)[:, None]
    for end, segment in ((0, 0), (-1, -1)):  # slide an axis end along its offset edge back to the axis
        if prof[end, 0] == 0.0 and abs(d[segment, 0]) > 1e-6:
            inner[end] -= d[segment] * (inner[end, 0] / d[segment, 0])
    inner[:, 0] = np.maximum(inner[:, 0], 0.0)
    return np.vstack([prof, inner[::-1], prof[:1]])


def _lathe_outline(p: dict) -> np.ndarray:
    """The [r, z] outline the kernel revolves: the profile, or the closed ring of its wall."""
    return np.asarray(p.get("outline", p["profile"]), dtype=np.float64).reshape(-1, 2)


def _lathe_bounds(p: dict) -> tuple[np.ndarray, np.ndarray] | None:
    prof = _lathe_outline(p)
    if len(prof) == 0:
        return np.zeros(3), np.zeros(3)
    if p.get("smooth"):
        return None  # the spline may bulge past its points: measure the mesh
    r = np.maximum(prof[:, 0], 0.0)
    lo = r.min() if _is_closed(prof) else 0.0
    return _revolved_bounds(lo, r.max(), prof[:, 1].min(), prof[:, 1].max(), p["angle"], p.get("start", 0.0))


def _extrude_args(name: str, v: dict, span: Span) -> dict:
    if len(v["polygon"]) < 3:
        _fail("E107", "an extrude polygon needs at least 3 [x, y] points", span)
    h, radius = _nonneg(name, "h", v["h"], span), _nonneg(name, "round", v["round"], span)
    holes = v["holes"] or []
    if any(len(hole) < 3 for hole in holes):
        _fail("E107", "every hole of an extrude needs at least 3 [x, y] points", span)
    if holes and (radius > 0 or v["smooth"]):
        _fail("E126", "an extrude with `holes` takes no `round` or `smooth` yet", span)
    largest = h / 2 if v["smooth"] else min(h / 2, _largest_round(v["polygon"]))
    if radius > 0 and radius <= largest:
        segments = min(max(v.get("segments") or SEGMENTS_DEFAULT, 3), FOLD_CHECK_SEGMENTS)
        largest = largest_unfolded_round(v["polygon"], radius, h, v["smooth"], segments)
    if radius > largest:
        _fail(
            "E125",
            f"round {radius:g} is too large for this extrusion: at most {largest:g} fits",
            span,
            hint="the rounds of two neighbouring corners must fit along the edge between them, "
            "2 * round <= h, and fillets across a neck or a tight concave bend must not cross",
        )
    return {"polygon": v["polygon"], "h": h, "holes": holes, "round": radius, "smooth": v["smooth"]}


def _extrude_pack(p: dict) -> Packed:
    """Without holes, the polygon (the kernel cleans, maybe smooths or rounds, and ear-clips it).
    With holes, its loops cleaned (outline counter-clockwise, holes clockwise) and manifold3d's
    triangulation of the cap."""
    outline = _loop(p["polygon"], counter_clockwise=True)
    if not p.get("holes") or len(outline) < 3:  # parameters written by hand may leave holes out
        radius, smooth = p.get("round", 0.0), p.get("smooth", False)
        code = ROUNDED_EXTRUDE if radius > 0 else EXTRUDE
        return Packed(code, (p["h"], radius, 1.0 if smooth else 0.0, 0.0), _points(p["polygon"]))
    loops = [outline] + [
        hole for hole in (_loop(h, counter_clockwise=False) for h in p["holes"]) if len(hole) >= 3
    ]
    triangles = manifold3d.triangulate(loops)
    outlines = np.zeros((sum(map(len, loops)), 4))  # (x, y, loop, 0)
    outlines[:, :2], outlines[:, 2] = (
        np.concatenate(loops),
        np.repeat(np.arange(len(loops)), list(map(len, loops))),
    )
    caps = np.ones((len(triangles), 4))  # (a, b, c, 1)
    caps[:, :3] = triangles
    return Packed(EXTRUDE_HOLES, (p["h"], 0.0, 0.0, 0.0), np.concatenate([outlines, caps]))


def _loop(xy, counter_clockwise: bool) -> np.ndarray:
    """A closed outline: repeated points dropped, wound the way asked."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    xy = xy[np.r_[True, np.any(xy[1:] != xy[:-1], axis=1)]] if len(xy) else xy
    if len(xy) >= 2 and np.array_equal(xy[0], xy[-1]):
        xy = xy[:-1]
    area = np.sum(xy[:, 0] * np.roll(xy[:, 1], -1) - np.roll(xy[:, 0], -1) * xy[:, 1])
    return xy[::-1].copy() if (area < 0) == counter_clockwise and area != 0 else xy


def _largest_round(polygon: np.ndarray) -> float:
    """The largest radius that rounds every corner of the polygon: a corner turning by angle a
    takes round * tan(a / 2) of each edge beside it."""
    poly = polygon[np.r_[True, np.any(polygon[1:] != polygon[:-1], axis=1)]]
    if len(poly) > 1 and np.array_equal(poly[0], poly[-1]):
        poly = poly[:-1]
    edges = np.roll(poly, -1, axis=0) - poly
    length = np.linalg.norm(edges, axis=1)
    if len(poly) < 3 or not np.all(length > 0):
        return 0.0
    d = edges / length[:, None]
    before = np.roll(d, 1, axis=0)
    turn = np.arctan2(before[:, 0] * d[:, 1] - before[:, 1] * d[:, 0], np.einsum("ij,ij->i", before, d))
    need = np.tan(np.abs(turn) / 2)
    need = need + np.roll(need, -1)  # edge i runs from corner i to corner i + 1
    with np.errstate(over="ignore"):  # a corner all but straight limits nothing: its quotient is inf
        return float(np.min(length[need > 0] / need[need > 0], initial=np.inf))


def largest_unfolded_round(polygon, radius: float, h: float, smooth: bool, segments: int) -> float:
    """`radius` if the outline drawn at `segments` facets, moved inward by it, stays a simple
    counter-clockwise polygon; else the largest round (by bisection) that keeps it so. Past it,
    fillets across a neck or a tight concave stretch cross and turn the mesh inside out. A round
    must fit FOLD_MARGIN larger, as at the limit the two sides of a neck meet in a sliver."""
    from proto3d.compiler.tessellate import rounded_spine  # the kernels import this module

    pts = _points(polygon)

    def unfolded(r: float) -> bool:
        return _simple_counter_clockwise(rounded_spine(pts, r / FOLD_MARGIN, h, smooth, segments))

    if unfolded(radius):
        return radius
    fits, folds = 0.0, radius
    for _ in range(FOLD_BISECTIONS):
        middle = (fits + folds) / 2
        if unfolded(middle):
            fits = middle
        else:
            folds = middle
    if fits <= 0:
        return 0.0
    scale = 10.0 ** (5 - math.floor(math.log10(fits)))  # six digits, rounded down: the message's number fits
    return math.floor(fits * scale) / scale


def _simple_counter_clockwise(loop: np.ndarray) -> bool:
    """No two edges of the closed loop cross (repeated points dropped) and it winds counter-clockwise."""
    loop = loop[np.r_[True, np.any(loop[1:] != loop[:-1], axis=1)]]
    if len(loop) > 1 and np.array_equal(loop[0], loop[-1]):
        loop = loop[:-1]
    if len(loop) < 3:
        return len(loop) == 1  # every corner rounded about one point: a disc or a sphere-capped post
    a, b = loop, np.roll(loop, -1, axis=0)
    if np.sum(a[:, 0] * b[:, 1] - b[:, 0] * a[:, 1]) <= 0:
        return False
    i, j = _overlapping_edges(a, b)
    apart = (np.abs(i - j) > 1) & (np.abs(i - j) != len(loop) - 1)  # neighbours share a point
    p, q, r, s = a[i[apart]], b[i[apart]], a[j[apart]], b[j[apart]]
    crossing = (_orientation(p, q, r) * _orientation(p, q, s) < 0) & (
        _orientation(r, s, p) * _orientation(r, s, q) < 0
    )
    return not np.any(crossing)


def _overlapping_edges(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (i, j) of edges a -> b whose bounding boxes overlap, found by sorting them along
    x: an outline's edges overlap few others, so this is near linear where all pairs are quadratic."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    order = np.argsort(lo[:, 0], kind="stable")
    starts = lo[order, 0]
    count = np.searchsorted(starts, hi[order, 0], side="right") - np.arange(len(a)) - 1
    count = np.maximum(count, 0)  # the edges starting within this one's x span, after it in order
    first = np.repeat(np.arange(len(a)), count)
    second = first + 1 + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    i, j = order[first], order[second]
    keep = (lo[i, 1] <= hi[j, 1]) & (lo[j, 1] <= hi[i, 1])
    return i[keep], j[keep]


def _orientation(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """> 0 where r lies left of the line p -> q, < 0 right of it."""
    return (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (
        r[..., 0] - p[..., 0]
    )


def _extrude_bounds(p: dict) -> tuple[np.ndarray, np.ndarray] | None:
    if p.get("smooth") or p.get("round", 0.0) > 0:
        return None  # a spline bulges past its points, rounded corners fall short of them: measure
    poly = np.asarray(p["polygon"], dtype=np.float64).reshape(-1, 2)
    if len(poly) == 0:
        return np.zeros(3), np.zeros(3)
    h = p["h"]
    return np.array([*poly.min(axis=0), min(0.0, h)]), np.array([*poly.max(axis=0), max(0.0, h)])


def _sweep_args(name: str, v: dict, span: Span) -> dict:
    path, r, profile, closed = v["path"], v["r"], v["profile"], v["closed"]
    if len(path) < 2:
        _fail("E107", "a sweep path needs at least 2 [x, y, z] points", span)
    if closed and len(path) < 3:
        _fail("E107", "a closed sweep path needs at least 3 [x, y, z] points", span)
    if r is not None and profile is not None:
        _fail(
            "E132",
            "`sweep` takes `r` (a circle) or `profile` (any outline), not both",
            span,
            hint="scale the profile's points instead of giving `r`",
        )
    if r is None and profile is None:
        _fail("E103", "`sweep` needs `r` or `profile`", span, expected="sweep(path=[...], r=0.01)")
    if profile is not None:
        if len(profile) < 3:
            _fail("E107", "a sweep profile needs at least 3 [x, y] points", span)
        return {"path": path, "profile": profile, "smooth": v["smooth"], "closed": closed}
    radii = np.full(len(path), r) if isinstance(r, float) else r
    if len(radii) != len(path):
        _fail(
            "E107",
            f"sweep has {len(path)} path points but {len(radii)} radii",
            span,
            hint="give one radius, or one per path point",
        )
    radii = _nonneg(name, "r", radii.astype(np.float64), span)
    return {"path": path, "r": radii, "smooth": v["smooth"], "closed": closed}


def _sweep_pack(p: dict) -> Packed:
    """An open circular sweep has its own kernel (SWEEP); a profile, or a closed path, is a skin
    (PROFILE_SWEEP: the path's rows, their scales, then the profile; a circle if none)."""
    path = np.asarray(p["path"], dtype=np.float64).reshape(-1, 3)
    pts = np.zeros((len(path), 4))
    pts[:, :3] = path
    profile = p.get("profile")
    smooth, closed = 1.0 if p["smooth"] else 0.0, 1.0 if p.get("closed") else 0.0
    if profile is None:
        pts[:, 3] = np.broadcast_to(np.asarray(p["r"], dtype=np.float64), len(path))
        if not closed:
            return Packed(SWEEP, (smooth, 0.0, 0.0, 0.0), pts)
        return Packed(PROFILE_SWEEP, (smooth, closed, len(path), 1.0), pts)
    pts[:, 3] = 1.0
    return Packed(PROFILE_SWEEP, (smooth, closed, len(path), 0.0), np.concatenate([pts, _points(profile)]))


def _sweep_facet_radius(p: dict) -> float:
    profile = p.get("profile")
    return _largest_radius(p) if profile is None else float(np.max(np.abs(profile), initial=0.0))


def _loft_args(name: str, v: dict, span: Span) -> dict:
    sections, z, path = v["sections"], v["z"], v["path"]
    if z is not None and path is not None:
        _fail(
            "E130",
            "`loft` takes `z` (sections stacked in XY) or `path` (sections across a path), not both",
            span,
        )
    if z is None and path is None:
        _fail(
            "E103",
            "`loft` needs `z` (one height per section) or `path` (one point per section)",
            span,
            expected="loft(sections=[...], z=[z0, z1, ...])",
        )
    if isinstance(z, float):
        _fail("E106", "`z` of `loft` must be a list of heights, one per section", span, expected="z=[0, 0.1]")
    if len(sections) < 2:
        _fail("E107", "a loft needs at least 2 sections", span)
    count = len(z if z is not None else path)
    if count != len(sections):
        where = "heights in `z`" if z is not None else "points in `path`"
        _fail(
            "E131",
            f"loft has {len(sections)} sections but {count} {where}",
            span,
            hint="give one height (or path point) per section, in the same order",
        )
    if max(len(section) for section in sections) < 3:
        _fail("E107", "a loft needs a section of at least 3 [x, y] points", span)
    return {"sections": sections, "z": z, "path": path, "smooth": v["smooth"]}


def _loft_pack(p: dict) -> Packed:
    """One row per section (its place: [0, 0, z] or a path point, and its point count), then
    the sections' points."""
    sections = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in p["sections"]]
    head = np.zeros((len(sections), 4))
    if p["path"] is None:
        head[:, 2] = p["z"]
    else:
        head[:, :3] = p["path"]
    head[:, 3] = [len(s) for s in sections]
    along_path = 0.0 if p["path"] is None else 1.0
    return Packed(
        LOFT,
        (float(len(sections)), along_path, 1.0 if p["smooth"] else 0.0, 0.0),
        np.concatenate([head, *map(_points, sections)]),
    )


# ---------------------------------------------------------------------------------------------
# The table, in the order of docs/language.md §4.

N, V3 = "number", "vec3"
_CUT = (
    Param("thickness", N, 0.0),
    Param("angle", N, 360.0),
    Param("start", N, 0.0),
    Param("polar", "vec2", None),
)
_ENDS = (Param("from", V3, None), Param("to", V3, None))  # placed between two points instead of at/rot/align
_KINDS = (
    PrimitiveKind(
        "box",
        "a box of full extents `size`, edges rounded to radius `round` (`bevel` is its v1 name); centred",
        (Param("size", V3), Param("round", N, 0.0), Param("bevel", N, None)),
        _box_args,
        lambda p: Packed(BOX, (p["size"][0], p["size"][1], p["size"][2], p["round"]), None),
        _half_size,
        lambda p: _largest_radius(p, ("round",)),
    ),
    PrimitiveKind(
        "sphere",
        "a sphere of radius `r`, hollowed to a wall `thickness` inward and cut to `angle` from `start`"
        " and `polar` [from, to] degrees from the top; centred",
        (Param("r", N), *_CUT),
        _sphere_args,
        _round_pack(SPHERE),
        _round_bounds,
        _largest_radius,
        positional=1,
    ),
    PrimitiveKind(
        "ellipsoid",
        "an ellipsoid of full extents (diameters) `size`, hollowed and cut like a sphere; centred",
        (Param("size", V3), *_CUT),
        _ellipsoid_args,
        _round_pack(ELLIPSOID),
        _round_bounds,
        lambda p: max(0.0, float(np.max(p["size"])) / 2),
        positional=1,
    ),
    _frustum_kind(
        "cylinder",
        "a cylinder of radius `r` (or `r1` at the bottom, `r2` at the top) and height `h` along Z; centred",
        (Param("r", N, None), Param("h", N, None), Param("r1", N, None), Param("r2", N, None), *_ENDS),
        _frustum_args,
        _r1_r2_h,
        positional=2,
        either_radius=True,
        frame=_points_frame,
    ),
    _frustum_kind(
        "frustum",
        "a cylinder of radius `r1` at the bottom and `r2` at the top, height `h` along Z; centred",
        (Param("r1", N), Param("r2", N), Param("h", N, None), *_ENDS),
        _frustum_args,
        _r1_r2_h,
        positional=3,
        frame=_points_frame,
    ),
    _frustum_kind(
        "cone",
        "a cone of base radius `r` at -Z and apex at +Z, height `h`; centred on its box",
        (Param("r", N), Param("h", N, None), *_ENDS),
        _cone_args,
        lambda p: (p["r"], 0.0, p["h"]),
        positional=2,
        frame=_points_frame,
    ),
    PrimitiveKind(
        "capsule",
        "a cylinder of radius `r` with hemispherical ends, `h` long in total along Z; centred",
        (Param("r", N), Param("h", N, None), *_ENDS),
        _capsule_args,
        lambda p: Packed(CAPSULE, (p["r"], p["h"], 0.0, 0.0), None),
        _capsule_bounds,
        _largest_radius,
        positional=2,
        frame=_points_frame,
    ),
    PrimitiveKind(
        "torus",
        "a ring of radius `R` (or radii [rx, ry]: an ellipse) and tube radius `r` in the XY plane, an arc of"
        " `angle` from `start`",
        (Param("R", "number_or_list"), Param("r", N), Param("angle", N, 360.0), Param("start", N, 0.0)),
        _torus_args,
        _torus_pack,
        _torus_bounds,
        lambda p: _largest_radius(p, ("r", "R")),
    ),
    PrimitiveKind(
        "tube",
        "a hollow cylinder of outer radius `r`, wall `thickness` inward, height `h` along Z; centred",
        (Param("r", N), Param("thickness", N), Param("h", N, None), *_ENDS),
        _tube_args,
        lambda p: Packed(TUBE, (p["r"], p["thickness"], p["h"], 0.0), None),
        lambda p: _centred(abs(p["r"]), abs(p["h"]) / 2),
        _largest_radius,
        positional=3,
        frame=_points_frame,
    ),
    PrimitiveKind(
        "wedge",
        "a ramp of full extents `size`, full height at the back (+Y), zero at the front; centred",
        (Param("size", V3),),
        _size_args,
        lambda p: Packed(WEDGE, (p["size"][0], p["size"][1], p["size"][2], 0.0), None),
        _half_size,
        None,
    ),
    PrimitiveKind(
        "lathe",
        "a `profile` of [r, z] points (or the spline through them if `smooth`) revolved about Z by"
        " `angle` degrees from `start`; with `thickness` the profile is the outer surface of a wall",
        (
            Param("profile", "points2"),
            Param("angle", N, 360.0),
            Param("start", N, 0.0),
            Param("thickness", N, 0.0),
            Param("smooth", "bool", False),
        ),
        _lathe_args,
        lambda p: Packed(
            LATHE,
            (p["angle"], p.get("start", 0.0), 1.0 if p.get("smooth") else 0.0, 0.0),
            _points(_lathe_outline(p)),
        ),
        _lathe_bounds,
        lambda p: max(0.0, float(np.max(np.abs(np.asarray(p["profile"], float)[:, 0])))),
        positional=2,
    ),
    PrimitiveKind(
        "extrude",
        "a `polygon` of [x, y] points (or the closed spline through them if `smooth`), less its `holes`"
        " (polygons inside it), extruded from z = 0 to z = `h`, every edge rounded to radius `round`",
        (
            Param("polygon", "points2"),
            Param("h", N),
            Param("holes", "polygons", None),
            Param("round", N, 0.0),
            Param("smooth", "bool", False),
        ),
        _extrude_args,
        _extrude_pack,
        _extrude_bounds,
        lambda p: _largest_radius(p, ("round",)),
    ),
    PrimitiveKind(
        "sweep",
        "a circle of radius `r` (one, or one per point) or a `profile` along `path`, a spline through"
        " it if `smooth`, a ring if `closed`",
        (
            Param("path", "points3"),
            Param("r", "number_or_list", None),
            Param("smooth", "bool", False),
            Param("profile", "points2", None),
            Param("closed", "bool", False),
        ),
        _sweep_args,
        _sweep_pack,
        None,  # the spline and the mitred corners have no short closed form
        _sweep_facet_radius,
    ),
    PrimitiveKind(
        "loft",
        "a solid through `sections` ([x, y] polygons) at heights `z` or across a `path`, a spline if"
        " `smooth`",
        (
            Param("sections", "polygons"),
            Param("z", "number_or_list", None),
            Param("path", "points3", None),
            Param("smooth", "bool", False),
        ),
        _loft_args,
        _loft_pack,
        None,  # a spline between the sections has no short closed form
        None,
        positional=1,
    ),
    _frustum_kind(
        "rod",
        "a cylinder of radius `r` from point `from` to point `to`; placed by them, not by at/rot/align",
        (Param("from", V3), Param("to", V3), Param("r", N)),
        _rod_args,
        lambda p: (p["r"], p["r"], p["h"]),
        frame=_points_frame,
    ),
)
PRIMITIVES: dict[str, PrimitiveKind] = {kind.name: kind for kind in _KINDS}
