"""The vocabulary of pdsl: primitives and their arguments, transforms, functions, reserved words.

One table drives the static checker, the evaluator and the hints, so they never disagree; the
primitives' part of it comes from their records in `primitives.py`.
"""

from __future__ import annotations

import difflib

from proto3d.compiler.primitives import PRIMITIVES as KINDS
from proto3d.compiler.primitives import REQUIRED, Param
from proto3d.compiler.primitives import SEGMENTS_DEFAULT as SEGMENTS_DEFAULT  # where the normalisers read it


def _sig(*params: Param) -> tuple[Param, ...]:
    return params


N, V3 = "number", "vec3"
PRIMITIVES: dict[str, tuple[Param, ...]] = {name: kind.signature for name, kind in KINDS.items()}
EITHER_RADIUS = frozenset(name for name, kind in KINDS.items() if kind.either_radius)  # `r`, or `r1` and `r2`
PLACEMENT: tuple[Param, ...] = (
    Param("at", V3, None),
    Param("rot", V3, None),
    Param("align", "string", None),
    Param("color", "string", None),
    Param("segments", "int", None),
)
DEF_PLACEMENT: tuple[Param, ...] = tuple(p for p in PLACEMENT if p.name in ("at", "rot", "color"))
TRANSFORMS: dict[str, tuple[Param, ...]] = {
    "translate": _sig(Param("v", V3)),
    "rotate": _sig(Param("v", V3)),
    "scale": _sig(Param("v", "number_or_vec3")),
    "mirror": _sig(Param("axis", "axis")),
    "symmetric": _sig(Param("axes", "string")),
    "radial": _sig(Param("n", "int"), Param("r", N, 0.0), Param("start", N, 0.0)),
}
CALLABLE: dict[str, tuple[Param, ...]] = {name: params + PLACEMENT for name, params in PRIMITIVES.items()}
CIRCLE_POINTS = 32  # points of a circle or ellipse, and per full turn of an arc, when `n` is not given
CORNER_POINTS = 8  # points of each rounded corner of `rounded_rect`
_CENTER = Param("center", "vec2", None)  # None: the origin
POINT_FUNCTIONS: dict[str, tuple[Param, ...]] = {  # functions that return a list of [x, y] points
    "arc": _sig(Param("r", N), Param("start", N), Param("end", N), Param("n", "int", None), _CENTER),
    "circle": _sig(Param("r", N), Param("n", "int", CIRCLE_POINTS), _CENTER),
    "ellipse": _sig(Param("rx", N), Param("ry", N), Param("n", "int", CIRCLE_POINTS), _CENTER),
    "rounded_rect": _sig(Param("size", "vec2"), Param("r", N), Param("n", "int", CORNER_POINTS), _CENTER),
}
BY_NAME: dict[tuple[Param, ...], dict[str, Param]] = {  # every signature's parameters by name
    params: {p.name: p for p in params}
    for params in [*CALLABLE.values(), *TRANSFORMS.values(), *POINT_FUNCTIONS.values(), DEF_PLACEMENT]
}
FUNCTIONS: dict[str, tuple[int, int]] = {  # name -> (min args, max args)
    "sin": (1, 1),
    "cos": (1, 1),
    "tan": (1, 1),
    "asin": (1, 1),
    "acos": (1, 1),
    "atan": (1, 1),
    "atan2": (2, 2),
    "sqrt": (1, 1),
    "abs": (1, 1),
    "min": (1, 64),
    "max": (1, 64),
    "clamp": (3, 3),
    "lerp": (3, 3),
    "floor": (1, 1),
    "ceil": (1, 1),
    "round": (1, 1),
    "len": (1, 1),
    "range": (1, 3),
    "norm": (1, 1),
    "sum": (1, 1),
    **{  # positional or keyword arguments, bound as a primitive's are
        name: (sum(p.default is REQUIRED for p in params), len(params))
        for name, params in POINT_FUNCTIONS.items()
    },
}
ALIGN_WORDS = {
    "center": None,
    "centre": None,
    "bottom": (2, 0),
    "top": (2, 1),
    "left": (0, 0),
    "right": (0, 1),
    "front": (1, 0),
    "back": (1, 1),
}
ANCHORS = ("top", "bottom", "left", "right", "front", "back", "center", "min", "max", "size")
RESERVED = frozenset(
    """shape bounds let param part color for in if elif else and or not true false pi
translate rotate scale mirror symmetric radial def as difference union intersection""".split()
)

