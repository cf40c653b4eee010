# pyright: basic
"""The OBJ file's number lines at compiled speed, byte for byte what Python's `%` prints.

A mesh at the triangle limit has some 18 million numbers to print and Python's `%` prints about
5 million a second, so `to_obj` spent seconds there. These kernels print the same text into a
byte buffer: `v`/`vn` lines as `%.9g` of float32 coordinates (9 digits give every float32
back) and `f a//a b//b c//c` lines. A float32 is m·2^e with m < 2^24; printing it with 9
digits rounds m·2^e·10^k half to even for one k, and m·5^k is exact in 128 bits up to k = 27:
that covers 1e-19 ≤ |x| < 9.2e18. The rare lines with a number outside that range (and inf,
NaN) are left to Python: the kernel leaves them out and reports where they go.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_U64 = np.uint64
_LOW32 = np.uint64(0xFFFFFFFF)
_POW5 = np.array([5**k for k in range(28)], dtype=np.uint64)
_POW10 = np.array([10**k for k in range(19)], dtype=np.uint64)
_LOW_DIGITS, _HIGH_DIGITS = (
    np.uint64(100_000_000),
    np.uint64(1_000_000_000),
)  # a 9-digit decimal mantissa D: 1e8 <= D < 1e9
_FLOAT_WIDTH = 15  # the longest %.9g of a float32: -1.23456789e-10
_DOT, _MINUS, _PLUS, _ZERO, _E, _SPACE, _NEWLINE, _SLASH = (ord(c) for c in ".-+0e \n/")


def float_lines(prefix: bytes, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`prefix` then the row's three float32 values (`%.9g`, space-separated) and a newline, per
    row of `values`: (text buffer, end of each row's line in it, rows the kernel left out)."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    text = np.empty(len(values) * (len(prefix) + 3 * _FLOAT_WIDTH + 3), dtype=np.uint8)
    ends, missing = _float_lines(np.frombuffer(prefix, np.uint8), values.view(np.uint32), text)
    return text, ends, np.flatnonzero(missing)


def face_lines(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`f a//a b//b c//c` and a newline per row of `faces` (vertex indices from 0; OBJ's `a` are
    from 1): (text buffer, end of each row's line in it)."""
    faces = np.ascontiguousarray(faces, dtype=np.int32)
    width = len(str(int(faces.max()) + 1)) if len(faces) else 1
    text = np.empty(len(faces) * (6 * width + 11), dtype=np.uint8)
    return text, _face_lines(faces, text)


@njit(cache=True)
def _float_lines(prefix, bits, text):
    ends = np.empty(bits.shape[0], np.int64)
    missing = np.zeros(bits.shape[0], np.bool_)
    at = 0
    for row in range(bits.shape[0]):
        start = at
        for i in range(prefix.shape[0]):
            text[at] = prefix[i]
            at += 1
        for c in range(3):
            if c:
                text[at] = _SPACE
                at += 1
            at = _put_g9(text, at, bits[row, c])
            if at < 0:
                break
        if at < 0:
            at = start
            missing[row] = True
        else:
            text[at] = _NEWLINE
            at += 1
        ends[row] = at
    return ends, missing


@njit(cache=True)
def _face_lines(faces, text):
    ends = np.empty(faces.shape[0], np.int64)
    at = 0
    for row in range(faces.shape[0]):
        text[at] = ord("f")
        at += 1
        for c in range(3):
            text[at] = _SPACE
            at = _put_int(text, at + 1, faces[row, c] + 1)
            text[at] = _SLASH
            text[at + 1] = _SLASH
            at = _put_int(text, at + 2, faces[row, c] + 1)
        text[at] = _NEWLINE
        at += 1
        ends[row] = at
    return ends


@njit(cache=True)
def _put_int(text, at, value):
    """`%d` of a non-negative integer at `at`; returns the position after it."""
    n, limit = 1, 10
    while value >= limit:
        n, limit = n + 1, limit * 10
    for i in range(n - 1, -1, -1):
        text[at + i] = _ZERO + value % 10
        value //= 10
    return at + n


