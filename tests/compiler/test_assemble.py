"""`assemble` and `lint` against plain NumPy reference maths on compiled examples.

Both run in fused Numba passes over the faces; these tests pin what those passes must equal:
per-face labels and colours gathered from the primitive table, instance boxes over the
corners of each instance's faces, and warnings that do not depend on the order of the faces.
"""

from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from proto3d.compiler import compile_text
from proto3d.compiler.lints import lint

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["chair", "bicycle", "wine_glass", "lamp", "teapot"]

# Parts that float, overlap, hide and poke through the ground: every contact path is taken.
MESSY = """shape "messy"
part floor { box(size=[2, 2, 0.1], at=[0, 0, 0], align="bottom") }
part ball { sphere(r=0.3, at=[0, 0, 0.4], segments=48) }
part inner { sphere(r=0.1, at=[0, 0, 0.4]) }
part cup { lathe(profile=[[0.2, 0], [0.25, 0.3], [0.22, 0.3], [0.17, 0.02], [0, 0.02]], at=[0.7, 0.7, 0.1]) }
part drop { sphere(r=0.05, at=[0.7, 0.7, 0.2]) }
part bar { rod(from=[-0.9, -0.9, 0.15], to=[0.9, -0.9, 0.15], r=0.04) }
for i in range(3) {
    part block { box(size=[0.1, 0.1, 0.1], at=[-0.6 + 0.3 * i, 0.6, 0.1 + 0.13 * i], align="bottom") }
}
part below { cylinder(r=0.05, h=0.2, at=[0.8, -0.5, -0.05], align="bottom") }
"""


@cache
def shapes():
    out = [compile_text((ROOT / "examples" / f"{name}.pdsl").read_text()) for name in NAMES]
    return out + [compile_text(MESSY)]


@pytest.fixture(scope="module", params=range(len(NAMES) + 1), ids=NAMES + ["messy"])
def shape(request):
    return shapes()[request.param]


def test_face_labels_and_colours_come_from_the_primitive_table(shape):
    prim = shape.primitive_id
    assert prim.dtype == np.int32 and np.all(np.diff(prim) >= 0)
    assert np.array_equal(shape.part_id, np.array([p.part_id for p in shape.primitives], np.int32)[prim])
    assert np.array_equal(
        shape.instance_id, np.array([p.instance_id for p in shape.primitives], np.int32)[prim]
    )
    colours = np.array([p.color for p in shape.primitives], np.float32)
    assert shape.face_colors.dtype == np.float32 and np.array_equal(shape.face_colors, colours[prim])
    assert shape.part_id.dtype == shape.instance_id.dtype == np.int32


def test_instance_boxes_are_the_extent_of_their_faces_corners(shape):
    for i, instance in enumerate(shape.instances):
        corners = shape.vertices[shape.faces[shape.instance_id == i].ravel()].astype(np.float64)
        lo, hi = (corners.min(axis=0), corners.max(axis=0)) if len(corners) else (np.zeros(3), np.zeros(3))
        assert instance.bbox_min.dtype == np.float64 and np.array_equal(instance.bbox_min, lo)
        assert np.array_equal(instance.bbox_max, hi)


def test_warnings_do_not_depend_on_the_order_of_the_faces(shape):
    order = np.random.default_rng(7).permutation(len(shape.faces))
    shuffled = replace(
        shape,
        faces=shape.faces[order],
        face_colors=shape.face_colors[order],
        part_id=shape.part_id[order],
        instance_id=shape.instance_id[order],
        primitive_id=shape.primitive_id[order],
    )
    assert lint(shuffled) == lint(shape)


def test_the_messy_shape_reports_each_kind_of_contact_problem():
    found = [(d.code, d.message) for d in lint(compile_text(MESSY))]
    assert found == [
        ("W101", "part `drop` floats 0.030 m above `cup`"),
        ("W101", "part `block.1` floats 0.130 m above `floor`"),
        ("W101", "part `block.2` floats 0.202 m right of `block.1`"),
        (
            "W103",
            "the shape does not stand on the ground: its lowest point (in `below`) is at z = -0.050 m, "
            "0.050 m below z = 0",
        ),
        ("W104", "part `inner` is entirely inside `ball`: it cannot be seen from any view"),
    ]
