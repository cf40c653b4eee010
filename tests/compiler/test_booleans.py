"""Boolean blocks and extrude holes: volumes against manifold3d's and trimesh's own booleans on the
same solids, labels kept through the cut, closed outward meshes, anchors, errors and limits."""

import math

import manifold3d
import numpy as np
import pytest
import trimesh
from hypothesis import given
from hypothesis import strategies as st

from proto3d.compiler import Limits, compile_text
from proto3d.compiler.booleans import (
    BooleanNode,
    _apart,
    _owners,
    _places,
    _split_runs,
    _world_boxes,
    closed_solid,
    solve,
)
from proto3d.compiler.build import assemble
from proto3d.compiler.evaluate import evaluate
from proto3d.compiler.measure import EarlyTessellation
from proto3d.compiler.tessellate import local_shapes, tessellate
from proto3d.errors import Proto3dError, Span
from proto3d.grammar import parse
from tests.helpers.strategies import compose, fast, homogeneous, primitive_specs, wrappers

PLATE = """shape "plate"
part plate {
    difference {
        box(size=[1, 0.6, 0.1], at=[0, 0, 0.05])
        for x in [-0.3, 0, 0.3] {
            cylinder(r=0.1, h=0.3, at=[x, 0, 0.05], color="red")
        }
    }
}
"""


def spend(node, triangles):
    pass


def closed_mesh(shape, faces=None) -> trimesh.Trimesh:
    mesh = trimesh.Trimesh(shape.vertices, shape.faces if faces is None else faces, process=False)
    mesh.merge_vertices()
    return mesh


def closed_and_oriented(shape) -> bool:
    """Every directed edge (vertices merged by position) is matched by as many going the other way:
    a closed, consistently wound surface, allowed to touch itself along an edge (two solids sharing
    an edge line, which trimesh's `is_watertight` calls open)."""
    mesh = closed_mesh(shape)
    directed = mesh.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    forward, counts = np.unique(directed, axis=0, return_counts=True)
    backward = dict(zip(map(tuple, forward[:, ::-1].tolist()), counts.tolist()))
    return all(
        backward.get(tuple(edge), 0) == count for edge, count in zip(forward.tolist(), counts.tolist())
    )


def operand_meshes(shape) -> list[trimesh.Trimesh]:
    """Each primitive's own closed tessellation, as the boolean read it."""
    out = []
    for p in shape.primitives:
        t = tessellate([p])
        mesh = trimesh.Trimesh(t.vertices, t.faces, process=False)
        mesh.merge_vertices()
        out.append(mesh)
    return out


def test_difference_volume_is_manifold3d_own_and_trimesh_manifold_engine():
    shape = compile_text(PLATE)
    ours = closed_mesh(shape)
    assert ours.is_watertight and ours.is_winding_consistent
    # manifold3d's own primitives, the same solids (a 32-gon prism has the same volume at any phase)
    plate = manifold3d.Manifold.cube([1, 0.6, 0.1], True).translate([0, 0, 0.05])
    cutters = [
        manifold3d.Manifold.cylinder(0.3, 0.1, 0.1, 32, True).translate([x, 0, 0.05]) for x in (-0.3, 0, 0.3)
    ]
    direct = manifold3d.Manifold.batch_boolean([plate, *cutters], manifold3d.OpType.Subtract)
    assert ours.volume == pytest.approx(direct.volume(), rel=1e-6)
    by_trimesh = trimesh.boolean.difference(operand_meshes(shape), engine="manifold")
    assert ours.volume == pytest.approx(by_trimesh.volume, rel=1e-6)
    prism = 32 / 2 * 0.1**2 * math.sin(2 * math.pi / 32) * 0.1
    assert ours.volume == pytest.approx(0.06 - 3 * prism, rel=1e-6)


