"""Generators of pdsl programs for the property tests, and the fuzzers' hostile inputs.

Two hypothesis families of valid programs:

* `primitive_specs`: one primitive of any of the 14 kinds with valid random parameters, kept as
  values (for reference maths) and rendered as source text;
* `programs`: whole valid programs (parts, lets, params, for loops, if/else, nested transforms,
  anchors of earlier parts, comments), rendered as text.

Numbers are drawn on coarse grids and written either plainly or with a unit suffix, so the value
the test knows is the value the parser reads (up to float rounding of the unit factor).

Then the hostile families `FAMILIES` (mutations, extreme numbers and builtins, nested lists,
anchors in loops, odd text and raw bytes) and `run_input`, the promise every input is held to:
tests/compiler/test_fuzz.py runs a slice of them, bench/fuzz.py a million.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import hypothesis
import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from proto3d.compiler import compile_text, parts_manifest
from proto3d.compiler import language as lang
from proto3d.compiler.export import to_glb, to_obj, to_ply
from proto3d.compiler.primitives import _largest_round as largest_round
from proto3d.errors import Diagnostic, Proto3dError, errors

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KINDS = (
    "box",
    "sphere",
    "ellipsoid",
    "cylinder",
    "frustum",
    "cone",
    "capsule",
    "torus",
    "tube",
    "wedge",
    "lathe",
    "extrude",
    "sweep",
    "loft",
    "rod",
)
ALIGN_AXES = (("left", "right"), ("front", "back"), ("bottom", "top"))
ANCHORS = ("top", "bottom", "left", "right", "front", "back", "center", "min", "max", "size")
CSS_COLORS = ("red", "steelblue", "tan", "black", "white", "darkolivegreen", "gold")


def fmt(value: float) -> str:
    """Shortest round-tripping decimal text of a float (never exponent notation for our grids)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


@st.composite
def number(draw, lo: float, hi: float, step: float = 0.01):
    """(text, value): a grid number in [lo, hi], sometimes written with a unit suffix.

    Lengths (step < 1) may be written in cm or mm; angles (step 1) in deg.
    """
    k = draw(st.integers(int(np.ceil(lo / step - 1e-9)), int(np.floor(hi / step + 1e-9))))
    value = round(k * step, 10)
    if step >= 1:
        return (f"{fmt(value)}deg" if draw(st.integers(0, 3)) == 0 else fmt(value)), value
    style = draw(st.sampled_from(["plain", "plain", "cm", "mm"]))
    if style == "cm" and abs(value * 100 - round(value * 100)) < 1e-9 and value >= 0:
        return f"{int(round(value * 100))}cm", round(value * 100) * 0.01
    if style == "mm" and abs(value * 1000 - round(value * 1000)) < 1e-9 and value >= 0:
        return f"{int(round(value * 1000))}mm", round(value * 1000) * 0.001
    return fmt(value), value


def vec_text(texts) -> str:
    return "[" + ", ".join(texts) + "]"


@st.composite
def vector(draw, lo: float, hi: float, n: int = 3, step: float = 0.01):
    pairs = [draw(number(lo, hi, step)) for _ in range(n)]
    return vec_text(t for t, _ in pairs), np.array([v for _, v in pairs])


@dataclass
class PrimSpec:
    """A primitive as values (params as written, placement) and its source text."""

    kind: str
    args: list  # [(name or None, text)] in the written order
    params: dict  # name -> value (float or np.ndarray or bool)
    segments: int | None = None
    at: np.ndarray | None = None
    rot: np.ndarray | None = None
    align: str | None = None
    color: str | None = None
    extra: list = field(default_factory=list)  # placement args as (name, text)
    ends: list = field(default_factory=list)  # `from` and `to` as (name, text), always keywords

    def text(self, placement: bool = True) -> str:
        args = [t if n is None else f"{n}={t}" for n, t in self.args] + [f"{n}={t}" for n, t in self.ends]
        if placement:
            args += [f"{n}={t}" for n, t in self.extra]
        return f"{self.kind}({', '.join(args)})"

    def bare_text(self, segments: int | None = None) -> str:
        """The same primitive at the origin (segments kept unless given): the identity reference.

        One placed between two points is the same with its length as `h` (a rod: a cylinder)."""
        args = [t if n is None else f"{n}={t}" for n, t in self.args]
        if "from" in self.params:
            order = [p.name for p in lang.PRIMITIVES[self.kind]]
            names = [n or order[i] for i, (n, _) in enumerate(self.args)]
            args = [a for a, n in zip(args, names) if n not in ("from", "to")]
            args.append(f"h={float(np.linalg.norm(self.params['to'] - self.params['from']))!r}")
        segments = segments or self.segments
        if segments is not None:
            args.append(f"segments={segments}")
        return f"{'cylinder' if self.kind == 'rod' else self.kind}({', '.join(args)})"


def _args(draw, kind: str, names_texts, positional_ok: bool):
    """Write some leading arguments positionally when allowed: those that follow the signature's
    order from its start, within the kind's positional count."""
    order = [p.name for p in lang.PRIMITIVES[kind]][: lang.positional_count(kind)]
    leading = 0
    while leading < min(len(order), len(names_texts)) and names_texts[leading][0] == order[leading]:
        leading += 1
    n_pos = draw(st.integers(0, leading)) if positional_ok else 0
    return [(None if i < n_pos else name, text) for i, (name, text) in enumerate(names_texts)]


@st.composite
def star_polygon(draw):
    """A simple (possibly concave) polygon: sorted angles, random radii, either orientation."""
    n = draw(st.integers(3, 7))
    angles = sorted(draw(st.lists(st.integers(0, 359), min_size=n, max_size=n, unique=True)))
    if any((b - a) >= 180 for a, b in zip(angles, angles[1:] + [angles[0] + 360])):
        angles = [i * 360 // n for i in range(n)]
    radii = draw(st.lists(st.integers(3, 10), min_size=n, max_size=n))
    pts = np.array(
        [[r * 0.02 * np.cos(np.radians(a)), r * 0.02 * np.sin(np.radians(a))] for a, r in zip(angles, radii)]
    )
    pts = np.round(pts, 4) + 0.0
    if draw(st.booleans()):
        pts = pts[::-1]
    return pts


def narrowest(poly: np.ndarray) -> float:
    """The shortest distance between two points of a polygon that are not neighbours (a round
    over half of it folds the fillets of opposite sides through each other)."""
    d = np.linalg.norm(poly[:, None] - poly[None], axis=2)
    steps = np.abs(np.arange(len(poly))[:, None] - np.arange(len(poly))[None])
    return float(d[np.minimum(steps, len(poly) - steps) >= 2].min(initial=np.inf))


def _distance_to_outline(poly) -> float:
    """The distance from the origin to the nearest edge of a closed polygon."""
    a, b = np.asarray(poly, float), np.roll(np.asarray(poly, float), -1, axis=0)
    t = np.clip(
        np.einsum("ij,ij->i", -a, b - a) / np.maximum(np.einsum("ij,ij->i", b - a, b - a), 1e-30), 0, 1
    )
    return float(np.linalg.norm(a + t[:, None] * (b - a), axis=1).min())


def points_text(points) -> str:
    return "[" + ", ".join(vec_text(fmt(v) for v in p) for p in points) + "]"


def _box_round(draw, size, params) -> list:
    """A box's `round` (sometimes written by its v1 name `bevel`), drawn into params."""
    params["round"] = 0.0
    if not draw(st.booleans()):
        return []
    params["round"] = round(draw(st.floats(0, 0.45)) * size.min(), 4)
    return [(draw(st.sampled_from(["round", "bevel"])), fmt(params["round"]))]


def _lathe_smooth(draw, params) -> list:
    """A lathe's `smooth` (not with a wall `thickness`), drawn into params."""
    if "thickness" in params or not draw(st.booleans()):
        return []
    params["smooth"] = draw(st.booleans())
    return [("smooth", "true" if params["smooth"] else "false")]


def _round_and_smooth(draw, poly, h, params) -> list:
    """An extrusion's `round` (one that fits: the edges, the height, the narrowest width) and
    `smooth`, drawn into params; their (name, text) pairs in signature order. Not with holes."""
    pairs = []
    if params["holes"]:
        return pairs
    params["smooth"] = draw(st.booleans())
    if draw(st.booleans()):
        fits = min(h / 2, narrowest(poly) / 2.5, np.inf if params["smooth"] else largest_round(poly))
        params["round"] = np.floor(draw(st.floats(0, 0.9)) * fits * 1e4) / 1e4
        pairs.append(("round", fmt(params["round"])))
    if params["smooth"] or draw(st.booleans()):
        pairs.append(("smooth", "true" if params["smooth"] else "false"))
    return pairs


@st.composite
def sweep_core(draw):
    """A sweep's own arguments: a path, a circle (of one radius or one per point) or a profile."""
    n = draw(st.integers(2, 5))
    path = np.cumsum(
        np.array(draw(st.lists(st.tuples(*[st.integers(-10, 10)] * 3).filter(any), min_size=n, max_size=n)))
        * 0.02,
        axis=0,
    )
    path = np.round(path, 4) + 0.0
    pairs = [("path", points_text(path))]
    if draw(st.booleans()):
        radii = np.array(draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))) * 0.01
        pairs.append(("r", vec_text(fmt(r) for r in radii)))
    else:
        rt, r0 = draw(number(0.01, 0.05))
        pairs.append(("r", rt))
        radii = np.full(n, r0)
    params = {"path": path, "r": radii, "smooth": False}
    if draw(st.booleans()):  # a profile instead of the circle
        profile = draw(star_polygon()) / 4
        pairs[1] = ("profile", points_text(profile))
        params = {"path": path, "profile": profile, "smooth": False}
    if draw(st.booleans()):
        smooth = draw(st.booleans())
        pairs.append(("smooth", "true" if smooth else "false"))
        params["smooth"] = smooth
    if n >= 3 and draw(st.booleans()):
        pairs.append(("closed", "true"))
        params["closed"] = True
    return pairs, params