# Names models bring from OpenSCAD, Blender and Python, with the nearest v1 construct.
FOREIGN = {
    "cube": "use `box(size=[w, d, h])`",
    "cuboid": "use `box(size=[w, d, h])`",
    "hull": "no hull in v1: use `lathe`, `extrude` or `sweep` for smooth outlines",
    "minkowski": "no Minkowski sums: use `box(size=..., round=r)` or `extrude(..., round=r)` for rounded edges",
    "linear_extrude": "use `extrude(polygon=[[x, y], ...], h=...)`",
    "rotate_extrude": "use `lathe(profile=[[r, z], ...])`",
    "polyhedron": "no raw meshes in v1: use `extrude`, `lathe` or `sweep`",
    "polygon": "use `extrude(polygon=[[x, y], ...], h=...)`",
    "square": "use a flat `box(size=[w, d, h])`, or the outline `rounded_rect(size=[w, d], r=0)`",
    "color": 'write `color=` as an argument of the primitive or after the part label: `part seat color "red" { … }`',
    "module": "define it with `def name(param, other=default) { … }` above its first call",
    "function": "no user-defined functions: compute values with `let`; `def` defines a statement",
    "multmatrix": "use `translate`, `rotate` and `scale` blocks",
    "resize": "use `scale([sx, sy, sz])`",
    "offset": "no 2D offset in v1: write the polygon you want",
    "ring": "use `torus(R=..., r=...)` or `tube(r=..., thickness=..., h=...)`",
    "pipe": "use `sweep(path=[...], r=...)` or `tube`",
    "skin": "use `loft(sections=[[[x, y], ...], ...], z=[...])`",
    "path_extrude": "use `sweep(path=[...], profile=[[x, y], ...])`",
    "cuboid_rounded": "use `box(size=..., round=r)`",
    "uv_sphere": "use `sphere(r=...)`",
    "ico_sphere": "use `sphere(r=...)`",
    "torus_arc": "use `torus(R=..., r=..., angle=...)`",
    "frustrum": "use `frustum(r1=..., r2=..., h=...)`",
    "hemisphere": "use `sphere(r=..., polar=[0, 90])` (the upper half; add `thickness=` for a shell)",
    "dome": "use `sphere(r=..., polar=[0, 90], thickness=...)`",
    "shell": "give `thickness=` to `sphere`, `ellipsoid` or `lathe`: the wall goes inward",
}
ARG_ALIASES = {  # argument names models try, with the v1 spelling
    "radius": "r",
    "d": "r (the radius: half the diameter)",
    "diameter": "r (the radius: half the diameter)",
    "height": "h",
    "length": "h",
    "width": "size",
    "dims": "size",
    "dimensions": "size",
    "position": "at",
    "pos": "at",
    "center": "at",
    "location": "at",
    "rotation": "rot",
    "rotate": "rot",
    "angles": "rot",
    "colour": "color",
    "fn": "segments",
    "$fn": "segments",
    "resolution": "segments",
    "thick": "thickness",
    "wall": "thickness",
    "points": "profile / polygon / path",
    "radius1": "r1",
    "radius2": "r2",
    "major_radius": "R",
    "minor_radius": "r",
    "R1": "r1",
    "R2": "r2",
    "heights": "z",
    "profiles": "sections",
    "cyclic": "closed",
    "loop": "closed",
    "fillet": "round",
}


def positional_count(primitive: str) -> int:
    """How many leading arguments may be positional: `cylinder(r, h)` only, so `r1`/`r2` are always named."""
    positional = KINDS[primitive].positional
    return len(PRIMITIVES[primitive]) if positional is None else positional


def nearest(name: str, candidates) -> str | None:
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_name_hint(name: str, candidates) -> str:
    if name in FOREIGN:
        return FOREIGN[name]
    match = nearest(name, candidates)
    return f"did you mean `{match}`?" if match else ""


def signature_text(name: str) -> str:
    params = PRIMITIVES.get(name) or TRANSFORMS.get(name) or POINT_FUNCTIONS.get(name) or ()
    return ", ".join(p.name if p.default is REQUIRED else f"{p.name}?" for p in params)