@pytest.mark.parametrize(
    "op, engine_op",
    [("union", trimesh.boolean.union), ("intersection", trimesh.boolean.intersection)],
)
def test_union_and_intersection_volumes_match_trimesh_manifold_engine(op, engine_op):
    shape = compile_text(
        f'shape "two"\npart lens {{ {op} {{ sphere(r=0.1, at=[0, 0, -0.06]) sphere(r=0.1, at=[0, 0, 0.06]) }} }}'
    )
    ours = closed_mesh(shape)
    assert ours.is_watertight and ours.is_winding_consistent
    assert ours.volume == pytest.approx(engine_op(operand_meshes(shape), engine="manifold").volume, rel=1e-6)
    cap = math.pi * 0.04**2 * (3 * 0.1 - 0.04) / 3  # two spherical caps of height 0.04 make the lens
    sphere = 4 / 3 * math.pi * 0.1**3
    expected = 2 * cap if op == "intersection" else 2 * sphere - 2 * cap
    assert ours.volume == pytest.approx(expected, rel=0.04)  # the facets lose 1-3%


def test_every_result_face_keeps_an_operand_and_cut_faces_are_the_cutters():
    shape = compile_text(PLATE)
    assert set(shape.primitive_id.tolist()) == {0, 1, 2, 3}
    assert set(shape.part_id.tolist()) == {0} and set(shape.instance_id.tolist()) == {0}
    centres = shape.vertices[shape.faces].mean(axis=1)
    for k, x in enumerate([-0.3, 0, 0.3], start=1):
        walls = shape.primitive_id == k
        radius = np.hypot(centres[walls, 0] - x, centres[walls, 1])
        assert walls.sum() == 32 * 2  # the hole's wall: the cylinder's side between the plate's faces
        assert np.all(radius < 0.1) and np.all(radius > 0.09)
        assert np.all((centres[walls, 2] > 0) & (centres[walls, 2] < 0.1))
        assert np.allclose(shape.face_colors[walls], (1.0, 0.0, 0.0))  # the cutter's colour
        assert shape.primitives[k].span.line == 6 and shape.primitives[k].operand
    plate = shape.primitive_id == 0
    assert np.allclose(shape.face_colors[plate], shape.parts[0].color)


def test_normals_are_unit_and_point_out_of_the_result_hole_walls_into_the_hole():
    shape = compile_text(PLATE)
    corners = shape.vertices[shape.faces].astype(np.float64)
    face_normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    vertex_normal = shape.normals[shape.faces].astype(np.float64).mean(axis=1)
    assert np.allclose(np.linalg.norm(shape.normals, axis=1), 1, atol=1e-5)
    assert np.all(np.einsum("ij,ij->i", face_normal, vertex_normal) > 0)
    walls = shape.primitive_id == 2  # the middle hole, around x = 0
    outward = -shape.vertices[shape.faces[walls]].mean(axis=1)[:, :2]  # towards the hole's axis
    assert np.all(np.einsum("ij,ij->i", vertex_normal[walls, :2], outward) > 0)


def test_nesting_transforms_for_and_if_inside_a_boolean():
    nested = compile_text(
        """part p { difference {
            box(size=[1, 1, 1])
            union { translate([0.5, 0, 0]) sphere(r=0.2) if true { sphere(r=0.2, at=[-0.5, 0, 0]) } }
        } }"""
    )
    flat = compile_text(
        "part p { difference { box(size=[1, 1, 1]) sphere(r=0.2, at=[0.5, 0, 0]) sphere(r=0.2, at=[-0.5, 0, 0]) } }"
    )
    assert closed_mesh(nested).volume == pytest.approx(closed_mesh(flat).volume, rel=1e-9)
    inner = compile_text(
        "part p { difference { box(size=[1, 1, 1]) difference { box(size=[2, 2, 0.2]) cylinder(r=0.2, h=1) } } }"
    )  # the slab minus a post: the cube loses the slab except where the post is
    slab = manifold3d.Manifold.cube([2, 2, 0.2], True) - manifold3d.Manifold.cylinder(1, 0.2, 0.2, 32, True)
    expected = manifold3d.Manifold.cube([1, 1, 1], True) - slab
    assert closed_mesh(inner).volume == pytest.approx(expected.volume(), rel=1e-6)


