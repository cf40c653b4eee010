"""Every pass over the syntax tree handles every node type.

A new node type (a `repeat` statement, a comprehension) fails here, naming the first pass that
does not know it, before any user meets it. A pass "handles" a type with a `visit_<ClassName>`
method (or a CHILD_FIELDS entry); a type it leaves on purpose to a parent or to the generic
walk is listed beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from proto3d.compiler.check import _Checker
from proto3d.compiler.evaluate import _Evaluator
from proto3d.grammar import ast
from proto3d.grammar.format import _Expression, _Header
from proto3d.limits import Limits

NODE_TYPES = [
    t for t in vars(ast).values() if isinstance(t, type) and issubclass(t, ast.Node) and t is not ast.Node
]


def visited(*visitors: type) -> set[type]:
    return {t for t in NODE_TYPES for v in visitors if hasattr(v, "visit_" + t.__name__)}


EXPRESSIONS = {ast.Number, ast.String, ast.Bool, ast.Name, ast.Vector, ast.BinOp, ast.Unary, ast.Call}
EXPRESSIONS |= {ast.Index, ast.Attr, ast.Arg, ast.LoopVar, ast.DefParam, ast.Comprehension, ast.Filter}

# (pass, node types it handles, node types it leaves to others on purpose).
PASSES = [
    ("children", set(ast.CHILD_FIELDS), set()),
    (
        "checker",
        visited(_Checker),
        # expressions are walked for their names and calls; the rest hold nothing to check
        {ast.Number, ast.String, ast.Bool, ast.Vector, ast.BinOp, ast.Unary, ast.Index, ast.Attr, ast.Arg}
        # checked by the `for`, `def` or comprehension that holds it (and opens the scope it defines)
        | {ast.LoopVar, ast.DefParam, ast.Filter},
    ),
    ("formatter", visited(_Header, _Expression), set()),
    # statements through its table; expressions through compile_expr, arguments and loop
    # variables by the statements that hold them
    ("evaluator", set(_Evaluator(Limits(), {}).statements), EXPRESSIONS),
]


def first_unhandled(handled: set[type], left: set[type], node_types: list[type]) -> str | None:
    return next((t.__name__ for t in node_types if t not in handled | left), None)


@pytest.mark.parametrize(("name", "handled", "left"), PASSES, ids=[p[0] for p in PASSES])
def test_every_node_type_is_handled(name, handled, left):
    missing = first_unhandled(handled, left, NODE_TYPES)
    assert missing is None, f"{name} does not handle ast.{missing}"


def test_a_new_node_type_is_reported_by_name():
    @dataclass(frozen=True)
    class RepeatStmt(ast.Node):
        count: ast.Node

    _, handled, left = PASSES[1]
    assert first_unhandled(handled, left, [*NODE_TYPES, RepeatStmt]) == "RepeatStmt"


def test_node_types_are_found_in_ast():
    assert {ast.Number, ast.Call, ast.IfStmt, ast.PrimitiveStmt} <= set(NODE_TYPES)
    assert ast.Program not in NODE_TYPES  # a root, not a node: every pass starts there