@st.composite
def loft_core(draw):
    """A loft's own arguments: star polygons (some reduced to a tip) at rising heights or along a path."""
    n = draw(st.integers(2, 4))
    sections = [draw(star_polygon()) for _ in range(n)]
    for i in draw(st.lists(st.integers(0, n - 1), max_size=n - 1, unique=True)):  # tips
        sections[i] = sections[i][:1]
    pairs = [("sections", "[" + ", ".join(points_text(section) for section in sections) + "]")]
    params = {"sections": sections, "smooth": False}
    if draw(st.booleans()):
        z = np.cumsum(draw(st.lists(st.integers(1, 10), min_size=n, max_size=n))) * 0.02
        pairs.append(("z", vec_text(fmt(v) for v in z)))
        params["z"] = z
    else:
        steps = draw(st.lists(st.tuples(*[st.integers(-3, 3)] * 2), min_size=n, max_size=n))
        path = np.round(np.cumsum([[x * 0.02, 0.1, z * 0.02] for x, z in steps], axis=0), 4) + 0.0
        pairs.append(("path", points_text(path)))
        params["path"] = path
    if draw(st.booleans()):
        pairs.append(("smooth", "true"))
        params["smooth"] = True
    return pairs, params


@st.composite
def primitive_core(draw, kind: str | None = None):
    """A primitive's own arguments: (kind, [(name, text)], params as values)."""
    kind = kind or draw(st.sampled_from(KINDS))
    size = lambda: draw(vector(0.02, 0.5))  # noqa: E731
    length = lambda lo=0.02, hi=0.5: draw(number(lo, hi))  # noqa: E731
    if kind in ("box", "ellipsoid", "wedge"):
        (st_, sv) = size()
        pairs, params = [("size", st_)], {"size": sv}
        if kind == "box":
            pairs += _box_round(draw, sv, params)
        if kind == "ellipsoid" and draw(st.booleans()):
            more, params["cut"] = draw(sphere_cut(sv.min() / 2))
            pairs += more
        return kind, pairs, params
    if kind == "sphere":
        t, v = length()
        pairs, params = [("r", t)], {"r": v}
        if draw(st.booleans()):
            more, params["cut"] = draw(sphere_cut(v))
            pairs += more
        return kind, pairs, params
    if kind == "cylinder" and draw(st.booleans()):
        (rt, r), (ht, h) = length(), length()
        return kind, [("r", rt), ("h", ht)], {"r1": r, "r2": r, "h": h}
    if kind in ("cylinder", "frustum"):
        (at, a), (bt, b), (ht, h) = length(0, 0.5), length(0.01, 0.5), length()
        if draw(st.booleans()):  # either end may be the pointed one
            (at, a), (bt, b) = (bt, b), (at, a)
        return kind, [("r1", at), ("r2", bt), ("h", ht)], {"r1": a, "r2": b, "h": h}
    if kind == "cone":
        (rt, r), (ht, h) = length(), length()
        return kind, [("r", rt), ("h", ht)], {"r": r, "h": h}
    if kind == "capsule":
        rt, r = length(0.02, 0.2)
        extra = draw(st.integers(0, 30)) * 0.01
        h = round(2 * r + extra, 10)
        return kind, [("r", rt), ("h", fmt(h))], {"r": r, "h": h}
    if kind == "torus":
        rt, r = length(0.01, 0.1)
        big = round(r + draw(st.integers(1, 30)) * 0.01, 10)
        pairs, params = [("R", fmt(big)), ("r", rt)], {"R": big, "r": r, "angle": 360.0, "start": 0.0}
        if draw(st.booleans()):  # an elliptical ring
            other = round(r + draw(st.integers(1, 30)) * 0.01, 10)
            pairs[0] = ("R", vec_text([fmt(big), fmt(other)]))
            params["R"] = big if other == big else np.array([big, other])
        if draw(st.booleans()):
            angle = float(draw(st.integers(10, 360)))
            start = float(draw(st.integers(-180, 180)))
            pairs += [("angle", fmt(angle)), ("start", fmt(start))]
            params.update(angle=angle, start=start)
        return kind, pairs, params
    if kind == "tube":
        (rt, r), (ht, h) = length(0.05, 0.5), length()
        thick = round(r * draw(st.integers(1, 10)) / 10, 10)
        return kind, [("r", rt), ("thickness", fmt(thick)), ("h", ht)], {"r": r, "thickness": thick, "h": h}
    if kind == "lathe":
        n = draw(st.integers(2, 6))
        zs = sorted(draw(st.lists(st.integers(-20, 20), min_size=n, max_size=n, unique=True)))
        rs = draw(st.lists(st.integers(0, 20), min_size=n, max_size=n).filter(any))  # not all on the axis
        profile = np.array([[r * 0.01, z * 0.01] for r, z in zip(rs, zs)])
        pairs = [("profile", points_text(profile))]
        params = {"profile": profile, "angle": 360.0, "smooth": False}
        if draw(st.booleans()):
            angle = float(draw(st.integers(10, 360)))
            pairs.append(("angle", fmt(angle)))
            params["angle"] = angle
        if draw(st.booleans()):
            start = float(draw(st.integers(-180, 180)))
            pairs.append(("start", fmt(start)))
            params["start"] = start
        if draw(st.booleans()):  # a wall: 1 mm, thinner than the profile's 1 cm steps
            pairs.append(("thickness", "1mm"))
            params["thickness"] = 0.001
        pairs += _lathe_smooth(draw, params)
        return kind, pairs, params
    if kind == "extrude":
        poly = draw(star_polygon())
        ht, h = length()
        pairs, params = (
            [("polygon", points_text(poly)), ("h", ht)],
            {"polygon": poly, "h": h, "holes": [], "round": 0.0, "smooth": False},
        )
        room = _distance_to_outline(poly)  # the star contains the disc of this radius about the origin
        if room > 0.01 and draw(st.booleans()):
            sides, rho = draw(st.integers(3, 6)), round(room * draw(st.sampled_from([0.3, 0.6, 0.9])), 4)
            hole = (
                np.round(
                    [
                        [rho * np.cos(2 * np.pi * k / sides), rho * np.sin(2 * np.pi * k / sides)]
                        for k in range(sides)
                    ],
                    4,
                )
                + 0.0
            )
            pairs.append(("holes", f"[{points_text(hole)}]"))
            params["holes"] = [hole]
        pairs += _round_and_smooth(draw, poly, h, params)
        return kind, pairs, params
    if kind == "sweep":
        return kind, *draw(sweep_core())
    if kind == "loft":
        return kind, *draw(loft_core())
    if kind == "rod":
        (ft, f), (tt, t) = draw(vector(-0.5, 0.5)), draw(vector(-0.5, 0.5).filter(lambda pair: any(pair[1])))
        if np.array_equal(f, t):  # a rod of zero length is degenerate (a lint), not what this generator makes
            ft, f = vec_text(["0", "0", "0"]), np.zeros(3)
        rt, r = length(0.01, 0.1)
        return kind, [("from", ft), ("to", tt), ("r", rt)], {"from": f, "to": t, "r": r}
    raise AssertionError(kind)


@st.composite
def sphere_cut(draw, smallest: float):
    """(arguments, values) of a sphere's or ellipsoid's cut and wall (`smallest`: its shortest
    semi-axis): some of thickness, angle, start and polar, in a random order."""
    top = float(draw(st.integers(0, 150)))
    bottom = float(min(180, top + draw(st.integers(10, 180))))
    values = {
        "thickness": round(smallest * draw(st.integers(0, 9)) / 10, 4),
        "angle": float(draw(st.integers(10, 360))),
        "start": float(draw(st.integers(-180, 180))),
        "polar": (top, bottom),
    }
    names = draw(st.lists(st.sampled_from(sorted(values)), min_size=1, max_size=4, unique=True))
    texts = {"polar": vec_text([fmt(top), fmt(bottom)])}
    return [(n, texts.get(n, fmt(values[n]) if n != "polar" else "")) for n in names], {
        n: values[n] for n in names
    }


@st.composite
def between_points(draw, kind: str, pairs: list, params: dict):
    """The primitive placed by `from` and `to` instead of `h` (a capsule at least 2r long)."""
    ft, f = draw(vector(-0.5, 0.5))
    direction = np.array(draw(st.tuples(*[st.integers(-10, 10)] * 3).filter(any)), dtype=float)
    length = max(params["h"], 2 * params.get("r", 0.0) + 0.01)
    t = np.round(f + direction / np.linalg.norm(direction) * length, 4) + 0.0
    pairs = [(n, text) for n, text in pairs if n != "h"]
    params = {**params, "from": f, "to": t, "h": float(np.linalg.norm(t - f))}
    return pairs, params, [("from", ft), ("to", vec_text(fmt(v) for v in t))]


@st.composite
def align_words(draw):
    words = []
    for lo, hi in ALIGN_AXES:
        choice = draw(st.sampled_from([None, lo, hi]))
        if choice:
            words.append(choice)
    if draw(st.booleans()) or not words:
        words.append("center")
    return " ".join(draw(st.permutations(words)))


@st.composite
def color_text(draw):
    kind = draw(st.sampled_from(["rgb", "rrggbb", "css"]))
    if kind == "css":
        return f'"{draw(st.sampled_from(CSS_COLORS))}"'
    digits = draw(
        st.text(
            "0123456789abcdefABCDEF", min_size=3 if kind == "rgb" else 6, max_size=3 if kind == "rgb" else 6
        )
    )
    return f'"#{digits}"'


