"""Hostile numbers, work that used to cost no steps, and the evaluation deadline (issue 9).

Every number in the evaluator is finite: NaN and ±inf are stopped, positioned, where an
operator or builtin makes them. Every operation costs steps in proportion to its work, so
the step limit bounds any program's time; `Limits.max_seconds` bounds it on the clock.
"""

from __future__ import annotations

import math
import subprocess
import sys
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proto3d.agent import loop as agent_loop
from proto3d.compiler import Limits, check, compile_text, measure
from proto3d.compiler import evaluate as evaluation
from proto3d.compiler.build import DEFAULT_LIMITS
from proto3d.compiler.builtins import BUILTINS
from proto3d.errors import Proto3dError, errors
from proto3d.grammar import parse
from tests.helpers.strategies import fast

pytestmark = pytest.mark.filterwarnings("error")  # no overflow warning from NumPy either

NAN = "lerp(1e308, -1e308, 0)"  # (b - a) overflows to -inf, times 0 is NaN: made inside the builtin
BOX = "box(size=[1, 1, 1])"

CASES = [
    # code, program, line, column, words the message must contain
    ("E210", "let a = lerp(0, 1e300, 1e300)", 1, 9, "`lerp`"),
    ("E210", f"let a = {NAN}", 1, 9, "`lerp`"),
    ("E210", "let a = lerp([1, 1e308], [2, -1e308], 0.5)", 1, 9, "`lerp`"),
    ("E210", "let a = sum([1e308, 1e308])", 1, 9, "`sum`"),
    ("E210", "let a = 1e300 * 1e300", 1, 9, "`*`"),
    ("E210", "let a = [1, 1e300] * 1e300", 1, 9, "`*`"),
    ("E210", "let a = 10 ** 400", 1, 9, "`**`"),
    ("E210", "let a = [10, 2] ** 400", 1, 9, "`**`"),
    ("E210", "let a = (-8) ** 0.5", 1, 10, "`**`"),
    ("E210", "let a = -1e308 - 1e308", 1, 9, "`-`"),
    ("E206", "let a = 0 ** -1", 1, 9, "division by zero"),
    ("E206", "let a = 5 % 0", 1, 9, "division by zero"),
    ("E206", "let a = [5, 1] % 0", 1, 9, "division by zero"),
    ("E013", "let a = 1e400", 1, 9, "out of range"),
    ("E013", "let a = 2e308mm", 1, 9, "out of range"),
    # a NaN made anywhere stops where it is made, before it reaches a size, a position or a count
    ("E210", f"part p {{ box(size=[1, 1, 1], at=[{NAN}, 0, 0]) }}", 1, 34, "`lerp`"),
    ("E210", f"part p {{ box(size=[1, 1, 1], rot=[0, {NAN}, 0]) }}", 1, 38, "`lerp`"),
    ("E210", f"part p {{ box(size=[1, 1, {NAN}]) }}", 1, 26, "`lerp`"),
    ("E210", f"part p {{ lathe(profile=[[0, 0], [1, {NAN}]]) }}", 1, 37, "`lerp`"),
    ("E210", f"part p {{ sweep(path=[[0, 0, 0], [0, 0, {NAN}]], r=0.1) }}", 1, 40, "`lerp`"),
    ("E210", f"bounds [1, 1, {NAN}]", 1, 15, "`lerp`"),
    ("E210", f"radial(n={NAN}) part p {{ {BOX} }}", 1, 10, "`lerp`"),
    ("E210", f"part p {{ sphere(r=1, segments={NAN}) }}", 1, 31, "`lerp`"),
    # huge but finite numbers used as an index, a count or a range
    ("E207", "let a = [1, 2][floor(1e300)]", 1, 9, "index 1e+300 is out of range"),
    ("E207", "let a = [1, 2][-floor(1e300)]", 1, 9, "index -1e+300 is out of range"),
    ("E207", f"part leg {{ {BOX} }}\nlet a = leg[floor(1e300)].top", 2, 9, "`[1e+300]` is out of range"),
    ("E210", f"radial(n=floor(1e300)) part p {{ {BOX} }}", 1, 10, "out of range"),
    ("E210", "part p { sphere(r=1, segments=floor(1e300)) }", 1, 31, "out of range"),
    ("E210", "for i in range(1e300) { }", 1, 10, "out of range"),
    ("E303", "let r = range(0, 200000)", 1, 9, "loop limit"),
    ("E210", "scale(1e6) " * 60 + f"part p {{ {BOX} }}", 1, 11 * 49 + 1, "transforms"),
    ("E204", "let a = lerp([1, 2, 3], [[1], [2], [3]], 0.5)", 1, 9, "cannot take"),
    # a size given as one number or a list is range-checked either way (bench/fuzz.py found the first: float32 inf)
    (
        "E210",
        "part p { sweep(path=[[0, 0, 0], [1, 0, 0]], r=norm([1e200, 1e200, 1e200])) }",
        1,
        47,
        "out of range",
    ),
    ("E210", "part p { sweep(path=[[0, 0, 0], [1, 0, 0]], r=[0.1, 2e6]) }", 1, 47, "out of range"),
]


