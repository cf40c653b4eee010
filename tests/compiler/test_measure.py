"""Evaluation tessellates early to answer part anchors; `assemble` reuses those meshes.

The mesh joined from the pieces measured while evaluating and the rest tessellated at the end
must be byte for byte the mesh of one tessellation of every primitive.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from proto3d.compiler import compile_text, measure
from proto3d.compiler.build import DEFAULT_LIMITS
from proto3d.compiler.evaluate import _Evaluator, evaluate
from proto3d.compiler.measure import (
    MEASURE_STEPS,
    TRIANGLES_PER_STEP,
    EarlyTessellation,
    PartBoxes,
    _boxes,
    complete,
    measure_boxes,
)
from proto3d.compiler.tessellate import Tessellation, tessellate
from proto3d.grammar import parse

EXAMPLES = sorted(Path(__file__).resolve().parents[2].joinpath("examples").glob("*.pdsl"))
FIELDS = ("vertices", "normals", "faces", "face_primitive", "vertex_start")

ANCHORED = """shape "lamps"
part base { box(size=[1, 1, 0.1], at=[0, 0, 0.05]) }
part post { cylinder(r=0.05, h=0.5, at=base.top, align="bottom", segments=7) }
part base { sphere(r=0.2, at=[2, 0, 0.2]) }
part lamp { sphere(r=0.1, at=post.top, segments=8) }
part cap { cone(r=0.1, h=0.1, at=base[1].top, align="bottom") }
"""


def evaluated(text: str):
    early = EarlyTessellation()
    return evaluate(parse(text), DEFAULT_LIMITS, None, early.measure), early


def assert_same_mesh(a, b):
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert (x.dtype, x.shape, x.tobytes()) == (y.dtype, y.shape, y.tobytes()), name


def test_assemble_tessellates_only_the_primitives_no_anchor_measured():
    evaluation, early = evaluated(ANCHORED)
    # base.top measures primitive 0, post.top primitive 1, base[1].top primitive 2 (base's second instance)
    assert [list(ids) for ids, _ in early.pieces] == [[0], [1], [2]]
    assert ([len(mesh.faces) for _, mesh in early.pieces], evaluation.triangles) == ([12, 28, 960], 1112)
    with mock.patch.object(measure, "tessellate", wraps=measure.tessellate) as tessellated:
        joined = early.mesh(evaluation.primitives, evaluation.triangles)
    assert [len(call.args[0]) for call in tessellated.call_args_list] == [2]  # the lamp and the cap
    assert_same_mesh(joined, tessellate(evaluation.primitives))


def test_a_program_whose_every_primitive_was_measured_is_not_tessellated_again():
    evaluation, early = evaluated("part a { box(size=[1, 2, 3]) }\nlet t = a.top\n")
    with mock.patch.object(measure, "tessellate", wraps=measure.tessellate) as tessellated:
        joined = early.mesh(evaluation.primitives, evaluation.triangles)
    assert tessellated.call_count == 0
    assert_same_mesh(joined, tessellate(evaluation.primitives))


def test_without_anchors_nothing_is_tessellated_early():
    evaluation, early = evaluated("part a { box(size=[1, 2, 3]) }\npart b { sphere(r=1) }\n")
    assert early.pieces == []
    assert_same_mesh(
        early.mesh(evaluation.primitives, evaluation.triangles), tessellate(evaluation.primitives)
    )


def test_a_few_measured_triangles_are_tessellated_again_rather_than_joined():
    text = "part seat { box(size=[1, 1, 0.1], at=[0, 0, 1]) }\n" + "".join(
        f'part leg {{ cylinder(r=0.05, h=1, at=seat.bottom + [{x}, 0, 0], align="top") }}\n'
        for x in (-0.4, 0.4)
    )
    evaluation, early = evaluated(text)
    assert ([len(mesh.faces) for _, mesh in early.pieces], evaluation.triangles) == ([12], 268)
    with mock.patch.object(measure, "tessellate", wraps=measure.tessellate) as tessellated:
        mesh = early.mesh(evaluation.primitives, evaluation.triangles)
    assert [len(call.args[0]) for call in tessellated.call_args_list] == [3]  # all, once
    assert_same_mesh(mesh, tessellate(evaluation.primitives))


def test_measured_boxes_are_the_boxes_of_each_primitives_triangles():
    evaluation, _ = evaluated(ANCHORED)
    boxes = measure_boxes(evaluation.primitives, [4, 0])
    cone = tessellate([evaluation.primitives[4]]).vertices.astype(np.float64)
    assert [b[0].tolist() for b in boxes] == [cone.min(axis=0).tolist(), [-0.5, -0.5, 0.0]]
    assert [b[1].tolist() for b in boxes] == [cone.max(axis=0).tolist(), [0.5, 0.5, 0.10000000149011612]]


def test_boxes_are_those_of_each_primitives_corners_and_none_without_triangles():
    """The one-pass boxes equal the min and max of each primitive's own corners (not of vertices
    no face uses), and a primitive without triangles has none."""
    vertices = np.array(
        [[0, 0, 0], [1, 2, 3], [-1, 5, 0.5], [9, 9, 9], [2, 0, 1], [3, -1, 1], [2, 2, -4]], dtype=np.float32
    )
    faces = np.array([[0, 1, 2], [1, 2, 0], [4, 5, 6]], dtype=np.int32)
    mesh = Tessellation(
        vertices, vertices, faces, np.array([0, 0, 2], dtype=np.int32), np.array([0, 4, 4, 7])
    )
    boxes = _boxes(mesh, 3)
    assert [(b[0].tolist(), b[1].tolist()) for b in (boxes[0], boxes[2])] == [
        ([-1, 0, 0], [1, 5, 3]),
        ([2, -1, -4], [3, 2, 1]),
    ]
    assert boxes[1] is None and boxes[0][0].dtype == np.float64


def test_a_read_pays_for_what_it_measures_before_measuring():
    """A step per primitive added to the box; if some are measured, MEASURE_STEPS and a step per
    TRIANGLES_PER_STEP of their triangles; nothing when the part has not grown."""
    evaluation, _ = evaluated(ANCHORED)
    triangles = [len(tessellate([p]).faces) for p in evaluation.primitives]
    assert triangles[:3] == [12, 28, 960]
    paid: list[tuple[int, int]] = []  # (steps, tessellations before paying them)
    with mock.patch.object(measure, "tessellate", wraps=measure.tessellate) as tessellated:

        def pay(steps: int) -> None:
            paid.append((steps, tessellated.call_count))

        boxes = PartBoxes(measure_boxes, evaluation.primitives, triangles)
        boxes.box("part", [0, 1], pay)
        boxes.box("part", [0, 1], pay)  # not grown: free
        boxes.box("part", [0, 1, 2], pay)
        lo, hi = boxes.box("instance", [0, 1, 2], pay)  # measured already: merged only
    assert paid == [
        (2 + MEASURE_STEPS + 40 // TRIANGLES_PER_STEP, 0),
        (1 + MEASURE_STEPS + 960 // TRIANGLES_PER_STEP, 1),
        (3, 2),
    ]
    corners = tessellate(evaluation.primitives[:3]).vertices.astype(np.float64)
    assert (lo.tolist(), hi.tolist()) == (corners.min(axis=0).tolist(), corners.max(axis=0).tolist())


def evaluation_steps(text: str) -> int:
    evaluator = _Evaluator(DEFAULT_LIMITS, {})
    evaluator.run(parse(text))
    return evaluator.steps


def test_an_anchor_read_costs_steps_for_the_triangles_it_measures():
    """`a.top` of a sphere of 16,128 triangles: one primitive, one tessellation, 504 steps of triangles
    more than reading a vector's `.x` (both are one operation)."""
    text = "let v = [0.1, 0, 0]\npart a { sphere(r=1, segments=128) }\nlet t = READ\n"
    extra = evaluation_steps(text.replace("READ", "a.top")) - evaluation_steps(text.replace("READ", "v.x"))
    assert extra == 1 + MEASURE_STEPS + 16_128 // TRIANGLES_PER_STEP == 555