@st.composite
def primitive_specs(draw, kind: str | None = None, placement: bool = True):
    """A primitive with random valid parameters and, optionally, random at/rot/align/color/segments."""
    kind, pairs, params = draw(primitive_core(kind))
    ends = []
    if kind in ("cylinder", "frustum", "cone", "capsule", "tube") and draw(st.integers(0, 3)) == 0:
        pairs, params, ends = draw(between_points(kind, pairs, params))
    positional_ok = not (kind == "cylinder" and pairs[0][0] == "r1")  # cylinder's signature starts with r
    spec = PrimSpec(kind, _args(draw, kind, pairs, positional_ok), params, ends=ends)
    if draw(st.booleans()):
        spec.segments = draw(st.integers(3, 24))
        spec.extra.append(("segments", str(spec.segments)))
    if not placement:
        return spec
    if "from" not in params:
        if draw(st.booleans()):
            t, spec.at = draw(vector(-1, 1))
            spec.extra.append(("at", t))
        if draw(st.booleans()):
            t, spec.rot = draw(vector(-180, 180, step=1.0))
            spec.extra.append(("rot", t))
        if draw(st.booleans()):
            spec.align = draw(align_words())
            spec.extra.append(("align", f'"{spec.align}"'))
    if draw(st.booleans()):
        spec.color = draw(color_text())
        spec.extra.append(("color", spec.color))
    spec.extra = draw(st.permutations(spec.extra))
    return spec


# ---------------------------------------------------------------------------------------------
# Transforms with their reference matrices.


