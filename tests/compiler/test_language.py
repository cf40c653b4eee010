"""Every language construct, checked against NumPy reference math."""

import math

import numpy as np
import pytest

from proto3d.compiler import compile_text
from proto3d.compiler.evaluate import rotation
from proto3d.compiler.shape import Primitive
from proto3d.compiler.tessellate import tessellate


def compile_one(body: str, **kw):
    return compile_text(f"part p {{ {body} }}", **kw)


def reference(kind: str, params: dict, matrix: np.ndarray, segments: int = 32) -> np.ndarray:
    """Vertices of the primitive tessellated at the origin, moved by `matrix` with NumPy."""
    local = tessellate([Primitive(kind, params, np.eye(4), segments, 0, 0, (1, 1, 1))]).vertices.astype(
        np.float64
    )
    return local @ matrix[:3, :3].T + matrix[:3, 3]


def affine(linear=None, offset=(0, 0, 0)):
    m = np.eye(4)
    if linear is not None:
        m[:3, :3] = linear
    m[:3, 3] = offset
    return m


def rx(a):
    c, s = math.cos(math.radians(a)), math.sin(math.radians(a))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def ry(a):
    c, s = math.cos(math.radians(a)), math.sin(math.radians(a))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rz(a):
    c, s = math.cos(math.radians(a)), math.sin(math.radians(a))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


BOX = {"size": np.array([0.4, 0.2, 0.1]), "round": 0.0}


def test_rotation_is_rz_ry_rx_about_fixed_axes():
    assert np.allclose(rotation([10, 20, 30]), rz(30) @ ry(20) @ rx(10))
    # right-hand rule: +90 about Z turns +X into +Y
    assert np.allclose(rotation([0, 0, 90]) @ [1, 0, 0], [0, 1, 0])


def test_at_moves_local_origin():
    shape = compile_one("box(size=[0.4, 0.2, 0.1], at=[1, 2, 3])")
    assert np.allclose(shape.vertices, reference("box", BOX, affine(offset=[1, 2, 3])), atol=1e-6)


def test_rot_pivots_about_local_origin():
    shape = compile_one("box(size=[0.4, 0.2, 0.1], at=[1, 0, 0], rot=[10, 20, 30])")
    expected = reference("box", BOX, affine(rz(30) @ ry(20) @ rx(10), [1, 0, 0]))
    assert np.allclose(shape.vertices, expected, atol=1e-6)


@pytest.mark.parametrize(
    "align, point",
    [
        ("bottom", [0, 0, -0.05]),
        ("top", [0, 0, 0.05]),
        ("left", [-0.2, 0, 0]),
        ("right", [0.2, 0, 0]),
        ("front", [0, -0.1, 0]),
        ("back", [0, 0.1, 0]),
        ("center", [0, 0, 0]),
        ("bottom back left", [-0.2, 0.1, -0.05]),
    ],
)
def test_align_puts_named_bbox_point_at_at_and_pivots_there(align, point):
    shape = compile_one(f'box(size=[0.4, 0.2, 0.1], at=[1, 2, 3], align="{align}", rot=[0, 0, 30])')
    matrix = affine(offset=[1, 2, 3]) @ affine(rz(30)) @ affine(offset=-np.array(point))
    assert np.allclose(shape.vertices, reference("box", BOX, matrix), atol=1e-6)


def test_transform_chain_last_written_applies_first():
    shape = compile_text(
        "translate([0, 0, 1]) rotate([0, 90, 0]) part p { box(size=[0.4, 0.2, 0.1], at=[0.5, 0, 0]) }"
    )
    matrix = affine(offset=[0, 0, 1]) @ affine(ry(90)) @ affine(offset=[0.5, 0, 0])
    assert np.allclose(shape.vertices, reference("box", BOX, matrix), atol=1e-6)


def test_scale_uniform_and_per_axis():
    shape = compile_text("scale(2) part p { box(size=[0.4, 0.2, 0.1]) }")
    assert np.allclose(shape.vertices, reference("box", BOX, affine(np.eye(3) * 2)), atol=1e-6)
    shape = compile_text("scale([1, 2, 3]) part p { box(size=[0.4, 0.2, 0.1]) }")
    assert np.allclose(shape.vertices, reference("box", BOX, affine(np.diag([1, 2, 3]))), atol=1e-6)


def test_mirror_gives_only_the_mirrored_copy_with_outward_faces():
    shape = compile_text('mirror("x") part p { box(size=[0.4, 0.2, 0.1], at=[1, 0, 0]) }')
    assert len(shape.instances) == 1
    lo, hi = shape.bbox
    assert np.allclose(lo, [-1.2, -0.1, -0.05], atol=1e-6) and np.allclose(hi, [-0.8, 0.1, 0.05], atol=1e-6)
    v = shape.vertices[shape.faces].astype(np.float64)
    signed_volume = np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6
    assert signed_volume == pytest.approx(0.4 * 0.2 * 0.1, rel=1e-4)


