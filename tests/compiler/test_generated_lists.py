"""Generated lists: comprehensions and the point functions, against Python and NumPy reference math."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proto3d.compiler import Limits, check, compile_text
from proto3d.compiler import builtins as compiler_builtins
from proto3d.compiler import evaluate as evaluation
from proto3d.compiler.build import DEFAULT_LIMITS
from proto3d.errors import errors
from proto3d.grammar import parse
from tests.helpers.strategies import fast


def value(program: str, limits: Limits = DEFAULT_LIMITS):
    """The value of the program's last `let` (its slot is the last defined), as plain lists."""
    evaluator = evaluation._Evaluator(limits, {})
    evaluator.run(parse(program))
    result = evaluator.env[-1]
    return result.tolist() if isinstance(result, np.ndarray) else result


def steps(program: str, limits: Limits = DEFAULT_LIMITS) -> int:
    evaluator = evaluation._Evaluator(limits, {})
    evaluator.run(parse(program))
    return evaluator.steps


def first_error(program: str, limits: Limits = DEFAULT_LIMITS) -> tuple:
    diagnostic = errors(check(program, limits=limits))[0]
    return diagnostic.code, diagnostic.line, diagnostic.column


def points(program: str) -> np.ndarray:
    result = value(program)
    return np.array(result, dtype=np.float64)


def ring(center, rx, ry, degrees) -> np.ndarray:
    t = np.radians(np.asarray(degrees, dtype=np.float64))
    return np.stack([center[0] + rx * np.cos(t), center[1] + ry * np.sin(t)], axis=1)


def signed_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


# ---- comprehensions: Python's meaning --------------------------------------------------------


def test_the_issue_example_is_a_circle_of_points():
    got = points("let r = 0.2\nlet a = [[r * cos(a), r * sin(a)] for a in range(0, 360, 15)]")
    np.testing.assert_allclose(got, ring([0, 0], 0.2, 0.2, range(0, 360, 15)), rtol=0, atol=1e-15)


def test_clauses_nest_first_outermost_and_filters_drop_items():
    assert value("let xs = [1, 2, 3]\nlet a = [[x, y] for x in xs for y in xs if x != y]") == [
        [x, y] for x in [1, 2, 3] for y in [1, 2, 3] if x != y
    ]
    assert value("let a = [x * 10 + y for x in range(4) if x % 2 == 0 for y in range(x)]") == [
        x * 10 + y for x in range(4) if x % 2 == 0 for y in range(x)
    ]
    assert value("let a = [x for x in range(6) if x > 1 if x < 4]") == [2, 3]


def test_an_inner_clause_reads_the_outer_names():
    assert value("let a = [[x, y] for x in range(3) for y in range(x)]") == [[1, 0], [2, 0], [2, 1]]
    assert value("let a = [[p.x * 2, p.y] for p in [[1, 2], [3, 4]]]") == [[2, 2], [6, 4]]
    assert value("let a = [[c for c in row] for row in [[1, 2], [3, 4]]]") == [[1, 2], [3, 4]]


def test_results_are_vectors_point_lists_or_lists_as_written_lists_are():
    assert value("let a = [x / 2 for x in range(3)]") == [0, 0.5, 1]
    assert value("let a = [x for x in range(0)]") == []
    mixed = value('let a = [v for v in [[1, 2], "s"]]')
    assert isinstance(mixed, list) and mixed[1] == "s" and mixed[0].tolist() == [1, 2]


def test_loop_names_stay_inside_the_brackets():
    assert value("let x = 5\nlet a = [x for x in [1, 2]]") == [1, 2]
    assert value("let x = 5\nlet a = [x for x in [1, 2]]\nlet b = x") == 5
    assert value("let x = [1, 2]\nlet a = [x * 2 for x in x]") == [2, 4]  # the iterable reads the outer x
    assert first_error("let a = [x for x in [1, 2]]\nlet b = x") == ("E201", 2, 9)
    assert first_error("let a = [y for x in [1, 2]]") == ("E201", 1, 10)
    assert first_error("let a = [x for x in [y for y in [1]] if y > 0]") == ("E201", 1, 41)


def test_names_are_checked_like_loop_variables():
    assert first_error("let a = [pi for pi in [1]]") == ("E202", 1, 17)
    assert first_error("let a = [i for i in [1] for i in [2]]") == ("E214", 1, 29)
    assert first_error("part p { box(size=[1, 1, 1]) }\nlet a = [p for p in [1]]") == ("E215", 2, 16)


