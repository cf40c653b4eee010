"""The builtin functions (`sin`, `range`, `lerp`…), each `(arguments, call, limits) -> value`.

A function raises TypeError or ValueError for arguments it cannot take (the evaluator turns
that into E204 naming their types) and `fail`s with its own message otherwise; the evaluator
checks the argument count, pays for the numbers read and checks the result is finite.
"""

from __future__ import annotations

import math

import numpy as np

from proto3d.compiler.values import fail, number
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