@pytest.mark.parametrize("n", [10, 100])
def test_a_part_read_while_it_grows_pays_at_every_read_and_once_when_it_does_not(n):
    """The anchors-in-loops family's bad case (issue 9): `a` gains a box between reads, so every read
    measures it; `a[0]` does not grow after its first read. Step counts only: no clock."""
    loop = (
        "part a {{ box(size=[0.1, 0.1, 0.1]) }}\n"
        "for j in range({n}) {{ part a {{ box(size=[0.1, 0.1, 0.1], at={t}.right) }} }}\n"
    )
    growing = evaluation_steps(loop.format(n=n, t="a"))
    still = evaluation_steps(loop.format(n=n, t="a[0]"))  # one operation more per read: the index
    assert growing - still == n * (1 + MEASURE_STEPS) - (1 + MEASURE_STEPS) - n


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_compile_to_the_mesh_of_one_tessellation(path):
    """The early pieces change nothing: the mesh is one tessellation of every primitive, with the
    boolean results (made while evaluating, so the same either way) in place of their operands."""
    shape = compile_text(path.read_text())
    whole = complete(shape.primitives, evaluate(parse(path.read_text()), DEFAULT_LIMITS).booleans)
    assert shape.vertices.tobytes() == whole.vertices.tobytes()
    assert shape.normals.tobytes() == whole.normals.tobytes()
    assert shape.faces.tobytes() == whole.faces.tobytes()
    assert shape.primitive_id.tobytes() == whole.face_primitive.tobytes()
