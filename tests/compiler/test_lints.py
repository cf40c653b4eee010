"""Geometric lints on hand-built shapes: every code both ways, gaps against NumPy reference math."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proto3d.compiler.lints import contact, distance, lint, rules
from tests.helpers.shapes import box, build, moved, prism, sphere


def chair(seat_z=0.45, leg_top=None, dx=0.0, dy=0.0, legs=None):
    """Seat box on four round legs (leg tops at seat bottom unless moved)."""
    bottom = seat_z - 0.05
    leg_top = bottom if leg_top is None else leg_top
    out = [("seat", [box((dx - 0.23, dy - 0.22, bottom), (dx + 0.23, dy + 0.22, seat_z))])]
    for k, (x, y) in enumerate([(-0.2, -0.18), (0.2, -0.18), (-0.2, 0.18), (0.2, 0.18)]):
        z0, z1 = (0.0, leg_top) if legs is None or k not in legs else legs[k]
        out.append(("leg", [prism(dx + x, dy + y, 0.02, z0, z1)]))
    out.append(("backrest", [box((dx - 0.23, dy + 0.18, seat_z), (dx + 0.23, dy + 0.22, seat_z + 0.42))]))
    return out


def codes(diags):
    return [d.code for d in diags]


def the(diags, code):
    found = [d for d in diags if d.code == code]
    assert len(found) == 1, diags
    return found[0]


def gap_in(message):
    """The first 'N.NNN m' number of a message."""
    return float(message.split(" m ")[0].split()[-1])


# ----------------------------------------------------------------------------- clean shapes


def test_chair_standing_on_its_legs_has_no_warnings():
    shape = build(chair(), bounds=[0.5, 0.5, 0.9])
    assert lint(shape) == []


def test_empty_shape_has_no_warnings():
    assert lint(build([])) == []


def test_warnings_have_codes_positions_and_hints():
    shape = build(chair(legs={3: (0.05, 0.38)}))
    d = the(lint(shape), "W101")
    assert d.severity == "warning" and d.hint
    assert d.span == shape.instances[4].span  # leg.3 is the fifth instance


# ----------------------------------------------------------------------------- W101


def test_leg_two_centimetres_below_the_seat_floats():
    shape = build(chair(legs={3: (0.05, 0.38)}))
    d = the(lint(shape), "W101")
    assert "`leg.3`" in d.message and "below `seat`" in d.message
    assert gap_in(d.message) == pytest.approx(0.02, abs=1e-6)
    assert "[0.000, 0.000, 0.020]" in d.hint and "seat.bottom" in d.hint


def test_seat_above_all_legs_floats_with_its_backrest():
    shape = build(chair(leg_top=0.38))
    d = the(lint(shape), "W101")
    assert d.message.startswith(
        "parts `seat`, `backrest` touch each other but float together: `seat` is 0.020 m"
    )
    assert "above `leg." in d.message
    assert gap_in(d.message) == pytest.approx(0.02, abs=1e-6)
    assert "[0.000, 0.000, -0.020]" in d.hint and ".top" in d.hint


@pytest.mark.parametrize("leg_top", [0.40, 0.4005, 0.41, 0.44])
def test_legs_touching_or_penetrating_the_seat_hold_it(leg_top):
    assert "W101" not in codes(lint(build(chair(leg_top=leg_top))))


def test_leg_inside_the_seat_volume_holds_it():
    # A leg fully inside the seat plank touches it through the volume, not the surfaces.
    shape = build(
        [
            ("base", [box((-0.5, -0.5, 0), (0.5, 0.5, 0.1))]),
            ("plank", [box((-0.3, -0.3, 0.1), (0.3, 0.3, 0.2))]),
            ("peg", [prism(0, 0, 0.02, 0.12, 0.18)]),
        ]
    )
    assert codes(lint(shape)) == ["W104"]


def test_chain_of_touching_parts_is_grounded_through_the_first():
    shape = build(
        [
            ("leg", [prism(0, 0, 0.03, 0.0, 0.7)]),
            ("top", [box((-0.4, -0.4, 0.7), (0.4, 0.4, 0.74))]),
            ("lamp_base", [prism(0.2, 0.1, 0.06, 0.74, 0.76)]),
            ("lamp_pole", [prism(0.2, 0.1, 0.01, 0.76, 1.1)]),
            ("shade", [sphere((0.2, 0.1, 1.18), 0.08)]),
        ]
    )
    assert lint(shape) == []


def test_group_floating_together_is_one_warning():
    shape = build(
        [
            ("table", [box((-0.5, -0.5, 0.0), (0.5, 0.5, 0.7))]),
            ("book", [box((-0.1, -0.15, 0.75), (0.1, 0.15, 0.78))]),
            ("cup", [prism(0.0, 0.0, 0.04, 0.78, 0.88)]),
        ]
    )
    d = the(lint(shape), "W101")
    assert "`book`, `cup` touch each other but float together" in d.message
    assert "`book` is 0.050 m above `table`" in d.message
    assert d.span == shape.instances[1].span


BOOK_ON_CUP = [
    ("table", [box((-0.5, -0.5, 0.0), (0.5, 0.5, 0.7))]),
    ("book", [box((-0.1, -0.15, 0.75), (0.1, 0.15, 0.78))]),
    ("cup", [prism(0.0, 0.0, 0.04, 0.78, 0.88)]),
]


def test_floating_group_names_what_lies_straight_below_each_member():
    d = the(lint(build(BOOK_ON_CUP)), "W101")
    assert d.message == (
        "parts `book`, `cup` touch each other but float together: `book` is 0.050 m above `table`; "
        "straight below: `book` 0.050 m above `table`, `cup` 0.080 m above `table`"
    )


def test_a_near_miss_to_the_side_does_not_hide_how_far_the_group_would_drop():
    # The shelf nearly touches the column (1 cm) but hangs 30 cm over the base; the knob on it
    # has only the base below it (the shelf is its own group's).
    shape = build(
        [
            ("base", [box((-0.5, -0.1, 0.0), (0.5, 0.1, 0.1))]),
            ("column", [box((-0.5, -0.1, 0.0), (-0.4, 0.1, 1.0))]),
            ("shelf", [box((-0.39, -0.1, 0.4), (0.2, 0.1, 0.42))]),
            ("knob", [prism(0.1, 0.0, 0.02, 0.42, 0.5)]),
        ]
    )
    d = the(lint(shape), "W101")
    assert d.message == (
        "parts `shelf`, `knob` touch each other but float together: `shelf` is 0.010 m right of `column`; "
        "straight below: `shelf` 0.300 m above `base`, `knob` 0.320 m above `base`"
    )


def test_a_single_part_names_its_support_below_only_when_the_gap_is_not_straight_down():
    floor = ("floor", [box((-1, -1, 0.0), (1, 1, 0.1))])
    desk = ("desk", [box((-0.25, -0.25, 0.1), (0.25, 0.25, 0.8))])
    lamp = ("lamp", [box((0.26, -0.05, 0.5), (0.36, 0.05, 0.6))])
    d = the(lint(build([floor, desk, lamp])), "W101")
    assert (
        d.message
        == "part `lamp` floats 0.010 m right of `desk`; straight below: `lamp` 0.400 m above `floor`"
    )
    vase = ("vase", [prism(0.0, 0.0, 0.05, 0.85, 1.0)])
    d = the(lint(build([floor, desk, vase])), "W101")
    assert d.message == "part `vase` floats 0.050 m above `desk`"


def test_bars_crossing_seen_from_above_meet_between_their_corners():
    # No corner of either bar lies over or under the other: only their crossing edges measure the drop.
    shape = build(
        [
            ("lower", [box((-0.5, -0.02, 0.0), (0.5, 0.02, 0.04))]),
            ("upper", [box((-0.02, -0.5, 0.1), (0.02, 0.5, 0.14))]),
            ("tag", [box((-0.02, 0.38, 0.14), (0.02, 0.42, 0.18))]),
        ]
    )
    d = the(lint(shape), "W101")
    assert d.message == (
        "parts `upper`, `tag` touch each other but float together: `upper` is 0.060 m above `lower`; "
        "straight below: `upper` 0.060 m above `lower`, `tag` 0.140 m above the ground"
    )


def test_members_past_the_listed_ones_are_counted(monkeypatch):
    monkeypatch.setattr(distance, "MAX_LISTED", 1)
    d = the(lint(build(BOOK_ON_CUP)), "W101")
    assert d.message.endswith("; straight below: `book` 0.050 m above `table`, and 1 more")


def test_spent_support_budget_falls_back_to_the_ground_said_so(monkeypatch):
    monkeypatch.setattr(distance, "SUPPORT_BUDGET", 0)
    d = the(lint(build(BOOK_ON_CUP)), "W101")
    assert d.message.endswith(
        "; straight below: `book` at most 0.750 m above the ground, `cup` at most 0.780 m above the ground"
    )


def test_two_separate_floating_groups_are_two_warnings():
    shape = build(
        [
            ("table", [box((-0.5, -0.5, 0.0), (0.5, 0.5, 0.7))]),
            ("a", [box((-0.4, -0.1, 0.8), (-0.2, 0.1, 0.9))]),
            ("b", [box((0.2, -0.1, 0.75), (0.4, 0.1, 0.9))]),
        ]
    )
    found = [d for d in lint(shape) if d.code == "W101"]
    assert sorted(gap_in(d.message) for d in found) == pytest.approx([0.05, 0.1], abs=1e-6)


def test_sphere_in_the_empty_corner_of_an_l_shape_floats():
    base = box((-0.5, -0.1, 0.0), (0.5, 0.1, 0.1))
    column = box((-0.5, -0.1, 0.0), (-0.3, 0.1, 1.0))
    ball = sphere((0.3, 0.0, 0.6), 0.1)
    shape = build([("frame", [base, column]), ("ball", [ball])])
    d = the(lint(shape), "W101")
    # Reference: the sphere's nearest point is its south pole, 0.4 above the base's top face.
    reference = min(_point_box_distance(v, base) for v in ball[0])
    assert reference == pytest.approx(0.4)
    assert gap_in(d.message) == pytest.approx(reference, abs=1e-6)
    assert "above `frame`" in d.message


def test_sphere_resting_on_a_box_is_held():
    shape = build(
        [("block", [box((-0.2, -0.2, 0), (0.2, 0.2, 0.3))]), ("ball", [sphere((0.1, 0, 0.4), 0.1)])]
    )
    assert lint(shape) == []


def test_part_near_only_the_ground_reports_the_ground():
    shape = build([("post", [prism(0, 0, 0.02, 0, 1.0)]), ("lamp", [box((1.0, -0.1, 0.3), (1.2, 0.1, 0.5))])])
    d = the(lint(shape), "W101")
    assert "0.300 m above the ground" in d.message
    assert "[0.000, 0.000, -0.300]" in d.hint


def test_diagonal_gap_matches_corner_to_corner_distance():
    gap = np.array([0.03, 0.04, 0.12])
    lo = np.array([0.5, 0.5, 0.5]) + gap
    shape = build([("block", [box((-0.5, -0.5, 0), (0.5, 0.5, 0.5))]), ("cube", [box(lo, lo + 0.2)])])
    d = the(lint(shape), "W101")
    assert gap_in(d.message) == pytest.approx(np.linalg.norm(gap), abs=1e-6)
    assert f"[{-gap[0]:.3f}, {-gap[1]:.3f}, {-gap[2]:.3f}]" in d.hint


def test_rotated_edge_facing_a_face_gap_is_exact():
    # A cube turned 45 degrees about Z points a vertical edge at the block's +X face.
    g, s = 0.03, 0.2
    cube = moved(
        box((-s / 2, -s / 2, 0.2), (s / 2, s / 2, 0.4)), offset=(0.5 + g + s / math.sqrt(2), 0, 0), rot_z=45
    )
    shape = build([("block", [box((-0.5, -0.5, 0), (0.5, 0.5, 0.5))]), ("cube", [cube])])
    d = the(lint(shape), "W101")
    assert gap_in(d.message) == pytest.approx(g, abs=1e-6)
    assert "right of `block`" in d.message and "block.right" in d.hint


def test_edges_crossing_without_vertices_inside_touch():
    # Two long bars crossing like a plus sign: no vertex of either lies inside the other.
    shape = build(
        [
            ("bar_x", [box((-0.5, -0.02, 0.0), (0.5, 0.02, 0.04))]),
            ("bar_y", [box((-0.02, -0.5, 0.02), (0.02, 0.5, 0.06))]),
        ]
    )
    assert "W101" not in codes(lint(shape))


def test_inward_facing_primitive_still_contains():
    v, f, kind, params = box((-0.3, -0.3, 0.2), (0.3, 0.3, 0.8))
    inverted = (v, f[:, ::-1], kind, params)
    shape = build(
        [
            ("stand", [box((-0.3, -0.3, 0.0), (0.3, 0.3, 0.2))]),
            ("shell", [inverted]),
            ("core", [box((-0.1, -0.1, 0.4), (0.1, 0.1, 0.6))]),
        ]
    )
    assert codes(lint(shape)) == ["W104"]


def _point_box_distance(p, mesh):
    lo, hi = mesh[0].min(axis=0), mesh[0].max(axis=0)
    return float(np.linalg.norm(np.maximum(0, np.maximum(lo - p, p - hi))))


# ----------------------------------------------------------------------------- W102


def test_part_above_the_bounds():
    shape = build(chair(), bounds=[0.5, 0.5, 0.8])
    overall, part = lint(shape)  # the shape-wide warning has no position, so it sorts first
    assert part.code == overall.code == "W102"
    assert "part `backrest`" in part.message and "0.070 m above the top" in part.message
    assert part.span == shape.instances[5].span
    assert "0.070 m too large in height" in overall.message and overall.span.line == 0


def test_overshoot_within_tolerance_is_fine():
    assert lint(build(chair(), bounds=[0.44, 0.42, 0.85])) == []


def test_part_past_the_sides():
    shape = build([("slab", [box((-0.3, -0.1, 0), (0.4, 0.3, 0.1))])], bounds=[0.6, 0.4, 0.1])
    found = [d for d in lint(shape) if d.code == "W102"]
    part = next(d for d in found if "part `slab`" in d.message)
    assert "0.100 m past the right side" in part.message and "0.100 m past the back" in part.message
    assert "0.050 m" not in part.message  # left is inside its tolerance: -0.3 vs -0.3
    overall = next(d for d in found if "the shape measures" in d.message)
    assert "[0.700, 0.400, 0.100]" in overall.message and "0.100 m too large in width" in overall.message


def test_shape_far_smaller_than_bounds():
    shape = build([("cup", [prism(0, 0, 0.04, 0, 0.1)])], bounds=[0.08, 0.08, 1.0])
    d = the(lint(shape), "W102")
    assert "10 % of the declared height" in d.message and "units" in d.hint


def test_no_bounds_no_bounds_lint():
    assert lint(build(chair())) == []


# ----------------------------------------------------------------------------- W103


def test_lifted_shape_is_not_grounded():
    shape = build([(label, [moved(m, (0, 0, 0.1)) for m in meshes]) for label, meshes in chair()])
    d = the(lint(shape), "W103")
    assert "z = 0.100 m" in d.message and "[0, 0, -0.100]" in d.hint
    assert d.span == shape.instances[1].span  # leg.0 holds the lowest point first


def test_sunk_shape_is_not_grounded():
    shape = build([(label, [moved(m, (0, 0, -0.02)) for m in meshes]) for label, meshes in chair()])
    assert "0.020 m below z = 0" in the(lint(shape), "W103").message


def test_half_millimetre_off_the_ground_is_fine():
    shape = build([(label, [moved(m, (0, 0, 0.0005)) for m in meshes]) for label, meshes in chair()])
    assert lint(shape) == []


# ----------------------------------------------------------------------------- W104


def test_part_inside_another_is_hidden():
    shape = build([("body", [box((-0.5, -0.5, 0), (0.5, 0.5, 1))]), ("gear", [sphere((0, 0, 0.5), 0.2)])])
    d = the(lint(shape), "W104")
    assert "`gear` is entirely inside `body`" in d.message and d.span == shape.instances[1].span


def test_part_inside_one_of_several_primitives_is_hidden():
    shape = build(
        [
            ("body", [box((-0.5, -0.5, 0), (0.5, 0.5, 0.3)), box((-0.1, -0.1, 0.3), (0.1, 0.1, 1.0))]),
            ("pin", [prism(0, 0, 0.02, 0.5, 0.8)]),
        ]
    )
    assert codes(lint(shape)) == ["W104"]


def test_part_poking_out_is_not_hidden():
    shape = build([("body", [box((-0.5, -0.5, 0), (0.5, 0.5, 1))]), ("knob", [sphere((0, 0, 0.95), 0.1)])])
    assert lint(shape) == []


def test_duplicate_instances_report_only_the_later_one():
    seat = box((-0.2, -0.2, 0), (0.2, 0.2, 0.4))
    shape = build([("seat", [seat]), ("seat", [seat])])
    d = the(lint(shape), "W104")
    assert "`seat.1` is entirely inside `seat.0`" in d.message


def test_flush_part_inside_counts_as_hidden():
    shape = build(
        [
            ("body", [box((-0.5, -0.5, 0), (0.5, 0.5, 1))]),
            ("panel", [box((-0.5, -0.2, 0.2), (-0.4, 0.2, 0.8))]),
        ]
    )
    assert codes(lint(shape)) == ["W104"]


# ----------------------------------------------------------------------------- W105


def test_zero_height_box_is_degenerate():
    shape = build(
        [
            ("slab", [box((-0.5, -0.5, 0), (0.5, 0.5, 0.1))]),
            ("sheet", [box((-0.2, -0.2, 0.1), (0.2, 0.2, 0.1))]),
        ]
    )
    d = the(lint(shape), "W105")
    assert "`box` in part `sheet`" in d.message and "size[2] = 0.000" in d.message
    assert d.span == shape.primitives[1].span


def test_flat_geometry_without_bad_params_is_degenerate():
    v, f, kind, _ = box((-0.2, -0.2, 0.1), (0.2, 0.2, 0.1))
    shape = build(
        [
            ("slab", [box((-0.5, -0.5, 0), (0.5, 0.5, 0.1))]),
            ("sheet", [(v, f, kind, {"size": [0.4, 0.4, 0.1]})]),
        ]
    )
    assert "encloses no volume" in the(lint(shape), "W105").message


def test_collapsed_triangles_are_degenerate():
    v, f, kind, _ = box((0, 0, 0), (0.1, 0.1, 0.1))
    shape = build(
        [
            ("dot", [(v * 0 + 0.05, f, kind, {"size": [0.1, 0.1, 0.1]})]),
            ("slab", [box((-0.5, -0.5, 0), (0.5, 0.5, 0.1))]),
        ]
    )
    assert "zero area" in the(lint(shape), "W105").message


@pytest.mark.parametrize(
    "params, why",
    [
        ({"r": -0.1}, "r = -0.100"),
        ({"r": [0.02, 0.0, 0.01]}, "r[1] = 0.000"),
        ({"r1": 0.0, "r2": 0.0, "h": 0.3}, "r1 = 0.000, r2 = 0.000"),
        ({"R": 0.3, "r": 0.05, "thickness": 0.0}, "thickness = 0.000"),
    ],
)
def test_non_positive_parameters_are_degenerate(params, why):
    v, f, kind, _ = box((-0.1, -0.1, 0), (0.1, 0.1, 0.2))
    assert why in the(lint(build([("thing", [(v, f, kind, params)])])), "W105").message


def test_cone_with_one_zero_radius_is_fine():
    v, f, kind, _ = prism(0, 0, 0.1, 0, 0.2)
    assert lint(build([("cone", [(v, f, "cylinder", {"r1": 0.1, "r2": 0.0, "h": 0.2})])])) == []


# ----------------------------------------------------------------------------- scale


def test_hundred_chairs_only_report_the_broken_one():
    instances = []
    for k in range(100):
        row, col = divmod(k, 10)
        legs = {2: (0.05, 0.38)} if k == 57 else None
        instances += chair(dx=0.7 * col, dy=0.7 * row, legs=legs)
    shape = build(instances)
    found = lint(shape)
    assert codes(found) == ["W101"]
    assert "`leg.230`" in found[0].message  # chair 57, third leg: 57 * 4 + 2
    assert gap_in(found[0].message) == pytest.approx(0.02, abs=1e-6)


def test_many_floating_groups_end_in_one_summary(monkeypatch):
    monkeypatch.setattr(rules, "MAX_FLOATING", 2)
    shape = build(
        [("floor", [box((-1, -1, 0), (1, 1, 0.1))])]
        + [("tile", [box((0.3 * k - 0.6, 0, 0.2), (0.3 * k - 0.5, 0.1, 0.3))]) for k in range(4)]
    )
    found = lint(shape)
    assert codes(found) == ["W101"] * 3
    assert found[0].message == "2 more parts or groups of parts float" and found[0].span.line == 0
    assert {d.span.line for d in found[1:]} == {2, 3}


def test_too_many_overlapping_pairs_skip_contact_lints_only(monkeypatch):
    monkeypatch.setattr(contact, "MAX_PAIRS", 10)
    shape = build([("crate", [box((0, 0, 0.1), (1, 1, 1.1))])] * 6)  # 15 pairs, all duplicates
    assert codes(lint(shape)) == ["W103"]
    monkeypatch.setattr(contact, "MAX_PAIRS", 15)
    assert codes(lint(shape)) == ["W103"] + ["W104"] * 5


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    st.lists(
        st.lists(st.sampled_from([0.0, 0.0, 0.0005, 0.02, 0.1]), min_size=1, max_size=4),
        min_size=1,
        max_size=4,
    ),
    st.randoms(use_true_random=False),
)
def test_stacks_float_exactly_above_each_real_gap(stacks, rng):
    """Towers of boxes: every gap wider than the tolerance starts one floating group of that gap."""
    instances, expected = [], []
    for s, gaps in enumerate(stacks):
        z = 0.0
        for gap in [0.0] + gaps:
            z += gap
            x, w, h = 0.6 * s, rng.uniform(0.05, 0.2), rng.uniform(0.02, 0.1)
            instances.append((f"s{s}", [box((x - w / 2, -w / 2, z), (x + w / 2, w / 2, z + h))]))
            z += h
            if gap > 0.001:
                expected.append(gap)
    rng.shuffle(instances)
    found = lint(build(instances))
    assert set(codes(found)) <= {"W101"}
    assert sorted(gap_in(d.message) for d in found) == pytest.approx(sorted(expected), abs=1e-6)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    st.lists(
        st.tuples(
            st.floats(-0.5, 0.5),
            st.floats(-0.5, 0.5),
            st.floats(0, 0.5),
            st.floats(0.01, 0.3),
            st.floats(0.01, 0.3),
            st.floats(0.01, 0.3),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    ),
    st.floats(-1, 1),
    st.floats(-1, 1),
)
def test_random_scenes_lint_cleanly_and_ignore_horizontal_moves(specs, dx, dy):
    def scene(ox, oy):
        out = []
        for k, (x, y, z, w, d, h, round_) in enumerate(specs):
            x, y = x + ox, y + oy
            mesh = prism(x, y, w / 2, z, z + h, n=12) if round_ else box((x, y, z), (x + w, y + d, z + h))
            out.append((f"p{k % 3}", [mesh]))
        return build(out)

    found = lint(scene(0, 0))
    for d in found:
        assert d.severity == "warning" and d.code in {"W101", "W103", "W104"} and d.hint
        assert "nan" not in d.message and "inf" not in d.message
    moved_found = lint(scene(dx, dy))
    assert sorted((d.code, d.line) for d in moved_found) == sorted((d.code, d.line) for d in found)


# ----------------------------------------------------------------------------- programs

CHAIR = """shape "chair"
bounds [0.50, 0.55, BOUNDS_H]
param seat_h = 0.45 in [0.40, 0.50]
let leg_r = 0.02
part seat color "#8b5a2b" {
    box(size=[0.46, 0.44, 0.05], at=[0, 0, seat_h], align="top")
}
for x in [-0.2, 0.2], y in [-0.18, 0.18] {
    part leg {
        cylinder(r=leg_r, h=LEG_H, at=[x, y, 0], align="bottom")
    }
}
part backrest {
    box(size=[0.46, 0.04, 0.42], at=[0, seat.back.y - 0.02, seat.top.z], align="bottom", rot=[-8, 0, 0])
}
"""


def compiled(text):
    from proto3d.compiler import compile_text

    return compile_text(text)


def chair_program(leg_h="seat_h - 0.05", bounds_h="0.90", extra=""):
    return CHAIR.replace("LEG_H", leg_h).replace("BOUNDS_H", bounds_h) + extra


def lints_of(shape):
    return [d for d in shape.diagnostics if d.code in {"W101", "W102", "W103", "W104", "W105"}]


def instance_vertices(shape, label, index=0):
    i = shape.parts[[p.label for p in shape.parts].index(label)].instance_ids[index]
    return shape.vertices[np.unique(shape.faces[shape.instance_id == i])].astype(float)


def test_program_reference_chair_is_clean():
    shape = compiled(chair_program())
    assert lints_of(shape) == []
    assert shape.diagnostics == sorted(shape.diagnostics, key=lambda d: (d.line, d.column))


def test_program_short_legs_leave_seat_and_backrest_floating():
    shape = compiled(chair_program(leg_h="seat_h - 0.07"))
    (d,) = lints_of(shape)
    assert d.code == "W101" and d.line == 5 and d.source_line.startswith("part seat")
    seat_bottom = instance_vertices(shape, "seat")[:, 2].min()
    leg_top = instance_vertices(shape, "leg")[:, 2].max()
    assert gap_in(d.message) == pytest.approx(seat_bottom - leg_top, abs=1e-6)
    assert "leg[0].top" in d.hint


def test_program_hanging_leg_floats_below_the_seat():
    extra = 'part leg {\n    cylinder(r=0.02, h=0.3, at=[0, 0, seat.bottom.z - 0.02], align="top")\n}\n'
    shape = compiled(chair_program(extra=extra))
    (d,) = lints_of(shape)
    assert d.code == "W101" and d.line == 16
    assert "part `leg.4` floats 0.020 m below `seat`" in d.message and "seat.bottom" in d.hint


def test_program_splayed_rod_legs_touch_seat_and_ground():
    text = """bounds [0.5, 0.5, 0.5]