def test_symmetric_keeps_original_first_then_mirrors():
    shape = compile_text('symmetric("xy") part p { box(size=[0.1, 0.1, 0.1], at=[1, 2, 0]) }')
    centres = [(i.bbox_min + i.bbox_max) / 2 for i in shape.instances]
    assert np.allclose(centres, [[1, 2, 0], [-1, 2, 0], [1, -2, 0], [-1, -2, 0]], atol=1e-6)


def test_radial_moves_by_r_then_turns_each_copy():
    shape = compile_text("radial(n=4, r=1, start=90) part p { box(size=[0.4, 0.2, 0.1]) }")
    assert len(shape.instances) == 4
    for k, _instance in enumerate(shape.instances):
        angle = k * 90 + 90
        matrix = affine(rz(angle)) @ affine(offset=[1, 0, 0])
        faces = shape.faces[shape.instance_id == k]
        got = shape.vertices[np.unique(faces)]
        assert np.allclose(np.sort(got, axis=0), np.sort(reference("box", BOX, matrix), axis=0), atol=1e-6)


def test_repeats_around_a_part_make_instances_and_inside_add_geometry():
    shape = compile_text(
        "for i in range(3) { part leg { box(size=[1, 1, 1], at=[i * 2, 0, 0]) } }\n"
        "part seat { for i in range(3) { box(size=[1, 1, 1], at=[i * 2, 5, 0]) } }"
    )
    legs, seat = shape.parts
    assert (legs.label, len(legs.instance_ids)) == ("leg", 3)
    assert (seat.label, len(seat.instance_ids)) == ("seat", 1)
    assert len(shape.instances[seat.instance_ids[0]].primitive_ids) == 3


def test_for_several_variables_is_a_cartesian_product_first_outermost():
    shape = compile_text(
        "for x in [0, 1], y in [10, 20, 30] { part p { box(size=[0.1, 0.1, 0.1], at=[x, y, 0]) } }"
    )
    centres = [tuple(np.round((i.bbox_min + i.bbox_max) / 2, 6)[:2]) for i in shape.instances]
    assert centres == [(0, 10), (0, 20), (0, 30), (1, 10), (1, 20), (1, 30)]


def test_range_is_pythons():
    shape = compile_text("for i in range(1, 8, 3) { part p { box(size=[0.1, 0.1, 0.1], at=[i, 0, 0]) } }")
    assert [round(float(i.bbox_min[0] + 0.05), 6) for i in shape.instances] == [1, 4, 7]


def test_if_elif_else_and_boolean_logic():
    src = """let n = 3
if n < 2 { part a { sphere(r=1) } } elif n == 3 and not (n > 5 or false) { part b { sphere(r=1) } }
else { part c { sphere(r=1) } }"""
    assert [p.label for p in compile_text(src).parts] == ["b"]


def test_same_label_twice_is_two_instances():
    shape = compile_text("part leg { box(size=[1, 1, 1]) }\npart leg { box(size=[1, 1, 1], at=[3, 0, 0]) }")
    assert len(shape.parts) == 1 and shape.parts[0].instance_ids == [0, 1]


@pytest.mark.parametrize(
    "expr, value",
    [
        ("2cm", 0.02),
        ("5mm", 0.005),
        ("1.5m", 1.5),
        ("90deg", 90),
        ("2 ** 3", 8),
        ("7 % 3", 1),
        ("-2 ** 2", -4),
        ("sin(30)", 0.5),
        ("cos(60)", 0.5),
        ("atan2(1, 1)", 45),
        ("sqrt(16)", 4),
        ("abs(-3)", 3),
        ("min(3, 1, 2)", 1),
        ("max([3, 1, 2])", 3),
        ("clamp(5, 0, 2)", 2),
        ("lerp(0, 10, 0.25)", 2.5),
        ("floor(1.7)", 1),
        ("ceil(1.2)", 2),
        ("round(2.5)", 3),
        ("len([1, 2, 3])", 3),
        ("pi", math.pi),
        ("[1, 2, 3].y", 2),
        ("([1, 2, 3] * 2 + 1)[2]", 7),
        ("([1, 2, 3] + [1, 1, 1]).z", 4),
        ("asin(1)", 90),
        ("acos(1)", 0),
        ("tan(45)", 1),
    ],
)
def test_expressions(expr, value):
    shape = compile_text(f"let v = {expr}\npart p {{ box(size=[0.1, 0.1, 0.1], at=[v, 0, 0]) }}")
    assert (shape.instances[0].bbox_min[0] + shape.instances[0].bbox_max[0]) / 2 == pytest.approx(
        value, abs=1e-6
    )


def test_let_binds_strings_lists_and_bools_and_color_strings():
    shape = compile_text(
        'let wood = "#ff0000"\nlet on = true\nlet xs = [1, 2]\n'
        "if on { part seat color wood { box(size=[1, 1, 1], at=[xs[1], 0, 0]) } }"
    )
    assert shape.parts[0].color == (1.0, 0.0, 0.0)
    assert np.allclose(shape.face_colors, [1, 0, 0])