def test_runtime_errors_are_positioned_at_the_clause():
    assert first_error("let a = [x for x in 3]") == ("E205", 1, 21)
    assert first_error("let a = [x for x in [1, 2] if x]") == ("E205", 1, 31)
    assert first_error("let a = [x for x in [1] for y in x]") == ("E205", 1, 34)
    assert first_error("let a = [1 / x for x in [1, 0]]") == ("E206", 1, 10)


def test_a_comprehension_feeds_a_primitive_and_is_memoised_like_any_argument():
    text = """part p {
    for k in [1, 2, 1, 2] {
        extrude(polygon=[[0.1 * k * cos(a), 0.1 * sin(a)] for a in range(0, 360, 30)], h=0.1, at=[k, 0, 0])
    }
}"""
    shape = compile_text(text)
    np.testing.assert_allclose(
        shape.primitives[1].params["polygon"], ring([0, 0], 0.2, 0.1, range(0, 360, 30)), atol=1e-15
    )
    evaluator = evaluation._Evaluator(DEFAULT_LIMITS, {})
    with mock.patch.object(evaluator, "place_call", wraps=evaluator.place_call) as place_call:
        evaluator.run(parse(text))
    assert place_call.call_count == 2  # k = 1 and k = 2: the loop names of the comprehension are its own
    with mock.patch.object(evaluation, "_MEMO_TYPES", set()):
        plain = evaluation._Evaluator(DEFAULT_LIMITS, {})
        plain.run(parse(text))
    assert plain.steps == evaluator.steps


# ---- comprehensions: steps and limits ---------------------------------------------------------


@pytest.mark.parametrize("n", [1, 10, 100])
def test_every_item_iterated_and_made_costs_a_step_and_its_operations_each_time(n):
    # per item: 1 iterated + 1 operation (`x * 2`) + 1 made; range's numbers: 1 step per 8
    base = steps("let a = [x * 2 for x in range(0)]")
    assert steps(f"let a = [x * 2 for x in range({n})]") - base == 3 * n + n // 8
    # a filter's operations are paid for every item it sees, the item's only for those it keeps
    kept = len([x for x in range(n) if x > 0])
    assert steps(f"let a = [x for x in range({n}) if x > 0]") - base == 2 * n + n // 8 + kept


def test_a_nested_comprehension_costs_what_its_loops_would_and_pays_early():
    nested = "let a = [x + y for x in range(10) for y in range(20)]"
    # outer: 10 × (1 + `range(20)` call) ; inner: 200 × (1 + `x + y`) ; made: 200 ;
    # numbers: 1 + 10 × 2 ; the 10 arrays `range(20)` makes, 2 each
    assert steps(nested) - steps("let a = [x for x in range(0)]") == 10 * 2 + 200 * 2 + 200 + 1 + 10 * 2 + 20
    # the inner list depends on x: paid at each visit. outer: 10 × (1 + `range` + `x + 11`) ;
    # inner: 155 × 2 ; made: 155 ; numbers: 1 + 15 ; the 10 arrays `range` makes
    varying = "let a = [x + y for x in range(10) for y in range(x + 11)]"
    assert steps(varying) - steps("let a = [x for x in range(0)]") == 30 + 155 * 2 + 155 + 1 + 15 + 20


@pytest.mark.parametrize(
    "program, column",
    [
        ("let a = [x for x in range(100000) for y in range(100000)]", 44),
        ("let a = [[x, y, z] for x in range(100) for y in range(100) for z in range(1000)]", 69),
        ("let a = [sum(range(90000)) for x in range(100)]", 14),  # the item's own work: as it is done
    ],
)
def test_a_comprehension_over_the_step_limit_stops_early(program, column):
    start = time.process_time()
    assert first_error(program) == ("E304", 1, column)
    assert time.process_time() - start < 0.5


def test_an_outer_filter_decides_inner_work_so_the_limit_is_met_as_it_runs():
    program = "let a = [x for x in range(100000) if x >= 0 for y in range(1000)]"
    assert first_error(program) == ("E304", 1, 54)


def test_doubling_lists_by_comprehension_cannot_escape_the_step_limit():
    lines = ["let l0 = [1, 2]"] + [f"let l{k + 1} = [l{k} for i in range(2)]" for k in range(22)]
    program = "\n".join(lines) + "\nlet same = l22 == l22\n"
    assert first_error(program) == ("E304", 24, 12)


def test_a_generated_outline_counts_against_the_points_limit():
    program = "part p { extrude(polygon=[[cos(a), sin(a)] for a in range(360)], h=1) }"
    assert compile_text(program).primitives[0].params["polygon"].shape == (360, 2)
    assert first_error(program, Limits(max_points=300)) == ("E307", 1, 26)


