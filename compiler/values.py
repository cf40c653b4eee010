"""The evaluator's values: runtime errors, type names, coercion to a parameter's type, colours, frames.

Everything here is a pure function of its arguments (and the `Limits` it is given), so the
evaluator's semantics can call it from anywhere and a test can call it alone.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from proto3d.compiler import language as lang
from proto3d.errors import Diagnostic, Span
from proto3d.grammar import ast
from proto3d.limits import Limits

_IDENTITY = np.eye(4)
_IDENTITY.flags.writeable = False  # copied by `affine`


class EvalError(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def fail(code: str, message: str, span: Span, expected: str = "", hint: str = ""):
    raise EvalError(Diagnostic(code, message, span, expected=expected, hint=hint))


@dataclass(frozen=True)
class PartRef:
    label: str
    index: int | None  # an instance, or None for every instance built so far
    piece: str | None = None  # the primitives named so (`stage.plate`), or None for the whole part


def type_name(value) -> str:
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, np.ndarray):
        return f"a vector of {len(value)}" if value.ndim == 1 else f"a list of {len(value)} points"
    if isinstance(value, PartRef):
        return "a part" if value.piece is None else "a named primitive"
    return f"a list of {len(value)}"


# ---- coercion: a value checked against the type of the parameter it is given to -------------


def coerce(value, param: lang.Param, span: Span, owner: str, limits: Limits):
    t = param.type
    if (t == "vec3" and type(value) is np.ndarray and value.shape == (3,)) or (
        t == "number" and type(value) is float
    ):  # the common cases: only the range to check
        check_range(value, span, limits)
        return value
    where = f"`{param.name}` of `{owner}`"
    if t == "number":
        return number(value, span, where, limits)
    if t == "int":
        whole = number(value, span, where, limits)
        if whole != int(whole):
            fail("E106", f"{where} must be a whole number, not {whole:g}", span)
        return int(whole)
    if t == "bool":
        if not isinstance(value, bool):
            fail("E106", f"{where} must be true or false, not {type_name(value)}", span)
        return value
    if t == "string":
        if not isinstance(value, str):
            fail("E106", f"{where} must be a string, not {type_name(value)}", span)
        return value
    if t == "vec3":
        return vector(value, 3, span, where, limits)
    if t == "vec2":
        return vector(value, 2, span, where, limits)
    if t == "number_or_vec3":
        if isinstance(value, float):
            return number(value, span, where, limits)
        return vector(value, 3, span, where, limits)
    if t == "axis":
        if isinstance(value, str):
            if value.lower() not in ("x", "y", "z"):
                fail("E401", f'mirror takes "x", "y" or "z", not {value!r}', span)
            return np.eye(3)["xyz".index(value.lower())]
        normal = vector(value, 3, span, where, limits)
        if not np.any(normal):
            fail("E401", "the mirror plane's normal cannot be zero", span)
        return normal
    if t == "number_or_list":
        if isinstance(value, float):
            return number(value, span, where, limits)
        return vector(value, None, span, where, limits)
    if t in ("points2", "points3"):
        dim = 2 if t == "points2" else 3
        if not (isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[1] == dim):
            fail(
                "E106",
                f"{where} must be a list of [{', '.join('xyz'[:dim]) if dim == 3 else 'a, b'}] points,"
                f" not {type_name(value)}",
                span,
                expected="[[" + ", ".join(["0"] * dim) + "], ...]",
            )
        if len(value) > limits.max_points:
            fail(
                "E307",
                f"{where} has {len(value)} points; the limit is {limits.max_points}",
                span,
                hint="a few dozen points describe any outline; let `smooth=true` or `segments` do the rest",
            )
        check_range(value, span, limits)
        return value
    if t == "polygons":
        return polygons(value, span, where, limits)
    raise AssertionError(t)


def polygons(value, span: Span, where: str, limits: Limits) -> list:
    """A list of polygons, each a list of [x, y] points (`holes=[[[x, y], …], …]`); `[]` is none."""
    if isinstance(value, np.ndarray) and value.size == 0:
        return []
    if not (
        isinstance(value, list)
        and all(isinstance(v, np.ndarray) and v.ndim == 2 and v.shape[1] == 2 for v in value)
    ):
        fail(
            "E106",
            f"{where} must be a list of polygons, each a list of [x, y] points, not {type_name(value)}",
            span,
            expected="[[[x, y], ...], ...]",
            hint="one hole is still a list of one polygon: `holes=[[[0, 0], [1, 0], [0, 1]]]`",
        )
    points = sum(len(v) for v in value)
    if points > limits.max_points:
        fail("E307", f"{where} has {points} points; the limit is {limits.max_points}", span)
    for v in value:
        check_range(v, span, limits)
    return value


def number(value, span: Span, where: str, limits: Limits) -> float:
    if not isinstance(value, float) or isinstance(value, bool):
        fail("E106", f"{where} must be a number, not {type_name(value)}", span)
    check_range(value, span, limits)
    return value


def vector(value, size: int | None, span: Span, where: str, limits: Limits) -> np.ndarray:
    if not (isinstance(value, np.ndarray) and value.ndim == 1 and (size is None or len(value) == size)):
        shape = f"a vector of {size} numbers" if size else "a list of numbers"
        fail(
            "E106",
            f"{where} must be {shape}, not {type_name(value)}",
            span,
            expected={2: "[x, y]", 3: "[x, y, z]"}.get(size, ""),
        )
    check_range(value, span, limits)
    return value


def check_range(value, span: Span, limits: Limits) -> None:
    if type(value) is float:  # skip NumPy for numbers and short vectors
        largest = abs(value)
    elif value.ndim == 1 and len(value) <= 4:
        largest = max(map(abs, value.tolist()), default=0.0)  # never NaN: the evaluator makes none
    else:
        largest = np.abs(value).max(initial=0.0)
    if largest > limits.max_abs_value:
        fail(
            "E210",
            f"value out of range (|x| ≤ {limits.max_abs_value:g})",
            span,
            hint="sizes are in metres",
        )


def truth(value, span: Span) -> bool:
    if not isinstance(value, bool):
        fail(
            "E205",
            f"a condition must be true or false, not {type_name(value)}",
            span,
            hint="compare explicitly, e.g. `n > 0`",
        )
    return value


def is_int_literal(node) -> bool:
    return (
        isinstance(node, ast.Number)
        and node.is_int
        or (isinstance(node, ast.Unary) and node.op == "-" and is_int_literal(node.operand))
    )


# ---- colours ----------------------------------------------------------------------------------


def parse_color(value, span: Span) -> tuple[float, float, float]:
    if not isinstance(value, str):
        fail(
            "E109",
            f"a colour must be a string, not {type_name(value)}",
            span,
            expected='"#rrggbb", "#rgb" or a CSS name',
        )
    try:
        rgb = _rgb(value.strip())
    except ValueError:
        from PIL import ImageColor

        fail(
            "E109",
            f"unknown colour {value!r}",
            span,
            expected='"#rrggbb", "#rgb" or a CSS colour name',
            hint=lang.unknown_name_hint(value.lower(), ImageColor.colormap),
        )
    if not all(0 <= c <= 255 for c in rgb[:3]):  # PIL passes rgb(300, 0, 0) and hsv(0, 200%, 200%) through
        fail(
            "E109", f"colour {value!r} is out of range", span, expected="channels from 0 to 255 (0% to 100%)"
        )
    return (rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0)


_HEX_COLOR = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


def _rgb(text: str) -> tuple[int, ...]:
    """PIL's reading of a colour; "#rgb" and "#rrggbb", what programs mostly write, read here
    without importing PIL (~7 ms of a cold `proto3d compile`). ValueError if unknown."""
    if _HEX_COLOR.fullmatch(text):
        digits = text[1:] if len(text) == 7 else "".join(2 * c for c in text[1:])
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    from PIL import ImageColor

    return ImageColor.getrgb(text)


def hex_color(color) -> str:
    """#rrggbb of an RGB colour in [0, 1] (clamped, for shapes built by hand)."""
    return "#" + "".join(f"{round(min(max(float(c), 0.0), 1.0) * 255):02x}" for c in color[:3])