part seat { cylinder(r=0.18, h=0.04, at=[0, 0, 0.45], align="top") }
radial(n=3, r=0) part leg { rod(from=[0.2, 0, 0], to=[0.1, 0, 0.41], r=0.015) }
"""
    (d,) = lints_of(compiled(text))
    # The tilted bottom caps dip below z = 0 by r * sin(tilt): a real W103, with the offset.
    assert d.code == "W103" and d.line == 3
    lowest = float(d.message.split("z = ")[1].split()[0])
    assert lowest == pytest.approx(-0.015 * 0.1 / math.hypot(0.1, 0.41), abs=6e-4)  # printed in mm


def test_program_ball_above_a_post_gap_matches_the_mesh():
    text = """part post { cylinder(r=0.1, h=0.4, align="bottom") }
part ball { sphere(r=0.05, at=[0, 0, 0.48]) }
"""
    shape = compiled(text)
    (d,) = lints_of(shape)
    gap = instance_vertices(shape, "ball")[:, 2].min() - instance_vertices(shape, "post")[:, 2].max()
    assert d.code == "W101" and gap_in(d.message) == pytest.approx(gap, abs=1e-6)
    assert "above `post`" in d.message and d.line == 2


def test_program_backrest_above_the_bounds():
    shape = compiled(chair_program(bounds_h="0.80"))
    codes_lines = [(d.code, d.line) for d in lints_of(shape)]
    assert ("W102", 13) in codes_lines


def test_program_lifted_shape_is_not_grounded():
    text = """translate([0, 0, 0.1]) {
    part block { box(size=[0.2, 0.2, 0.2], align="bottom") }
    part cap { box(size=[0.1, 0.1, 0.05], at=[0, 0, 0.2], align="bottom") }
}
"""
    (d,) = lints_of(compiled(text))
    assert (
        d.code == "W103"
        and d.line == 2
        and "z = 0.100 m" in d.message
        and "translate([0, 0, -0.100])" in d.hint
    )


def test_program_anchor_inside_a_transform_is_caught_as_floating():
    # Anchors are world coordinates: inside translate() they get moved a second time.
    head, body = chair_program(bounds_h="1.2").split("part seat")
    shape = compiled(head + "translate([0, 0, 0.1]) {\npart seat" + body + "}\n")
    found = {d.code: d for d in lints_of(shape)}
    assert set(found) == {"W101", "W103"}
    assert "part `backrest` floats" in found["W101"].message and "above `seat`" in found["W101"].message
    backrest_low = instance_vertices(shape, "backrest")[:, 2].min()
    seat_top = instance_vertices(shape, "seat")[:, 2].max()
    assert gap_in(found["W101"].message) == pytest.approx(backrest_low - seat_top, abs=5e-4)  # printed in mm


def test_program_hidden_and_degenerate_parts():
    text = """part body { box(size=[1, 1, 1], align="bottom") }