# ---- the point functions ---------------------------------------------------------------------


def test_circle_starts_at_plus_x_runs_counter_clockwise_and_does_not_repeat():
    got = points("let c = circle(r=0.3, n=24, center=[1, -2])")
    np.testing.assert_allclose(got, ring([1, -2], 0.3, 0.3, np.arange(24) * 15.0), rtol=0, atol=1e-15)
    assert got[0].tolist() == [1.3, -2] and signed_area(got) > 0
    assert len(np.unique(got, axis=0)) == 24
    assert points("let c = circle(0.5)").shape == (32, 2)
    assert points("let c = circle(1, n=4)").tolist() == [[1, 0], [0, 1], [-1, 0], [0, -1]]  # exact


def test_an_extruded_circle_has_the_corners_of_a_cylinder():
    disc = compile_text("part p { extrude(polygon=circle(r=0.1, n=12), h=0.2) }")
    cylinder = compile_text('part p { cylinder(r=0.1, h=0.2, segments=12, align="bottom") }')
    corners = {tuple(v) for v in np.round(disc.vertices.astype(np.float64), 6)}
    centres = {(0.0, 0.0, 0.0), (0.0, 0.0, 0.2)}  # the cylinder's caps are fans around them
    assert corners | centres == {tuple(v) for v in np.round(cylinder.vertices.astype(np.float64), 6)}


def test_ellipse_has_its_two_radii_on_x_and_y():
    got = points("let e = ellipse(rx=0.4, ry=0.1, n=36, center=[0, 0.5])")
    np.testing.assert_allclose(got, ring([0, 0.5], 0.4, 0.1, np.arange(36) * 10.0), rtol=0, atol=1e-15)
    assert signed_area(got) > 0


def test_arc_runs_from_start_to_end_both_included():
    got = points("let a = arc(r=2, start=30, end=120, n=7, center=[1, 1])")
    np.testing.assert_allclose(got, ring([1, 1], 2, 2, np.linspace(30, 120, 7)), rtol=0, atol=1e-15)
    clockwise = points("let a = arc(r=1, start=90, end=-90, n=3)")
    assert clockwise.tolist() == [[0, 1], [1, 0], [0, -1]]
    assert len(points("let a = arc(r=1, start=0, end=90)")) == 9  # 32 a turn
    assert len(points("let a = arc(r=1, start=0, end=10)")) == 2
    assert len(points("let a = arc(1, 0, 360)")) == 33


def test_rounded_rect_is_four_quarter_circles_joined_by_straight_sides():
    got = points("let r = rounded_rect(size=[0.6, 0.4], r=0.05, n=5, center=[0.1, 0])")
    assert got.shape == (20, 2) and signed_area(got) > 0
    np.testing.assert_allclose(got[0], [0.4, 0.15], rtol=0, atol=1e-15)  # the +X side, then counter-clockwise
    for k, (sx, sy) in enumerate([(1, 1), (-1, 1), (-1, -1), (1, -1)]):
        corner = np.array([0.1 + sx * 0.25, sy * 0.15])
        np.testing.assert_allclose(
            got[5 * k : 5 * k + 5], ring(corner, 0.05, 0.05, 90 * k + np.linspace(0, 90, 5)), atol=1e-15
        )
    # exact sides: the polygon's area is the rectangle's less four corners' worth of facets
    facet_area = 4 * 0.5 * 0.05**2 * 4 * math.sin(math.radians(90 / 4))  # four chords per corner
    assert signed_area(got) == pytest.approx(0.6 * 0.4 - 4 * 0.05**2 + facet_area, rel=1e-12)


def test_rounded_rect_without_sides_or_radius_has_no_repeated_point():
    assert points("let s = rounded_rect([2, 1], 0)").tolist() == [[1, 0.5], [-1, 0.5], [-1, -0.5], [1, -0.5]]
    stadium = points("let s = rounded_rect(size=[2, 1], r=0.5, n=3)")
    assert len(stadium) == 10 and len(np.unique(stadium, axis=0)) == 10
    assert stadium[0].tolist() == [1, 0]
    disc = points("let s = rounded_rect(size=[1, 1], r=0.5, n=9)")
    np.testing.assert_allclose(disc, ring([0, 0], 0.5, 0.5, np.arange(32) * 11.25), atol=1e-15)