# ---- frames and points ------------------------------------------------------------------------


def rotation(angles) -> np.ndarray:
    """R = Rz·Ry·Rx for angles in degrees about the parent frame's fixed axes."""
    rx, ry, rz = np.radians(np.asarray(angles, dtype=np.float64))
    cx, sx, cy, sy, cz, sz = (
        math.cos(rx),
        math.sin(rx),
        math.cos(ry),
        math.sin(ry),
        math.cos(rz),
        math.sin(rz),
    )
    return np.array(
        [
            [cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx],
            [sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx],
            [-sy, cy * sx, cy * cx],
        ]
    )


def affine(linear: np.ndarray | None = None, offset=None) -> np.ndarray:
    m = _IDENTITY.copy()  # faster than np.eye
    if linear is not None:
        m[:3, :3] = linear
    if offset is not None:
        m[:3, 3] = offset
    return m


def reflection(normal) -> np.ndarray:
    n = np.asarray(normal, dtype=np.float64)
    n = n / math.hypot(*n.tolist())  # no underflow to zero for a tiny normal
    return np.eye(3) - 2.0 * np.outer(n, n)


def align_point(words: str, lo: np.ndarray, hi: np.ndarray, span: Span) -> np.ndarray:
    point = (lo + hi) / 2.0
    chosen: dict[int, str] = {}
    for word in words.lower().replace(",", " ").split():
        if word not in lang.ALIGN_WORDS:
            fail(
                "E108",
                f"unknown align word `{word}`",
                span,
                expected=", ".join(w for w in lang.ALIGN_WORDS if w != "centre"),
                hint=lang.unknown_name_hint(word, lang.ALIGN_WORDS),
            )
        axis_side = lang.ALIGN_WORDS[word]
        if axis_side is None:
            continue
        axis, side = axis_side
        if axis in chosen and chosen[axis] != word:
            fail("E108", f"align words `{chosen[axis]}` and `{word}` contradict each other", span)
        chosen[axis] = word
        point[axis] = hi[axis] if side else lo[axis]
    return point


def anchor_point(name: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A part anchor (`top`, `center`, `size`…) of the box lo..hi."""
    c = (lo + hi) / 2.0
    points = {
        "top": (c[0], c[1], hi[2]),
        "bottom": (c[0], c[1], lo[2]),
        "left": (lo[0], c[1], c[2]),
        "right": (hi[0], c[1], c[2]),
        "front": (c[0], lo[1], c[2]),
        "back": (c[0], hi[1], c[2]),
        "center": c,
        "min": lo,
        "max": hi,
        "size": hi - lo,
    }
    return np.array(points[name], dtype=np.float64)
