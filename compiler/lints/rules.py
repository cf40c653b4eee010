"""The rules: each turns what the shape's triangles show into warnings with a concrete fix.

A rule is a function (shape, triangles) -> list of warnings, listed in `RULES` (lints/__init__.py).
The geometry behind W101 and W104 is in contact.py and distance.py.
"""

from __future__ import annotations

from itertools import islice

import numpy as np

from proto3d.compiler.lints.contact import find_contacts
from proto3d.compiler.lints.distance import Gap, Support, nearest_first
from proto3d.compiler.lints.triangles import FLAT_RATIO, Triangles
from proto3d.compiler.shape import CompiledShape
from proto3d.errors import Diagnostic, Span

GROUND_TOL = 1e-3  # W103: allowed |lowest z|
BOUNDS_ABS_TOL = 5e-3  # W102: allowed overshoot, metres ...
BOUNDS_REL_TOL = 0.05  # ... or this fraction of the bound, whichever is larger
SMALL_FRACTION = 0.5  # W102: overall size below this fraction of a bound is reported
MIN_AREA = 1e-12  # W105: triangle area (m²) counted as zero
MAX_FLOATING = 20  # W101: floating groups reported one by one, then one summary


# --------------------------------------------------------------------------- W105


def degenerate(shape: CompiledShape, geo: Triangles) -> list[Diagnostic]:
    """Primitives with a non-positive size, no triangles, no area or no volume."""
    measures = np.zeros((len(shape.primitives), 3))
    measures[geo.group_primitive] = geo.measures
    area, max_area, volume = measures.T
    has_faces = np.zeros(len(shape.primitives), bool)
    has_faces[geo.group_primitive] = True

    out = []
    which, alike = geo.alike
    reasons = np.array([_bad_params(p.params) for p in alike], dtype=object)[which]
    # what a boolean left of an operand is part of a surface, not a solid: only its numbers can be wrong
    operand = np.fromiter((p.operand for p in shape.primitives), bool, len(shape.primitives))
    flat = ~has_faces | (max_area < MIN_AREA) | (volume <= FLAT_RATIO * area**1.5)
    suspect = (flat & ~operand) | np.not_equal(reasons, None)
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
                prim.calls,
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


def grounding(shape: CompiledShape, geo: Triangles) -> list[Diagnostic]:
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
            shape.instances[owner].calls,
        )
    ]


# --------------------------------------------------------------------------- W102

_AXES = ("width", "depth", "height")
_SIDES = (
    ("past the left side", "past the right side"),
    ("past the front", "past the back"),
    ("", "above the top"),
)


def bounds(shape: CompiledShape, geo: Triangles) -> list[Diagnostic]:
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
        below, above = box_lo - geo.instance_lo[i], geo.instance_hi[i] - box_hi
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
                    inst.calls,
                )
            )

    lo, hi = geo.instance_lo[geo.present].min(axis=0), geo.instance_hi[geo.present].max(axis=0)
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


def contacts(shape: CompiledShape, geo: Triangles) -> list[Diagnostic]:
    """W104 and W101, from one contact graph (see `find_contacts`)."""
    found = find_contacts(geo)
    if found is None:
        return []
    return _hidden(shape, found.hosts) + _floating(shape, geo, found.floating, found.grounded, found.ground_z)


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
                shape.instances[x].calls,
            )
        )
    return out


def _floating(
    shape: CompiledShape, geo: Triangles, groups: list[list[int]], grounded: np.ndarray, ground_z: float
) -> list[Diagnostic]:
    """W101: the groups of touching instances that no chain of contacts connects to the ground,
    each with the smallest gap that would join it to something held (see `nearest_first`)."""
    if not groups:
        return []
    out = [
        _floating_warning(shape, gap)
        for gap in islice(nearest_first(geo, groups, grounded, ground_z), MAX_FLOATING)
    ]
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


def _floating_warning(shape: CompiledShape, found: Gap) -> Diagnostic:
    """The group's nearest approach to something held, then what lies straight below each member
    (unless that is what the message already says: one member, whose nearest approach is straight
    down). The nearest approach alone can point at a small opening while the fault is elsewhere."""
    members, gap, source, target, p, q, precision, below = found
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
    message = f"{subject} {size} {relation}"
    drops = [(names[members.index(s.member)], _support_text(shape, s)) for s in below]
    if len(members) > 1 or drops[0][1] != f"{size} {relation}":
        message += "; straight below: " + ", ".join(f"`{name}` {text}" for name, text in drops)
        message += f", and {len(members) - len(drops)} more" if len(members) > len(drops) else ""
    return _warning("W101", message, shape.instances[source].span, hint, shape.instances[source].calls)


def _support_text(shape: CompiledShape, support: Support) -> str:
    what = "the ground" if support.target < 0 else f"`{shape.instance_name(support.target)}`"
    return ("", "about ", "at most ")[support.precision] + f"{_num(support.gap)} m above {what}"


def _anchor_name(shape: CompiledShape, i: int) -> str:
    part = shape.parts[shape.instances[i].part_id]
    return part.label if len(part.instance_ids) == 1 else f"{part.label}[{shape.instances[i].index}]"


# --------------------------------------------------------------------------- formatting


def _warning(code: str, message: str, span: Span, hint: str, calls: tuple = ()) -> Diagnostic:
    """A lint at `span`, with the def calls that drew what it is about (innermost first)."""
    return Diagnostic(code, message, span, severity="warning", hint=hint, calls=calls)


def _num(x: float) -> str:
    text = f"{x:.3f}"
    return "0.000" if text == "-0.000" else text


def _vec(v) -> str:
    return "[" + ", ".join(_num(float(x)) for x in v) + "]"
