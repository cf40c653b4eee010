"""What docs/language.md answers that a model once had to guess (issue 14, item 9): each
sentence is in the page, and the compiler does what it says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from proto3d.compiler import compile_text
from proto3d.errors import Proto3dError

REFERENCE = " ".join((Path(__file__).resolve().parents[2] / "docs" / "language.md").read_text().split())


def said(sentence: str) -> None:
    assert " ".join(sentence.split()) in REFERENCE, sentence


@pytest.mark.parametrize("n", [3, 4, 5, 6])
def test_a_low_segments_polygon_has_a_corner_at_plus_x_and_a_turn_of_half_a_facet_gives_a_side(n):
    said("A low `segments` polygon has a corner on its local +X axis (`segments=4`: a diamond)")
    corner = compile_text(f"part p {{ cylinder(r=1, h=1, segments={n}) }}").vertices
    assert corner[:, 0].max() == pytest.approx(1.0)
    assert np.abs(corner[np.isclose(corner[:, 0], 1.0)][:, 1]).max() == pytest.approx(0.0, abs=1e-6)
    side = compile_text(f"part p {{ cylinder(r=1, h=1, segments={n}, rot=[0, 0, 180 / {n}]) }}").vertices
    at_plus_x = side[np.isclose(side[:, 0], side[:, 0].max(), atol=1e-6)]
    assert side[:, 0].max() == pytest.approx(np.cos(np.pi / n), abs=1e-6)  # the apothem: a flat side
    assert at_plus_x[:, 1].min() == pytest.approx(-np.sin(np.pi / n), abs=1e-6)


def test_a_closed_lathe_outline_off_the_axis_is_a_ring_and_an_open_one_is_closed_to_the_axis():
    said("# closed outline off the axis (last point = first): a ring")
    ring = [[0.25, 0], [0.3, 0], [0.3, 0.05], [0.25, 0.05], [0.25, 0]]
    for profile, inner in [(ring, 0.25), (ring[:-1], 0.0)]:
        v = compile_text(f"part p {{ lathe(profile={profile}, segments=64) }}").vertices
        r = np.hypot(v[:, 0], v[:, 1])
        assert r.max() == pytest.approx(0.3, abs=1e-6) and r.min() == pytest.approx(inner, abs=2e-3)


def test_a_let_name_may_be_reused_in_a_sibling_or_inner_block_but_not_twice_in_one_block():
    said("A name may be reused in a sibling block (each `part` body its own `let w`)")
    siblings = compile_text(
        'part a { let w = 0.1\n box(size=[w, 1, 1], align="bottom") }\n'
        'part b { let w = 0.3\n box(size=[w, 1, 1], at=[1, 0, 0], align="bottom") }'
    )
    assert [round(float(i.bbox_max[0] - i.bbox_min[0]), 6) for i in siblings.instances] == [0.1, 0.3]
    inner = compile_text('let w = 0.1\npart a { let w = 0.2\n box(size=[w, 1, 1], align="bottom") }')
    assert inner.instances[0].bbox_max[0] == pytest.approx(0.1)  # the inner w hides the outer one
    with pytest.raises(Proto3dError) as info:
        compile_text('let w = 0.1\nlet w = 0.2\npart a { box(size=[w, 1, 1], align="bottom") }')
    (error,) = info.value.diagnostics
    assert (error.code, error.span.line, error.span.column) == ("E214", 2, 1)


@pytest.mark.parametrize(
    "rot, low, high",
    [
        ([90, 0, 0], [0, -0.5, 0], [1, 0, 1]),
        ([-90, 0, 0], [0, 0, -1], [1, 0.5, 0]),
        ([0, 90, 0], [0, 0, -1], [0.5, 1, 0]),
    ],
)
def test_extrude_grows_along_its_rotated_local_z(rot, low, high):
    said("`extrude` grows along its local +Z: after `rot=[90, 0, 0]` (polygon y → up) towards −Y")
    shape = compile_text(f"part p {{ extrude(polygon=[[0, 0], [1, 0], [0, 1]], h=0.5, rot={rot}) }}")
    assert np.allclose(shape.bbox[0], low, atol=1e-6) and np.allclose(shape.bbox[1], high, atol=1e-6)


@pytest.mark.parametrize(
    "bound, out, flagged",
    [(1.0, 0.045, False), (1.0, 0.055, True), (0.04, 0.0045, False), (0.04, 0.0055, True)],
)
def test_the_bounds_tolerance_is_the_larger_of_5_mm_and_5_percent(bound, out, flagged):
    said("outside the declared `bounds` by more than the larger of 5 mm and 5 % of that bound")
    shape = compile_text(
        f"bounds [{bound}, {bound}, {bound}]\n"
        f'part p {{ box(size=[{bound}, {bound}, {bound}], at=[{out}, 0, 0], align="bottom") }}'
    )
    assert [d.code for d in shape.diagnostics] == (["W102"] if flagged else [])


def test_primitive_colours_inside_one_part_are_fine_and_w107_is_about_instances():
    said("Primitives of different colours inside one part are fine: `W107` is only about instances")
    one = compile_text(
        'part p color "red" { box(size=[1, 1, 1], align="bottom")\n'
        ' sphere(r=0.2, at=[0, 0, 1], color="blue") }'
    )
    assert one.diagnostics == [] and len({tuple(c) for c in one.face_colors.round(3)}) == 2
    two = compile_text(
        'part p color "red" { box(size=[1, 1, 1], align="bottom") }\n'
        'part p color "blue" { box(size=[1, 1, 1], at=[0.5, 0, 0], align="bottom") }'
    )
    assert [(d.code, d.span.line) for d in two.diagnostics] == [("W107", 2)]
