"""The builtin functions (`sin`, `range`, `lerp`…), each `(arguments, call, limits) -> value`.

A function raises TypeError or ValueError for arguments it cannot take (the evaluator turns
that into E204 naming their types) and `fail`s with its own message otherwise; the evaluator
checks the argument count, pays for the numbers read and checks the result is finite.

The point functions (`circle`, `arc`, …) take keyword arguments, bound and type-checked as a
primitive's are (`binding.py`): each is `(values, call, limits, meter) -> (n, 2) points`, and
pays a step per point it makes before making them.
"""

from __future__ import annotations

import math

import numpy as np

from proto3d.compiler import language as lang
from proto3d.compiler.steps import StepMeter
from proto3d.compiler.values import fail, number
from proto3d.grammar import ast
from proto3d.limits import Limits


def _range(args, e, limits: Limits):
    numbers = [number(a, e.span, "`range`", limits) for a in args]
    if any(n != int(n) for n in numbers):
        fail("E204", "range takes whole numbers", e.span)
    values = range(*[int(n) for n in numbers]) if numbers[-1] != 0 or len(numbers) < 3 else None
    if values is None:
        fail("E204", "range step cannot be zero", e.span)
    if len(values) > limits.max_loop_iterations:
        fail(
            "E303",
            f"range of {len(values)} items exceeds the loop limit {limits.max_loop_iterations}",
            e.span,
        )
    return np.arange(values.start, values.stop, values.step, dtype=np.float64)


def _scalar_fn(fn):
    """A NumPy function of a number, element-wise on arrays; a result that is not finite means the
    value is outside its domain (asin(2), sqrt(-1)), while an underflow is not an error."""

    def apply(args, e, limits):
        value = args[0]
        if type(value) is float:
            result = float(fn(value))
            if math.isfinite(result):
                return result
        elif type(value) is np.ndarray:
            result = fn(value)
            if np.isfinite(result).all():
                return result
        else:
            raise TypeError
        fail("E204", f"`{e.func}` is undefined for this value", e.span)

    return apply


def _minmax(fn):
    def apply(args, e, limits):
        values = args[0] if len(args) == 1 else args
        if isinstance(values, np.ndarray) and values.ndim == 1:
            values = [float(v) for v in values]
        if not values or not all(isinstance(v, float) and not isinstance(v, bool) for v in values):
            raise TypeError
        return fn(values)

    return apply


def _numbers(args):
    """Numbers and arrays of one shape, as arithmetic takes: broadcasting [n] against [n, 1] would make n²."""
    for a in args:
        if isinstance(a, bool) or not isinstance(a, (float, np.ndarray)):
            raise TypeError
    if len({a.shape for a in args if type(a) is np.ndarray}) > 1:
        raise ValueError
    return args


def _clamp(args, e, limits):
    x, lo, hi = _numbers(args)
    if type(x) is type(lo) is type(hi) is float:  # as np.clip takes them, without its cost on one number
        return min(max(x, lo), hi)
    result = np.clip(x, lo, hi)
    return float(result) if np.ndim(result) == 0 else result


def _lerp(args, e, limits):
    a, b, t = _numbers(args)
    result = a + (b - a) * t
    return float(result) if np.ndim(result) == 0 else result


def _atan2(args, e, limits):
    y, x = _numbers(args)
    return float(np.degrees(np.arctan2(y, x)))


def _len(args, e, limits):
    value = args[0]
    if not isinstance(value, (np.ndarray, list, str)):
        raise TypeError
    return float(len(value))


def _norm(args, e, limits):
    value = args[0]
    if not (isinstance(value, np.ndarray) and value.ndim == 1):
        raise TypeError
    return math.hypot(*value.tolist())  # no overflow on the way to a length that is finite


def _sum(args, e, limits):
    value = args[0]
    if not (isinstance(value, np.ndarray) and value.ndim == 1):
        raise TypeError
    return float(value.sum())


BUILTINS = {
    "sin": _scalar_fn(lambda x: np.sin(np.radians(x))),
    "cos": _scalar_fn(lambda x: np.cos(np.radians(x))),
    "tan": _scalar_fn(lambda x: np.tan(np.radians(x))),
    "asin": _scalar_fn(lambda x: np.degrees(np.arcsin(x))),
    "acos": _scalar_fn(lambda x: np.degrees(np.arccos(x))),
    "atan": _scalar_fn(lambda x: np.degrees(np.arctan(x))),
    "atan2": _atan2,
    "sqrt": _scalar_fn(np.sqrt),
    "abs": _scalar_fn(np.abs),
    "floor": _scalar_fn(np.floor),
    "ceil": _scalar_fn(np.ceil),
    "round": _scalar_fn(lambda x: np.floor(x + 0.5)),
    "min": _minmax(min),
    "max": _minmax(max),
    "clamp": _clamp,
    "lerp": _lerp,
    "len": _len,
    "range": _range,
    "norm": _norm,
    "sum": _sum,
}


