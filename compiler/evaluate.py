"""Evaluate a checked program into the primitive and part tables.

A tree-walking interpreter over the frozen AST. It never runs user code: every value is a
float, bool, string, NumPy vector/point list, Python list or part reference, and every
construct is bounded by `Limits`. The first runtime error stops evaluation.

Two promises hold for any input. Every number is finite: each value an operator or builtin
makes passes `_Evaluator.made` once, so NaN and ±inf never exist. Every operation costs steps
in proportion to its work (a statement and each operator, call, index or attribute in it one
step; a list item made or iterated one; every 8 numbers an operation reads or makes one; `==`
what it visits; a part's box is kept and grown, not measured again at each anchor), so the step
limit bounds the time of any program, and `Limits.max_seconds` is checked cheaply at step-count
checkpoints.
"""

from __future__ import annotations

import itertools
import math
import operator
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from PIL import ImageColor

from proto3d.compiler import language as lang
from proto3d.compiler.limits import Limits
from proto3d.compiler.primitives import PRIMITIVES, ArgumentError
from proto3d.compiler.shape import Instance, Part, Primitive
from proto3d.compiler.tessellate import local_bounds, tessellate, triangle_count
from proto3d.grammar import ast
from proto3d.grammar.diagnostics import Diagnostic, Span

_IDENTITY = np.eye(4)
_IDENTITY.flags.writeable = False  # copied by `affine`
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


class EvalError(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def fail(code: str, message: str, span: Span, expected: str = "", hint: str = ""):
    raise EvalError(Diagnostic(code, message, span, expected=expected, hint=hint))


@dataclass(frozen=True)
class PartRef:
    label: str
    index: int | None  # an instance, or None for every instance built so far


@dataclass
class Evaluation:
    name: str
    bounds: np.ndarray | None
    params: dict
    parts: list[Part]
    instances: list[Instance]
    primitives: list[Primitive]
    triangles: int = 0
    warnings: list[Diagnostic] = field(default_factory=list)


def evaluate(program: ast.Program, limits: Limits, overrides: dict | None = None) -> Evaluation:
    """Run the program; raise EvalError with the first runtime problem."""
    return _Evaluator(limits, overrides or {}).run(program)


def rotation(angles) -> np.ndarray:
    """R = Rz·Ry·Rx for angles in degrees about the parent frame's fixed axes."""
    rx, ry, rz = np.radians(np.asarray(angles, dtype=np.float64))
    cx, sx, cy, sy, cz, sz = (
        math.cos(rx),
        math.sin(rx),
        math.cos(ry),
        math.sin(ry),
        math.cos(rz),
        math.sin(rz),
    )
    return np.array(
        [
            [cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx],
            [sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx],
            [-sy, cy * sx, cy * cx],
        ]
    )


def affine(linear: np.ndarray | None = None, offset=None) -> np.ndarray:
    m = _IDENTITY.copy()  # faster than np.eye
    if linear is not None:
        m[:3, :3] = linear
    if offset is not None:
        m[:3, 3] = offset
    return m


def reflection(normal) -> np.ndarray:
    n = np.asarray(normal, dtype=np.float64)
    n = n / math.hypot(*n.tolist())  # no underflow to zero for a tiny normal
    return np.eye(3) - 2.0 * np.outer(n, n)


def align_point(words: str, lo: np.ndarray, hi: np.ndarray, span: Span) -> np.ndarray:
    point = (lo + hi) / 2.0
    chosen: dict[int, str] = {}
    for word in words.lower().replace(",", " ").split():
        if word not in lang.ALIGN_WORDS:
            fail(
                "E108",
                f"unknown align word `{word}`",
                span,
                expected=", ".join(w for w in lang.ALIGN_WORDS if w != "centre"),
                hint=lang.unknown_name_hint(word, lang.ALIGN_WORDS),
            )
        axis_side = lang.ALIGN_WORDS[word]
        if axis_side is None:
            continue
        axis, side = axis_side
        if axis in chosen and chosen[axis] != word:
            fail("E108", f"align words `{chosen[axis]}` and `{word}` contradict each other", span)
        chosen[axis] = word
        point[axis] = hi[axis] if side else lo[axis]
    return point


def parse_color(value, span: Span) -> tuple[float, float, float]:
    if not isinstance(value, str):
        fail(
            "E109",
            f"a colour must be a string, not {type_name(value)}",
            span,
            expected='"#rrggbb", "#rgb" or a CSS name',
        )
    try:
        rgb = ImageColor.getrgb(value.strip())
    except ValueError:
        fail(
            "E109",
            f"unknown colour {value!r}",
            span,
            expected='"#rrggbb", "#rgb" or a CSS colour name',
            hint=lang.unknown_name_hint(value.lower(), ImageColor.colormap),
        )
    if not all(0 <= c <= 255 for c in rgb[:3]):  # PIL passes rgb(300, 0, 0) and hsv(0, 200%, 200%) through
        fail(
            "E109", f"colour {value!r} is out of range", span, expected="channels from 0 to 255 (0% to 100%)"
        )
    return (rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0)


def type_name(value) -> str:
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, np.ndarray):
        return f"a vector of {len(value)}" if value.ndim == 1 else f"a list of {len(value)} points"
    if isinstance(value, PartRef):
        return "a part"
    return f"a list of {len(value)}"