def test_primitive_color_overrides_part_color():
    shape = compile_text(
        'part p color "blue" { box(size=[1, 1, 1]) sphere(r=1, color="#0f0", at=[3, 0, 0]) }'
    )
    assert np.allclose(shape.face_colors[shape.primitive_id == 0], [0, 0, 1])
    assert np.allclose(shape.face_colors[shape.primitive_id == 1], [0, 1, 0])


def test_anchors_are_world_bbox_points():
    shape = compile_text("""part seat { box(size=[0.4, 0.2, 0.1], at=[1, 2, 0.5]) }
part a { box(size=[0.01, 0.01, 0.01], at=seat.top) }
part b { box(size=[0.01, 0.01, 0.01], at=seat.back + [0, 0, seat.size.z]) }
part c { box(size=[0.01, 0.01, 0.01], at=seat.min) }""")
    centre = lambda i: (shape.instances[i].bbox_min + shape.instances[i].bbox_max) / 2  # noqa: E731
    assert np.allclose(centre(1), [1, 2, 0.55], atol=1e-6)
    assert np.allclose(centre(2), [1, 2.1, 0.6], atol=1e-6)
    assert np.allclose(centre(3), [0.8, 1.9, 0.45], atol=1e-6)


def test_instance_anchor_and_union_of_instances():
    shape = compile_text("""for x in [0, 1, 2] { part leg { box(size=[0.1, 0.1, 1], at=[x, 0, 0.5]) } }
part a { box(size=[0.01, 0.01, 0.01], at=leg[2].top) }
part b { box(size=[0.01, 0.01, 0.01], at=leg.center) }""")
    assert np.allclose((shape.instances[3].bbox_min + shape.instances[3].bbox_max) / 2, [2, 0, 1], atol=1e-6)
    assert np.allclose(
        (shape.instances[4].bbox_min + shape.instances[4].bbox_max) / 2, [1, 0, 0.5], atol=1e-6
    )


def test_rod_runs_between_two_points():
    shape = compile_one("rod(from=[0, 0, 0], to=[1, 1, 1], r=0.01, segments=8)")
    v = shape.vertices.astype(np.float64)
    axis = np.array([1, 1, 1]) / math.sqrt(3)
    along = v @ axis
    assert along.min() == pytest.approx(0, abs=1e-6) and along.max() == pytest.approx(math.sqrt(3), abs=1e-5)
    radial = np.linalg.norm(v - np.outer(along, axis), axis=1)
    assert np.all(radial <= 0.01 + 1e-6)


def test_params_defaults_overrides_and_integers():
    src = "param n = 3 in [2, 6]\nparam h = 0.5 in [0.1, 1.0]\nfor i in range(n) { part p { box(size=[0.1, 0.1, h], at=[i, 0, 0]) } }"
    shape = compile_text(src)
    assert len(shape.instances) == 3 and shape.params["n"]["integer"] and shape.params["n"]["value"] == 3
    shape = compile_text(src, params={"n": 5, "h": 0.2})
    assert len(shape.instances) == 5 and shape.params["h"]["value"] == 0.2
    assert shape.instances[0].bbox_max[2] == pytest.approx(0.1, abs=1e-6)


def test_every_primitive_kind_compiles_and_is_labelled():
    src = """part a {
  box(size=[0.1, 0.1, 0.1], bevel=0.01) sphere(r=0.1) ellipsoid(size=[0.1, 0.2, 0.3])
  cylinder(r=0.1, h=0.2) cylinder(r1=0.1, r2=0.05, h=0.2) frustum(r1=0.1, r2=0.05, h=0.2) cone(r=0.1, h=0.2)
  capsule(r=0.05, h=0.3) torus(R=0.2, r=0.02, angle=180) tube(r=0.1, thickness=0.01, h=0.2) wedge(size=[0.1, 0.2, 0.3])
  lathe(profile=[[0, 0], [0.1, 0], [0.05, 0.2], [0, 0.2]]) extrude(polygon=[[0, 0], [1, 0], [0.5, 0.2], [0, 1]], h=0.1)
  sweep(path=[[0, 0, 0], [0, 0, 1], [1, 0, 1]], r=0.05, smooth=true) rod(from=[0, 0, 0], to=[0, 0, 1], r=0.01)
}"""
    shape = compile_text(src)
    kinds = [p.kind for p in shape.primitives]
    assert len(set(kinds)) == 14
    assert set(np.unique(shape.primitive_id)) == set(range(15))
    assert np.all(shape.part_id == 0) and np.all(shape.instance_id == 0)


def test_primitive_table_keeps_source_spans():
    shape = compile_text("part a {\n  box(size=[1, 1, 1])\n\n  sphere(r=1)\n}")
    assert [p.span.line for p in shape.primitives] == [2, 4]
    assert shape.instances[0].span.line == 1


def test_comments_both_styles_and_newlines_inside_brackets():
    shape = compile_text("# a\n// b\npart a { box(size=[1,\n 1, # inside\n 1]) }  // end")
    assert len(shape.faces) == 12