@pytest.mark.parametrize(
    "code, program, line, column, words", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_hostile_number_is_a_positioned_error(code, program, line, column, words):
    problems = errors(check(program))
    assert [(d.code, d.line, d.column) for d in problems] == [(code, line, column)], [
        d.format() for d in problems
    ]
    assert words in problems[0].message
    with pytest.raises(Proto3dError):
        compile_text(program)


def test_results_that_are_finite_are_exact():
    # norm does not overflow on the way to a finite length; tiny results are not errors
    shape = compile_text(
        "let n = norm([3e300, 4e300]) / 1e300\nlet t = sin(1e-310) * 1e300\n"
        'part p { box(size=[n, 1 + t, 1], align="bottom") }'
    )
    assert shape.primitives[0].params["size"].tolist() == [
        5.0,
        1.0 + math.sin(math.radians(1e-310)) * 1e300,
        1.0,
    ]


@pytest.mark.parametrize("value", ["nan", "-inf"])
def test_cli_param_that_is_not_a_finite_number(tmp_path, value):
    source = tmp_path / "p.pdsl"
    source.write_text(f"param h = 0.5 in [0.1, 1]\npart p {{ {BOX} }}\n")
    out = tmp_path / "p.glb"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "proto3d.cli",
            "compile",
            str(source),
            "--param",
            f"h={value}",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert f"p.pdsl:1:1: error E211: value {value} for param `h`" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**400, "0.5", True])
def test_api_param_that_is_not_a_finite_number(value):
    with pytest.raises(Proto3dError) as raised:
        compile_text(f"param h = 0.5 in [0.1, 1]\npart p {{ {BOX} }}", params={"h": value})
    (diagnostic,) = raised.value.diagnostics
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("E211", 1, 1)


EXTREMES = st.sampled_from(
    [
        "0",
        "-0",
        "1e-310",
        "-1e-310",
        "1e308",
        "-1e308",
        "1e6",
        "90",
        "-1",
        "0.5",
        "[1e308, -1e308, 0]",
        "[0, 0, 0]",
        "[1e-310, 1, 2]",
        "range(3)",
        '"a"',
        "true",
    ]
)
FUNCTIONS = st.sampled_from(sorted(BUILTINS))
OPERATORS = st.sampled_from(["+", "-", "*", "/", "%", "**", "==", "<"])


@fast(300)
@given(FUNCTIONS, st.lists(EXTREMES, min_size=1, max_size=3), OPERATORS, EXTREMES)
def test_builtins_and_operators_with_extreme_arguments_never_make_a_non_finite_number(func, args, op, other):
    program = f"let a = {func}({', '.join(args)})\nlet b = a {op} {other}\n"
    evaluator = evaluation._Evaluator(DEFAULT_LIMITS, {})
    try:
        evaluator.run(parse(program))
    except evaluation.EvalError as error:
        assert error.diagnostic.code in ("E106", "E204", "E205", "E206", "E207", "E210", "E303")
        assert error.diagnostic.span.line in (1, 2)
        return
    for value in evaluator.env[1:]:
        if isinstance(value, float):
            assert math.isfinite(value)
        elif hasattr(value, "dtype"):
            assert (abs(value) < math.inf).all()


# ---- work costs steps ---------------------------------------------------------------------------


def steps(program: str, limits: Limits = DEFAULT_LIMITS) -> int:
    evaluator = evaluation._Evaluator(limits, {})
    evaluator.run(parse(program))
    return evaluator.steps


def doubling(levels: int) -> str:
    lines = ["let l0 = [1, 2]"] + [f"let l{k + 1} = [l{k}, l{k}]" for k in range(levels)]
    return "\n".join(lines) + f"\nlet same = l{levels} == l{levels}\n"