def test_anchors_below_a_boolean_read_the_result_box():
    shape = compile_text(
        """part lens { intersection { sphere(r=0.1, at=[0, 0, -0.06]) sphere(r=0.1, at=[0, 0, 0.06]) } }
        part cap { box(size=[0.01, 0.01, 0.01], at=lens.top, align="bottom") }
        part half { difference { box(size=[1, 1, 1]) box(size=[1, 1, 1], at=[0, 0, 0.75]) } }
        part lid { box(size=[0.1, 0.1, 0.1], at=half.top, align="bottom") }"""
    )
    reads = {r.part: r.value for r in shape.anchor_reads}
    assert reads["lens"] == pytest.approx([0, 0, 0.04], abs=1e-6)
    assert reads["half"] == pytest.approx([0, 0, 0.25], abs=1e-6)
    lens = shape.instances[0]
    assert lens.bbox_max[2] == pytest.approx(0.04, abs=1e-6) and lens.bbox_min[2] == pytest.approx(
        -0.04, abs=1e-6
    )


def test_the_mesh_joined_from_early_pieces_is_the_mesh_tessellated_at_once():
    program = parse(
        PLATE
        + "part peg { box(size=[0.1, 0.1, 0.1], at=plate.top, align='bottom') }\n"
        + "part rest { difference { box(size=[0.2, 0.2, 0.2], at=peg.top) sphere(r=0.05, at=peg.top) } }\n"
    )
    early = EarlyTessellation()
    joined = assemble(evaluate(program, Limits(), None, early.measure), early)
    alone = assemble(evaluate(program, Limits()))
    for field in ("vertices", "normals", "faces", "primitive_id", "part_id", "instance_id"):
        assert np.array_equal(getattr(joined, field), getattr(alone, field)), field


def test_an_empty_result_leaves_the_part_without_geometry():
    text = "part p { intersection { sphere(r=0.1) sphere(r=0.1, at=[1, 0, 0]) } }\npart q { box(size=[1, 1, 1]) }"
    shape = compile_text(text)
    assert set(shape.part_id.tolist()) == {1}
    with pytest.raises(Proto3dError) as raised:
        compile_text(text + "\npart r { box(size=[1, 1, 1], at=p.top) }")
    assert [(d.code, d.line) for d in raised.value.diagnostics] == [("E209", 3)]


def test_boolean_outside_a_part_is_positioned():
    with pytest.raises(Proto3dError) as raised:
        compile_text("part a { box(size=[1, 1, 1]) }\nfor i in [1] {\n    intersection { sphere(r=1) }\n}")
    found = raised.value.diagnostics[0]
    assert (found.code, found.span) == ("E140", Span(3, 5, 3, 17))


def test_operand_and_result_triangles_count_against_the_limit():
    shape = compile_text(PLATE)
    operands = sum(len(tessellate([p]).faces) for p in shape.primitives)
    enough = Limits(max_triangles=operands + len(shape.faces))
    assert len(compile_text(PLATE, limits=enough).faces) == len(shape.faces)
    with pytest.raises(Proto3dError) as raised:
        compile_text(PLATE, limits=Limits(max_triangles=operands + len(shape.faces) - 1))
    found = raised.value.diagnostics[0]
    assert (found.code, found.line, found.column) == ("E302", 3, 5)
    assert "result of this `difference`" in found.message


def test_a_boolean_pays_steps_for_its_triangles():
    many = "part p { difference { box(size=[1, 1, 0.1]) for i in range(40) { sphere(r=0.01, at=[i * 0.02 - 0.4, 0, 0.05], segments=64) } } }"
    with pytest.raises(Proto3dError) as raised:
        compile_text(many, limits=Limits(max_steps=5_000))
    found = raised.value.diagnostics[0]
    assert (found.code, found.line, found.column) == ("E304", 1, 10)
    assert "its operands have 158732" in found.message and "segments" in found.hint  # 12 + 40 · 3,968


