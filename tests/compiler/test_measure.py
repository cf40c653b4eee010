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
from proto3d.compiler.evaluate import evaluate
from proto3d.compiler.measure import EarlyTessellation, complete, measure_boxes
from proto3d.compiler.tessellate import tessellate
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