def test_point_lists_join_with_plus():
    got = points("let pie = arc(r=1, start=0, end=90, n=3) + [[0, 0]]")
    np.testing.assert_allclose(got, [[1, 0], [math.sqrt(0.5), math.sqrt(0.5)], [0, 1], [0, 0]], atol=1e-15)
    assert value("let a = [[1, 2]] + [[3, 4]]") == [[1, 2], [3, 4]]
    assert value("let a = [1, 2] + [3, 4]") == [4, 6]  # vectors of numbers still add
    joined = value('let a = [[1, 2]] + [[3, 4, 5], "s"]')
    assert [v if isinstance(v, str) else v.tolist() for v in joined] == [[1, 2], [3, 4, 5], "s"]


@pytest.mark.parametrize(
    "program, expected",
    [
        ("let c = circle(r=0)", ("E204", 1, 9)),
        ("let c = circle(r=1, n=2)", ("E204", 1, 9)),
        ("let c = circle(r=1, n=2.5)", ("E106", 1, 23)),
        ("let c = circle(r=1, n=2001)", ("E307", 1, 9)),
        ("let c = circle(r=1, center=[0, 0, 0])", ("E106", 1, 28)),
        ('let c = circle(r="big")', ("E106", 1, 18)),
        ("let c = circle(r=1e7)", ("E210", 1, 18)),
        ("let c = ellipse(rx=1, ry=-1)", ("E204", 1, 9)),
        ("let c = arc(r=1, start=10, end=10)", ("E204", 1, 9)),
        ("let c = arc(r=1, start=0, end=400)", ("E204", 1, 9)),
        ("let c = arc(r=1, start=0, end=90, n=1)", ("E204", 1, 9)),
        ("let c = rounded_rect(size=[1, 1], r=0.6)", ("E204", 1, 9)),
        ("let c = rounded_rect(size=[1, 0], r=0)", ("E204", 1, 9)),
        ("let c = rounded_rect(size=[1, 1], r=0.1, n=501)", ("E307", 1, 9)),
        ("let c = circle(radius=1)", ("E102", 1, 16)),
        ("let c = circle(n=3)", ("E103", 1, 9)),
        ("let c = circle(r=1, r=2)", ("E104", 1, 21)),
        ("let c = circle(1, 2, [0, 0], 4)", ("E105", 1, 30)),
        ("part p { circle(r=1) }", ("E101", 1, 10)),
    ],
)
def test_point_function_errors(program, expected):
    assert first_error(program) == expected


def test_a_point_function_used_as_a_statement_is_shown_as_an_outline():
    (diagnostic,) = errors(check("part p { circle(r=1) }"))
    assert "extrude(polygon=circle(…)" in diagnostic.hint