def test_comparing_shared_lists_hits_the_step_limit():
    # 22 doublings make 2^22 leaves in 22 statements; comparing them took 16 s and cost no steps
    problems = errors(check(doubling(22)))
    assert [(d.code, d.line, d.column) for d in problems] == [("E304", 24, 12)]


@pytest.mark.parametrize("n", [100, 1000])
def test_comparison_costs_a_step_per_item_it_visits(n):
    items = ", ".join(['"a"'] * n)
    base = f"let l = [{items}]\nlet m = [{items}]\n"
    assert steps(base + "let e = l == m\n") - steps(base) >= n
    assert steps(base + "let e = l == [1]\n") - steps(base) <= 3  # unequal lengths: nothing visited


@pytest.mark.parametrize(
    "program, work",
    [
        ("let r = range(8000)\n", "let s = sum(r)\n"),
        ("let r = range(8000)\n", "let s = max(r)\n"),
        ("let r = range(8000)\n", "let s = r == r\n"),
        ("let r = range(8000)\n", "let s = r * 2\n"),
        ("let r = range(8000)\n", "for x in r, y in [] { }\n"),
        ("let i = 1\n", "let s = " + " + ".join(["i"] * 200) + "\n"),
    ],
)
def test_every_operation_pays_for_the_numbers_it_touches(program, work):
    # a step per 8 numbers of an array read or made, per item of a list iterated, per operator
    assert steps(program + work) - steps(program) >= 199


def anchors(boxes: int, reads: int) -> str:
    return (
        f"part base {{ for i in range({boxes}) {{ box(size=[0.1, 0.1, 0.1], at=[i * 0.01, 0, 0.05]) }} }}\n"
        f"for j in range({reads}) {{ let t = base.top }}\n"
    )


def test_part_anchors_measure_each_primitive_once():
    # 5,000 boxes x 90,000 reads took 190 s: every read measured every primitive of the part again
    with mock.patch.object(measure, "tessellate", wraps=measure.tessellate) as tessellate:
        assert steps(anchors(500, 5000)) < 100_000
    assert sum(len(call.args[0]) for call in tessellate.call_args_list) == 500


def test_part_anchors_follow_a_growing_part():
    program = """part p { box(size=[1, 1, 1], at=[0, 0, 0.5]) }
part q { sphere(r=0.1, at=p.top) }
part p { box(size=[1, 1, 1], at=[0, 0, 2]) }
part q { sphere(r=0.1, at=p.top) }
part q { sphere(r=0.1, at=p[0].top) }
part q { sphere(r=0.1, at=p[1].bottom) }
part p { box(size=[1, 1, 1], at=[0, 0, 4], segments=4) }
part q { sphere(r=0.1, at=p.top) }
"""
    shape = compile_text(program)
    assert [p.matrix[2, 3] for p in shape.primitives if p.kind == "sphere"] == [1.0, 2.5, 1.0, 1.5, 4.5]


# ---- the deadline -------------------------------------------------------------------------------


class Clock:
    """time.monotonic for the evaluator: one second passes at every reading."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


LONG = "for i in range(100000) {\n    let a = i * 2\n}\n"


def test_deadline_stops_evaluation_at_the_statement_running():
    with mock.patch("proto3d.compiler.steps.time.monotonic", Clock()):
        problems = errors(check(LONG, limits=Limits(max_seconds=2.5)))
    assert [(d.code, d.line, d.column) for d in problems] == [("E308", 2, 5)]
    assert "2.5 s" in problems[0].message


def test_deadline_changes_no_result():
    program = (
        anchors(50, 3000) + "for k in range(500) { part q { sphere(r=0.01, at=[k * 0.01, 1, 0.01]) } }\n"
    )
    with mock.patch("proto3d.compiler.steps.time.monotonic", lambda: 0.0):
        timed = compile_text(program, limits=Limits(max_seconds=1.0))
    plain = compile_text(program)
    assert [p.matrix.tolist() for p in timed.primitives] == [p.matrix.tolist() for p in plain.primitives]
    assert steps(program, Limits(max_seconds=1e9)) == steps(program)


def test_agent_compiles_under_a_deadline():
    with mock.patch("proto3d.compiler.steps.time.monotonic", Clock()), pytest.raises(Proto3dError) as raised:
        agent_loop._compile(LONG, "coder.pdsl")
    assert [(d.code, d.line) for d in raised.value.diagnostics] == [("E308", 2)]