def test_each_step_of_a_block_is_afforded_before_it_runs_and_paid_for_after():
    """The plate's three holes touch no other and are composed; the one step is the cut, asked for
    as many triangles as its inputs (nothing has grown yet) and paid what it made, the result."""
    shape = compile_text(PLATE)
    primitives = evaluate(parse(PLATE.replace("difference {", "{")), Limits()).primitives
    asked, paid = [], []
    pieces, _ = solve(
        BooleanNode("difference", Span(3, 5), [0, 1, 2, 3]),
        primitives,
        0,
        lambda node, n: asked.append((node.span.line, n)),
        lambda node, n: paid.append((node.span.line, n)),
    )
    assert asked == [(3, 12 + 3 * 4 * 32)]  # the box, three 32-gon prisms (two triangles a side, a fan a cap)
    assert paid == [(3, len(pieces.faces))] and len(pieces.faces) == len(shape.faces)


def test_a_block_whose_steps_keep_growing_stops_before_the_step_that_would_take_seconds():
    """Nine copies of a torus that crosses itself, each 1 µm from the last: every step of the
    intersection about triples the triangles (1,500, 5,000, 15,000, …), and the eighth would take
    manifold3d seconds though the result is small. The block stops at its keyword instead."""
    text = """part p {
    intersection {
        for i in range(9) { torus(R=[5e-324, 0.27], r=0.01, angle=342, start=-113, segments=21, rot=[-35, -128, 159], at=[i * 1e-6, 0, 0.3]) }
    }
}"""
    with pytest.raises(Proto3dError) as raised:
        compile_text(text)
    found = raised.value.diagnostics[0]
    assert (found.code, found.line, found.column) == ("E304", 2, 5)
    assert "this `intersection` costs 10 per triangle its steps make" in found.message
    assert "its next step may make" in found.message and "overlap fewer operands" in found.hint


def test_a_union_of_many_overlapping_solids_pays_for_what_its_steps_make():
    """A thousand rotated boxes at one place: their union's result has 140,000 triangles and its
    steps make millions on the way (37 s of manifold3d's time when it ran as one batch)."""
    text = "part p { union { for i in range(1000) { box(size=[0.2, 0.2, 0.2], rot=[i * 0.3, i * 0.6, 0], at=[0, 0, 0.1]) } } }"
    with pytest.raises(Proto3dError) as raised:
        compile_text(text)
    found = raised.value.diagnostics[0]
    assert (found.code, found.line, found.column) == ("E304", 1, 10)
    assert "this `union`" in found.message


def test_exact_repeats_of_an_operand_are_dropped_and_own_no_face():
    """The fuzzer's worst input was nine identical copies of a torus crossing itself, cut by a sweep
    (8.4 s when manifold3d was given all nine). The same solid at the same place is one operand."""
    torus = "torus(R=[0.05, 0.27], r=0.01, angle=342, start=-113, segments=21, rot=[-35, -128, 159])"
    sweep = "sweep([[-0.12, 0.14, 0.14], [0.04, 0.2, 0.12], [0.08, 0.14, 0], [0.12, 0.14, -0.18], [0.1, 0.04, -0.38]], 2cm)"
    lens = "sphere(r=0.1, at=[0, 0, 0.06])"
    for op, repeated, once in (
        ("intersection", f"for i in range(9) {{ {torus} }} {sweep}", f"{torus} {sweep}"),
        (
            "union",
            f"{lens} {lens} sphere(r=0.1, at=[0, 0, 0.1]) {lens}",
            f"{lens} sphere(r=0.1, at=[0, 0, 0.1])",
        ),
        ("difference", f"box(size=[1, 1, 1]) {lens} {lens}", f"box(size=[1, 1, 1]) {lens}"),
    ):
        many = compile_text(f"part p {{ {op} {{ {repeated} }} }}")
        one = compile_text(f"part p {{ {op} {{ {once} }} }}")
        assert len(one.faces) > 100
        assert np.array_equal(many.vertices, one.vertices) and np.array_equal(many.faces, one.faces)
        kept = {"intersection": [0, 9], "union": [0, 2], "difference": [0, 1]}[op]  # the first copies
        assert np.array_equal(many.primitive_id, np.array(kept)[one.primitive_id])
    # a cutter that is the body itself is not a repeat: it cuts everything away
    assert len(compile_text(f"part p {{ difference {{ {lens} {lens} }} }}").faces) == 0


