"""Evaluate a checked program into the primitive and part tables: what each statement and expression means.

A tree-walking interpreter over the frozen AST. It never runs user code: every value is a
float, bool, string, NumPy vector/point list, Python list or part reference, and every
construct is bounded by `Limits`. The first runtime error stops evaluation.

Two promises hold for any input. Every number is finite: each value an operator or builtin
makes passes `_Evaluator.made` once, so NaN and ±inf never exist. Every operation costs steps
in proportion to its work (a statement and each operator, call, index or attribute in it one
step; a list item made or iterated one; a new array two more; every 8 numbers an operation
reads or makes one; a point function's fixed NumPy work `builtins.CALL_STEPS`; `==` what it
visits; a part's box is kept and grown, not measured again at each anchor, and a read that
measures pays for the primitives and triangles it measures; a boolean block pays for its
operands' triangles and for those each of its steps makes, a step running only when the steps
left could pay for it), so the step limit bounds the time of any program, and
`Limits.max_seconds` is checked cheaply at step-count checkpoints.

The semantics live here, in `_Evaluator`; the machinery it leans on has a module each:
`scopes` (names to slots), `steps` (the step meter), `binding` (arguments to parameters),
`memo` (a primitive statement evaluated once per distinct input), `values` (coercion,
colours, frames), `builtins` (the functions) and `measure` (the early tessellation behind
part anchors, given by `build`).
"""

from __future__ import annotations

import itertools
import math
import operator
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from proto3d.compiler import language as lang
from proto3d.compiler.binding import Binding, constant_cost
from proto3d.compiler.booleans import BooleanNode, solve
from proto3d.compiler.builtins import BUILTINS, POINT_FUNCTIONS
from proto3d.compiler.measure import Measure, PartBoxes, measure_boxes
from proto3d.compiler.memo import MemoEntry, Placement, PlacementCache, Shape
from proto3d.compiler.primitives import PRIMITIVES, ArgumentError
from proto3d.compiler.scopes import Scopes, free_names
from proto3d.compiler.shape import AnchorRead, Instance, Part, Primitive
from proto3d.compiler.steps import StepMeter
from proto3d.compiler.tessellate import Tessellation, local_bounds, triangle_count
from proto3d.compiler.values import (
    EvalError,
    PartRef,
    affine,
    align_point,
    anchor_point,
    fail,
    hex_color,
    is_int_literal,
    parse_color,
    reflection,
    rotation,
    truth,
    type_name,
    vector,
)
from proto3d.errors import CallSite, Diagnostic, Span
from proto3d.grammar import ast
from proto3d.limits import Limits

__all__ = ["EvalError", "Evaluation", "PALETTE", "evaluate", "rotation"]

STEPS_PER_MADE = 10  # a triangle made by a step of a boolean block (see `boolean`)
ARRAY_STEPS = 2  # a new array, besides its numbers (see `made`)

PALETTE = [
    "#c8a165",
    "#6d8fb3",
    "#b35f5f",
    "#7fa36b",
    "#9a7cb8",
    "#d18f4b",
    "#5fa3a3",
    "#a3a35f",
    "#b87c9a",
    "#7c7c7c",
    "#5f7fb3",
    "#b3935f",
]


@dataclass
class Evaluation:
    name: str
    bounds: np.ndarray | None
    params: dict
    parts: list[Part]
    instances: list[Instance]
    primitives: list[Primitive]
    triangles: int  # what tessellating every primitive gives, plus the triangles of the boolean results
    warnings: list[Diagnostic] = field(default_factory=list)
    anchor_reads: list[AnchorRead] = field(default_factory=list)
    booleans: list[tuple[range, Tessellation]] = field(default_factory=list)  # each result and its operands


class CompiledStatement(NamedTuple):
    span: Span
    cost: int  # steps paid before each run
    run: Callable[[], None]


@dataclass
class CompiledDef:
    """A def, compiled once where it is written: its parameters own slots its calls fill (defs cannot
    recurse, so no call of a def runs inside another call of it)."""

    node: ast.DefStmt
    slots: list[int]  # one per parameter
    defaults: list  # per parameter: (compiled default, its steps), or None when the call must give it
    body: Callable[[], None]
    depth: int  # block nesting of the body, its calls inlined (so the nesting limit holds through calls)


def evaluate(
    program: ast.Program, limits: Limits, overrides: dict | None = None, measure: Measure = measure_boxes
) -> Evaluation:
    """Run the program; raise EvalError with the first runtime problem.

    `measure` gives the world boxes of primitives when a part's anchor is read."""
    return _Evaluator(limits, overrides or {}, measure).run(program)


