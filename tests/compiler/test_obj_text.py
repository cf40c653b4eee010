"""The OBJ text kernels print exactly what Python's `%` prints, and leave to it what they cannot."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from proto3d.compiler.export import Groups, _compact, _span, to_obj
from proto3d.compiler.obj_text import face_lines, float_lines
from proto3d.errors import Span
from tests.compiler.test_export import make_shape

# Values where %g changes style or rounds: zero and its sign, powers of ten and their float32
# neighbours (the exponent estimate is one below there), ties broken to even (513/512 =
# 1.001953125 prints 1.00195312), 9-digit carries, the ends of the kernel's range and beyond.
POWERS = np.array([float(f"1e{k}") for k in range(-45, 39)], np.float32)
SPECIAL = np.concatenate(
    [
        np.array(
            [0.0, -0.0, 1.0, -1.0, 0.5, 513 / 512, 1e-4, 9.99999975e-5, 1e-5, 123456789.0, 999999999.0]
            + [
                999999995.0,
                2.0**24,
                2.0**24 + 2,
                1e-19,
                1.1e-19,
                9.2e18,
                9.3e18,
                3.4028235e38,
                1.17549435e-38,
            ]
            + [1e-45, 0.70710677, 6.1232343e-17, np.inf, -np.inf, np.nan],
            np.float32,
        ),
        POWERS,
        np.nextafter(POWERS, np.float32(0)),
        np.nextafter(POWERS, np.float32(np.inf)),
        -POWERS,
        np.float32(2.0) ** np.arange(-149, 128, dtype=np.float32),
    ]
)


def percent_lines(prefix: str, values: np.ndarray) -> list[str]:
    return [f"{prefix} %.9g %.9g %.9g" % tuple(row) for row in values.astype(np.float64).tolist()]


def kernel_lines(prefix: str, values: np.ndarray) -> tuple[list[str | None], np.ndarray]:
    """The kernel's line for each row (None where it left the row out), and the rows left out."""
    text, ends, missing = float_lines(f"{prefix} ".encode(), values)
    starts = np.append(0, ends[:-1])
    lines = [bytes(text[a:b]).decode() for a, b in zip(starts.tolist(), ends.tolist())]
    return [line[:-1] if line else None for line in lines], missing


@pytest.mark.parametrize("seed", range(3))
def test_float_lines_are_percent_9g_of_every_float32_in_range(seed):
    rng = np.random.default_rng(seed)
    exponents = rng.integers(64, 190, size=(20_000, 3))  # 2^-63 .. 2^63: the range the kernel prints
    bits = (
        rng.integers(0, 2**23, size=(20_000, 3))
        | exponents << 23
        | rng.integers(0, 2, size=(20_000, 3)) << 31
    )
    values = bits.astype(np.uint32).view(np.float32)
    lines, missing = kernel_lines("v", values)
    assert lines == percent_lines("v", values) and len(missing) == 0


def test_float_lines_leave_out_only_rows_out_of_range_and_python_prints_those():
    values = np.resize(SPECIAL, (len(SPECIAL) + 2) // 3 * 3).reshape(-1, 3)
    lines, missing = kernel_lines("vn", values)
    expected = percent_lines("vn", values)
    magnitude = np.abs(values.astype(np.float64))
    out_of_range = ~((magnitude >= 1e-19) & (magnitude < 2.0**63) | (magnitude == 0)).all(axis=1)
    assert np.array_equal(missing, np.flatnonzero(out_of_range)) and 0 < len(missing) < len(values)
    assert [line for line in lines if line is not None] == [
        e for e, out in zip(expected, out_of_range) if not out
    ]
    # a tie to even; the switch to an exponent below 1e-4; a carry to 10 digits
    assert lines[1:4] == [
        "vn -1 0.5 1.00195312",
        "vn 9.99999975e-05 9.99999975e-05 9.99999975e-06",
        "vn 123456792 1e+09 1e+09",
    ]


def test_face_lines_are_percent_d_of_every_width():
    faces = np.array([[1, 2, 3], [9, 10, 11], [99, 100, 101], [123456, 7, 2**31 - 1], [1, 1_000_000, 10]])
    text, ends = face_lines(faces - 1)  # OBJ counts vertices from 1
    assert bytes(text[: ends[-1]]).decode() == "".join(
        f"f {a}//{a} {b}//{b} {c}//{c}\n" for a, b, c in faces.tolist()
    )
    assert (
        ends.tolist()
        == np.cumsum([len(f"f {a}//{a} {b}//{b} {c}//{c}\n") for a, b, c in faces.tolist()]).tolist()
    )


def test_obj_prints_values_the_kernel_cannot_and_float64_vertices_with_percent():
    shape = make_shape()
    shape.vertices = shape.vertices.astype(np.float64)
    shape.vertices[0] = [1e-30, -3e25, 0.1]  # out of the kernel's range
    shape.vertices[1] = [0.1, 0.2, 0.3]  # not float32 values: printed from the float64
    shape.normals = shape.normals.copy()
    shape.normals[2] = [np.nan, np.inf, 0.0]
    obj, _ = to_obj(shape, up="z")
    v = [line for line in obj.splitlines() if line.startswith("v ")]
    vn = [line for line in obj.splitlines() if line.startswith("vn ")]
    assert v == percent_lines("v", shape.vertices.astype(np.float64)) and v[:2] == [
        "v 1e-30 -3e+25 0.1",
        "v 0.1 0.2 0.3",
    ]
    assert vn == percent_lines("vn", shape.normals) and vn[2] == "vn nan inf 0"


def test_group_vertex_lists_with_and_without_vertices_shared_between_groups():
    groups = Groups(np.arange(3), np.array([0, 2, 3]), np.array([0, 1]), np.array([0, 0]))
    own = np.array([[4, 5, 6], [6, 5, 7], [0, 1, 2]])  # each vertex in one group only
    used, starts, local = _compact(own, groups, 8)
    assert used.tolist() == [4, 5, 6, 7, 0, 1, 2] and starts.tolist() == [0, 4, 7]
    assert local.tolist() == [[0, 1, 2], [2, 1, 3], [0, 1, 2]]
    shared = np.array([[4, 5, 6], [6, 5, 7], [7, 1, 4]])  # 4 and 7 in both groups
    used, starts, local = _compact(shared, groups, 8)
    assert used.tolist() == [4, 5, 6, 7, 1, 4, 7] and starts.tolist() == [0, 4, 7]
    assert local.tolist() == [[0, 1, 2], [2, 1, 3], [2, 0, 1]]


def test_span_json_is_the_dataclass_fields():
    span = Span(3, 5, 4, 9)
    assert _span(span) == dataclasses.asdict(span)
    assert list(_span(span)) == [f.name for f in dataclasses.fields(Span)]