# ---- point lists: outlines for `extrude`, `lathe`, `sweep`, built from circles ---------------


def _cos_sin(degrees: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine and sine of angles in degrees, exact at multiples of 90° (so a rounded rectangle's
    sides are straight and a half circle ends on its axis)."""
    turns = np.mod(degrees, 360.0)
    radians = np.radians(turns)
    cos, sin = np.cos(radians), np.sin(radians)
    quarter = turns / 90.0
    exact = quarter == np.floor(quarter)
    k = quarter[exact].astype(np.int64) % 4
    cos[exact] = np.array([1.0, 0.0, -1.0, 0.0])[k]
    sin[exact] = np.array([0.0, 1.0, 0.0, -1.0])[k]
    return cos, sin


def _ring(degrees: np.ndarray, rx: float, ry: float, center) -> np.ndarray:
    cos, sin = _cos_sin(degrees)
    cx, cy = (0.0, 0.0) if center is None else center.tolist()
    return np.stack([cx + rx * cos, cy + ry * sin], axis=1)


def _positive(values: dict, key: str, e: ast.Call) -> float:
    if not values[key] > 0:
        fail("E204", f"`{key}` of `{e.func}` must be positive, not {values[key]:g}", e.span)
    return values[key]


def _at_least(n: int, least: int, e: ast.Call) -> int:
    if n < least:
        fail("E204", f"`n` of `{e.func}` must be at least {least}, not {n}", e.span)
    return n


CALL_STEPS = 8  # what a point function costs besides its points: ~10 µs of NumPy calls, at ~1.3 µs a step


def _pay(points: int, e: ast.Call, limits: Limits, meter: StepMeter, calls: int = 1) -> None:
    """A step per point and `CALL_STEPS` per call's worth of fixed work, paid before they are made;
    no more points than one outline may have."""
    if points > limits.max_points:
        fail(
            "E307",
            f"`{e.func}` would make {points} points; the limit is {limits.max_points}",
            e.span,
            hint=f"{lang.CIRCLE_POINTS} points make a smooth circle",
        )
    meter.charge(e.span, points + calls * CALL_STEPS)


def _circle(values, e, limits, meter):
    n = _at_least(values["n"], 3, e)
    r = _positive(values, "r", e)
    _pay(n, e, limits, meter)
    return _ring(np.arange(n) * (360.0 / n), r, r, values["center"])


def _ellipse(values, e, limits, meter):
    n = _at_least(values["n"], 3, e)
    rx, ry = _positive(values, "rx", e), _positive(values, "ry", e)
    _pay(n, e, limits, meter)
    return _ring(np.arange(n) * (360.0 / n), rx, ry, values["center"])


def _arc(values, e, limits, meter):
    start, end = values["start"], values["end"]
    sweep = abs(end - start)
    if not 0 < sweep <= 360:
        fail(
            "E204",
            f"`start` and `end` of `arc` must differ by more than 0° and at most 360°, not {sweep:g}°",
            e.span,
        )
    n = values["n"] if values["n"] is not None else 1 + math.ceil(sweep / 360.0 * lang.CIRCLE_POINTS)
    n = _at_least(n, 2, e)
    r = _positive(values, "r", e)
    _pay(n, e, limits, meter)
    return _ring(start + (end - start) * (np.arange(n) / (n - 1)), r, r, values["center"])


def _rounded_rect(values, e, limits, meter):
    (w, d), r = values["size"].tolist(), values["r"]
    if not (w > 0 and d > 0):
        fail("E204", "`size` of `rounded_rect` must be two positive numbers [w, d]", e.span)
    if not 0 <= r <= min(w, d) / 2:
        fail(
            "E204",
            f"`r` of `rounded_rect` must be between 0 and half the shorter side ({min(w, d) / 2:g}), "
            f"not {r:g}",
            e.span,
        )
    n = _at_least(values["n"], 2, e) if r > 0 else 1  # points per corner
    _pay(4 * n, e, limits, meter, calls=2)  # four corners and the cleaning of repeated points
    # counter-clockwise from the +X side: each corner a quarter circle, all four in one pass
    quarters = _ring((90.0 * np.arange(4)[:, None] + np.linspace(0.0, 90.0, n)).ravel(), r, r, None)
    centres = np.array(
        [[w / 2 - r, d / 2 - r], [r - w / 2, d / 2 - r], [r - w / 2, r - d / 2], [w / 2 - r, r - d / 2]]
    )
    points = quarters + np.repeat(centres, n, axis=0)
    if values["center"] is not None:
        points += values["center"]
    keep = np.any(points != np.roll(points, 1, axis=0), axis=1)  # a side of zero length: no point twice
    keep[0] = True  # the first point stays first; the last one goes if it repeats it
    keep[-1] &= bool(np.any(points[-1] != points[0]))
    return points[keep]


POINT_FUNCTIONS = {"arc": _arc, "circle": _circle, "ellipse": _ellipse, "rounded_rect": _rounded_rect}