def test_an_empty_block_is_an_empty_operand():
    """Found by the fuzz tests: a nested block with no primitive in it (a `let` alone)."""
    lens = "sphere(r=0.1, at=[0, 0, 0.06])"
    for op, expected in (("union", lens), ("difference", lens), ("intersection", "")):
        shape = compile_text(f"part p {{ {op} {{ {lens} union {{ let v = 1 }} }} }}")
        alone = compile_text(f"part p {{ {expected} }}") if expected else None
        assert len(shape.faces) == (len(alone.faces) if alone else 0)
    assert len(compile_text(f"part p {{ {lens} difference {{ union {{ let v = 1 }} }} }}").faces) == len(
        compile_text(f"part p {{ {lens} }}").faces
    )


def test_the_box_around_each_operand_holds_its_vertices_and_is_exact_unrotated():
    text = """part p { union {
        box(size=[0.3, 0.1, 0.2], rot=[10, 20, 30])
        sphere(r=0.1, at=[0.2, 0, 0.1])
        torus(R=0.1, r=0.02, rot=[90, 0, 0], at=[0, 0.3, 0])
        scale([1, 2, 0.5]) cylinder(r=0.05, h=0.2, rot=[0, 45, 0])
        box(size=[0.2, 0.4, 0.6], at=[1, 2, 3])
    } }"""
    primitives = evaluate(parse(text.replace("union {", "{")), Limits()).primitives
    local, local_shape = local_shapes(primitives)
    boxes = np.array(_world_boxes(local, local_shape, np.array([p.matrix[:3] for p in primitives])))
    for p, box in zip(primitives, boxes):
        world = tessellate([p]).vertices.astype(np.float64)
        assert np.all(world >= box[:3] - 1e-6) and np.all(world <= box[3:] + 1e-6)
    assert boxes[-1] == pytest.approx([0.9, 1.8, 2.7, 1.1, 2.2, 3.3])


@given(st.lists(st.tuples(*[st.integers(0, 9)] * 6), min_size=1, max_size=30), st.integers(0, 5))
def test_groups_of_boxes_that_do_not_touch_are_made_greedily_in_order(raw, first):
    boxes = [(*np.minimum(b[:3], b[3:]), *np.maximum(b[:3], b[3:])) for b in raw]

    def touch(i, j):
        return all(boxes[i][a] <= boxes[j][a + 3] and boxes[j][a] <= boxes[i][a + 3] for a in range(3))

    groups = _apart(boxes, first)
    assert sorted(k for group in groups for k in group) == list(range(first, first + len(boxes)))
    expected: list[list[int]] = []
    for k in range(len(boxes)):  # each box joins the first group it touches no box of
        g = next(
            (g for g, group in enumerate(expected) if not any(touch(k, j) for j in group)), len(expected)
        )
        expected[g:g] = [] if g < len(expected) else [[]]
        expected[g].append(k)
    assert groups == [[first + k for k in group] for group in expected]