@pytest.mark.parametrize(
    "function", ["circle(r=1, n={n})", "ellipse(rx=1, ry=2, n={n})", "arc(1, 0, 90, n={n})"]
)
def test_a_point_costs_a_step_and_its_numbers_one_per_8(function):
    small, large = (steps("let c = " + function.format(n=n)) for n in (8, 1000))
    assert large - small == (1000 - 8) + (2000 // 8 - 16 // 8)


def test_rounded_rect_pays_for_four_corners():
    small, large = (steps(f"let c = rounded_rect(size=[1, 1], r=0.1, n={n})") for n in (2, 400))
    assert large - small == 4 * (400 - 2) + (3200 // 8 - 16 // 8)


@pytest.mark.parametrize(
    "call, calls",
    [
        ("circle(r=1, n=3)", 1),
        ("ellipse(rx=1, ry=2, n=3)", 1),
        ("arc(1, 0, 90, n=2)", 1),
        ("rounded_rect(size=[1, 1], r=0.1, n=2)", 2),
    ],
)
def test_a_point_function_pays_for_its_fixed_work_too(call, calls, monkeypatch):
    """A few points cost ~10 µs of NumPy calls whatever their number (~40 for a rounded rectangle):
    at a step a point, a comprehension of them cost 2-6 µs a step against ~1 for the rest."""
    paid, fixed = steps(f"let c = {call}"), compiler_builtins.CALL_STEPS
    monkeypatch.setattr(compiler_builtins, "CALL_STEPS", 0)
    assert paid - steps(f"let c = {call}") == calls * fixed and fixed == 8


# ---- properties ------------------------------------------------------------------------------

SMALL_LISTS = st.lists(st.integers(-3, 3), max_size=5)
FILTERS = {"x < y": lambda x, y: x < y, "x != y": lambda x, y: x != y, "x + y > 0": lambda x, y: x + y > 0}


@fast(60)
@given(SMALL_LISTS, SMALL_LISTS, st.sampled_from(sorted(FILTERS)), st.booleans())
def test_comprehensions_mean_what_python_means(xs, ys, condition, nested_range):
    keep = FILTERS[condition]
    inner = "range(x + 4)" if nested_range else "ys"
    program = f"let xs = {xs}\nlet ys = {ys}\nlet a = [[x, y] for x in xs for y in {inner} if {condition}]"
    expected = [[x, y] for x in xs for y in (range(x + 4) if nested_range else ys) if keep(x, y)]
    assert value(program) == expected


@fast(60)
@given(
    st.integers(3, 200),
    st.floats(1e-3, 10),
    st.floats(1e-3, 10),
    st.tuples(st.floats(-5, 5), st.floats(-5, 5)),
)
def test_ellipses_lie_on_their_curve_in_order(n, rx, ry, center):
    got = points(f"let e = ellipse(rx={rx!r}, ry={ry!r}, n={n}, center=[{center[0]!r}, {center[1]!r}])")
    assert got.shape == (n, 2)
    u, v = (got[:, 0] - center[0]) / rx, (got[:, 1] - center[1]) / ry
    np.testing.assert_allclose(u * u + v * v, 1, rtol=1e-9)
    angles = np.unwrap(np.arctan2(v, u))
    np.testing.assert_allclose(np.diff(angles), 2 * math.pi / n, rtol=1e-6)  # counter-clockwise, evenly


def test_the_reference_examples_of_section_7_compile():
    reference = (Path(__file__).resolve().parents[2] / "docs" / "language.md").read_text()
    section = reference.split("## 7. Values and expressions")[1].split("## 8.")[0]
    arched = re.search(r"`(extrude\(polygon=arc\(.*?\))`", section, re.S).group(1)
    shape = compile_text(f"part p {{ {' '.join(arched.split())} }}")
    np.testing.assert_allclose(shape.vertices.min(axis=0), [-0.3, -0.2, 0], atol=1e-6)
    for example in re.findall(r"`(\[\[.*? for .*?\])`", section):
        program = f"let xs = [1, 2]\nlet ys = [2, 3]\nlet a = {example}\npart p {{ box(size=[1, 1, 1]) }}"
        assert errors(check(program)) == []


@fast(60)
@given(
    st.floats(0.01, 5),
    st.floats(0.01, 5),
    st.floats(0, 1),
    st.integers(2, 20),
    st.tuples(st.floats(-5, 5), st.floats(-5, 5)),
)
def test_rounded_rects_are_convex_counter_clockwise_inside_their_box_without_repeats(w, d, share, n, center):
    r = min(w, d) / 2 * share
    got = points(
        f"let s = rounded_rect(size=[{w!r}, {d!r}], r={r!r}, n={n}, center=[{center[0]!r}, {center[1]!r}])"
    )
    assert len(got) <= (4 * n if r > 0 else 4) and len(np.unique(got, axis=0)) == len(got)
    local = got - center
    assert np.all(np.abs(local) <= np.array([w, d]) / 2 * (1 + 1e-12) + 1e-12)
    edges = np.roll(got, -1, axis=0) - got
    turns = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    assert np.all(turns >= -1e-12 * max(w, d) ** 2)  # every corner turns left: convex, counter-clockwise
    assert signed_area(got) == pytest.approx(
        w * d - (4 - 4 * (n - 1) / 2 * math.sin(math.pi / 2 / max(n - 1, 1))) * r * r, rel=1e-9, abs=1e-12
    )


@fast(60)
@given(st.floats(-720, 720), st.floats(-359, 359).filter(lambda s: abs(s) > 1e-6), st.integers(2, 50))
def test_arcs_run_evenly_from_start_to_end(start, sweep, n):
    got = points(f"let a = arc(r=1.5, start={start!r}, end={start + sweep!r}, n={n})")
    np.testing.assert_allclose(
        got, ring([0, 0], 1.5, 1.5, start + sweep * np.arange(n) / (n - 1)), atol=1e-12
    )


def test_moving_a_point_list_by_a_vector_is_shown_the_comprehension():
    (diagnostic,) = errors(check("let a = circle(r=1) + [1, 0]"))
    assert (diagnostic.code, diagnostic.column) == ("E205", 9)
    assert "[p + v for p in points]" in diagnostic.hint
    moved = points("let a = [p + [1, 0] for p in circle(r=1, n=4)]")
    assert moved.tolist() == [[2, 0], [1, 1], [0, 0], [1, -1]]