part gear { sphere(r=0.2, at=[0, 0, 0.5]) }
part flat { box(size=[0.2, 0.2, 0], at=[0, 0, 1]) }
"""
    shape = compiled(text)
    hidden, degenerate = sorted(lints_of(shape), key=lambda d: d.code)
    assert hidden.code == "W104" and hidden.line == 2 and "`gear` is entirely inside `body`" in hidden.message
    assert degenerate.code == "W105" and degenerate.line == 3 and degenerate.column > 1
    assert "size[2] = 0.000" in degenerate.message


def test_program_coarse_tangent_spheres_touch_within_their_faceting():
    # Exactly tangent on paper; with 8 segments the facets leave a gap of about 2 cm.
    text = """part body { sphere(r=0.2, at=[0, 0, 0.2], segments=8) }
part head { sphere(r=0.1, at=[D * cos(40), 0, 0.2 + D * sin(40)], segments=8) }
"""
    tangent = compiled(text.replace("D", "0.3"))
    body, head = instance_vertices(tangent, "body"), instance_vertices(tangent, "head")
    assert np.linalg.norm(body[:, None] - head[None], axis=2).min() > 0.01  # their vertices stay apart
    assert lints_of(tangent) == []
    assert codes(lints_of(compiled(text.replace("D", "0.36")))) == ["W101"]


def test_program_coarse_wheel_on_its_side_is_grounded():
    shape = compiled("part wheel { cylinder(r=0.3, h=0.05, rot=[90, 0, 0], at=[0, 0, 0.3], segments=10) }\n")
    assert shape.vertices[:, 2].min() > 0.01  # a facet, not a vertex, is lowest
    assert lints_of(shape) == []