def test_a_hole_through_an_extrusion_is_closed_outward_and_has_the_area_left():
    shape = compile_text(
        """part frame { extrude(polygon=[[0, 0], [1, 0], [1, 1], [0, 1]], h=0.1,
            holes=[[[0.2, 0.2], [0.2, 0.4], [0.4, 0.4], [0.4, 0.2]], [[0.6, 0.6], [0.8, 0.6], [0.7, 0.8]]]) }"""
    )
    mesh = closed_mesh(shape)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume == pytest.approx((1 - 0.04 - 0.02) * 0.1, rel=1e-6)
    top = shape.faces[np.all(shape.vertices[shape.faces][:, :, 2] == np.float32(0.1), axis=1)]
    assert trimesh.Trimesh(shape.vertices, top, process=False).area == pytest.approx(0.94, rel=1e-6)
    centres = shape.vertices[shape.faces].mean(axis=1)
    wall = (np.abs(centres[:, 0] - 0.2) < 1e-6) & (centres[:, 1] > 0.2) & (centres[:, 1] < 0.4)
    assert wall.sum() == 2 and np.allclose(mesh.face_normals[wall], [1, 0, 0])  # into the hole


def test_holes_are_the_same_whichever_way_they_are_wound_and_work_below_transforms():
    square = "[[0.2, 0.2], [0.4, 0.2], [0.4, 0.4], [0.2, 0.4]]"
    reversed_square = "[[0.2, 0.4], [0.4, 0.4], [0.4, 0.2], [0.2, 0.2]]"
    outline = "polygon=[[0, 0], [1, 0], [1, 1], [0, 1]], h=0.1"
    volumes = []
    for hole in (square, reversed_square):
        shape = compile_text(
            f"part p {{ rotate([90, 0, 0]) extrude({outline}, holes=[{hole}], rot=[0, 0, 30]) }}"
        )
        mesh = closed_mesh(shape)
        assert mesh.is_watertight and mesh.is_winding_consistent
        volumes.append(mesh.volume)
    assert volumes == pytest.approx([0.096, 0.096], rel=1e-6)


@fast(15)
@given(
    op=st.sampled_from(["difference", "union", "intersection"]),
    specs=st.lists(primitive_specs(), min_size=2, max_size=3),
    chain=st.lists(wrappers(repeats=False), min_size=1, max_size=2),
)
def test_a_boolean_under_transforms_is_the_same_solid_moved(op, specs, chain):
    """Any primitives, any boolean: the result is closed, every face keeps an operand's ids, and
    wrapping it in transforms scales its volume by the transforms' determinant."""
    block = f"{op} {{ " + " ".join(spec.text() for spec in specs) + " }"
    plain = compile_text(f"part p {{ {block} }}")
    moved = compile_text(f"part p {{ {' '.join(w.text for w in chain)} {{ {block} }} }}")
    (matrix,) = compose(chain)
    for shape in (plain, moved):
        assert set(shape.primitive_id.tolist()) <= set(range(len(specs)))
        assert set(shape.part_id.tolist()) <= {0} and all(p.operand for p in shape.primitives)
        assert closed_and_oriented(shape)
    volume = closed_mesh(plain).volume if len(plain.faces) else 0.0
    expected = abs(np.linalg.det(matrix[:3, :3])) * volume
    assert (closed_mesh(moved).volume if len(moved.faces) else 0.0) == pytest.approx(
        expected, rel=1e-4, abs=1e-9
    )


def test_a_lone_operand_at_the_origin_comes_through_unchanged():
    """manifold3d gives no run transforms when every one is the identity (found by the fuzzer)."""
    nested = compile_text("part p { intersection { intersection { ellipsoid(size=[0.46, 0.41, 2]) } } }")
    plain = compile_text("part p { ellipsoid(size=[0.46, 0.41, 2]) }")
    assert closed_mesh(nested).volume == pytest.approx(closed_mesh(plain).volume, rel=1e-6)
    assert set(nested.primitive_id.tolist()) == {0}