@njit(cache=True)
def _put_g9(text, at, bits):
    """`%.9g` of the float32 with these bits at `at`; the position after it, or -1 when it is
    out of the kernel's range (the caller leaves the line to Python)."""
    if bits >> 31:
        text[at] = _MINUS
        at += 1
    if bits & 0x7FFFFFFF == 0:
        text[at] = _ZERO
        return at + 1
    ok, digits, exponent = _decimal(bits & 0x7FFFFFFF)
    if not ok:
        return -1
    n = 9
    while digits % _U64(10) == _U64(0):  # %g drops trailing zeros
        digits //= _U64(10)
        n -= 1
    if 0 <= exponent < 9:  # positional, as %g prints exponents -4 to 8 at precision 9
        if n <= exponent + 1:
            at = _put_digits(text, at, digits, n, n)
            for _ in range(exponent + 1 - n):
                text[at] = _ZERO
                at += 1
            return at
        return _put_digits(text, at, digits, n, exponent + 1)
    if -4 <= exponent < 0:
        text[at] = _ZERO
        text[at + 1] = _DOT
        at += 2
        for _ in range(-exponent - 1):
            text[at] = _ZERO
            at += 1
        return _put_digits(text, at, digits, n, n)
    at = _put_digits(text, at, digits, n, 1)
    text[at] = _E
    text[at + 1] = _MINUS if exponent < 0 else _PLUS
    magnitude = abs(exponent)
    text[at + 2] = _ZERO + magnitude // 10
    text[at + 3] = _ZERO + magnitude % 10
    return at + 4


@njit(cache=True)
def _put_digits(text, at, digits, n, dot):
    """The n decimal digits of `digits` at `at`, with a point before the digit at index `dot`
    when dot < n; returns the position after them."""
    end = at + n + (dot < n)
    i = end
    for k in range(n - 1, -1, -1):
        i -= 1
        text[i] = _ZERO + digits % _U64(10)
        digits //= _U64(10)
        if k == dot:
            i -= 1
            text[i] = _DOT
    return end


@njit(cache=True)
def _decimal(bits):
    """(ok, D, X): the positive finite float32 with these bits is D·10^(X-8) rounded half to
    even, 1e8 <= D < 1e9; ok is False out of the kernel's range."""
    biased = (bits >> 23) & 0xFF
    if biased == 0 or biased == 255:  # below 1.2e-38, inf or NaN
        return False, _U64(0), 0
    mantissa, exponent = (bits & 0x7FFFFF) | 0x800000, biased - 150
    x = ((exponent + 23) * 78913) >> 18  # floor(log10(2^(exponent+23))): the decimal exponent or one below
    for _ in range(2):
        ok, q, rest = _scaled(_U64(mantissa), exponent, 8 - x)
        if not ok:
            return False, _U64(0), 0
        if q >= _HIGH_DIGITS:
            x += 1
        elif q < _LOW_DIGITS:
            x -= 1
        else:
            if rest > 0 or (rest == 0 and q & _U64(1)):
                q += _U64(1)
            if q == _HIGH_DIGITS:
                return True, _U64(_LOW_DIGITS), x + 1
            return True, q, x
    return False, _U64(0), 0


@njit(cache=True)
def _scaled(m, e, k):
    """(ok, floor(m·2^e·10^k), sign of the rest minus one half) for m < 2^24, exact. A floor of
    2^63 or more is given as 2^63 and one below 2^23 as 0 (both only say the k is wrong)."""
    big = _U64(1) << _U64(63)
    if k < 0:
        if e < 0 or e > 39 or -k > 18:
            return False, _U64(0), 0
        number = m << _U64(e)
        divisor = _POW10[-k]
        q = number // divisor
        twice = (number - q * divisor) * _U64(2)
        return True, q, (twice > divisor) - (twice < divisor)
    if k > 27:
        return False, _U64(0), 0
    power = _POW5[k]
    low_part = m * (power & _LOW32)
    high_part = m * (power >> _U64(32))
    lo = low_part + (high_part << _U64(32))  # m·5^k = hi·2^64 + lo
    hi = (high_part >> _U64(32)) + _U64(lo < low_part)
    shift = e + k  # m·2^e·10^k = m·5^k·2^shift
    if shift >= 0:
        if hi or shift > 62 or lo >> _U64(63 - shift):
            return True, big, -1
        return True, lo << _U64(shift), -1
    r = -shift
    if r >= 64:
        return True, _U64(0), -1
    if hi >> _U64(r):
        return True, big, -1
    q = (hi << _U64(64 - r)) | (lo >> _U64(r))
    rest = lo & ((_U64(1) << _U64(r)) - _U64(1))
    half = _U64(1) << _U64(r - 1)
    return True, q, (rest > half) - (rest < half)
