"""The evaluator's shortcuts give exactly what plain evaluation gives.

A primitive statement whose inputs (the names its arguments read) repeat is evaluated once
per distinct input, and a primitive drawn in many places is normalised and counted once per
distinct shape; these tests run the same programs with those shortcuts switched off and compare
the primitive tables, the steps counted and the errors, position included.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given

from proto3d.compiler import Limits, check
from proto3d.compiler import evaluate as evaluation
from proto3d.compiler.build import DEFAULT_LIMITS
from proto3d.compiler.scopes import Scopes
from proto3d.errors import errors
from proto3d.grammar import ast, parse
from tests.helpers.strategies import fast, programs

EXAMPLES = sorted(Path(__file__).resolve().parents[2].joinpath("examples").glob("*.pdsl"))

LOOPS = """shape "loops"
part base { box(size=[1, 1, 0.1], at=[0, 0, 0.05]) }
for k in range(3), x in [-0.2, 0.2, -0.2] {
    translate([k, 0, 0]) rotate([0, 0, k * 30]) {
        part leg { cylinder(r=0.02, h=0.4, at=[x, 0.1, 0.2], segments=8 + k) }
        part cap { sphere(r=0.03, at=leg.top, color="#ff0000") }
        part tag { box(size=[0.1, 0.1, 0.1], at=[x, x, 0.15]) }
    }
}
"""


def run(text: str, limits: Limits = DEFAULT_LIMITS, memo: bool = True, shapes: bool = True):
    """The primitive table and steps (or the error and steps); `shapes=False` keys each shape by
    every variable argument, placing ones included: a shape per placement, as without the cache."""
    program = parse(text)
    with (
        mock.patch.object(evaluation, "_MEMO_TYPES", evaluation._MEMO_TYPES if memo else set()),
        mock.patch.object(evaluation, "_PLACING", evaluation._PLACING if shapes else set()),
    ):
        evaluator = evaluation._Evaluator(limits, {})
        try:
            result = evaluator.run(program)
        except evaluation.EvalError as error:
            return error.diagnostic, evaluator.steps
    rows = [
        (
            p.kind,
            {
                k: [np.asarray(i).tolist() for i in v] if type(v) is list else np.asarray(v).tolist()
                for k, v in p.params.items()
            },
            p.matrix.tolist(),
            p.segments,
            p.part_id,
            p.instance_id,
            p.color,
            p.span,
        )
        for p in result.primitives
    ]
    return rows, evaluator.steps


def test_memo_is_used_and_changes_nothing():
    program = parse(LOOPS)
    evaluator = evaluation._Evaluator(DEFAULT_LIMITS, {})
    with mock.patch.object(evaluator, "place_call", wraps=evaluator.place_call) as place_call:
        evaluator.run(program)
    # base once, leg once per distinct (k, x), cap every time (it reads a part), tag once per x
    assert place_call.call_count == 1 + 6 + 9 + 2
    assert run(LOOPS) == run(LOOPS, memo=False)


GRID = """shape "grid"
for i in range(4), j in range(3) {
    part cell { box(size=[0.1, 0.1, 0.05 + 0.01 * j], at=[i * 0.2, j * 0.2, 0.05], rot=[0, 0, 10 * i], align="bottom") }
    part ball { sphere(r=0.05, at=[i, j, 1], segments=4 + 4 * (i % 2), color=["#ff0000", "#00ff00"][i % 2]) }
}
"""


def test_a_shape_drawn_in_many_places_is_made_once_per_distinct_shape():
    program = parse(GRID)
    evaluator = evaluation._Evaluator(DEFAULT_LIMITS, {})
    with mock.patch.object(evaluator, "shape", wraps=evaluator.shape) as shape:
        result = evaluator.run(program)
    assert shape.call_count == 3 + 2  # the cells' 3 heights, the balls' 2 segment counts
    cells = [p for p in result.primitives if p.kind == "box"]
    assert len(cells) == 12 and len({id(p.params) for p in cells}) == 3
    assert sorted({p.params["size"][2] for p in cells}) == [0.05, 0.060000000000000005, 0.07]
    assert run(GRID) == run(GRID, shapes=False) == run(GRID, memo=False, shapes=False)


def test_an_argument_error_of_a_shape_made_before_is_the_same():
    text = GRID.replace("0.05 + 0.01 * j", "0.05 - 0.03 * j")  # negative at j = 2, made once
    error, _ = run(text)
    assert (error.code, error.line, error.column) == ("E107", 3, 17)
    assert run(text) == run(text, shapes=False) == run(text, memo=False, shapes=False)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_evaluate_the_same_with_and_without_memo(path):
    text = path.read_text()
    assert run(text) == run(text, memo=False) == run(text, memo=False, shapes=False)


@fast(40)
@given(programs())
def test_generated_programs_evaluate_the_same_with_and_without_memo(text):
    assert run(text) == run(text, memo=False) == run(text, memo=False, shapes=False)


@pytest.mark.parametrize("max_steps", range(0, 140, 3))
def test_step_limit_fails_at_the_same_place_with_and_without_memo(max_steps):
    limits = Limits(max_steps=max_steps)
    with_memo, without = run(LOOPS, limits), run(LOOPS, limits, memo=False)
    assert with_memo == without
    if isinstance(with_memo[0], list):
        assert max_steps >= with_memo[1]
    else:
        assert with_memo[0].code == "E304"


def test_same_arguments_under_another_transform_are_placed_anew():
    text = """shape "t"
for i in [0, 1, 2] {
    translate([i, 0, 0]) { part p { box(size=[1, 1, 1], at=[0, 0, 0.5]) } }
}"""
    rows, _ = run(text)
    assert [row[2][0][3] for row in rows] == [0.0, 1.0, 2.0]
    assert not errors(check(text))


def test_every_statement_type_has_a_handler():
    statements = {t for t in ast.CHILD_FIELDS if t.__name__.endswith("Stmt")} | {ast.Block}
    assert set(evaluation._Evaluator(DEFAULT_LIMITS, {}).statements) == statements


def first_argument(text: str) -> ast.Node:
    return parse(text).statements[0].block.body[0].args[0].value


def test_inputs_are_the_slots_an_expression_reads_or_none_when_it_reads_a_part():
    scopes = Scopes()
    a, b = scopes.define("a"), scopes.define("b")
    assert (a, b) == (1, 2)  # slot 0 is pi
    assert scopes.inputs([first_argument("part q { box(size=[b * 2, -a, max(b, pi)]) }")]) == (0, 1, 2)
    assert scopes.inputs([first_argument("part q { box(size=[1, 2, 3]) }")]) == ()
    assert scopes.inputs([first_argument("part q { box(size=p.size + [b, 0, 0]) }")]) is None