@dataclass
class _Binding:
    """How the arguments of one call site bind to its signature.

    args are (parameter, closure, span, cost): cost is None for an argument that may change
    between runs, else the steps its evaluation costs from the second run on.
    """

    owner: str  # the primitive or transform, for messages
    args: list[tuple]
    defaults: dict  # values of the parameters not given
    variable_args: list[tuple]
    constants: dict = field(
        default_factory=dict
    )  # parameter name -> constant value, checked at its first run
    template: dict | None = None  # every value, once the constants are known and cost no steps


class _Evaluator:
    """Compiles the syntax tree to closures once, then runs them.

    Names are resolved while compiling: every definition (`let`, `param`, loop variable) owns a
    slot of `env`, and a use reads the slot of the definition it sees lexically, so running a
    statement costs no dispatch on node types and no search through scopes.
    """

    def __init__(self, limits: Limits, overrides: dict):
        self.limits = limits
        self.overrides = dict(overrides)
        self.env: list = [math.pi]  # runtime values, one slot per definition
        self.scopes: list[dict[str, int]] = [{"pi": 0}]  # while compiling: name -> slot
        self.matrix = np.eye(4)
        self.name = ""
        self.bounds = None
        self.params: dict = {}
        self.parts: list[Part] = []
        self.part_index: dict[str, int] = {}
        self.instances: list[Instance] = []
        self.primitives: list[Primitive] = []
        self.current_instance: Instance | None = None
        self.current_color: tuple | None = None
        self.iterations = 0
        self.steps = 0
        self.operations = 0  # while compiling a statement: the operations in its expressions
        # steps may run up to `budget`: the step limit, or the next clock check of the deadline
        self.deadline = None if limits.max_seconds is None else time.monotonic() + limits.max_seconds
        self.budget = (
            limits.max_steps if self.deadline is None else min(limits.max_steps, _STEPS_PER_CLOCK_CHECK)
        )
        self.triangles = 0
        self.prim_boxes: dict[
            int, tuple[np.ndarray, np.ndarray] | None
        ] = {}  # world box of each primitive measured
        self.part_primitives: list[list[int]] = []  # the primitives of each part, in the order they are added
        self.boxes: dict[tuple, tuple] = {}  # (part, instance or None) -> (primitives measured, lo, hi)
        self.warnings: list[Diagnostic] = []
        self.placements: dict[tuple, tuple] = {}
        self.colors: dict[str, tuple] = {}  # colour strings already parsed
        self.reach = 4.0  # sum of |self.matrix| entries: bounds the entries of self.matrix @ local

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
        )

    def step(self, span: Span, amount: int = 1) -> None:
        self.steps += amount
        if self.steps > self.budget:
            self.over_budget(span)

    def over_budget(self, span: Span) -> None:
        """The steps passed the budget: the step limit (E304), or a checkpoint to read the clock (E308)."""
        limits = self.limits
        if self.steps > limits.max_steps:
            fail(
                "E304",
                f"the program needs more than {limits.max_steps} evaluation steps",
                span,
                hint="use fewer loop iterations or smaller lists",
            )
        if time.monotonic() > self.deadline:
            fail(
                "E308",
                f"evaluation passed its time limit of {limits.max_seconds:g} s while running this",
                span,
                hint="use fewer loop iterations or smaller lists",
            )
        self.budget = min(limits.max_steps, self.steps + _STEPS_PER_CLOCK_CHECK)

    def define(self, name: str) -> int:
        slot = len(self.env)
        self.env.append(None)
        self.scopes[-1][name] = slot
        return slot

    def resolve(self, name: str) -> int | None:
        """The slot of the definition of `name` visible here, or None (then it can only be a part)."""
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

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

    # ---- statements: each compiles to a closure that runs it ---------------
    def compile_block(self, statements):
        self.scopes.append({})
        try:
            return self.sequence([self.compile_statement(s) for s in statements])
        finally:
            self.scopes.pop()

    def compile_statement(self, s) -> tuple:
        """(span, steps, closure): a statement costs a step, and one per operation (operator, call, index,
        attribute) in its own expressions, not those of its body. Each operation runs at most once per
        run of the statement, so this bounds the work of any expression, however long."""
        outer, self.operations = self.operations, 0  # counted by compile_expr
        run = _STATEMENTS[type(s)](self, s)
        cost, self.operations = 1 + self.operations, outer
        return s.span, cost, run

    def sequence(self, body: list[tuple]):
        """Run statements in order, each paying its steps before it runs."""

        def run() -> None:
            for span, cost, statement in body:
                self.steps += cost
                if self.steps > self.budget:
                    self.over_budget(span)
                statement()

        return run

    def stmt_Block(self, s: ast.Block):
        return self.compile_block(s.body)

    def stmt_ShapeStmt(self, s: ast.ShapeStmt):
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

    def stmt_BoundsStmt(self, s: ast.BoundsStmt):
        size = self.compile_expr(s.size)

        def run() -> None:
            value = self.vector(size(), 3, s.size.span, "bounds")
            if np.any(value <= 0):
                fail(
                    "E212",
                    "bounds must be three positive sizes [width, depth, height] in metres",
                    s.size.span,
                )
            self.bounds = value

        return run

    def stmt_LetStmt(self, s: ast.LetStmt):
        value, env = self.compile_expr(s.value), self.env
        slot = self.define(s.name)  # after the value: `let a = a + 1` reads an outer `a`

        def run() -> None:
            env[slot] = value()

        return run

    def stmt_ParamStmt(self, s: ast.ParamStmt):
        default, bounds = self.compile_expr(s.default), self.compile_expr(s.range)
        slot = self.define(s.name)

        def run() -> None:
            self.env[slot] = self.param(s, default(), bounds())

        return run

    def param(self, s: ast.ParamStmt, default, bounds):
        if not isinstance(default, float) or isinstance(default, bool):
            fail(
                "E211", f"param `{s.name}` must default to a number, not {type_name(default)}", s.default.span
            )
        if not (isinstance(bounds, np.ndarray) and bounds.shape == (2,)):
            fail("E211", f"the range of param `{s.name}` must be [lo, hi]", s.range.span, expected="[lo, hi]")
        lo, hi = float(bounds[0]), float(bounds[1])
        if lo > hi or not lo <= default <= hi:
            fail("E211", f"param `{s.name}` = {default:g} is outside its range [{lo:g}, {hi:g}]", s.span)
        is_int = _is_int_literal(s.default) and all(_is_int_literal(i) for i in getattr(s.range, "items", ()))
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

    def stmt_PartStmt(self, s: ast.PartStmt):
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
                    f"part `{s.label}` already has colour {_hex(self.parts[part_id].color)}; this instance is "
                    f"drawn in {_hex(color)} but the legend keeps the first",
                    s.span,
                    severity="warning",
                    hint="give every instance of a part the same colour, or use another label",
                )
            )
        part = self.parts[part_id]
        instance = Instance(part_id, len(part.instance_ids), [], s.span, _UNMEASURED, _UNMEASURED)
        part.instance_ids.append(len(self.instances))
        self.instances.append(instance)
        self.current_instance, self.current_color = instance, color or part.color

    def stmt_ForStmt(self, s: ast.ForStmt):
        iterables = [
            (self.compile_expr(var.iterable), var.iterable.span) for var in s.vars
        ]  # before the names exist
        self.scopes.append({})
        try:
            slots = [self.define(var.name) for var in s.vars]
            body = self.compile_block(s.block.body)
        finally:
            self.scopes.pop()
        env, limit = self.env, self.limits.max_loop_iterations

        def run() -> None:
            domains = []
            for iterable, span in iterables:
                values = iterable()
                if isinstance(values, np.ndarray):
                    values = list(values) if values.ndim == 2 else values.tolist()
                if not isinstance(values, list):
                    fail(
                        "E205",
                        f"`for` needs a list to iterate over, not {type_name(values)}",
                        span,
                        expected="a list like [a, b] or range(n)",
                    )
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

    def stmt_IfStmt(self, s: ast.IfStmt):
        branches = [
            (self.compile_expr(condition), condition.span, self.compile_block(body.body))
            for condition, body in s.branches
        ]
        orelse = self.compile_block(s.orelse.body) if s.orelse is not None else None

        def run() -> None:
            for condition, span, body in branches:
                if self.truth(condition(), span):
                    body()
                    return
            if orelse is not None:
                orelse()

        return run

    def stmt_TransformStmt(self, s: ast.TransformStmt):
        binding = self.bind(s.kind, s.args, lang.TRANSFORMS[s.kind])
        body = self.sequence([self.compile_statement(s.body)])
        # a frame's entries are checked arguments or cosines: an entry of `outer @ frame` is at most reach · bound
        frame_bound = max(1.0, self.limits.max_abs_value)

        def run() -> None:
            frames = self.frames(s, self.bound_values(binding))
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
            frames = self._symmetric(values["axes"], s)
            self._copies(len(frames), s.span)
            return frames
        n = values["n"]  # radial
        if not 1 <= n <= self.limits.max_loop_iterations:
            fail("E401", f"radial needs n between 1 and {self.limits.max_loop_iterations}", s.span)
        self._copies(n, s.span)
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

    def _copies(self, n: int, span: Span) -> None:
        """Copies made by radial and symmetric count as loop iterations (checked before they are made)."""
        self.iterations += n - 1
        if self.iterations > self.limits.max_loop_iterations:
            fail(
                "E303",
                f"more than {self.limits.max_loop_iterations} loop iterations in total",
                span,
                hint="use fewer or smaller loops and repeats",
            )

    def _symmetric(self, axes: str, s: ast.TransformStmt) -> list[np.ndarray]:
        axes = axes.lower()
        if not axes or any(a not in "xyz" for a in axes) or len(set(axes)) != len(axes):
            fail("E401", f'symmetric takes "x", "y", "z" or a combination like "xy", not {axes!r}', s.span)
        frames = [np.eye(4)]
        for axis in axes:
            mirror = affine(np.diag([-1.0 if a == axis else 1.0 for a in "xyz"]))
            frames += [mirror @ f for f in frames]
        return frames

    def stmt_PrimitiveStmt(self, s: ast.PrimitiveStmt):
        binding = self.bind(s.name, s.args, lang.CALLABLE[s.name])
        inputs = self.inputs([arg.value for arg in s.args])
        env, memo = self.env, {}

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
            known = memo.get(key) if key is not None else None
            if known is not None and self.steps + known[2] <= self.budget:  # else stop where evaluating would
                self.steps += known[2]
            else:  # first run with these inputs: evaluate, check and place
                before = self.steps
                known = self.place_call(s, binding)
                known = (*known, self.steps - before)
                if key is not None:
                    memo[key] = known
            self.add_primitive(s, *known[:2])

        return run

    def inputs(self, nodes) -> tuple[int, ...] | None:
        """The slots whose values decide what these expressions evaluate to (None if parts do too).

        The same values always give the same results, steps and checks, so a statement whose
        inputs repeat (loops over a few positions) is evaluated once per distinct input.
        """
        slots, stack = set(), list(nodes)
        while stack:
            node = stack.pop()
            t = type(node)
            if t is ast.Name:
                slot = self.resolve(node.id)
                if slot is None:  # a part: its anchors change as it grows
                    return None
                slots.add(slot)
            elif t is ast.BinOp:
                stack += (node.left, node.right)
            elif t is ast.Unary or t is ast.Attr:
                stack.append(node.operand if t is ast.Unary else node.target)
            elif t is ast.Index:
                stack += (node.target, node.index)
            elif t is ast.Vector:
                stack += node.items
            elif t is ast.Call:
                stack += [a.value for a in node.args]
        return tuple(sorted(slots))

    def place_call(self, s: ast.PrimitiveStmt, binding: _Binding) -> tuple:
        """(placement, colour) of one run of a primitive statement, its arguments evaluated and checked."""
        values = self.bound_values(binding)
        key = [id(s)]  # the constant arguments are the same at every run of the statement
        for param, *_ in binding.variable_args:
            v = values[param.name]
            key.append(v.tobytes() if type(v) is np.ndarray else v)
        key = tuple(key)
        placed = self.placements.get(key)
        if placed is None:  # different inputs may still give the same arguments: place each set once
            placed = self.placements[key] = self.place(s, values)
        return placed, self.color(values["color"], s.span) if values["color"] is not None else None

    def add_primitive(self, s: ast.PrimitiveStmt, placed: tuple, color) -> None:
        kind, params, segments, local, count, size = placed
        matrix = self.matrix @ local
        # |(M @ L)ij| <= (sum of |M|) * max |L|: only a placement near the limit needs its entries checked
        limit = self.limits.max_abs_value
        if not self.reach * size < 0.5 * limit and not np.abs(matrix).max() <= limit:
            fail("E210", "the primitive's placement is out of the numeric range", s.span)
        self.triangles += count
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
                kind,
                params,
                matrix,
                segments,
                instance.part_id,
                len(self.instances) - 1,
                color or self.current_color,
                s.span,
            )
        )
        instance.primitive_ids.append(len(self.primitives) - 1)
        self.part_primitives[instance.part_id].append(len(self.primitives) - 1)

    def place(self, s: ast.PrimitiveStmt, values: dict):
        """Normalised parameters, segments, local matrix and triangle count of one primitive call."""
        kind = PRIMITIVES[s.name]
        try:
            params = kind.normalise(values, s.span)
        except ArgumentError as error:
            raise EvalError(error.diagnostic) from None
        segments = values["segments"] if values["segments"] is not None else lang.SEGMENTS_DEFAULT
        if not 3 <= segments <= self.limits.max_segments:
            fail("E305", f"segments must be between 3 and {self.limits.max_segments}, not {segments}", s.span)
        if kind.frame is not None:
            if values["at"] is not None or values["align"] is not None or values["rot"] is not None:
                fail(
                    "E112",
                    f"`{kind.name}` is placed by `from` and `to`; it takes no `at`, `rot` or `align`",
                    s.span,
                )
            local = kind.frame(params)
        else:
            local = affine(rotation(values["rot"]) if values["rot"] is not None else None, values["at"])
            if values["align"] is not None:
                lo, hi = local_bounds(kind.name, params)
                pivot = align_point(values["align"], np.asarray(lo, float), np.asarray(hi, float), s.span)
                local = local @ affine(offset=-pivot)
        size = max(map(abs, local.ravel().tolist()))  # NaN cannot come: arguments are finite
        return kind.name, params, segments, local, triangle_count(kind.name, params, segments), size

    # ---- arguments -------------------------------------------------------
    def bind(self, owner: str, args, params) -> _Binding:
        by_name = lang.BY_NAME[params]
        bound, positional = [], 0
        for arg in args:
            if arg.name is None:
                param = params[positional]
                positional += 1
            else:
                param = by_name[arg.name]
            bound.append((param, self.compile_expr(arg.value), arg.value.span, _constant_cost(arg.value)))
        given = {param.name for param, *_ in bound}
        defaults = {p.name: p.default for p in params if p.name not in given}
        variable_args = [b for b in bound if b[3] is None]
        return _Binding(owner, bound, defaults, variable_args)

    def bound_values(self, binding: _Binding) -> dict:
        owner = binding.owner
        if binding.template is not None:  # constants known and free: evaluate the variable arguments only
            values = binding.template.copy()
            for param, value, span, _ in binding.variable_args:
                values[param.name] = self.coerce(value(), param, span, owner)
            return values
        values: dict = {}
        constants = binding.constants
        for param, value, span, cost in binding.args:
            if cost is None:
                values[param.name] = self.coerce(value(), param, span, owner)
                continue
            known = constants.get(param.name, constants)
            if known is constants:  # first run: evaluated and checked as any other argument
                known = constants[param.name] = self.coerce(value(), param, span, owner)
                if isinstance(known, np.ndarray):
                    known.flags.writeable = False  # shared by every run from now on
            elif cost:
                self.step(span, cost)  # what evaluating it again would have cost
            values[param.name] = known
        values.update(binding.defaults)
        if not any(cost for *_, cost in binding.args):  # every constant is now checked and costs no steps
            binding.template = values.copy()
        return values

    def color(self, value, span: Span) -> tuple[float, float, float]:
        rgb = self.colors.get(value) if type(value) is str else None
        if rgb is None:
            rgb = parse_color(value, span)
            self.colors[value] = rgb
        return rgb

    def coerce(self, value, param: lang.Param, span: Span, owner: str):
        t = param.type
        if (t == "vec3" and type(value) is np.ndarray and value.shape == (3,)) or (
            t == "number" and type(value) is float
        ):  # the common cases: only the range to check
            self.check_range(value, span)
            return value
        where = f"`{param.name}` of `{owner}`"
        if t == "number":
            return self.number(value, span, where)
        if t == "int":
            number = self.number(value, span, where)
            if number != int(number):
                fail("E106", f"{where} must be a whole number, not {number:g}", span)
            return int(number)
        if t == "bool":
            if not isinstance(value, bool):
                fail("E106", f"{where} must be true or false, not {type_name(value)}", span)
            return value
        if t == "string":
            if not isinstance(value, str):
                fail("E106", f"{where} must be a string, not {type_name(value)}", span)
            return value
        if t == "vec3":
            return self.vector(value, 3, span, where)
        if t == "number_or_vec3":
            return (
                self.number(value, span, where)
                if isinstance(value, float)
                else self.vector(value, 3, span, where)
            )
        if t == "axis":
            if isinstance(value, str):
                if value.lower() not in ("x", "y", "z"):
                    fail("E401", f'mirror takes "x", "y" or "z", not {value!r}', span)
                return np.eye(3)["xyz".index(value.lower())]
            normal = self.vector(value, 3, span, where)
            if not np.any(normal):
                fail("E401", "the mirror plane's normal cannot be zero", span)
            return normal
        if t == "number_or_list":
            if isinstance(value, float):
                return self.number(value, span, where)
            return self.vector(value, None, span, where)
        if t in ("points2", "points3"):
            dim = 2 if t == "points2" else 3
            if not (isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[1] == dim):
                fail(
                    "E106",
                    f"{where} must be a list of [{', '.join('xyz'[:dim]) if dim == 3 else 'a, b'}] points,"
                    f" not {type_name(value)}",
                    span,
                    expected="[[" + ", ".join(["0"] * dim) + "], ...]",
                )
            if len(value) > self.limits.max_points:
                fail(
                    "E307",
                    f"{where} has {len(value)} points; the limit is {self.limits.max_points}",
                    span,
                    hint="a few dozen points describe any outline; let `smooth=true` or `segments` do the rest",
                )
            self.check_range(value, span)
            return value
        raise AssertionError(t)

    def number(self, value, span: Span, where: str) -> float:
        if not isinstance(value, float) or isinstance(value, bool):
            fail("E106", f"{where} must be a number, not {type_name(value)}", span)
        self.check_range(value, span)
        return value

    def vector(self, value, size: int | None, span: Span, where: str) -> np.ndarray:
        if not (isinstance(value, np.ndarray) and value.ndim == 1 and (size is None or len(value) == size)):
            shape = f"a vector of {size} numbers" if size else "a list of numbers"
            fail(
                "E106",
                f"{where} must be {shape}, not {type_name(value)}",
                span,
                expected="[x, y, z]" if size == 3 else "",
            )
        self.check_range(value, span)
        return value

    def check_range(self, value, span: Span) -> None:
        if type(value) is float:  # skip NumPy for numbers and short vectors
            largest = abs(value)
        elif value.ndim == 1 and len(value) <= 4:
            largest = max(map(abs, value.tolist()), default=0.0)  # never NaN: see `made`
        else:
            largest = np.abs(value).max(initial=0.0)
        if largest > self.limits.max_abs_value:
            fail(
                "E210",
                f"value out of range (|x| ≤ {self.limits.max_abs_value:g})",
                span,
                hint="sizes are in metres",
            )

    # ---- expressions -----------------------------------------------------

    # ---- expressions: each compiles to a closure that returns its value ----
    def truth(self, value, span: Span) -> bool:
        if not isinstance(value, bool):
            fail(
                "E205",
                f"a condition must be true or false, not {type_name(value)}",
                span,
                hint="compare explicitly, e.g. `n > 0`",
            )
        return value

    def compile_expr(self, e):
        t = type(e)
        if t is ast.Number or t is ast.String or t is ast.Bool:
            value = e.value
            return lambda: value
        if t is ast.Name:
            env, slot = self.env, self.resolve(e.id)
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
                return lambda: not self.truth(operand(), e.operand.span)
            return lambda: self.negate(operand(), e)
        if t is ast.Attr:
            target = self.compile_expr(e.target)
            return lambda: self.attribute(target(), e)
        if t is ast.Index:
            target, index = self.compile_expr(e.target), self.compile_expr(e.index)
            return lambda: self.index(target(), index(), e)
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
        cost = _constant_cost(e)
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

    def compile_binop(self, e: ast.BinOp):
        op, left, right = e.op, self.compile_expr(e.left), self.compile_expr(e.right)
        if op in ("and", "or"):
            short = op == "or"  # the left value that decides alone

            def logic():
                value = self.truth(left(), e.left.span)
                return value if value == short else self.truth(right(), e.right.span)

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
        (so NaN and ±inf never exist in the evaluator), and a new array costs a step per 8 numbers."""
        t = type(value)
        if t is float:
            if math.isfinite(value):
                return value
        elif t is np.ndarray:
            self.step(span, value.size // 8)
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
        numeric = (float, np.ndarray)
        if (
            isinstance(a, bool)
            or isinstance(b, bool)
            or not isinstance(a, numeric)
            or not isinstance(b, numeric)
        ):
            if op == "+" and isinstance(a, list) and isinstance(b, list):
                self.step(e.span, len(a) + len(b))
                return a + b
            fail("E205", f"cannot apply `{op}` to {type_name(a)} and {type_name(b)}", e.span)
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape != b.shape:
            fail("E205", f"cannot apply `{op}` to {type_name(a)} and {type_name(b)}: sizes differ", e.span)
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

    def attribute(self, target, e: ast.Attr):
        name = e.name
        if isinstance(target, PartRef):
            if name not in lang.ANCHORS:
                fail(
                    "E208",
                    f"parts have no anchor `{name}`",
                    e.span,
                    expected=", ".join(lang.ANCHORS),
                    hint=lang.unknown_name_hint(name, lang.ANCHORS),
                )
            lo, hi = self.part_box(target, e.span)
            return _anchor(name, lo, hi)
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

    def part_box(self, ref: PartRef, span: Span):
        """The world box of a part or one instance, kept per reference and grown by the primitives added
        since it was last read: a part only grows, so each primitive is measured once, not at every read."""
        part_id = self.part_index[ref.label]
        if ref.index is None:
            prim_ids = self.part_primitives[part_id]
        else:
            prim_ids = self.instances[self.parts[part_id].instance_ids[ref.index]].primitive_ids
        measured, lo, hi = self.boxes.get((part_id, ref.index), (0, None, None))
        if measured < len(prim_ids):
            new = prim_ids[measured:]
            missing = [p for p in new if p not in self.prim_boxes]
            if missing:
                mesh = tessellate([self.primitives[p] for p in missing])
                corners = mesh.vertices[mesh.faces].astype(np.float64)
                for local, prim in enumerate(missing):
                    chosen = corners[mesh.face_primitive == local].reshape(-1, 3)
                    # a primitive without triangles adds nothing, as in the instance boxes of the compiled shape
                    self.prim_boxes[prim] = (chosen.min(axis=0), chosen.max(axis=0)) if len(chosen) else None
            boxes = [self.prim_boxes[p] for p in new if self.prim_boxes[p] is not None]
            if lo is not None:
                boxes.append((lo, hi))
            if boxes:
                lo, hi = np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)
            self.boxes[(part_id, ref.index)] = (len(prim_ids), lo, hi)
        if lo is None:
            fail("E209", f"part `{ref.label}` has no geometry yet", span)
        return lo, hi

    def call(self, args: list, e: ast.Call):
        lo_n, hi_n = lang.FUNCTIONS[e.func]
        if not lo_n <= len(args) <= hi_n:
            count = f"{lo_n}" if lo_n == hi_n else f"{lo_n} to {hi_n}"
            fail("E204", f"`{e.func}` takes {count} argument(s), got {len(args)}", e.span)
        if e.func != "len":  # the only builtin that does not read its argument's numbers
            self.read(args, e.span)
        try:
            with np.errstate(all="ignore"):  # a result out of range is an error of its own, below
                result = _FUNCTION_IMPL[e.func](self, args, e)
        except (ValueError, OverflowError, TypeError):
            fail("E204", f"`{e.func}` cannot take {', '.join(type_name(a) for a in args)}", e.span)
        return self.made(result, e.span, f"`{e.func}`")


_STATEMENTS = {
    getattr(ast, name[5:]): method for name, method in vars(_Evaluator).items() if name.startswith("stmt_")
}
_FLOAT = {float}
_STEPS_PER_CLOCK_CHECK = 2_000  # the clock is read every ~2-30 ms of work (a step costs 1-15 µs at most)
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


def _constant_cost(node) -> int | None:
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
    if t is ast.Vector and all(_constant_cost(i) == 0 and type(i) is not ast.Vector for i in node.items):
        return 0 if all(type(i) is ast.Number for i in node.items) else len(node.items)
    return None


def _hex(color) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in color)


def _is_int_literal(node) -> bool:
    return (
        isinstance(node, ast.Number)
        and node.is_int
        or (isinstance(node, ast.Unary) and node.op == "-" and _is_int_literal(node.operand))
    )


def _anchor(name: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    c = (lo + hi) / 2.0
    points = {
        "top": (c[0], c[1], hi[2]),
        "bottom": (c[0], c[1], lo[2]),
        "left": (lo[0], c[1], c[2]),
        "right": (hi[0], c[1], c[2]),
        "front": (c[0], lo[1], c[2]),
        "back": (c[0], hi[1], c[2]),
        "center": c,
        "min": lo,
        "max": hi,
        "size": hi - lo,
    }
    return np.array(points[name], dtype=np.float64)


def _range(ev: _Evaluator, args, e):
    numbers = [ev.number(a, e.span, "`range`") for a in args]
    if any(n != int(n) for n in numbers):
        fail("E204", "range takes whole numbers", e.span)
    values = range(*[int(n) for n in numbers]) if numbers[-1] != 0 or len(numbers) < 3 else None
    if values is None:
        fail("E204", "range step cannot be zero", e.span)
    if len(values) > ev.limits.max_loop_iterations:
        fail(
            "E303",
            f"range of {len(values)} items exceeds the loop limit {ev.limits.max_loop_iterations}",
            e.span,
        )
    return np.arange(values.start, values.stop, values.step, dtype=np.float64)


def _scalar_fn(fn):
    """A NumPy function of a number, element-wise on arrays; a result that is not finite means the
    value is outside its domain (asin(2), sqrt(-1)), while an underflow is not an error."""

    def apply(ev, args, e):
        value = args[0]
        if type(value) is float:
            result = float(fn(value))
            if math.isfinite(result):
                return result
        elif type(value) is np.ndarray:
            result = fn(value)
            if np.isfinite(result).all():
                return result
        else:
            raise TypeError
        fail("E204", f"`{e.func}` is undefined for this value", e.span)

    return apply


def _minmax(fn):
    def apply(ev, args, e):
        values = args[0] if len(args) == 1 else args
        if isinstance(values, np.ndarray) and values.ndim == 1:
            values = [float(v) for v in values]
        if not values or not all(isinstance(v, float) and not isinstance(v, bool) for v in values):
            raise TypeError
        return fn(values)

    return apply


def _numbers(ev, args, e):
    """Numbers and arrays of one shape, as arithmetic takes: broadcasting [n] against [n, 1] would make n²."""
    for a in args:
        if isinstance(a, bool) or not isinstance(a, (float, np.ndarray)):
            raise TypeError
    if len({a.shape for a in args if type(a) is np.ndarray}) > 1:
        raise ValueError
    return args


def _clamp(ev, args, e):
    x, lo, hi = _numbers(ev, args, e)
    result = np.clip(x, lo, hi)
    return float(result) if np.ndim(result) == 0 else result


def _lerp(ev, args, e):
    a, b, t = _numbers(ev, args, e)
    result = a + (b - a) * t
    return float(result) if np.ndim(result) == 0 else result


def _atan2(ev, args, e):
    y, x = _numbers(ev, args, e)
    return float(np.degrees(np.arctan2(y, x)))


def _len(ev, args, e):
    value = args[0]
    if not isinstance(value, (np.ndarray, list, str)):
        raise TypeError
    return float(len(value))


def _norm(ev, args, e):
    value = args[0]
    if not (isinstance(value, np.ndarray) and value.ndim == 1):
        raise TypeError
    return math.hypot(*value.tolist())  # no overflow on the way to a length that is finite


def _sum(ev, args, e):
    value = args[0]
    if not (isinstance(value, np.ndarray) and value.ndim == 1):
        raise TypeError
    return float(value.sum())


_FUNCTION_IMPL = {
    "sin": _scalar_fn(lambda x: np.sin(np.radians(x))),
    "cos": _scalar_fn(lambda x: np.cos(np.radians(x))),
    "tan": _scalar_fn(lambda x: np.tan(np.radians(x))),
    "asin": _scalar_fn(lambda x: np.degrees(np.arcsin(x))),
    "acos": _scalar_fn(lambda x: np.degrees(np.arccos(x))),
    "atan": _scalar_fn(lambda x: np.degrees(np.arctan(x))),
    "atan2": _atan2,
    "sqrt": _scalar_fn(np.sqrt),
    "abs": _scalar_fn(np.abs),
    "floor": _scalar_fn(np.floor),
    "ceil": _scalar_fn(np.ceil),
    "round": _scalar_fn(lambda x: np.floor(x + 0.5)),
    "min": _minmax(min),
    "max": _minmax(max),
    "clamp": _clamp,
    "lerp": _lerp,
    "len": _len,
    "range": _range,
    "norm": _norm,
    "sum": _sum,
}