class _Evaluator:
    """Compiles the syntax tree to closures once, then runs them.

    Each statement compiles to a closure that runs it, each expression to one that returns its
    value; names are resolved to slots while compiling (see `scopes`), so running costs no
    dispatch on node types and no search through scopes. Read it in order: the driver, the
    statements (one method per AST class, in `self.statements`), the primitive statement and
    its placement, then the expressions and the parts' anchors.
    """

    def __init__(self, limits: Limits, overrides: dict, measure: Measure = measure_boxes):
        self.limits = limits
        self.overrides = dict(overrides)
        self.scopes = Scopes()
        self.env = self.scopes.env  # runtime values, one slot per definition
        self.meter = StepMeter(limits)
        self.step = self.meter.charge  # every operation pays before it runs
        self.operations = 0  # while compiling a statement: the operations in its expressions
        self.statement_span = Span()  # while compiling: the span of the statement being compiled
        self.statements = {
            ast.Block: self.block,
            ast.ShapeStmt: self.shape_stmt,
            ast.BoundsStmt: self.bounds_stmt,
            ast.LetStmt: self.let_stmt,
            ast.ParamStmt: self.param_stmt,
            ast.PartStmt: self.part_stmt,
            ast.ForStmt: self.for_stmt,
            ast.IfStmt: self.if_stmt,
            ast.TransformStmt: self.transform_stmt,
            ast.BooleanStmt: self.boolean_stmt,
            ast.PrimitiveStmt: self.primitive_stmt,
            ast.DefStmt: self.def_stmt,
        }
        self.defs: dict[str, CompiledDef] = {}
        self.depth = -1  # while compiling: the braces around here (0 at the top level), calls inlined
        self.deepest = 0  # and the most reached
        # what the program has built so far
        self.name = ""
        self.bounds = None
        self.params: dict = {}
        self.parts: list[Part] = []
        self.part_index: dict[str, int] = {}
        self.instances: list[Instance] = []
        self.primitives: list[Primitive] = []
        self.warnings: list[Diagnostic] = []
        self.anchor_reads: list[AnchorRead] = []  # each distinct one, in the order they ran
        self.anchors_seen: set[tuple] = set()  # (attribute node, instance, primitives) already recorded
        self.triangles = 0
        self.iterations = 0
        self.open_booleans: list[BooleanNode] = []  # the boolean blocks running now, innermost last
        self.booleans: list[tuple[range, Tessellation]] = []
        self.made_by_boolean = 0  # triangles the steps of the boolean block running now have made
        # where it is building now
        self.matrix = np.eye(4)
        self.reach = 4.0  # sum of |self.matrix| entries: bounds the entries of self.matrix @ local
        self.current_instance: Instance | None = None
        self.current_color: tuple | None = None
        self.call_color: tuple | None = None  # `color=` of the def calls being run, the innermost given
        self.naming: tuple = ()  # the def calls with `as` being run
        self.call_sites: tuple[CallSite, ...] = ()  # the def calls being run, innermost first
        self.name_owners: dict[tuple[int, str], ast.PrimitiveStmt] = {}  # (instance, name) -> its statement
        self.piece_primitives: dict[tuple[int, str], list[int]] = {}  # (part, name) -> primitives, in order
        # what anchors read: the primitives of each part in the order they are added, and the boxes
        self.part_primitives: list[list[int]] = []
        self.primitive_triangles: list[int] = []  # of each primitive, for what measuring it costs
        self.part_boxes = PartBoxes(measure, self.primitives, self.primitive_triangles)
        self.colors: dict[str, tuple] = {}  # colour strings already parsed

    @property
    def steps(self) -> int:
        return self.meter.used

    # ---- driver ----------------------------------------------------------
    def run(self, program: ast.Program) -> Evaluation:
        self.compile_block(program.statements)()
        unknown = set(self.overrides) - set(self.params)
        if unknown:
            name = sorted(unknown)[0]
            fail(
                "E211",
                f"no param named `{name}` in this program",
                Span(),
                hint=lang.unknown_name_hint(name, self.params) or "declare it with `param`",
            )
        return Evaluation(
            self.name,
            self.bounds,
            self.params,
            self.parts,
            self.instances,
            self.primitives,
            self.triangles,
            self.warnings,
            self.anchor_reads,
            self.booleans,
        )

    # ---- statements: each compiles to a closure that runs it ---------------
    def compile_block(self, statements):
        self.depth += 1
        self.deepest = max(self.deepest, self.depth)
        try:
            with self.scopes.nested():
                return self.sequence([self.compile_statement(s) for s in statements])
        finally:
            self.depth -= 1

    def compile_statement(self, s) -> CompiledStatement:
        """A statement costs a step, and one per operation (operator, call, index, attribute) in its own
        expressions, not those of its body. Each operation runs at most once per run of the statement,
        so this bounds the work of any expression, however long."""
        outer, self.operations = self.operations, 0  # counted by compile_expr
        outer_span, self.statement_span = self.statement_span, s.span
        run = self.statements[type(s)](s)
        cost, self.operations, self.statement_span = 1 + self.operations, outer, outer_span
        return CompiledStatement(s.span, cost, run)

    def sequence(self, body: list[CompiledStatement]):
        """Run statements in order, each paying its steps before it runs."""
        meter = self.meter

        def run() -> None:
            for span, cost, statement in body:
                meter.used += cost
                if meter.used > meter.budget:
                    meter.over_budget(span)
                statement()

        return run

    def block(self, s: ast.Block):
        return self.compile_block(s.body)

    def shape_stmt(self, s: ast.ShapeStmt):
        name = self.compile_expr(s.name)

        def run() -> None:
            value = name()
            if not isinstance(value, str):
                fail(
                    "E212",
                    f"`shape` takes a name string, not {type_name(value)}",
                    s.span,
                    expected='shape "chair"',
                )
            self.name = value

        return run

    def bounds_stmt(self, s: ast.BoundsStmt):
        size = self.compile_expr(s.size)

        def run() -> None:
            value = vector(size(), 3, s.size.span, "bounds", self.limits)
            if np.any(value <= 0):
                fail(
                    "E212",
                    "bounds must be three positive sizes [width, depth, height] in metres",
                    s.size.span,
                )
            self.bounds = value

        return run

    def let_stmt(self, s: ast.LetStmt):
        value, env = self.compile_expr(s.value), self.env
        slot = self.scopes.define(s.name)  # after the value: `let a = a + 1` reads an outer `a`

        def run() -> None:
            env[slot] = value()

        return run

    def param_stmt(self, s: ast.ParamStmt):
        default, bounds = self.compile_expr(s.default), self.compile_expr(s.range)
        slot = self.scopes.define(s.name)

        def run() -> None:
            self.env[slot] = self.param(s, default(), bounds())

        return run

    def param(self, s: ast.ParamStmt, default, bounds):
        """The value of a param: its default or the override, checked against its range."""
        if not isinstance(default, float) or isinstance(default, bool):
            fail(
                "E211", f"param `{s.name}` must default to a number, not {type_name(default)}", s.default.span
            )
        if not (isinstance(bounds, np.ndarray) and bounds.shape == (2,)):
            fail("E211", f"the range of param `{s.name}` must be [lo, hi]", s.range.span, expected="[lo, hi]")
        lo, hi = float(bounds[0]), float(bounds[1])
        if lo > hi or not lo <= default <= hi:
            fail("E211", f"param `{s.name}` = {default:g} is outside its range [{lo:g}, {hi:g}]", s.span)
        is_int = is_int_literal(s.default) and all(is_int_literal(i) for i in getattr(s.range, "items", ()))
        value = default
        if s.name in self.overrides:
            value = self.overrides.pop(s.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                fail(
                    "E211",
                    f"value {value!r} for param `{s.name}` is outside its range [{lo:g}, {hi:g}]",
                    s.span,
                )
            if is_int and float(value) != int(value):
                fail("E211", f"param `{s.name}` takes integers; got {value!r}", s.span)
            value = float(value)
        self.params[s.name] = {
            "value": int(value) if is_int else value,
            "default": int(default) if is_int else default,
            "lo": int(lo) if is_int else lo,
            "hi": int(hi) if is_int else hi,
            "integer": is_int,
        }
        return value

    def part_stmt(self, s: ast.PartStmt):
        color = self.compile_expr(s.color) if s.color is not None else None
        body = self.compile_block(s.block.body)

        def run() -> None:
            self.enter_part(s, self.color(color(), s.color.span) if color is not None else None)
            try:
                body()
            finally:
                self.current_instance, self.current_color = None, None

        return run

    def enter_part(self, s: ast.PartStmt, color) -> None:
        """Start a new instance of the part (the part itself on its first use)."""
        if self.current_instance is not None:
            fail(
                "E111",
                f"part `{s.label}` is inside another part",
                s.span,
                hint="parts are flat: close the outer part's block first",
            )
        part_id = self.part_index.get(s.label)
        if part_id is None:
            part_id = len(self.parts)
            self.part_index[s.label] = part_id
            default = self.color(PALETTE[part_id % len(PALETTE)], s.span)
            self.parts.append(Part(s.label, color or default, [], s.span))
            self.part_primitives.append([])
        elif color is not None and color != self.parts[part_id].color:
            self.warnings.append(
                Diagnostic(
                    "W107",
                    f"part `{s.label}` already has colour {hex_color(self.parts[part_id].color)}; this "
                    f"instance is drawn in {hex_color(color)} but the legend keeps the first",
                    s.span,
                    severity="warning",
                    hint="give every instance of a part the same colour, or use another label",
                )
            )
        part = self.parts[part_id]
        instance = Instance(
            part_id, len(part.instance_ids), [], s.span, _UNMEASURED, _UNMEASURED, calls=self.call_sites
        )
        part.instance_ids.append(len(self.instances))
        self.instances.append(instance)
        self.current_instance, self.current_color = instance, color or part.color

    def for_stmt(self, s: ast.ForStmt):
        iterables = [
            (self.compile_expr(var.iterable), var.iterable.span) for var in s.vars
        ]  # before the names exist
        with self.scopes.nested():
            slots = [self.scopes.define(var.name) for var in s.vars]
            body = self.compile_block(s.block.body)
        env, limit = self.env, self.limits.max_loop_iterations

        def run() -> None:
            domains = []
            for iterable, span in iterables:
                values = self.iterable(iterable(), span)
                self.step(
                    span, len(values)
                )  # copied before the first iteration, even when another list is empty
                domains.append(values)
            for combination in itertools.product(*domains):
                self.iterations += 1
                if self.iterations > limit:
                    fail(
                        "E303",
                        f"more than {limit} loop iterations in total",
                        s.span,
                        hint="use fewer or smaller loops",
                    )
                for slot, value in zip(slots, combination):
                    env[slot] = value
                body()

        return run

    def if_stmt(self, s: ast.IfStmt):
        branches = [
            (self.compile_expr(condition), condition.span, self.compile_block(body.body))
            for condition, body in s.branches
        ]
        orelse = self.compile_block(s.orelse.body) if s.orelse is not None else None

        def run() -> None:
            for condition, span, body in branches:
                if truth(condition(), span):
                    body()
                    return
            if orelse is not None:
                orelse()

        return run

    def transform_stmt(self, s: ast.TransformStmt):
        binding = Binding.of(s.kind, s.args, lang.TRANSFORMS[s.kind], self.compile_expr)
        body = self.sequence([self.compile_statement(s.body)])
        # a frame's entries are checked arguments or cosines: an entry of `outer @ frame` is at most reach · bound
        frame_bound = max(1.0, self.limits.max_abs_value)

        def run() -> None:
            frames = self.frames(s, binding.values(self.limits, self.meter))
            outer, reach = self.matrix, self.reach
            if reach * frame_bound > 1e300:  # so no product of frames overflows to inf or NaN
                fail("E210", "the transforms around this block scale it out of the numeric range", s.span)
            try:
                for frame in frames:
                    self.matrix = outer @ frame
                    self.reach = sum(map(abs, self.matrix.ravel().tolist()))
                    body()
            finally:
                self.matrix, self.reach = outer, reach

        return run

    def frames(self, s: ast.TransformStmt, values: dict):
        """The frames a transform's body runs in, one per copy."""
        if s.kind == "translate":
            return [affine(offset=values["v"])]
        if s.kind == "rotate":
            return [affine(rotation(values["v"]))]
        if s.kind == "scale":
            factors = values["v"]
            if np.any(factors == 0):
                fail("E401", "scale factors must be non-zero", s.span)
            return [affine(np.diag(np.broadcast_to(factors, 3)))]
        if s.kind == "mirror":
            return [affine(reflection(values["axis"]))]
        if s.kind == "symmetric":
            frames = self.symmetric(values["axes"], s)
            self.copies(len(frames), s.span)
            return frames
        n = values["n"]  # radial
        if not 1 <= n <= self.limits.max_loop_iterations:
            fail("E401", f"radial needs n between 1 and {self.limits.max_loop_iterations}", s.span)
        self.copies(n, s.span)
        turn = np.radians(np.arange(n) * 360.0 / n + values["start"])  # copy k: Rz(turn) · T(r, 0, 0)
        c, s_ = np.cos(turn), np.sin(turn)
        frames = np.zeros((n, 4, 4))
        frames[:, 0, 0], frames[:, 0, 1], frames[:, 1, 0], frames[:, 1, 1] = c, -s_, s_, c
        frames[:, 0, 3], frames[:, 1, 3], frames[:, 2, 2], frames[:, 3, 3] = (
            c * values["r"],
            s_ * values["r"],
            1,
            1,
        )
        return frames

    def copies(self, n: int, span: Span) -> None:
        """Copies made by radial and symmetric count as loop iterations (checked before they are made)."""
        self.iterations += n - 1
        if self.iterations > self.limits.max_loop_iterations:
            fail(
                "E303",
                f"more than {self.limits.max_loop_iterations} loop iterations in total",
                span,
                hint="use fewer or smaller loops and repeats",
            )

    def symmetric(self, axes: str, s: ast.TransformStmt) -> list[np.ndarray]:
        axes = axes.lower()
        if not axes or any(a not in "xyz" for a in axes) or len(set(axes)) != len(axes):
            fail("E401", f'symmetric takes "x", "y", "z" or a combination like "xy", not {axes!r}', s.span)
        frames = [np.eye(4)]
        for axis in axes:
            mirror = affine(np.diag([-1.0 if a == axis else 1.0 for a in "xyz"]))
            frames += [mirror @ f for f in frames]
        return frames

    def boolean_stmt(self, s: ast.BooleanStmt):
        body = self.compile_block(s.block.body)
        keyword = Span(s.span.line, s.span.column, s.span.line, s.span.column + len(s.op))

        def run() -> None:
            if self.current_instance is None:
                fail("E140", f"`{s.op}` is outside any part", keyword, hint="put it in a `part label { … }`")
            node, first, triangles = BooleanNode(s.op, keyword), len(self.primitives), self.triangles
            self.open_booleans.append(node)
            try:
                body()
            finally:
                self.open_booleans.pop()
            if self.open_booleans:  # a nested block is an operand of the one around it
                self.open_booleans[-1].operands.append(node)
            elif first < len(self.primitives):
                self.boolean(node, first, self.triangles - triangles)

        return run

    def boolean(self, node: BooleanNode, first: int, operand_triangles: int) -> None:
        """Compute an outermost boolean block now, so the part's anchors below it read the result's box.

        Its operands' triangles pay two steps each, and every triangle a step of it makes, its
        result's included, `STEPS_PER_MADE` (manifold3d's work, 3-10 µs of CPU a triangle made, is
        what bounds the time of a program near the step limit: about a second); the result's count
        goes against the triangle limit."""
        operands = range(first, len(self.primitives))
        if self.meter.used + 2 * operand_triangles > self.limits.max_steps:
            fail(
                "E304",
                f"the program needs more than {self.limits.max_steps} evaluation steps: this `{node.op}` "
                f"costs 2 per triangle, and its operands have {operand_triangles}",
                node.span,
                hint="lower the `segments` of its operands, or cut fewer or simpler shapes",
            )
        self.step(node.span, 2 * operand_triangles)
        self.made_by_boolean = 0
        result, boxes = solve(
            node, self.primitives[first:], first, self.afford_boolean_step, self.pay_for_boolean_step
        )
        self.triangles += len(result.faces)
        if self.triangles > self.limits.max_triangles:
            fail(
                "E302",
                f"the shape exceeds {self.limits.max_triangles} triangles with the result of this `{node.op}`",
                node.span,
                hint="lower `segments` or cut fewer holes",
            )
        for i in operands:
            self.primitives[i].operand = True
        self.booleans.append((operands, result))
        self.part_boxes.replace(dict(zip(operands, boxes)))

    def afford_boolean_step(self, node: BooleanNode, triangles: int) -> None:
        if self.meter.used + STEPS_PER_MADE * triangles > self.limits.max_steps:
            self.boolean_over_steps(node, f"its next step may make {triangles} triangles")

    def pay_for_boolean_step(self, node: BooleanNode, made: int) -> None:
        self.made_by_boolean += made
        if self.meter.used + STEPS_PER_MADE * made > self.limits.max_steps:
            self.boolean_over_steps(node, f"its steps have made {self.made_by_boolean} triangles")
        self.step(node.span, STEPS_PER_MADE * made)

    def boolean_over_steps(self, node: BooleanNode, why: str) -> None:
        fail(
            "E304",
            f"the program needs more than {self.limits.max_steps} evaluation steps: this `{node.op}` "
            f"costs {STEPS_PER_MADE} per triangle its steps make, and {why}",
            node.span,
            hint="overlap fewer operands in one place, or lower their `segments`",
        )

    # ---- the primitive statement -----------------------------------------
    def primitive_stmt(self, s: ast.PrimitiveStmt):
        if s.name not in lang.CALLABLE:
            return self.def_call(s, self.defs[s.name])
        binding = Binding.of(s.name, s.args, lang.CALLABLE[s.name], self.compile_expr)
        inputs = self.scopes.inputs([arg.value for arg in s.args])
        env, meter, cache = self.env, self.meter, PlacementCache()

        def run() -> None:
            if self.current_instance is None:
                fail(
                    "E110",
                    f"`{s.name}` is outside any part",
                    s.name_span,
                    hint="wrap it in `part label { … }`",
                )
            key = None if inputs is None else tuple([env[slot] for slot in inputs])
            if key is not None and not set(map(type, key)) <= _MEMO_TYPES:
                key = None  # vectors, lists, parts: evaluated every time
            entry = cache.recall(key, meter)
            if entry is None:  # first run with these inputs: evaluate, check and place
                before = meter.used
                placement, color = self.place_call(s, binding, cache)
                entry = MemoEntry(placement, color, meter.used - before)
                cache.remember(key, entry)
            self.add_primitive(s, entry.placement, entry.color)

        return run

    def place_call(self, s: ast.PrimitiveStmt, binding: Binding, cache: PlacementCache) -> tuple:
        """(placement, colour) of one run of a primitive statement, its arguments evaluated and checked."""
        values = binding.values(self.limits, self.meter)
        arguments = []  # the constant arguments are the same at every run of the statement
        for arg in binding.variable_args:
            v = values[arg.param.name]
            if type(v) is list:  # holes: a list of point arrays
                v = tuple(points.tobytes() for points in v)
            arguments.append(v.tobytes() if type(v) is np.ndarray else v)
        # the shape does not depend on where it is placed: a grid of one box makes it once
        shape = tuple(v for arg, v in zip(binding.variable_args, arguments) if arg.param.name not in _PLACING)
        # different inputs may still give the same arguments: place each set once
        placement = cache.placement(
            tuple(arguments),
            lambda: self.place(s, values, cache.shape(shape, lambda: self.shape(s, values))),
        )
        return placement, self.color(values["color"], s.span) if values["color"] is not None else None

    def add_primitive(self, s: ast.PrimitiveStmt, placed: Placement, color) -> None:
        """Put the placed primitive in the current frame and part, within the limits."""
        matrix = self.matrix @ placed.local
        # |(M @ L)ij| <= (sum of |M|) * max |L|: only a placement near the limit needs its entries checked
        limit = self.limits.max_abs_value
        if not self.reach * placed.largest_entry < 0.5 * limit and not np.abs(matrix).max() <= limit:
            fail("E210", "the primitive's placement is out of the numeric range", s.span)
        self.triangles += placed.triangles
        if self.triangles > self.limits.max_triangles:
            fail(
                "E302",
                f"the shape exceeds {self.limits.max_triangles} triangles",
                s.span,
                hint="lower `segments` or use fewer primitives",
            )
        if len(self.primitives) >= self.limits.max_primitives:
            fail("E301", f"the shape exceeds {self.limits.max_primitives} primitives", s.span)
        instance = self.current_instance  # parts are flat, so it is always the newest instance
        self.primitives.append(
            Primitive(
                placed.kind,
                placed.params,
                matrix,
                placed.segments,
                instance.part_id,
                len(self.instances) - 1,
                color or self.call_color or self.current_color,
                s.span,
                self.call_sites,
            )
        )
        self.primitive_triangles.append(placed.triangles)
        primitive_id = len(self.primitives) - 1
        instance.primitive_ids.append(primitive_id)
        self.part_primitives[instance.part_id].append(primitive_id)
        for owner in self.naming if s.as_name is None else (*self.naming, s):
            self.name_primitive(instance, owner, primitive_id)
        if self.open_booleans:
            self.open_booleans[-1].operands.append(primitive_id)

    def name_primitive(self, instance: Instance, owner: ast.PrimitiveStmt, primitive_id: int) -> None:
        """File a primitive under the `as` name of the statement that drew it (or of a call around it);
        in one instance a name belongs to one statement, which may draw many (in a loop)."""
        name = owner.as_name
        first = self.name_owners.setdefault((len(self.instances) - 1, name), owner)
        if first is not owner:
            label = self.parts[instance.part_id].label
            fail(
                "E246",
                f"`{name}` already names what line {first.span.line} draws in this instance of `{label}`",
                owner.as_span,
                hint="give each named statement of a part its own name",
            )
        instance.names.setdefault(name, []).append(primitive_id)
        self.piece_primitives.setdefault((instance.part_id, name), []).append(primitive_id)

    # ---- defs and their calls --------------------------------------------
    def def_stmt(self, s: ast.DefStmt):
        """Compile the body once, in a scope of its own that sees the names above the def."""
        outer = self.depth, self.deepest
        self.depth = self.deepest = 0
        slots, defaults = [], []
        with self.scopes.nested():
            for param in s.params:
                if param.default is None:
                    defaults.append(None)
                else:  # compiled here (it may read the parameters before it), paid at each call using it
                    operations, self.operations = self.operations, 0
                    value = self.compile_expr(param.default)
                    defaults.append((value, 1 + self.operations))
                    self.operations = operations
                slots.append(self.scopes.define(param.name))
            body = self.compile_block(s.block.body)
        self.defs[s.name] = CompiledDef(s, slots, defaults, body, self.deepest)
        self.depth, self.deepest = outer
        return lambda: None

    def def_call(self, s: ast.PrimitiveStmt, d: CompiledDef):
        """Run the def's body where it is called, in the frame of its `at` and `rot`."""
        if self.depth + d.depth > self.limits.max_depth:
            fail(
                "E315",
                f"calling `{s.name}` here nests blocks {self.depth + d.depth} deep, over the limit of "
                f"{self.limits.max_depth}",
                s.name_span,
                hint="call defs from fewer levels of other defs and blocks",
            )
        self.deepest = max(self.deepest, self.depth + d.depth)
        index = {p.name: i for i, p in enumerate(d.node.params)}
        given, placement_args, positional = {}, [], 0  # given: parameter -> its argument, in written order
        for arg in s.args:
            if arg.name is None:
                given[positional] = self.compile_expr(arg.value)
                positional += 1
            elif arg.name in index:
                given[index[arg.name]] = self.compile_expr(arg.value)
            else:
                placement_args.append(arg)
        arguments = [(d.slots[i], value) for i, value in given.items()]
        defaults = [(d.slots[i], default) for i, default in enumerate(d.defaults) if i not in given]
        placement = Binding.of(s.name, placement_args, lang.DEF_PLACEMENT, self.compile_expr)
        env, frame_bound = self.env, max(1.0, self.limits.max_abs_value)
        call_site = CallSite(s.name, s.span)

        def run() -> None:
            values = [(slot, value()) for slot, value in arguments]  # in the caller's scope
            where = placement.values(self.limits, self.meter)
            if s.as_name is not None and self.current_instance is None:
                fail("E248", f"`as {s.as_name}` names what a call draws inside a part", s.as_span)
            for slot, value in values:
                env[slot] = value
            for slot, (default, cost) in defaults:
                self.step(s.span, cost)
                env[slot] = default()
            outer = self.matrix, self.reach, self.call_color, self.naming, self.call_sites
            if self.reach * frame_bound > 1e300:
                fail("E210", "the transforms around this call scale it out of the numeric range", s.span)
            rot = where["rot"]
            self.matrix = self.matrix @ affine(rotation(rot) if rot is not None else None, where["at"])
            self.reach = sum(map(abs, self.matrix.ravel().tolist()))
            if where["color"] is not None:
                self.call_color = self.color(where["color"], s.span)
            if s.as_name is not None:
                self.naming = (*self.naming, s)
            self.call_sites = (call_site, *self.call_sites)
            try:
                d.body()
            except EvalError as error:  # said where it was called from, innermost call first
                inside = error.diagnostic
                raise EvalError(replace(inside, calls=(*inside.calls, call_site))) from None
            finally:
                self.matrix, self.reach, self.call_color, self.naming, self.call_sites = outer

        return run

    def shape(self, s: ast.PrimitiveStmt, values: dict) -> Shape:
        """Normalised parameters, segments and triangle count of one primitive call: all but its placement."""
        kind = PRIMITIVES[s.name]
        try:
            params = kind.normalise(values, s.span)
        except ArgumentError as error:
            raise EvalError(error.diagnostic) from None
        segments = values["segments"] if values["segments"] is not None else lang.SEGMENTS_DEFAULT
        if not 3 <= segments <= self.limits.max_segments:
            fail("E305", f"segments must be between 3 and {self.limits.max_segments}, not {segments}", s.span)
        return Shape(params, segments, triangle_count(kind.name, params, segments))

    def place(self, s: ast.PrimitiveStmt, values: dict, shape: Shape) -> Placement:
        """The primitive call's `shape` with the local matrix its placement arguments give."""
        kind = PRIMITIVES[s.name]
        params, segments, triangles = shape
        local = kind.frame(params) if kind.frame is not None else None  # the checker kept at/rot/align out
        if local is None:
            local = affine(rotation(values["rot"]) if values["rot"] is not None else None, values["at"])
            if values["align"] is not None:
                lo, hi = local_bounds(kind.name, params)
                pivot = align_point(values["align"], np.asarray(lo, float), np.asarray(hi, float), s.span)
                local = local @ affine(offset=-pivot)
        largest_entry = max(map(abs, local.ravel().tolist()))  # NaN cannot come: arguments are finite
        return Placement(kind.name, params, segments, local, triangles, largest_entry)

    def color(self, value, span: Span) -> tuple[float, float, float]:
        rgb = self.colors.get(value) if type(value) is str else None
        if rgb is None:
            rgb = parse_color(value, span)
            self.colors[value] = rgb
        return rgb

    # ---- expressions: each compiles to a closure that returns its value ----
    def compile_expr(self, e):
        t = type(e)
        if t is ast.Number or t is ast.String or t is ast.Bool:
            value = e.value
            return lambda: value
        if t is ast.Name:
            env, slot = self.env, self.scopes.resolve(e.id)
            if slot is None:
                return lambda: self.part_ref(e.id, e.span)
            return lambda: env[slot]
        if t is ast.Vector:
            return self.compile_vector(e)
        if t is ast.Unary and e.op != "not" and type(e.operand) is ast.Number:  # -2, +2: a constant
            value = -e.operand.value if e.op == "-" else e.operand.value
            return lambda: value
        self.operations += 1
        if t is ast.BinOp:
            return self.compile_binop(e)
        if t is ast.Unary:
            operand = self.compile_expr(e.operand)
            if e.op == "not":
                return lambda: not truth(operand(), e.operand.span)
            return lambda: self.negate(operand(), e)
        if t is ast.Attr:
            target, statement = self.compile_expr(e.target), self.statement_span
            return lambda: self.attribute(target(), e, statement)
        if t is ast.Index:
            target, index = self.compile_expr(e.target), self.compile_expr(e.index)
            return lambda: self.index(target(), index(), e)
        if t is ast.Comprehension:
            return self.compile_comprehension(e)
        if t is ast.Call and e.func in POINT_FUNCTIONS:
            return self.compile_points(e)
        if t is ast.Call:
            if any(a.name is not None for a in e.args):
                return lambda: fail("E204", f"`{e.func}` takes positional arguments only", e.span)
            args = [self.compile_expr(a.value) for a in e.args]
            return lambda: self.call([a() for a in args], e)
        raise AssertionError(t)

    def compile_vector(self, e: ast.Vector):
        if all(type(i) is ast.Number for i in e.items):  # built now, free to use
            value = np.array([i.value for i in e.items], dtype=np.float64)
            value.flags.writeable = False
            return lambda: value
        items, span, make_list = [self.compile_expr(i) for i in e.items], e.span, self.make_list
        cost = constant_cost(e)
        if cost is None:
            return lambda: make_list([item() for item in items], span)
        built: list = []  # a vector of constants, once built

        def constant():
            if built:
                if cost:
                    self.step(span, cost)  # what building it again would cost
                return built[0]
            value = make_list([item() for item in items], span)
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
                built.append(value)
            return value

        return constant

    def compile_comprehension(self, e: ast.Comprehension):
        """`[item for x in xs if cond for y in ys]`, run as nested loops without recursion.

        The first iterable belongs to the enclosing expression. What runs once per item of a
        clause (its filters, then the next clause's iterable or the item) is paid for, with a step
        for the item itself, as soon as the clause's list is known. A clause whose list is the
        same for every outer item (it reads no name of the clauses before it, and none of them
        filters) pays at its first list for every time it will be built. So a comprehension too
        large for the step limit stops before it makes its first item, unless an outer list or
        filter decides how much an inner clause will run.
        """
        first, *later = e.clauses
        iterable, env, step = self.compile_expr(first.iterable), self.env, self.step
        loops: list[_Loop] = []
        names: set[str] = set()
        with self.scopes.nested():
            outer, self.operations = self.operations, 0  # from here on, paid per item
            loops.append(_Loop(first.iterable.span, self.scopes.define(first.name), repeated=False))
            names.add(first.name)
            for clause in later:
                if type(clause) is ast.Filter:
                    loops[-1].filters.append((self.compile_expr(clause.condition), clause.condition.span))
                    continue
                loops[-1].inner = self.compile_expr(clause.iterable)
                loops[-1].cost += self.operations
                self.operations = 0
                fixed = (
                    not loops[-1].filters
                    and not loops[-1].repeated
                    and names.isdisjoint(n.id for n in free_names([clause.iterable]))
                )
                loops.append(_Loop(clause.iterable.span, self.scopes.define(clause.name), repeated=not fixed))
                names.add(clause.name)
            item = self.compile_expr(e.item)
            loops[-1].cost += self.operations
            self.operations = outer
        innermost = loops[-1]

        def run():
            items = []
            values = self.iterable(iterable(), loops[0].span)
            step(loops[0].span, len(values) * loops[0].cost)
            stack, visits, paid = [iter(values)], [len(values)], set()  # visits: how often each list is built
            while stack:
                value = next(stack[-1], _DONE)
                if value is _DONE:
                    stack.pop()
                    visits.pop()
                    continue
                loop = loops[len(stack) - 1]
                env[loop.slot] = value
                if loop.filters and not all(truth(condition(), span) for condition, span in loop.filters):
                    continue
                if loop is innermost:
                    items.append(item())
                    continue
                inner = loops[len(stack)]
                values = self.iterable(loop.inner(), inner.span)
                if inner.repeated:
                    step(inner.span, len(values) * inner.cost)
                elif len(stack) not in paid:  # the same list at every visit: pay for all of them now
                    paid.add(len(stack))
                    step(inner.span, len(values) * inner.cost * math.prod(visits))
                stack.append(iter(values))
                visits.append(len(values))
            return self.make_list(items, e.span)

        return run

    def compile_points(self, e: ast.Call):
        """A point function (`circle(r=0.1)`): its arguments bound as a primitive's, keywords allowed."""
        binding = Binding.of(e.func, e.args, lang.POINT_FUNCTIONS[e.func], self.compile_expr)
        make, limits, meter, what = POINT_FUNCTIONS[e.func], self.limits, self.meter, f"`{e.func}`"
        return lambda: self.made(make(binding.values(limits, meter), e, limits, meter), e.span, what)

    def iterable(self, values, span: Span) -> list:
        """The items a `for` or a comprehension iterates over: a list, or the rows or numbers of an array."""
        if isinstance(values, np.ndarray):
            return list(values) if values.ndim == 2 else values.tolist()
        if not isinstance(values, list):
            fail(
                "E205",
                f"`for` needs a list to iterate over, not {type_name(values)}",
                span,
                expected="a list like [a, b] or range(n)",
            )
        return values

    def compile_binop(self, e: ast.BinOp):
        op, left, right = e.op, self.compile_expr(e.left), self.compile_expr(e.right)
        if op in ("and", "or"):
            short = op == "or"  # the left value that decides alone

            def logic():
                value = truth(left(), e.left.span)
                return value if value == short else truth(right(), e.right.span)

            return logic
        fast, finite = _FAST.get(op), math.isfinite
        if fast is None:
            return lambda: self.arithmetic(left(), right(), e)

        def arithmetic():
            a, b = left(), right()
            if type(a) is float and type(b) is float:  # the common case, checked as below
                result = fast(a, b)
                if finite(result):
                    return result
            return self.arithmetic(a, b, e)

        return arithmetic

    def negate(self, value, e: ast.Unary):
        if isinstance(value, bool) or not isinstance(value, (float, np.ndarray)):
            fail("E205", f"cannot negate {type_name(value)}", e.span)
        return self.made(-value, e.span, "`-`") if e.op == "-" else value

    def make_list(self, items: list, span: Span):
        self.step(span, len(items))
        if not items or set(map(type, items)) == _FLOAT:
            return np.array(items, dtype=np.float64)
        if (
            items
            and all(isinstance(i, np.ndarray) and i.ndim == 1 for i in items)
            and len({len(i) for i in items}) == 1
        ):
            self.step(span, len(items) * len(items[0]) // 8)  # before allocating
            return np.array(items, dtype=np.float64)
        return items

    def made(self, value, span: Span, what: str):
        """Every value an operator or builtin makes passes here, once: a number must be finite and real
        (so NaN and ±inf never exist in the evaluator), and a new array costs `ARRAY_STEPS` (the NumPy
        calls that made it and check it, 2-4 µs however short it is) and a step per 8 numbers."""
        t = type(value)
        if t is float:
            if math.isfinite(value):
                return value
        elif t is np.ndarray:
            self.step(span, ARRAY_STEPS + value.size // 8)
            if (
                all(map(math.isfinite, value.tolist()))
                if value.ndim == 1 and len(value) <= 4
                else (np.isfinite(value).all())
            ):  # NumPy costs ~2 µs more on short vectors
                return value
        elif isinstance(value, float):  # a NumPy scalar
            if math.isfinite(value):
                return float(value)
        elif t is not complex:  # bools, strings, lists, parts
            return value
        fail(
            "E210",
            f"{what} gives a result out of range (not a finite real number)",
            span,
            hint=f"every number must be real and finite (|x| ≤ {sys.float_info.max:.1e})",
        )

    def read(self, values, span: Span) -> None:
        """An operation costs a step per 8 numbers it reads (in arrays or not), paid before it runs."""
        size = sum(v.size if type(v) is np.ndarray else 1 for v in values)
        if size >= 8:
            self.step(span, size // 8)

    def equal(self, a, b, span: Span) -> bool:
        """`==`, paid for by what it visits (a step per list item, per 8 numbers of an array): lists
        may share their items, so a list of 2^k leaves can be built in k steps."""
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape):
                return False
            self.read((a, b), span)
            return bool((a == b).all())
        if isinstance(a, list) or isinstance(b, list):  # mixed lists may hold vectors: compare item by item
            if not (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)):
                return False
            self.step(span, len(a))
            return all(self.equal(x, y, span) for x, y in zip(a, b))
        if isinstance(a, bool) != isinstance(b, bool):
            return False
        return a == b

    def arithmetic(self, a, b, e: ast.BinOp):
        op = e.op
        if op in ("==", "!="):
            equal = self.equal(a, b, e.span)
            return equal if op == "==" else not equal
        if op == "+" and _is_list(a) and _is_list(b):  # lists join; vectors of numbers add
            self.step(e.span, len(a) + len(b))
            if type(a) is np.ndarray and type(b) is np.ndarray and a.shape[1] == b.shape[1]:
                return self.made(np.concatenate((a, b)), e.span, "`+`")
            return list(a) + list(b)
        numeric = (float, np.ndarray)
        if (
            isinstance(a, bool)
            or isinstance(b, bool)
            or not isinstance(a, numeric)
            or not isinstance(b, numeric)
        ):
            fail("E205", f"cannot apply `{op}` to {type_name(a)} and {type_name(b)}", e.span)
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape != b.shape:
            fail(
                "E205",
                f"cannot apply `{op}` to {type_name(a)} and {type_name(b)}: sizes differ",
                e.span,
                hint=f"to move or scale every point, write `[p {op} v for p in points]`"
                if a.ndim + b.ndim == 3
                else "",
            )
        if op in ("<", "<=", ">", ">="):
            if not (isinstance(a, float) and isinstance(b, float)):
                fail("E205", f"`{op}` compares numbers, not {type_name(a)} and {type_name(b)}", e.span)
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        if op in ("/", "%") and (b == 0 if type(b) is float else np.any(b == 0)):
            fail("E206", "division by zero", e.span)
        try:
            if type(a) is float and type(b) is float:  # Python floats raise rather than warn: no NumPy state
                result = _ARITHMETIC[op](a, b)
            else:
                self.read((a, b), e.span)
                with np.errstate(all="ignore"):
                    result = np.power(a, b) if op == "**" else _ARITHMETIC[op](a, b)
        except ZeroDivisionError:  # 0 ** -1
            fail("E206", "division by zero (zero to a negative power)", e.span)
        except (OverflowError, ValueError):
            fail("E210", f"`{op}` gives a result out of range", e.span)
        return self.made(result, e.span, f"`{op}`")

    def attribute(self, target, e: ast.Attr, statement: Span):
        """A vector's `.x .y .z`, or a part's anchor (recorded with the statement reading it, once per
        state of the part: a loop reading an anchor of a part it does not grow records one read)."""
        name = e.name
        if isinstance(target, PartRef):
            if name not in lang.ANCHORS:
                return self.piece(target, e)
            lo, hi, count = self.part_box(target, e.span)
            value = anchor_point(name, lo, hi)
            # the same read of the same primitives: the same value
            seen = (id(e), target.index, target.piece, count)
            if seen not in self.anchors_seen:
                self.anchors_seen.add(seen)
                value.flags.writeable = False  # kept in the record as the program reads it
                reader = self.parts[self.current_instance.part_id].label if self.current_instance else None
                self.anchor_reads.append(
                    AnchorRead(
                        statement, reader, target.label, target.index, name, value, count, target.piece
                    )
                )
            return value
        if isinstance(target, np.ndarray) and target.ndim == 1 and name in ("x", "y", "z"):
            axis = "xyz".index(name)
            if axis >= len(target):
                fail("E207", f"`.{name}` needs a vector of at least {axis + 1} numbers", e.span)
            return float(target[axis])
        fail(
            "E208",
            f"{type_name(target)} has no attribute `.{name}`",
            e.span,
            hint="`.x .y .z` work on vectors; anchors like `.top` on parts",
        )

    def index(self, target, position, e: ast.Index):
        if not isinstance(position, float) or isinstance(position, bool) or position != int(position):
            fail("E205", f"an index must be a whole number, not {type_name(position)}", e.index.span)
        i = int(position)
        if isinstance(target, PartRef) and target.piece is not None:
            fail(
                "E205",
                f"cannot index the named primitive `{target.label}.{target.piece}`",
                e.span,
                hint=f"index the part instead: `{target.label}[{position:g}].{target.piece}`",
            )
        if isinstance(target, PartRef):
            count = len(self.parts[self.part_index[target.label]].instance_ids)
            if target.index is not None or not -count <= i < count:
                fail(
                    "E207",
                    f"part `{target.label}` has {count} instance(s) built so far; `[{position:g}]` is out of "
                    "range",
                    e.span,
                    hint="instances are numbered from 0 in the order they are built",
                )
            return PartRef(target.label, i % count)
        if isinstance(target, (np.ndarray, list, str)):
            if not -len(target) <= i < len(target):
                fail("E207", f"index {position:g} is out of range for {type_name(target)}", e.span)
            item = target[i]
            return float(item) if isinstance(item, np.floating) else item
        fail("E205", f"cannot index {type_name(target)}", e.span)

    def call(self, args: list, e: ast.Call):
        lo_n, hi_n = lang.FUNCTIONS[e.func]
        if not lo_n <= len(args) <= hi_n:
            count = f"{lo_n}" if lo_n == hi_n else f"{lo_n} to {hi_n}"
            fail("E204", f"`{e.func}` takes {count} argument(s), got {len(args)}", e.span)
        if e.func != "len":  # the only builtin that does not read its argument's numbers
            self.read(args, e.span)
        try:
            with np.errstate(all="ignore"):  # a result out of range is an error of its own, below
                result = BUILTINS[e.func](args, e, self.limits)
        except (ValueError, OverflowError, TypeError):
            fail("E204", f"`{e.func}` cannot take {', '.join(type_name(a) for a in args)}", e.span)
        return self.made(result, e.span, f"`{e.func}`")

    # ---- parts: names that are no definition, and their anchors ------------
    def part_ref(self, name: str, span: Span) -> PartRef:
        """A name no definition above it binds: a part built by now, or an error."""
        if name in self.part_index:
            return PartRef(name, None)
        fail(
            "E201",
            f"`{name}` is not defined (or its part is not built yet at this point)",
            span,
            hint="names and parts can only be used below the statement that defines them",
        )

    def piece(self, ref: PartRef, e: ast.Attr) -> PartRef:
        """`stage.plate`, `stage[1].plate`: the primitives named `plate` in the part (or instance) so far."""
        if ref.piece is not None:
            fail(
                "E208",
                f"`{ref.label}.{ref.piece}` has no anchor `{e.name}`",
                e.span,
                expected=", ".join(lang.ANCHORS),
                hint=lang.unknown_name_hint(e.name, lang.ANCHORS),
            )
        if not self.piece_ids(ref.label, ref.index, e.name):
            which = ref.label if ref.index is None else f"{ref.label}[{ref.index}]"
            part_id = self.part_index[ref.label]
            named = sorted({name for part, name in self.piece_primitives if part == part_id})
            fail(
                "E247",
                f"part `{which}` has no primitive named `{e.name}` so far",
                e.span,
                expected=", ".join([*lang.ANCHORS, *named]),
                hint=f"name one with `… as {e.name}` inside `part {ref.label}`, above this line",
            )
        return PartRef(ref.label, ref.index, e.name)

    def piece_ids(self, label: str, index: int | None, name: str) -> list[int]:
        part_id = self.part_index[label]
        if index is None:
            return self.piece_primitives.get((part_id, name), [])
        return self.instances[self.parts[part_id].instance_ids[index]].names.get(name, [])

    def part_box(self, ref: PartRef, span: Span) -> tuple[np.ndarray, np.ndarray, int]:
        """The world box of a part, one instance or their named primitives, from every primitive they
        have by now (see `PartBoxes`), and how many those are."""
        part_id = self.part_index[ref.label]
        if ref.piece is not None:
            primitive_ids = self.piece_ids(ref.label, ref.index, ref.piece)
        elif ref.index is None:
            primitive_ids = self.part_primitives[part_id]
        else:
            primitive_ids = self.instances[self.parts[part_id].instance_ids[ref.index]].primitive_ids
        lo, hi = self.part_boxes.box(
            (part_id, ref.index, ref.piece), primitive_ids, lambda steps: self.step(span, steps)
        )
        if lo is None:
            fail("E209", f"part `{ref.label}` has no geometry yet", span)
        return lo, hi, len(primitive_ids)


@dataclass
class _Loop:
    """A `for` clause of a comprehension, compiled: what runs for each item of its list."""

    span: Span  # of its iterable
    slot: int  # of its name
    repeated: bool  # its list may differ between visits, so each is paid for when it is built
    filters: list = field(default_factory=list)  # (condition, span) of the `if` clauses after it
    cost: int = 1  # steps per item: the item, and the operations of the filters and of `inner` or the item
    inner: Callable | None = None  # the next clause's iterable (None for the innermost clause)


def _is_list(value) -> bool:
    """A list of items (points, vectors, anything), as opposed to a vector of numbers."""
    return type(value) is list or type(value) is np.ndarray and value.ndim == 2


_DONE = object()  # the end of a comprehension's list
_FLOAT = {float}
_PLACING = {"at", "rot", "align", "color"}  # the arguments that do not change a primitive's shape
_MEMO_TYPES = {float, str}  # input values that are immutable and never equal to another type's (True == 1.0)
_UNMEASURED = np.zeros(3)  # an instance's box until `assemble` measures it (shared, hence read-only)
_UNMEASURED.flags.writeable = False
_FAST = {"+": operator.add, "-": operator.sub, "*": operator.mul}  # number op number: finite or out of range
_ARITHMETIC = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
    "**": operator.pow,
}