def test_a_def_that_cuts_draws_inside_parts_and_its_named_pieces_read_the_result():
    frame = """def frame(w, h) {
    difference {
        box(size=[w, 0.02, h], align="bottom")
        box(size=[w - 0.1, 0.1, h - 0.1], at=[0, 0, 0.05], align="bottom")
    }
}
"""
    shape = compile_text(
        frame + "part wall { frame(1, 1) as window  frame(2, 1, at=[2, 0, 0]) }\n"
        "part sign { box(size=[0.1, 0.1, 0.1], at=wall.window.top, align='bottom') }"
    )
    assert [r.value.tolist() for r in shape.anchor_reads] == [[0.0, 0.0, 1.0]]
    frame_volume = 0.02 * (1 - 0.9 * 0.9) + 0.02 * (2 - 1.9 * 0.9)
    assert closed_mesh(shape, shape.faces[shape.part_id == 0]).volume == pytest.approx(frame_volume, rel=1e-5)
    with pytest.raises(Proto3dError) as raised:
        compile_text(frame + "frame(1, 1)")
    assert [(d.code, d.line) for d in raised.value.diagnostics] == [("E110", 7)]


def test_runs_go_to_the_copy_their_transform_names_the_first_of_equal_copies_or_the_nearest():
    """manifold3d gives back each copy's matrix in float32, exactly: a run goes to the first copy of
    its solid with that matrix; a transform no copy has exactly (never seen) goes to the nearest."""
    moved = [homogeneous(offset=[x, 0.0, 0.0])[:3] for x in (0.0, 0.1, 0.1, 0.0)]
    matrices = np.array(moved)  # copies 1 and 2 are equal; 3 is another solid at 0's place
    shape_of = [0, 0, 0, 1]
    as_given = matrices.transpose(0, 2, 1).astype(np.float32)  # run transforms are 4 x 3 float32
    off = as_given[0].copy()
    off[3, 0] = np.float32(0.1) + np.float32(1e-6)  # nearer copy 1 than copy 0
    signed_zeros = np.where(as_given[0] == 0, np.float32(-0.0), as_given[0])  # -0.0 is 0.0
    transforms = np.array([as_given[2], as_given[0], as_given[3], off, signed_zeros])
    owners = _owners([0, 0, 1, 0, 0], transforms, shape_of, _places(matrices), matrices)
    assert owners.tolist() == [1, 0, 3, 1, 0]


def test_each_operand_piece_box_is_the_box_of_its_vertices_and_none_when_nothing_is_left():
    text = """part p {
    difference {
        box(size=[1, 1, 1])
        sphere(r=0.3, at=[0.5, 0.5, 0.5])
        sphere(r=0.1, at=[5, 0, 0])
    }
}
"""
    primitives = evaluate(parse(text.replace("difference {", "{")), Limits()).primitives
    pieces, boxes = solve(BooleanNode("difference", Span(), [0, 1, 2]), primitives, 0, spend, spend)
    assert boxes[2] is None and pieces.vertex_start[3] == pieces.vertex_start[2]
    for k in (0, 1):
        vertices = pieces.vertices[pieces.vertex_start[k] : pieces.vertex_start[k + 1]].astype(np.float64)
        assert np.array_equal(boxes[k][0], vertices.min(axis=0)) and np.array_equal(
            boxes[k][1], vertices.max(axis=0)
        )
    assert boxes[0][1] == pytest.approx([0.5, 0.5, 0.5]) and boxes[1][0] == pytest.approx(
        [0.2, 0.2, 0.2], abs=1e-6
    )


def test_the_mapping_kernel_is_compiled_once_whatever_arrays_manifold3d_gives():
    """manifold3d's arrays come writable or not (an empty result, a lone operand): each kind would
    be a compile of its own, seconds on a fresh install."""
    for text in (
        PLATE,
        "part p { intersection { sphere(r=0.1) sphere(r=0.1, at=[1, 0, 0]) } }\npart q { box(size=[1, 1, 1]) }",
        "part p { intersection { intersection { ellipsoid(size=[0.46, 0.41, 2]) } } }",
        "part p { intersection { capsule(r=0.06, h=0.3) extrude(polygon=[[0, 0], [1, 0], [0, 1]], h=1) } }",
    ):
        compile_text(text)
    assert len(_split_runs.signatures) == 1


