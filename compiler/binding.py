"""How the arguments of a call site (a primitive or a transform) bind to its signature.

Bound once while compiling. An argument that is a constant (`size=[0.4, 0.3, 0.2]`) is
evaluated and checked at its first run only; once every constant is known and free, a run
starts from a template of their values and evaluates the variable arguments alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from proto3d.compiler import language as lang
from proto3d.compiler.steps import StepMeter
from proto3d.compiler.values import coerce
from proto3d.errors import Span
from proto3d.grammar import ast
from proto3d.limits import Limits


class BoundArg(NamedTuple):
    param: lang.Param
    value: Callable[[], object]  # the compiled argument expression
    span: Span
    cost: int | None  # None if it may change between runs, else the steps it costs from the second run on


@dataclass
class Binding:
    owner: str  # the primitive or transform, for messages
    args: list[BoundArg]
    defaults: dict  # values of the parameters not given
    variable_args: list[BoundArg]
    constants: dict = field(
        default_factory=dict
    )  # parameter name -> constant value, checked at its first run
    template: dict | None = None  # every value, once the constants are known and cost no steps

    @classmethod
    def of(cls, owner: str, args: list[ast.Arg], params: tuple[lang.Param, ...], compile_expr) -> Binding:
        by_name = lang.BY_NAME[params]
        bound, positional = [], 0
        for arg in args:
            if arg.name is None:
                param = params[positional]
                positional += 1
            else:
                param = by_name[arg.name]
            bound.append(BoundArg(param, compile_expr(arg.value), arg.value.span, constant_cost(arg.value)))
        given = {b.param.name for b in bound}
        defaults = {p.name: p.default for p in params if p.name not in given}
        return cls(owner, bound, defaults, [b for b in bound if b.cost is None])

    def values(self, limits: Limits, meter: StepMeter) -> dict:
        """Parameter name -> checked value for one run."""
        owner = self.owner
        if self.template is not None:  # constants known and free: evaluate the variable arguments only
            values = self.template.copy()
            for param, value, span, _ in self.variable_args:
                values[param.name] = coerce(value(), param, span, owner, limits)
            return values
        values: dict = {}
        constants = self.constants
        for param, value, span, cost in self.args:
            if cost is None:
                values[param.name] = coerce(value(), param, span, owner, limits)
                continue
            known = constants.get(param.name, constants)
            if known is constants:  # first run: evaluated and checked as any other argument
                known = constants[param.name] = coerce(value(), param, span, owner, limits)
                if isinstance(known, np.ndarray):
                    known.flags.writeable = False  # shared by every run from now on
            elif cost:
                meter.charge(span, cost)  # what evaluating it again would have cost
            values[param.name] = known
        values.update(self.defaults)
        if not any(arg.cost for arg in self.args):  # every constant is now checked and costs no steps
            self.template = values.copy()
        return values


def constant_cost(node) -> int | None:
    """Steps that evaluating a constant argument costs again (None if it is not constant).

    Constants are numbers, strings, booleans, negated numbers and vectors of those; a
    vector of plain numbers is built while compiling and costs nothing. Every other cost is
    the same at every run, so a run's steps depend on its inputs only (the memo relies on it).
    """
    t = type(node)
    if (
        t in (ast.Number, ast.String, ast.Bool)
        or t is ast.Unary
        and node.op in "-+"
        and type(node.operand) is ast.Number
    ):
        return 0
    if t is ast.Vector and all(constant_cost(i) == 0 and type(i) is not ast.Vector for i in node.items):
        return 0 if all(type(i) is ast.Number for i in node.items) else len(node.items)
    return None
