"""`box(…) as plate`: anchors of one primitive of a part (`stage.plate.bottom`), which detail added to
the part later does not move."""

from __future__ import annotations

import math

import numpy as np
import pytest

from proto3d.compiler import compile_text, moved_anchors
from proto3d.errors import Proto3dError
from tests.helpers.strategies import anchor_point

ANCHORS = ("top", "bottom", "left", "right", "front", "back", "center", "min", "max", "size")
STAGE = """part stage {
    box(size=[0.2, 0.16, 0.02], at=[0.01, 0.02, 0.3], rot=[0, 0, 30]) as plate
DETAIL}
"""
READS = "".join(f"let r_{a} = stage.plate.{a}\n" for a in ANCHORS)
KNOBS = (
    '    symmetric("x") sphere(r=0.02, at=[0.08, 0, 0.27])\n    box(size=[0.5, 0.02, 0.02], at=[0, 0, 0.4])\n'
)


def read_values(shape) -> dict:
    return {r.anchor: r.value for r in shape.anchor_reads if r.piece == "plate"}


def reference_box(size, at, rz) -> tuple[np.ndarray, np.ndarray]:
    """The world box of a box rotated about Z, from its 8 corners with NumPy."""
    c, s = math.cos(math.radians(rz)), math.sin(math.radians(rz))
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]) * np.array(size) / 2
    world = corners @ rotation.T + np.array(at)
    return world.min(axis=0), world.max(axis=0)


def test_named_anchors_are_the_world_box_of_that_primitive():
    lo, hi = reference_box([0.2, 0.16, 0.02], [0.01, 0.02, 0.3], 30)
    values = read_values(compile_text(STAGE.replace("DETAIL", "") + READS))
    assert sorted(values) == sorted(ANCHORS)
    for anchor in ANCHORS:
        np.testing.assert_allclose(values[anchor], anchor_point(anchor, lo, hi), atol=1e-6, err_msg=anchor)


def test_detail_added_to_the_part_moves_its_anchors_but_not_the_named_ones():
    plain = compile_text(STAGE.replace("DETAIL", "") + READS + "let whole = stage.bottom\n")
    detailed = compile_text(STAGE.replace("DETAIL", KNOBS) + READS + "let whole = stage.bottom\n")
    for anchor, value in read_values(plain).items():
        np.testing.assert_array_equal(read_values(detailed)[anchor], value)
    whole = [r.value[2] for shape in (plain, detailed) for r in shape.anchor_reads if r.piece is None]
    assert whole == [pytest.approx(0.29), pytest.approx(0.25)]
    # W109 follows the part's anchor, not the named one
    found = moved_anchors(plain, detailed)
    assert [(d.code, d.line) for d in found] == [("W109", 16)]


def test_w109_names_a_named_anchor_that_moved():
    before = compile_text(
        STAGE.replace("DETAIL", "") + "part lens { sphere(r=0.01, at=stage.plate.bottom) }\n"
    )
    after = compile_text(
        STAGE.replace("DETAIL", "").replace("0.3], rot", "0.25], rot")
        + "part lens { sphere(r=0.01, at=stage.plate.bottom) }\n"
    )
    (warning,) = moved_anchors(before, after)
    assert (warning.code, warning.line, warning.column) == ("W109", 4, 13)
    assert warning.message.startswith("`stage.plate.bottom` moved 5.0 cm, mostly down")
    assert "line 2 (part `stage`) now bounds it there" in warning.message


def test_instances_a_loop_and_a_def_call_name_what_they_draw():
    shape = compile_text(
        """def foot(w) { box(size=[w, w, 0.02]) as pad }
for x in [0, 1] {
    part leg {
        symmetric("y") sphere(r=0.1, at=[x, 0.3, 0.5]) as knob
        foot(w=0.1 + x, at=[x, 0, 0]) as shoe
    }
}
let all_knobs = leg.knob.size
let second = leg[1].knob.min
let pad = leg[1].pad.size
let shoe = leg[0].shoe.center
"""
    )
    assert [i.names for i in shape.instances] == [
        {"knob": [0, 1], "shoe": [2], "pad": [2]},
        {"knob": [3, 4], "shoe": [5], "pad": [5]},
    ]
    values = {r.span.line: r.value for r in shape.anchor_reads}
    np.testing.assert_allclose(values[8], [1.2, 0.8, 0.2], atol=1e-6)  # both instances, both copies
    np.testing.assert_allclose(values[9], [0.9, -0.4, 0.4], atol=1e-6)
    np.testing.assert_allclose(values[10], [1.1, 1.1, 0.02], atol=1e-6)
    np.testing.assert_allclose(values[11], [0, 0, 0], atol=1e-6)


@pytest.mark.parametrize(
    "text, code, line, column, words",
    [
        ("part a { box(size=[1, 1, 1]) as top }", "E245", 1, 33, "anchor word"),
        ("part a { box(size=[1, 1, 1]) as for }", "E202", 1, 33, "reserved"),
        (
            "part a { box(size=[1, 1, 1]) as p\n sphere(r=1) as p }",
            "E246",
            2,
            17,
            "line 1 draws in this instance of `a`",
        ),
        ("part a { box(size=[1, 1, 1]) }\nlet v = a.plate.top", "E208", 2, 9, "named primitive `plate`"),
        (
            "part a { box(size=[1, 1, 1]) }\npart b { box(size=[1, 1, 1]) as plate }\nlet v = a.plate.top",
            "E247",
            3,
            9,
            "no primitive named `plate`",
        ),
        (
            "part a { box(size=[1, 1, 1]) as plate\n sphere(r=1, at=a.plate.top) }\n"
            "part a { box(size=[1, 1, 1], at=a[2].plate.top) as plate }",
            "E207",
            3,
            33,
            "2 instance(s)",
        ),
        (
            "part a { box(size=[1, 1, 1]) as plate }\npart a { box(size=[1, 1, 1], at=a[1].plate.top) as plate }",
            "E247",
            2,
            33,
            "part `a[1]` has no primitive named `plate` so far",
        ),
        ("part a { box(size=[1, 1, 1]) as plate }\nlet v = a.plate.upper", "E208", 2, 9, "no anchor `upper`"),
        ("part a { box(size=[1, 1, 1]) as plate }\nlet v = a.plate[0]", "E205", 2, 9, "a[0].plate"),
    ],
)
def test_named_primitive_errors_by_code_and_position(text, code, line, column, words):
    with pytest.raises(Proto3dError) as caught:
        compile_text(text)
    error = caught.value.diagnostics[0]
    assert (error.code, error.line, error.column) == (code, line, column)
    assert words in error.message + error.hint


def test_a_name_read_in_its_own_part_sees_what_is_drawn_so_far():
    shape = compile_text(
        "part a {\n box(size=[1, 1, 0.2], at=[0, 0, 0.1]) as plate\n sphere(r=0.1, at=a.plate.top)\n}\n"
    )
    np.testing.assert_allclose(shape.primitives[1].matrix[:3, 3], [0, 0, 0.2], atol=1e-6)