MIXED = """part p {
    difference {
        box(size=[1, 0.8, 0.4], at=[0, 0, 0.2])
        rotate([0, 0, 30]) { box(size=[0.3, 0.3, 1], at=[0.3, 0, 0.2]) }
        cylinder(r=0.15, h=1, at=[-0.25, 0, 0.2])
        scale([1, -1, 1]) { extrude(polygon=[[0, 0], [0.2, 0], [0, 0.2]], h=1, at=[0, 0.2, -0.2]) }
    }
}
part q { difference { sphere(r=0.3) box(size=[0.3, 0.3, 0.3], at=[0.15, 0.15, 0.15]) } }
"""


def _carrying_normals(mesh, operand):
    """What every operand did before flat ones entered with positions only: normals as properties."""
    properties = np.concatenate((mesh.vertices, mesh.normals), axis=1, dtype=np.float32)
    solid = manifold3d.Mesh(vert_properties=properties, tri_verts=mesh.faces)
    solid.merge()
    return manifold3d.Manifold(solid).as_original(), None


def test_flat_operands_enter_with_positions_only_and_curved_ones_with_their_normals():
    box, cylinder = evaluate(parse("part p { box(size=[1, 2, 3]) cylinder(r=1, h=1) }"), Limits()).primitives
    flat, normals = closed_solid(tessellate([box]), box)
    curved, none = closed_solid(tessellate([cylinder]), cylinder)
    assert flat.num_prop() == 0 and curved.num_prop() == 3 and none is None
    mesh = flat.to_mesh()  # each face id names a triangle of the solid, whose winding is its normal
    corners = np.asarray(mesh.vert_properties, dtype=np.float64)[np.asarray(mesh.tri_verts)]
    winding = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    named = normals[np.asarray(mesh.face_id, dtype=np.int64)]
    assert np.array_equal(named, winding / np.linalg.norm(winding, axis=1, keepdims=True))


@pytest.mark.parametrize(
    "text", [PLATE, MIXED, "part p { union { box(size=[1, 1, 1]) box(size=[1, 1, 1], at=[0.5, 0.5, 0.5]) } }"]
)
def test_normals_by_face_id_are_the_normals_carried_as_properties_bit_for_bit(text, monkeypatch):
    shape = compile_text(text)
    monkeypatch.setattr("proto3d.compiler.booleans.closed_solid", _carrying_normals)
    carried = compile_text(text)
    for name in ("vertices", "normals", "faces", "primitive_id", "part_id"):
        assert np.array_equal(getattr(shape, name), getattr(carried, name)), name


def test_a_flat_operand_has_one_normal_a_triangle_along_its_geometry_and_a_curved_one_stays_smooth():
    shape = compile_text(MIXED)
    corners = shape.vertices[shape.faces].astype(np.float64)
    winding = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    winding /= np.linalg.norm(winding, axis=1, keepdims=True)
    normals = shape.normals[shape.faces].astype(np.float64)
    assert set(shape.primitive_id.tolist()) == {0, 1, 2, 3, 4, 5}  # each operand keeps faces
    flat = np.isin(shape.primitive_id, [0, 1, 3, 5])  # boxes and the mirrored extrusion
    assert np.all(normals[flat] == normals[flat][:, :1])
    assert np.allclose(normals[flat], winding[flat][:, None], atol=1e-5)
    walls = (shape.primitive_id == 2) & (np.abs(winding[:, 2]) < 0.5)  # the cylinder's hole wall
    radial = shape.vertices[shape.faces[walls]][..., :2] - np.float32([-0.25, 0])
    radial /= np.linalg.norm(radial, axis=-1, keepdims=True)
    assert np.allclose(normals[walls][..., :2], -radial, atol=1e-5)  # into the hole, smooth
    ball = (shape.primitive_id == 4) & (shape.part_id == 1)
    centred = shape.vertices[shape.faces[ball]].astype(np.float64)
    assert np.allclose(normals[ball], centred / np.linalg.norm(centred, axis=-1, keepdims=True), atol=1e-3)