def rot_x(deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def homogeneous(linear=None, offset=None) -> np.ndarray:
    m = np.eye(4)
    if linear is not None:
        m[:3, :3] = linear
    if offset is not None:
        m[:3, 3] = offset
    return m


def euler(angles) -> np.ndarray:
    """R = Rz·Ry·Rx: about the fixed parent axes, X first."""
    return rot_z(angles[2]) @ rot_y(angles[1]) @ rot_x(angles[0])


@dataclass
class Wrapper:
    """A transform as text (`translate([…])`) and the list of frames it makes (copies in order)."""

    text: str
    frames: list


@st.composite
def wrappers(draw, repeats: bool = True):
    kinds = ["translate", "rotate", "scale", "mirror"] + (["symmetric", "radial"] if repeats else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "translate":
        t, v = draw(vector(-1, 1))
        return Wrapper(f"translate({t})", [homogeneous(offset=v)])
    if kind == "rotate":
        t, v = draw(vector(-180, 180, step=1.0))
        return Wrapper(f"rotate({t})", [homogeneous(euler(v))])
    if kind == "scale":
        factors = draw(st.sampled_from([0.5, 2, -1, 1.5, -0.5, 0.25, 3]))
        if draw(st.booleans()):
            return Wrapper(f"scale({fmt(factors)})", [homogeneous(np.eye(3) * factors)])
        fs = [draw(st.sampled_from([0.5, 2, -1, 1.5, -0.5, 1, 0.75])) for _ in range(3)]
        return Wrapper(f"scale({vec_text(fmt(f) for f in fs)})", [homogeneous(np.diag(fs))])
    if kind == "mirror":
        if draw(st.booleans()):
            axis = draw(st.sampled_from("xyzXY"))
            n = np.eye(3)["xyz".index(axis.lower())]
            text = f'mirror("{axis}")'
        else:
            n = np.array(draw(st.tuples(*[st.integers(-2, 2)] * 3).filter(any)), dtype=float)
            text = f"mirror({vec_text(str(int(c)) for c in n)})"
        n = n / np.linalg.norm(n)
        return Wrapper(text, [homogeneous(np.eye(3) - 2 * np.outer(n, n))])
    if kind == "symmetric":
        axes = "".join(draw(st.permutations(draw(st.sampled_from(["x", "y", "z", "xy", "xz", "yz"])))))
        frames = [np.eye(4)]
        for axis in axes:  # original first, then mirror images of everything so far
            m = homogeneous(np.diag([-1.0 if a == axis else 1.0 for a in "xyz"]))
            frames = frames + [m @ f for f in frames]
        return Wrapper(f'symmetric("{axes}")', frames)
    n = draw(st.integers(1, 4))
    rt, r = draw(number(0, 0.5))
    args = [f"n={n}", f"r={rt}"]
    start = 0.0
    if draw(st.booleans()):
        start = float(draw(st.integers(-90, 90)))
        args.append(f"start={fmt(start)}")
    if draw(st.booleans()):
        args = [str(n), rt] + args[2:]
    frames = [homogeneous(rot_z(k * 360.0 / n + start)) @ homogeneous(offset=[r, 0, 0]) for k in range(n)]
    return Wrapper(f"radial({', '.join(args)})", frames)


def compose(chain: list[Wrapper]) -> list[np.ndarray]:
    """World frames of the copies a chain of transforms makes, outermost first (its loop outermost)."""
    frames = [np.eye(4)]
    for wrapper in chain:
        frames = [f @ g for f in frames for g in wrapper.frames]
    return frames


# ---------------------------------------------------------------------------------------------
# Local bounds and the align pivot, computed here from the parameters (reference for `align`).


def _arc_extremes(rho_lo, rho_hi, angle, start):
    """x/y extent of {rho (cos t, sin t)}: rho in [lo, hi], t in the arc [start, start + angle]."""
    ts = [start, start + angle]
    k = np.ceil(start / 90.0)
    while k * 90.0 <= start + angle:
        ts.append(k * 90.0)
        k += 1
    t = np.radians(ts)
    xs = np.concatenate([rho_lo * np.cos(t), rho_hi * np.cos(t)])
    ys = np.concatenate([rho_lo * np.sin(t), rho_hi * np.sin(t)])
    return np.array([xs.min(), ys.min()]), np.array([xs.max(), ys.max()])


def _cut_sphere_bounds(semi: np.ndarray, cut: dict):
    """Bounds of a cut sphere scaled to `semi`: its outer surface between the polar angles, and its
    inner one (semi-axes a wall shorter) or, for a solid, the axis between the cut planes."""
    top, bottom = np.radians(cut.get("polar", (0.0, 180.0)))
    angle, start, wall = cut.get("angle", 360.0), cut.get("start", 0.0), cut.get("thickness", 0.0)
    thetas = np.concatenate([[top, bottom], [np.pi / 2] if top <= np.pi / 2 <= bottom else []])
    rho_lo, rho_hi = np.sin(thetas[:2]).min(), np.sin(thetas).max()
    z_lo, z_hi = np.cos(bottom), np.cos(top)
    if angle >= 360:
        lo_xy, hi_xy = np.array([-rho_hi, -rho_hi]), np.array([rho_hi, rho_hi])
    else:
        lo_xy, hi_xy = _arc_extremes(rho_lo if wall > 0 else 0.0, rho_hi, angle, start)
    unit_lo, unit_hi = np.array([*lo_xy, z_lo]), np.array([*hi_xy, z_hi])
    inner = semi - wall if wall > 0 else semi
    return np.minimum(unit_lo * semi, unit_lo * inner), np.maximum(unit_hi * semi, unit_hi * inner)


def reference_bounds(kind: str, p: dict, mesh_vertices: np.ndarray | None = None):
    """(lo, hi) of the unrotated primitive from its parameters; None when not analytic here."""
    if kind in ("sphere", "ellipsoid") and "cut" in p:
        return _cut_sphere_bounds(p["size"] / 2 if kind == "ellipsoid" else np.full(3, p["r"]), p["cut"])
    if kind in ("box", "ellipsoid", "wedge"):
        return -p["size"] / 2, p["size"] / 2
    if kind in ("sphere",):
        r = p["r"]
        return np.array([-r, -r, -r]), np.array([r, r, r])
    if kind in ("cylinder", "frustum", "cone", "capsule", "tube"):
        r = max(p["r1"], p["r2"]) if "r1" in p else p["r"]
        hz = p["h"] / 2
        return np.array([-r, -r, -hz]), np.array([r, r, hz])
    if kind == "torus" and not np.isscalar(p["R"]):  # an ellipse's arc, widened by the tube
        (rx, ry), r = p["R"], p["r"]
        (x0, y0), (x1, y1) = _arc_extremes(1.0, 1.0, min(p["angle"], 360.0), p["start"])
        return np.array([rx * x0 - r, ry * y0 - r, -r]), np.array([rx * x1 + r, ry * y1 + r, r])
    if kind == "torus":
        R, r = p["R"], p["r"]
        if p["angle"] >= 360:
            return np.array([-(R + r), -(R + r), -r]), np.array([R + r, R + r, r])
        lo, hi = _arc_extremes(R - r, R + r, p["angle"], p["start"])
        return np.array([*lo, -r]), np.array([*hi, r])
    if measured(kind, p):
        if mesh_vertices is None or not len(mesh_vertices):
            return None
        return mesh_vertices.min(axis=0).astype(float), mesh_vertices.max(axis=0).astype(float)
    if kind == "lathe":
        if p["angle"] < 360 or "thickness" in p:  # a wall's rims stand square to it, past the profile
            return None
        prof = p["profile"]
        r = prof[:, 0].max()
        return np.array([-r, -r, prof[:, 1].min()]), np.array([r, r, prof[:, 1].max()])
    if kind == "extrude":
        poly = p["polygon"]
        return np.array([*poly.min(axis=0), 0.0]), np.array([*poly.max(axis=0), p["h"]])
    return None


def measured(kind: str, p: dict) -> bool:
    """Whether the primitive's box is documented as that of its mesh at 256 facets (no closed form)."""
    return kind in ("sweep", "loft") or (
        kind in ("lathe", "extrude") and (p["smooth"] or p.get("round", 0.0) > 0)
    )


def pivot(words: str, lo, hi) -> np.ndarray:
    point = (lo + hi) / 2
    for word in words.split():
        for axis, (a, b) in enumerate(ALIGN_AXES):
            if word == a:
                point[axis] = lo[axis]
            elif word == b:
                point[axis] = hi[axis]
    return point


def anchor_point(name: str, lo, hi) -> np.ndarray:
    c = (lo + hi) / 2
    return {
        "top": [c[0], c[1], hi[2]],
        "bottom": [c[0], c[1], lo[2]],
        "left": [lo[0], c[1], c[2]],
        "right": [hi[0], c[1], c[2]],
        "front": [c[0], lo[1], c[2]],
        "back": [c[0], hi[1], c[2]],
        "center": c,
        "min": lo,
        "max": hi,
        "size": hi - lo,
    }[name]


# ---------------------------------------------------------------------------------------------
# Whole valid programs.


class _Program:
    """Mutable state while drawing one program: names in scope, parts built, lines written."""

    def __init__(self, draw):
        self.draw = draw
        self.lines: list[str] = []
        self.scopes: list[list[str]] = [[]]  # numeric names visible (lets, params, loop vars)
        self.built: list[tuple[str, int]] = []  # (part label, instances surely built)
        self.counter = 0
        self.parts_started = 0
        self.budget = 16  # statements left
        self.mult = 1  # copies the enclosing loops and repeats make of the current statement
        self.defs: list[tuple[str, list[str], int]] = []  # (name, parameters, how many are required)
        self.named: list[tuple[str, str]] = []  # (part label, primitive name) surely built

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def names(self) -> list[str]:
        return [n for scope in self.scopes for n in scope]

    def emit(self, depth: int, text: str) -> None:
        comment = ""
        if self.draw(st.integers(0, 9)) == 0:
            comment = self.draw(
                st.sampled_from(
                    [
                        "  # note",
                        "  // why",
                        "  #",
                        "  # { not a brace }",
                        "  // " + "([{" * 12,
                        '  # "quoted',
                    ]
                )
            )
        if self.draw(st.integers(0, 14)) == 0:
            self.lines.append("    " * depth + self.draw(st.sampled_from(["# a comment", "// another", ""])))
        self.lines.append("    " * depth + text + comment)

    # ---- scalar expressions that stay in a range -------------------------------------------
    def small(self, lo: float, hi: float) -> str:
        """An expression whose value lies in [lo, hi] (lo ≥ 0 for sizes)."""
        draw = self.draw
        t, v = draw(number(lo, hi))
        names = self.names()
        choice = draw(st.integers(0, 7))
        mid = (lo + hi) / 2
        span = (hi - lo) / 2
        if choice == 0 and names:
            # any bound name has |value| ≤ 1: squash it into the range
            return f"{fmt(mid)} + {fmt(round(span * 0.5, 6))} * sin({draw(st.sampled_from(names))} * 57)"
        if choice == 1:
            return f"clamp({t}, {fmt(lo)}, {fmt(hi)})"
        if choice == 2:
            return f"max({fmt(lo)}, min({t}, {fmt(hi)}))"
        if choice == 3 and lo >= 0:
            return f"abs({t})"
        if choice == 4:
            return f"({t} + {t}) / 2"
        if choice == 5 and names:
            return f"lerp({fmt(lo)}, {fmt(hi)}, abs(cos({draw(st.sampled_from(names))} * 90)))"
        return t

    def point(self) -> str:
        """A position: numbers, loop variables or anchors of parts already built."""
        draw = self.draw
        choice = draw(st.integers(0, 4))
        if choice == 0 and self.built:
            label, count = draw(st.sampled_from(self.built))
            target = (
                label if count == 0 or draw(st.booleans()) else f"{label}[{draw(st.integers(0, count - 1))}]"
            )
            anchor = draw(st.sampled_from([a for a in ANCHORS if a != "size"]))
            offset = draw(vector(-0.2, 0.2))[0]
            return f"{target}.{anchor} + {offset}" if draw(st.booleans()) else f"{target}.{anchor}"
        if choice == 1 and self.built:
            label, _ = draw(st.sampled_from(self.built))
            axis = draw(st.sampled_from("xyz"))
            return f"[{self.small(-1, 1)}, 0, {label}.top.{axis}]"
        if choice == 2 and self.named:
            label, name = draw(st.sampled_from(self.named))
            return f"{label}.{name}.{draw(st.sampled_from([a for a in ANCHORS if a != 'size']))}"
        return vec_text(self.small(-1, 1) for _ in range(3))

    # ---- statements --------------------------------------------------------------------------
    def primitive(self, depth: int, name: str | None = None) -> None:
        spec = self.draw(primitive_specs())
        text = spec.text()
        if name is None and self.draw(st.integers(0, 5)) == 0:
            name = self.fresh("n")
        suffix = "" if name is None else f" as {name}"
        if self.draw(st.integers(0, 5)) == 0:
            text = self.outline()
        if "from" not in spec.params and spec.at is None and self.draw(st.booleans()):
            text = text[:-1] + (", " if text[-2] != "(" else "") + f"at={self.point()})"
        if self.draw(st.integers(0, 4)) == 0:  # arguments over several lines, with comments between
            pieces = text.split(", ")
            glue = [self.draw(st.sampled_from([", ", ",\n", ",  # arg\n", ", // (\n"])) for _ in pieces[1:]]
            text = pieces[0] + "".join(
                g + ("    " * (depth + 2) if g.endswith("\n") else "") + p for g, p in zip(glue, pieces[1:])
            )
        self.emit(depth, text + suffix)

    def define(self) -> None:
        """A def at the top level: parameters valued in [-1, 1], a body drawing primitives."""
        draw = self.draw
        name, required, optional = self.fresh("d"), draw(st.integers(0, 2)), draw(st.integers(0, 2))
        params = [self.fresh("a") for _ in range(required + optional)]
        defaults = [f"{p}={self.small(-1, 1)}" for p in params[required:]]
        self.open(0, f"def {name}({', '.join(params[:required] + defaults)})")
        self.scopes[-1].extend(params)
        self.primitive(1)
        self.body_statements(1, True, draw(st.integers(0, 2)))
        self.close(0)
        self.defs.append((name, params, required))

    def call(self, depth: int) -> None:
        """A call of a def: its parameters in order or by name, and a frame."""
        draw = self.draw
        name, params, required = draw(st.sampled_from(self.defs))
        given = [(p, self.small(-1, 1)) for p in params[: draw(st.integers(required, len(params)))]]
        positional = draw(st.integers(0, len(given)))
        args = [text for _, text in given[:positional]]
        args += [f"{param}={text}" for param, text in draw(st.permutations(given[positional:]))]
        if draw(st.booleans()):
            args.append(f"at={self.point()}")
        if draw(st.booleans()):
            args.append(f"rot={draw(vector(-180, 180, step=1.0))[0]}")
        if draw(st.integers(0, 3)) == 0:
            args.append(f"color={draw(color_text())}")
        suffix = f" as {self.fresh('n')}" if draw(st.integers(0, 3)) == 0 else ""
        self.emit(depth, f"{name}({', '.join(args)}){suffix}")

    def let(self, depth: int) -> None:
        name = self.fresh("v")
        value = self.small(-1, 1)
        if self.draw(st.integers(0, 3)) == 0:  # through a comprehension, still in [-1, 1]
            k, j = self.fresh("k"), self.fresh("j")
            value = self.draw(
                st.sampled_from(
                    [
                        f"sum([{value} * 0.25 for {k} in range(4)])",
                        f"max([sin({k} * 57 + {value}) for {k} in range(3) if {k} != 1])",
                        f"len([{k} for {k} in range(3) for {j} in range({k}) if {k} != {j}]) / 3 - {value} / 2",
                    ]
                )
            )
        self.emit(depth, f"let {name} = {value}")
        self.scopes[-1].append(name)

    def outline(self) -> str:
        """A primitive whose outline or path is made by a point function or a comprehension."""
        draw = self.draw

        def size(lo: float, hi: float) -> str:
            return draw(number(lo, hi))[0]

        k = self.fresh("k")
        w, d = draw(number(0.05, 0.4))[1], draw(number(0.05, 0.4))[1]
        corner = fmt(round(min(w, d) / 2 * draw(st.sampled_from([0, 0.3, 1])), 6))
        start = draw(st.integers(-180, 180))
        return draw(
            st.sampled_from(
                [
                    f"extrude(polygon=circle(r={self.small(0.02, 0.3)}, n={draw(st.integers(3, 40))}), h={size(0.01, 0.2)})",
                    f"extrude(polygon=ellipse({size(0.02, 0.3)}, {size(0.02, 0.3)}, center=[{self.small(-0.2, 0.2)}, 0]), h={size(0.01, 0.2)})",
                    f"extrude(polygon=rounded_rect(size=[{fmt(w)}, {fmt(d)}], r={corner}, n={draw(st.integers(2, 9))}), h={size(0.01, 0.2)})",
                    f"extrude(polygon=arc(r={size(0.05, 0.3)}, start={start}, end={start + draw(st.integers(30, 300))}) + [[0, 0]], h={size(0.01, 0.2)})",
                    f"lathe(profile=[[0, 0]] + [[{size(0.05, 0.2)} + 0.02 * sin({k} * 40), {k} * 0.03] for {k} in range({draw(st.integers(2, 8))})] + [[0, 0.25]])",
                    f"sweep(path=[[0.2 * cos({k}), 0.2 * sin({k}), {k} / 3000] for {k} in range(0, {draw(st.integers(40, 350))}, 20)], r={size(0.005, 0.03)})",
                ]
            )
        )

    def transform_head(self) -> tuple[str, int]:
        """A transform, repeating (symmetric, radial) only while few copies exist already."""
        repeats = self.mult <= 4 and self.draw(st.integers(0, 2)) == 0
        wrapper = self.draw(wrappers(repeats=repeats))
        return wrapper.text, len(wrapper.frames)

    def body_statements(self, depth: int, in_part: bool, count: int) -> None:
        for _ in range(count):
            if self.budget <= 0:
                return
            self.budget -= 1
            self.statement(depth, in_part)

    def statement(self, depth: int, in_part: bool) -> None:
        draw = self.draw
        options = ["let", "transform", "for", "if", "block"] if depth < 3 else ["let"]
        options += ["primitive"] * 3 if in_part else ["part"] * 3
        options += ["boolean"] if in_part and depth < 3 else []
        options += ["call"] if in_part and self.defs else []
        kind = draw(st.sampled_from(options))
        if kind == "primitive":
            self.primitive(depth)
        elif kind == "call":
            self.call(depth)
        elif kind == "let":
            self.let(depth)
        elif kind == "boolean":  # after the part's first primitive: the part keeps geometry for its anchors
            self.open(depth, draw(st.sampled_from(["difference", "union", "intersection", "difference()"])))
            self.body_statements(depth + 1, True, draw(st.integers(1, 3)))
            self.close(depth)
        elif kind == "part":
            self.part(depth)
        elif (
            kind == "block"
        ):  # a bare block: a scope of its own (after a `let`: after a call it is the call's block)
            self.let(depth)
            self.open(depth, "")
            self.body_statements(depth + 1, in_part, draw(st.integers(0, 2)))
            self.close(depth)
        elif kind == "transform":
            outer = self.mult
            heads = []
            for _ in range(draw(st.integers(1, 2))):
                text, copies = self.transform_head()
                heads.append(text)
                self.mult *= copies
            style = draw(st.sampled_from(["block", "block", "if", "inline"]))
            if style != "inline":  # a block, or a chain onto an `if` statement
                self.open(depth, " ".join(heads) + (" if 1 < 2" if style == "if" else ""))
                self.body_statements(depth + 1, in_part, draw(st.integers(1, 3)))
                self.close(depth)
                if style == "if" and draw(st.booleans()):
                    self.lines[-1] += " else {"
                    self.scopes.append([])
                    self.body_statements_dead(depth + 1, in_part)
                    self.close(depth)
            elif in_part:
                spec = draw(primitive_specs())
                self.emit(depth, " ".join(heads) + " " + spec.text())
            else:
                self.part(depth, prefix=" ".join(heads) + " ")
            self.mult = outer
        elif kind == "for":
            outer = self.mult
            loops = []
            for _ in range(draw(st.integers(1, 2))):
                var = self.fresh("i")
                if draw(st.booleans()):
                    n = draw(st.integers(1, 3 if self.mult <= 8 else 1))
                    self.mult *= n
                    iterable = draw(
                        st.sampled_from([f"range({n})", f"range(0, {n})", f"range({n - 1}, -1, -1)"])
                    )
                else:
                    n = draw(st.integers(1, 3 if self.mult <= 8 else 1))
                    self.mult *= n
                    iterable = vec_text(self.small(-1, 1) for _ in range(n))
                loops.append((var, iterable))
            self.open(depth, "for " + ", ".join(f"{v} in {it}" for v, it in loops))
            # loop variables of range(3) are ≤ 2: scale them into [-1, 1] where they are used
            self.scopes.append([f"({v} / 3)" if "range" in it else v for v, it in loops])
            self.body_statements(depth + 1, in_part, draw(st.integers(1, 3)))
            self.scopes.pop()
            self.close(depth)
            self.mult = outer
        else:
            cond = draw(
                st.sampled_from(["true", "1 < 2", "not false", "len([1, 2]) == 2", "2 >= 1 and true"])
            )
            self.open(depth, f"if {cond}")
            self.body_statements(depth + 1, in_part, draw(st.integers(1, 2)))
            self.close(depth)
            for head in ["elif 1 > 2", "else"][draw(st.integers(0, 2)) :]:
                self.lines[-1] += f" {head} {{"
                self.scopes.append([])
                self.body_statements_dead(depth + 1, in_part)
                self.close(depth)

    def body_statements_dead(self, depth: int, in_part: bool) -> None:
        """A branch never taken: any statements, but parts built there are not referenced."""
        built = list(self.built)
        self.body_statements(depth, in_part, self.draw(st.integers(0, 1)))
        self.built = built

    def open(self, depth: int, head: str) -> None:
        self.emit(depth, head + " {")
        self.scopes.append([])

    def close(self, depth: int) -> None:
        self.scopes.pop()
        self.lines.append("    " * depth + "}")

    def part(self, depth: int, prefix: str = "") -> None:
        draw = self.draw
        reuse = [label for label, _ in self.built]
        label = draw(st.sampled_from(reuse)) if reuse and draw(st.integers(0, 3)) == 0 else self.fresh("p")
        color = f" color {draw(color_text())}" if draw(st.booleans()) else ""
        self.open(depth, f"{prefix}part {label}{color}")
        name = self.fresh("n") if depth == 0 and draw(st.integers(0, 2)) == 0 else None
        self.primitive(depth + 1, name)  # at least one, unconditionally: its anchors are defined
        self.body_statements(depth + 1, True, draw(st.integers(0, 2)))
        self.close(depth)
        if depth == 0:  # surely built (nested inside loops or ifs: maybe not, or several times)
            self.named += [] if name is None else [(label, name)]
            known = dict(self.built)
            self.built = [(lbl, n) for lbl, n in self.built if lbl != label] + [
                (label, known.get(label, 0) + 1)
            ]
        elif label not in dict(self.built):
            self.built.append((label, 0))  # built at least once, count unknown: use the whole part


@st.composite
def programs(draw, max_statements: int = 8, budget: int = 16):
    """Source text of a random valid program (`budget` bounds the statements written)."""
    prog = _Program(draw)
    if draw(st.booleans()):
        prog.lines.append(
            f'shape "{draw(st.sampled_from(["chair", "thing", "a b", "# not a comment", "[" * 40]))}"'
        )
    if draw(st.booleans()):
        prog.lines.append(f"bounds {draw(vector(0.1, 2))[0]}")
    if draw(st.booleans()):
        name = prog.fresh("q")
        prog.lines.append(f"param {name} = 0.5 in [0.25, 1]")
        prog.scopes[0].append(name)
    n = draw(st.integers(1, max_statements))
    prog.budget = budget
    if draw(st.booleans()):
        prog.define()
    prog.part(0)
    prog.body_statements(0, False, n - 1)
    return "\n".join(prog.lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Well-formed but ill-typed expressions: every operator and function on every kind of value.

PRELUDE = """part P { box(size=[0.1, 0.2, 0.3]) }
let n = 2
let v = [1, 2, 3]
let L = [[1, 2], "s", true]
let S = "tan"
let B = true
let pts = [[0, 0], [1, 0], [0, 1]]
let E = []
"""
ATOMS = [
    "0",
    "1",
    "-1",
    "0.5",
    "2cm",
    "90deg",
    "1e6",
    "1000001",
    "1e-300",
    "1e300",
    "pi",
    "true",
    "false",
    '""',
    '"s"',
    '"#fff"',
    '"red"',
    "n",
    "v",
    "L",
    "S",
    "B",
    "P",
    "pts",
    "E",
    "P[0]",
    "[]",
    "[[]]",
    "range(3)",
]
FUNCS = [
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "atan2",
    "sqrt",
    "abs",
    "min",
    "max",
    "clamp",
    "lerp",
    "floor",
    "ceil",
    "round",
    "len",
    "range",
    "norm",
    "sum",
    "circle",
    "ellipse",
    "arc",
    "rounded_rect",
]
OPS = ["+", "-", "*", "/", "%", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or"]


def expressions(max_leaves: int = 12):
    def extend(inner):
        return st.one_of(
            st.tuples(st.sampled_from(["-", "+", "not "]), inner).map("".join),
            st.tuples(inner, st.sampled_from(OPS), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
            st.tuples(inner, st.sampled_from(["x", "y", "z", "top", "size", "min", "w", "foo"])).map(
                lambda t: f"{t[0]}.{t[1]}"
            ),
            st.tuples(st.sampled_from(FUNCS), st.lists(inner, max_size=4)).map(
                lambda t: f"{t[0]}({', '.join(t[1])})"
            ),
            st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
            st.tuples(inner, inner, st.lists(inner, max_size=1)).map(  # `w` is the comprehension's own
                lambda t: f"[{t[0]} for w in {t[1]}{''.join(' if ' + c for c in t[2])}]"
            ),
        )

    return st.recursive(st.sampled_from(ATOMS), extend, max_leaves=max_leaves)


@st.composite
def ill_typed_programs(draw):
    e = draw(expressions())
    use = draw(
        st.sampled_from(
            [
                "let r = {e}",
                "part q {{ box(size={e}) }}",
                "part q {{ sphere(r={e}, segments={e}) }}",
                "for i in {e} {{ }}",
                "if {e} {{ }}",
                "translate({e}) part q {{ box(size=[1, 1, 1]) }}",
                "radial(n={e}) part q {{ box(size=[1, 1, 1]) }}",
                "part q color {e} {{ box(size=[1, 1, 1]) }}",
                "scale({e}) part q {{ box(size=[1, 1, 1]) }}",
                "mirror({e}) part q {{ box(size=[1, 1, 1]) }}",
                "symmetric({e}) part q {{ box(size=[1, 1, 1]) }}",
                "shape {e}",
                "bounds {e}",
                "param k = {e} in [0, 1]",
                "part q {{ extrude(polygon={e}, h=1) }}",
                "part q {{ sweep(path={e}, r={e}) }}",
                "part q {{ sweep(path={e}, profile={e}, closed={e}) }}",
                "part q {{ loft(sections={e}, z={e}) }}",
                "part q {{ box(size=[1, 1, 1], align={e}) }}",
                "part q {{ rod(from={e}, to=[1, 1, 1], r=0.1) }}",
                "part q {{ lathe(profile={e}) }}",
                "part q {{ torus(R=1, r=0.1, angle={e}) }}",
            ]
        )
    )
    return PRELUDE + use.format(e=e) + "\n"


# ---------------------------------------------------------------------------------------------
# Hostile inputs for tests/compiler/test_fuzz.py and bench/fuzz.py.
#
# Each family is a plain function of a `random.Random` and a corpus of seed programs (the
# examples, and programs drawn from `programs()` above), returning text, or bytes for raw input
# that need not be UTF-8. The benchmark draws a million of them fast; the tests draw the same
# families through `st.randoms()`, so hypothesis replays and shrinks them.

FINITE_EXTREMES = [
    "0",
    "-0",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "1e-320",
    "-1e-320",
    "5e-324",
    "1e-400",
    "9007199254740993",
    "1" + "0" * 308,
    "1e6",
    "-1e6",
    "1000001",
    "999999.99999",
    "3.5",
    "-1",
    "256",
    "257",
    "360",
    "-360",
    "1e300",
    "1e308mm",
    "1e308cm",
    "1e-320deg",
    "0.5",
]
OVERFLOWING = [
    "1e309",
    "1e400deg",
    "1e999cm",
    "9" * 400,
    "1e308m * 10",
    "1e308 * 10",
    "-1e308 * 10",
    "1e308 + 1e308",
    "10 ** 400",
    "2 ** 1024",
    "1e300 ** 2",
    "1 / 1e-320",
    "(-8) ** (1 / 3)",
    "(1e308 * 10) - (1e308 * 10)",
    "0 * (1e308 * 10)",
    "(1e308 * 10) / (1e308 * 10)",
    "inf",
    "nan",
    "NaN",
    "-inf",
    "Infinity",
    "0 / 0",
    "5 % 0",
    "1e308 % 1e-320",
    "pi * 1e308",
    "sqrt(-1)",
    "asin(2)",
    "acos(-1.5)",
    "tan(90)",
    "atan2(0, 0)",
    "floor(1e300)",
    "round(-1e308)",
    "ceil(1e308 * 10)",
    "norm([1e308, 1e308])",
    "lerp(1e308 * 10, 1e308 * 10, 0.5)",
    "clamp(1e308 * 10, 0, 1)",
    "max(1e308, 1e308 * 10)",
    "min([])",
    "len(range(100000))",
    "range(1e300)",
    "range(0, 1e308, 1e300)",
]
# Builtins whose results overflow from finite arguments, and pairs of those that make NaN.
NONFINITE_MAKERS = [
    "sum([1e308, 1e308])",
    "-sum([1e308, 1e308])",
    "lerp(0, 1e300, 1e300)",
    "norm([1e200, 1e200, 1e200])",
    "lerp(sum([1e308, 1e308]), sum([1e308, 1e308]), 0.5)",
    "clamp(lerp(0, 1e300, 1e300), 0, 1e308)",
    "sum([1e308, 1e308]) * 0",
    "max(sum([1e308, 1e308]), 1)",
    "min(-sum([1e308, 1e308]), 0)",
    "lerp(0, 1, sum([1e308, 1e308]))",
    "clamp(sum([1e308, 1e308]), -1e308, 1e308)",
    "[lerp(0, 1e300, 1e300), 0, 0]",
    "lerp([0, 0, 0], [1e300, 1e300, 1e300], 1e300)",
    "floor(sum([1e308, 1e308]))",
    "round(lerp(0, 1e300, 1e300))",
    "abs(-sum([1e308, 1e308]))",
]
VECTORS = [
    "[{a}, {b}, {c}]",
    "[{a}, {b}]",
    "[{a}]",
    "[]",
    "[[{a}, {b}], [{c}, {a}]]",
    '[{a}, [{b}], "s"]',
    "[{a}, {b}, {c}, {a}]",
    "range({a})",
    "[{a}, {b}, {c}] * {a}",
    "-[{a}, {b}, {c}]",
]
# Places a value goes: every argument the language checks, with `{e}` the hostile expression.
SINKS = [
    "let x = {e}",
    "let x = {e}\nlet y = x * x",
    "let x = [1, 2, 3][{e}]",
    'let x = "abc"[{e}]',
    "for i in range({e}) {{ }}",
    "for i in {e} {{ part q {{ box(size=[1, 1, 1], at=[i, 0, 0]) }} }}",
    "if {e} > 0 {{ part q {{ box(size=[1, 1, 1]) }} }}",
    "if {e} == {e} {{ part q {{ box(size=[1, 1, 1]) }} }}",
    "bounds [{e}, 1, 1]",
    "param k = {e} in [{e}, {e}]",
    "param k = 1 in [0, {e}]",
    "shape {e}",
    "part q {{ box(size=[{e}, 1, 1]) }}",
    "part q {{ box(size={e}) }}",
    "part q {{ box(size=[1, 1, 1], bevel={e}) }}",
    "part q {{ box(size=[1, 1, 1], round={e}, bevel={e}) }}",
    "part q {{ box(size=[1, 1, 1], at=[{e}, 0, 0]) }}",
    "part q {{ box(size=[1, 1, 1], at={e}) }}",
    "part q {{ box(size=[1, 1, 1], rot=[{e}, 0, 0]) }}",
    "part q {{ box(size=[1, 1, 1], rot=[0, {e}, {e}]) }}",
    "part q {{ sphere(r={e}) }}",
    "part q {{ sphere(r=1, segments={e}) }}",
    "part q {{ sphere(r={e}, segments={e}) }}",
    "part q {{ cylinder(r={e}, h=1) }}",
    "part q {{ cylinder(r1={e}, r2=1, h={e}) }}",
    "part q {{ cone(r=1, h={e}) }}",
    "part q {{ capsule(r={e}, h={e}) }}",
    "part q {{ tube(r=1, thickness={e}, h=1) }}",
    "part q {{ torus(R={e}, r=0.1) }}",
    "part q {{ torus(R=1, r=0.1, angle={e}, start={e}) }}",
    "part q {{ lathe(profile=[[{e}, 0], [1, {e}]]) }}",
    "part q {{ lathe(profile=[[1, 0], [1, 1]], angle={e}) }}",
    "part q {{ lathe(profile={e}) }}",
    "part q {{ extrude(polygon=[[0, 0], [{e}, 0], [0, 1]], h={e}) }}",
    "part q {{ extrude(polygon=[[0, 0], [1, 0], [{e}, 1], [0, {e}]], h=1, round={e}) }}",
    "part q {{ extrude(polygon=[[0, 0], [{e}, 0], [0, 1]], h={e}, smooth={e}, round={e}) }}",
    "part q {{ lathe(profile=[[0, 0], [{e}, 0.5], [0, 1]], smooth={e}) }}",
    "part q {{ sweep(path=[[0, 0, 0], [1, 0, {e}], [0, 1, 1]], r=0.1, smooth={e}) }}",
    "part q {{ sweep(path=[[0, 0, 0], [0, 0, {e}]], r={e}) }}",
    "part q {{ sweep(path=[[0, 0, 0], [1, 0, 0]], r=[{e}, 1]) }}",
    "part q {{ sweep(path=[[0, 0, 0], [1, 0, 0], [1, {e}, 0]], profile=[[0, 0], [{e}, 0], [0, 1]], closed=true) }}",
    "part q {{ loft(sections=[[[0, 0], [1, 0], [0, {e}]], [[{e}, 0]]], z=[0, {e}]) }}",
    "part q {{ loft(sections={e}, path=[[0, 0, 0], [0, 1, 0]], smooth=true) }}",
    "part q {{ torus(R=[1, {e}], r=0.1, angle={e}) }}",
    "part q {{ rod(from=[0, 0, 0], to=[{e}, 1, 1], r=0.1) }}",
    "part q {{ rod(from={e}, to=[1, 1, 1], r={e}) }}",
    "translate([{e}, 0, 0]) part q {{ box(size=[1, 1, 1]) }}",
    "rotate([0, 0, {e}]) part q {{ box(size=[1, 1, 1]) }}",
    "scale({e}) part q {{ box(size=[1, 1, 1]) }}",
    "scale([1, {e}, 1]) part q {{ box(size=[1, 1, 1]) }}",
    "mirror([{e}, 0, 0]) part q {{ box(size=[1, 1, 1]) }}",
    "radial(n={e}) part q {{ box(size=[1, 1, 1]) }}",
    "radial(n=3, r={e}, start={e}) part q {{ box(size=[1, 1, 1]) }}",
    "part q {{ box(size=[1, 1, 1]) }}\npart w {{ box(size=[1, 1, 1], at=q.top + [{e}, 0, 0]) }}",
    "part q {{ box(size=[1, 1, 1]) }}\npart w {{ box(size=[1, 1, 1], at=[0, 0, q.top.z * {e}]) }}",
    "part q {{ box(size=[1, 1, 1], at=[0, 0, {e}]) }}\npart w {{ box(size=[1, 1, 1]) }}",
    "part q color {e} {{ box(size=[1, 1, 1]) }}",
    "let x = [i * {e} for i in range(3) if i != {e}]",
    "let x = [[i, j] for i in range({e}) for j in [{e}, 1]]",
    "part q {{ extrude(polygon=[[cos(a) * {e}, sin(a)] for a in range(0, 360, 45)], h=1) }}",
    "part q {{ extrude(polygon=circle(r={e}, n={e}, center=[{e}, 0]), h=1) }}",
    "part q {{ extrude(polygon=ellipse(rx=1, ry={e}), h=1) }}",
    "part q {{ extrude(polygon=arc(r=1, start={e}, end={e}, n={e}) + [[0, 0]], h=1) }}",
    "part q {{ extrude(polygon=rounded_rect(size=[{e}, 1], r={e}, n={e}), h=1) }}",
    "part q {{ sweep(path=[[0, 0, 0]] + [[p[0], p[1], 1] for p in arc(r={e}, start=0, end=90)], r=0.1) }}",
]
BIDI = [
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
]
ODD_CHARS = [
    "\ufeff",
    "\r",
    "\r\n",
    "\x00",
    "\x0b",
    "\x0c",
    "\x1b",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\u200b",
    "\u00a0",
    "\t",
    "\ud800",
    "\udfff",
    "é",
    "€",
    "🙂",
    "\u0301",
] + BIDI
INVALID_UTF8 = [
    b"\xff",
    b"\xfe",
    b"\xc3",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xf4\x90\x80\x80",
    b"\x80",
    b"\xf0\x9f\x99",
    b"\x00",
    b"\xef\xbb\xbf",
    b"\r",
    b"\xe2\x80\xae",
]
# Characters and tokens the mutations insert.
MUTATION_CHARS = list("{}[]()\",=#./*-+<>!:;' \n\t\\`$@0123456789eE") + ODD_CHARS
TOKEN = re.compile(
    r'\d+\.?\d*(?:[eE][-+]?\d+)?(?:mm|cm|m|deg)?|"[^"\n]*"|[A-Za-z_]\w*|\*\*|[=!<>]=|//[^\n]*'
    r"|#[^\n]*|\s+|.",
    re.S,
)
NUMBER_TOKEN = re.compile(r"\d")
INSERTS = [
    "part",
    "for",
    "in",
    "if",
    "elif",
    "else",
    "let",
    "param",
    "shape",
    "bounds",
    "color",
    "translate",
    "rotate",
    "scale",
    "mirror",
    "symmetric",
    "radial",
    "box",
    "sphere",
    "rod",
    "thickness",
    "polar",
    "from",
    "cube",
    "difference",
    "union",
    "intersection",
    "holes=",
    "module",
    "def",
    "as",
    "circle",
    "arc(1, 0, 90)",
    "[x for x in range(3)]",
    " for x in ",
    " if x > 0 ",
    "pi",
    "true",
    "not",
    "and",
    "range",
    "sin",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    "==",
    ".",
    ".top",
    "**",
    "-",
    "/",
    "%",
    '"',
    "'",
    "#",
    "//",
    "\n",
    ";",
    ":",
    "a",
    "p1",
    "x",
    "1e999",
    "0",
]


def extreme_atom(rng: random.Random) -> str:
    """A finite extreme half of the time, else an overflowing spelling or a NaN/inf-making builtin."""
    roll = rng.random()
    return rng.choice(FINITE_EXTREMES if roll < 0.5 else OVERFLOWING if roll < 0.75 else NONFINITE_MAKERS)


def extreme_value(rng: random.Random, depth: int = 0) -> str:
    """An extreme number, a vector or list of them, or a builtin or operator applied to them."""
    roll = rng.random()
    if depth >= 2 or roll < 0.45:
        return extreme_atom(rng)
    if roll < 0.6:
        parts = {k: extreme_value(rng, depth + 1) for k in "abc"}
        return rng.choice(VECTORS).format(**parts)
    if roll < 0.85:
        return extreme_call(rng, depth + 1)
    op = rng.choice(["+", "-", "*", "/", "%", "**", "==", "!=", "<", ">="])
    return f"({extreme_value(rng, depth + 1)} {op} {extreme_value(rng, depth + 1)})"


def extreme_call(rng: random.Random, depth: int = 0) -> str:
    """A builtin with every argument extreme, with a valid count of arguments or one too many."""
    name = rng.choice(sorted(lang.FUNCTIONS))
    lo, hi = lang.FUNCTIONS[name]
    count = rng.randint(lo, min(hi, 4)) if rng.random() < 0.9 else hi + 1
    return f"{name}({', '.join(extreme_value(rng, depth + 1) for _ in range(count))})"


def extreme_builtins(rng: random.Random, corpus=()) -> str:
    """Builtins and operators with extreme arguments (overflow, NaN-making pairs) fed to every sink."""
    lines = [rng.choice(SINKS).format(e=extreme_value(rng)) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.5:
        lines.append('part base { box(size=[1, 1, 1], align="bottom") }')
    return "\n".join(lines) + "\n"


def nested_lists(rng: random.Random, corpus=(), max_depth: int = 18) -> str:
    """Lists doubled level by level, then compared, indexed, summed, concatenated or negated."""
    base = rng.choice(
        [
            "[1, 2]",
            '[1, [2, 3], "s"]',
            "[[1, 2, 3], [4, 5, 6]]",
            "[true, false]",
            "range(8)",
            '["a", "b"]',
            "[]",
            "[[]]",
            "[1e308, 1e-320]",
            "[[1, 2, 3]]",
        ]
    )
    depth = rng.randint(1, max_depth)
    lines = [f"let l0 = {base}"]
    for k in range(1, depth + 1):
        grow = rng.choice(
            ["[{p}, {p}]", "[{p}, {p}]", "{p} + {p}", "[{p}, {p}, 1]", "[{p}, [{p}]]", "[{p}, l0]"]
        )
        lines.append(f"let l{k} = " + grow.format(p=f"l{k - 1}"))
    top, mid = f"l{depth}", f"l{rng.randint(0, depth)}"
    uses = [
        f"let c = {top} == {top}",
        f"let c = {top} != {mid}",
        f"let c = {top} == {mid}",
        f"let c = {top} < {top}",
        f"if {top} == {top} {{ part q {{ box(size=[1, 1, 1]) }} }}",
        f"let c = len({top})",
        f"let c = sum({top})",
        f"let c = max({top})",
        f"let c = {top}[0]",
        f"let c = {top}[len({top}) - 1]",
        f"let c = -{top}",
        f"let c = {top} * 2",
        f"let c = [{top}, {top}] == [{top}, {mid}]",
        f"let c = {top} + {mid}",
        f"part q {{ box(size={top}) }}",
        f"for i in {top} {{ }}",
        f"let c = norm({top})",
    ]
    lines += rng.sample(uses, rng.randint(1, 3))
    lines.append("part p { box(size=[1, 1, 1]) }")
    return "\n".join(lines) + "\n"


def comprehensions(rng: random.Random, corpus=()) -> str:
    """Comprehensions nested up to four clauses deep, filtered, over lists of any size (some far past
    the step and points limits), their items points or point functions, fed to the outline sinks."""
    names = ["a", "b", "c", "d"]
    clauses, bound = [], []
    for name in names[: rng.randint(1, 4)]:
        size = int(2 ** rng.uniform(0, 17))  # mostly small, some past every limit
        options = [f"range({size})", f"circle(r=1, n={max(size, 3)})", f"[k for k in range({size})]", "[]"]
        if bound:
            options += [f"range({rng.choice(bound)} % 7)", f"[{rng.choice(bound)}, 1]", rng.choice(bound)]
        clauses.append(f"for {name} in {rng.choice(options)}")
        if rng.random() < 0.3:
            clauses.append(
                f"if {rng.choice(bound + [name])} {rng.choice(['>', '!=', '=='])} {rng.choice(['0', '1', 'a'])}"
            )
        bound.append(name)
    first, last = bound[0], bound[-1]
    item = rng.choice(
        [
            f"[{first}, {last}]",
            f"[cos({last} * 7), sin({first} * 13)]",
            f"[{last}, {first}, 1]",
            f"{last} * 2",
            f"circle(r=1, n=3 + {last} % 5)",
            f"[{last}[0], 1]",
            f"[q for q in [{first}, {last}]]",
        ]
    )
    comprehension = f"[{item} {' '.join(clauses)}]"
    sink = rng.choice(
        [
            "let x = {c}",
            "let x = len({c})",
            "let x = {c} + {c}",
            "part q {{ extrude(polygon={c}, h=0.1) }}",
            "part q {{ lathe(profile={c} + [[0, 1]]) }}",
            "part q {{ sweep(path={c}, r=0.01) }}",
            "for i in {c} {{ part q {{ sphere(r=0.1, at=[0, 0, i[0] % 3]) }} }}",
        ]
    )
    return sink.format(c=comprehension) + '\npart base { box(size=[1, 1, 1], align="bottom") }\n'


def anchors_in_loops(rng: random.Random, corpus=(), max_count: int = 1000) -> str:
    """Anchors of big parts read in loops (and while the part grows): work the steps must pay for."""
    n, m = (int(2 ** rng.uniform(0, math.log2(max_count))) for _ in "nm")  # mostly small, some big
    anchor = rng.choice(ANCHORS)
    build = rng.choice(
        [
            "part a {{ for i in range({n}) {{ box(size=[0.1, 0.1, 0.1], at=[i * 0.01, 0, 0]) }} }}",
            "for i in range({n}) {{ part a {{ box(size=[0.1, 0.1, 0.1], at=[i * 0.01, 0, 0]) }} }}",
            "part a {{ radial(n={n}, r=1) box(size=[0.1, 0.1, 0.1]) }}",
        ]
    ).format(n=n)
    target = rng.choice(["a", "a[0]", f"a[{n - 1}]", "a[j % len([1])]"])
    read = rng.choice(
        [
            "for j in range({m}) {{ let t = {t}.{k} }}",
            "for j in range({m}) {{ let t = {t}.{k}.x + {t}.size.z }}",
            "for j in range({m}) {{ part b {{ box(size=[0.1, 0.1, 0.1], at={t}.center + [j * 0.01, 0, 0]) }} }}",
            "for j in range({m}) {{ part a {{ box(size=[0.1, 0.1, 0.1], at=a.{k}) }} }}",
            "for j in range({m}), i in range(2) {{ if a.{k}.z > -1 {{ let t = a.max }} }}",
            "for j in range({m}) {{ translate(a.{k}) part c {{ sphere(r=0.01, segments=3) }} }}",
        ]
    ).format(m=m, t=target, k=anchor)
    return f"{build}\n{read}\n"


def _hostile_char(rng: random.Random) -> str:
    return rng.choice(MUTATION_CHARS) if rng.random() < 0.8 else chr(rng.randrange(0x110000))


def mutate_chars(rng: random.Random, text: str) -> str:
    """Delete, insert or replace one to four characters."""
    for _ in range(rng.randint(1, 4)):
        i = rng.randint(0, len(text))
        op = rng.randrange(3)
        text = text[:i] + (_hostile_char(rng) if op else "") + text[i + (op != 1) :]
    return text


def mutate_tokens(rng: random.Random, text: str) -> str:
    """Drop, duplicate, swap or replace tokens; put extreme numbers in place of numbers."""
    tokens = TOKEN.findall(text) or [""]
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(tokens))
        op = rng.randrange(6)
        if op == 0:
            del tokens[i]
        elif op == 1:
            tokens.insert(i, tokens[i])
        elif op == 2 and i + 1 < len(tokens):
            tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
        elif op == 3:
            numbers = [k for k, t in enumerate(tokens) if NUMBER_TOKEN.match(t)]
            if numbers:
                tokens[rng.choice(numbers)] = extreme_atom(rng)
        elif op == 4:
            tokens.insert(i, " " + rng.choice(INSERTS) + " ")
        else:
            tokens[i] = rng.choice(INSERTS)
        tokens = tokens or [""]
    return "".join(tokens)


def def_chains(rng: random.Random, corpus=()) -> str:
    """Defs each calling the def above it several times (the calls grow exponentially: the step and
    nesting limits must stop them), with arguments of every type, frames and `as` names."""
    depth, fan = rng.randint(1, 40), rng.randint(1, 4)
    lines = ["def d0(r=0.1) { sphere(r=r) as ball }"]
    for i in range(1, depth):
        factor = rng.choice(["0.5", "1", "2", "-1", "1e300"])
        calls = " ".join(f"d{i - 1}(r=r * {factor}, at=[{rng.uniform(-1, 1):.2f}, 0, 0])" for _ in range(fan))
        lines.append(f"def d{i}(r) {{ {calls} }}")
    argument = rng.choice(["0.2", "-1", "[1, 2]", '"x"', "true", "a.top", "r=0.2, r=0.3", ""])
    lines.append(f"part a {{ d{depth - 1}({argument}) as whole }}")
    if rng.random() < 0.5:
        lines.append("let v = a.whole.size + a.ball.top + a[0].whole.min")
    return "\n".join(lines) + "\n"


def mutated(rng: random.Random, corpus) -> str:
    """A seed program with characters or tokens mutated."""
    text = rng.choice(corpus)
    return mutate_chars(rng, text) if rng.random() < 0.5 else mutate_tokens(rng, text)


CUTTING = re.compile(r"\b(difference|union|intersection|holes)\b")


def cutting(rng: random.Random, corpus) -> str:
    """A mutant of a program that cuts (a boolean block or extrude holes: issue 14)."""
    return mutated(rng, [text for text in corpus if CUTTING.search(text)] or corpus)


def extreme_numbers(rng: random.Random, corpus) -> str:
    """A seed program with some of its numbers replaced by extreme ones (or expressions overflowing)."""
    tokens = TOKEN.findall(rng.choice(corpus))
    numbers = [k for k, t in enumerate(tokens) if NUMBER_TOKEN.match(t)]
    for k in rng.sample(numbers, min(len(numbers), rng.randint(1, 3))):
        tokens[k] = f"({extreme_value(rng)})" if rng.random() < 0.3 else extreme_atom(rng)
    return "".join(tokens)


def odd_text(rng: random.Random, corpus) -> str:
    """A seed program with a BOM, CR or CRLF line ends, a CR hiding code after a comment, NULs or bidi
    controls in strings, comments and code."""
    text = rng.choice(corpus)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(5)
        if op == 0:
            text = "\ufeff" + text
        elif op == 1:
            text = text.replace("\n", rng.choice(["\r\n", "\r", "\n\r", "\u2028"]))
        elif op == 2:  # the code after a comment's \r: an editor shows it on a line of its own
            text = text.replace("\n", "  # note\r", 1)
        else:
            places = [m.start() + 1 for m in re.finditer(r'"|#|//|\(|=| ', text)] or [0]
            i = rng.choice(places)
            text = text[:i] + "".join(rng.choice(ODD_CHARS) for _ in range(rng.randint(1, 3))) + text[i:]
    return text


def raw_bytes(rng: random.Random, corpus) -> bytes:
    """A seed program as bytes: invalid UTF-8 inserted, a BOM, another encoding, or cut mid-character."""
    text = rng.choice(corpus)
    op = rng.randrange(5)
    if op == 0:
        return text.encode(rng.choice(["utf-16", "utf-16-be", "utf-32", "latin-1", "cp1252"]), "replace")
    data = ("é " + text + " 🙂").encode() if op == 1 else text.encode("utf-8", "surrogatepass")
    if op == 1:
        return data[: rng.randint(0, len(data))]
    for _ in range(rng.randint(1, 3)):
        i = rng.randint(0, len(data))
        data = data[:i] + rng.choice(INVALID_UTF8) + data[i:]
    return (b"\xef\xbb\xbf" if op == 2 else b"") + data


def seed_corpus(generated: int = 300, seed: int = 0) -> list[str]:
    """The programs the mutating families start from: every example, then `generated` programs
    drawn from `programs()` with a fixed seed (the same list in every process)."""
    corpus = [path.read_text() for path in sorted(EXAMPLES.glob("*.pdsl"))]

    @hypothesis.seed(seed)
    @settings(
        max_examples=generated,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(programs(max_statements=4, budget=6))  # small: parsing is most of a mutant's cost
    def collect(text):
        corpus.append(text)

    if generated:
        collect()
    return corpus


FAMILIES = {  # name -> (generator, weight in bench/fuzz.py's mix)
    "mutated": (mutated, 6),
    "cutting": (cutting, 2),
    "extreme numbers": (extreme_numbers, 2),
    "extreme builtins": (extreme_builtins, 3),
    "nested lists": (nested_lists, 1),
    "anchors in loops": (anchors_in_loops, 1),
    "def chains": (def_chains, 1),
    "comprehensions": (comprehensions, 2),
    "odd text": (odd_text, 2),
    "raw bytes": (raw_bytes, 1),
}


# ---------------------------------------------------------------------------------------------
# The promise every input is held to (tests/compiler/test_fuzz.py and bench/fuzz.py).


class BrokenPromise(AssertionError):
    """A result that breaks a promise without an exception of its own. Its message starts with
    the kind of breach, up to the first colon (what bench/fuzz.py groups findings by)."""


ROOT = Path(__file__).resolve().parents[2]


def project_path(filename: str) -> str:
    """A file's path in the project (as findings name it), or its bare name outside it."""
    path = Path(filename)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


DIAGNOSTIC_CODE = re.compile(r"^[EW]\d{3}$")
# nan or inf printed as a number ("z = inf m"), not a name the program used (`inf`, 'nan').
NONFINITE_NUMBER = re.compile(r"(?<![\w`'\"])[-+]?(?:nan|inf(?:inity)?)(?![\w`'\"])", re.IGNORECASE)
LINE_BREAKS = re.compile(r"\r\n|[\n\r\x0b\x0c\x85\u2028\u2029]")
SURROGATE = re.compile("[\ud800-\udfff]")


def run_input(data: str | bytes):
    """Compile `data` as a program someone typed, and export what compiles (in memory).

    Returns the compiled shape, or the diagnostics of the `Proto3dError` raised (the one answer
    besides a shape). Raises `BrokenPromise` for a result that breaks a promise, a Python warning
    among them (it would be printed on the user's terminal), and lets every other exception
    through: each is a bug.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answer = _answer(data)
    if caught:
        first = caught[0]
        where = project_path(first.filename)
        raise BrokenPromise(
            f"a warning ({first.category.__name__} at {where} line {first.lineno}): {first.message}"
        )
    return answer


def _answer(data: str | bytes):
    try:
        shape = compile_text(data)
    except Proto3dError as error:
        if not errors(error.diagnostics):
            raise BrokenPromise(f"a Proto3dError without an error: {error.diagnostics}") from None
        check_diagnostics(error.diagnostics, data)
        return error.diagnostics
    check_diagnostics(shape.diagnostics, data)
    if errors(shape.diagnostics):
        raise BrokenPromise("a shape with an error among its diagnostics")
    arrays = {
        "vertices": shape.vertices,
        "normals": shape.normals,
        "face_colors": shape.face_colors,
        "bounds": shape.bounds if shape.bounds is not None else np.zeros(3),
    }
    arrays.update((f"primitive {k} matrix", p.matrix) for k, p in enumerate(shape.primitives))
    arrays.update(
        (f"instance {k} box", np.append(i.bbox_min, i.bbox_max)) for k, i in enumerate(shape.instances)
    )
    for name, array in arrays.items():
        if not np.all(np.isfinite(array)):
            raise BrokenPromise(f"NaN or inf in a compiled shape: {name}")
    for write in (to_glb, to_obj, to_ply):  # one file at a time, as the CLI writes them
        write(shape)
    json.dumps(parts_manifest(shape), allow_nan=False)
    return shape


def _quoted(words: str, found: re.Match, text: str) -> bool:
    """Whether a nan or inf in a diagnostic is the program's own text quoted back (`unexpected
    string "…, Infinity, …"`): the word with what is around it (up to 8 characters each side, at
    least one) is in the program as written."""
    start, end = found.span()
    return any(words[max(start - k, 0) : end + k] in text for k in range(1, 9))


def check_diagnostics(diagnostics, data: str | bytes) -> None:
    """Each a `Diagnostic` with a code, a message, a position inside the text, printable, and no
    number printed as nan or inf."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    line_count = max(len(text.split("\n")), len(LINE_BREAKS.split(text)))
    widest = max(map(len, text.split("\n")))
    for d in diagnostics:
        if not (
            isinstance(d, Diagnostic)
            and DIAGNOSTIC_CODE.match(d.code)
            and d.severity in ("error", "warning")
            and isinstance(d.message, str)
            and d.message.strip()
        ):
            raise BrokenPromise(f"a malformed diagnostic: {d!r}")
        s = d.span
        if s.line and not (
            1 <= s.line <= line_count
            and 1 <= s.column <= widest + 1
            and (s.end_line, s.end_column) >= (s.line, s.column)
        ):
            raise BrokenPromise(f"a diagnostic positioned outside the text: {d!r}")
        if not s.line and s.column:
            raise BrokenPromise(f"a diagnostic with a column but no line: {d!r}")
        words = " ".join((d.message, d.expected, d.hint))
        if any(not _quoted(words, found, text) for found in NONFINITE_NUMBER.finditer(words)):
            raise BrokenPromise(f"nan or inf printed as a number in a diagnostic: {d.code} {words!r}")
        printed = d.format("x.pdsl")
        json.dumps(d.to_json())
        if isinstance(data, bytes) or not SURROGATE.search(text):
            printed.encode("utf-8")  # what the CLI prints must be writable


def fast(examples: int) -> settings:
    """Few examples by default (CI); PROTO3D_PROPERTY_SCALE=20 for a long bug hunt."""
    examples = int(examples * float(os.environ.get("PROTO3D_PROPERTY_SCALE", "1")))
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
