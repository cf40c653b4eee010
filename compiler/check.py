"""Static checks over the syntax tree: every independent naming error of a program in one pass.

Runtime problems (types, values, limits) are found by the evaluator; these are the mistakes
a model makes most (unknown primitives and arguments, undefined names, nested parts), and
reporting all of them at once saves repair rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

from proto3d.compiler.language import (
    ANCHORS,
    ARG_ALIASES,
    DEF_PLACEMENT,
    EITHER_RADIUS,
    FUNCTIONS,
    PLACEMENT,
    POINT_FUNCTIONS,
    PRIMITIVES,
    REQUIRED,
    RESERVED,
    TRANSFORMS,
    Param,
    nearest,
    positional_count,
    signature_text,
    unknown_name_hint,
)
from proto3d.compiler.scopes import free_names
from proto3d.errors import Diagnostic, Span
from proto3d.grammar import ast

BUILTIN_NAMES = {"pi"}


def check_program(program: ast.Program) -> list[Diagnostic]:
    nodes = list(ast.walk(program))
    checker = _Checker(
        {s.label for s in nodes if isinstance(s, ast.PartStmt)},
        {s.as_name for s in nodes if isinstance(s, ast.PrimitiveStmt) and s.as_name is not None},
        [s for s in program.statements if isinstance(s, ast.DefStmt)],
    )
    checker.visit(program)
    return checker.diagnostics


@dataclass
class _Def:
    """What a def's body does outside its own part blocks, which decides where it may be called."""

    node: ast.DefStmt
    params: tuple[Param, ...]
    draws: bool = False  # primitives outside a part of its own: call it inside a part
    makes_parts: bool = False  # part blocks: call it outside parts


class _Checker(ast.Visitor):
    """Visits the statements in order, keeping the scopes, the parts built and the defs defined so far."""

    def __init__(self, all_labels: set[str], as_names: set[str], top_defs: list[ast.DefStmt]):
        self.diagnostics: list[Diagnostic] = []
        self.scopes: list[dict[str, int]] = [{}]  # name -> line of its definition
        self.parts: set[str] = set()  # labels built so far
        self.all_labels = all_labels
        self.as_names = as_names
        self.headers: dict[type, int] = {}
        self.in_part = False
        self.building: str | None = None  # the label of the part block being checked
        self.own_pieces: set[int] = set()  # ids of `stage` names in `stage.plate` read inside part `stage`
        self.all_defs = {d.name: d for d in reversed(top_defs)}  # the first of a name wins
        self.calls = {  # def name -> the defs its body calls
            d.name: {n.name for n in ast.walk(d.block) if isinstance(n, ast.PrimitiveStmt)}
            & set(self.all_defs)
            for d in top_defs
        }
        self.defs: dict[str, _Def] = {}  # the defs defined so far
        self.in_def: _Def | None = None  # the def whose body is being checked
        self.comprehension_names: set[str] = set()  # bound by the comprehensions met so far

    def error(self, code: str, message: str, span: Span, expected: str = "", hint: str = "") -> None:
        self.diagnostics.append(Diagnostic(code, message, span, expected=expected, hint=hint))

    def define(self, name: str, span: Span, scope: dict[str, int] | None = None) -> None:
        """Define `name` in `scope` (the innermost block's by default), or report why it cannot be."""
        scope = self.scopes[-1] if scope is None else scope
        if name in RESERVED:
            self.error(
                "E202",
                f"`{name}` is a reserved word and cannot be used as a name",
                span,
                hint=f"pick another name, e.g. `{name}_`",
            )
        elif name in scope:
            self.error(
                "E214",
                f"`{name}` is already defined at line {scope[name]}",
                span,
                hint="names are constants: pick a new name, or compute the value in one `let`",
            )
        elif name in self.all_labels:
            self.error(
                "E215",
                f"`{name}` is also a part label",
                span,
                hint="names and part labels share one namespace: rename one of them",
            )
        scope[name] = span.line

    def known(self, name: str) -> bool:
        return name in BUILTIN_NAMES or name in self.parts or any(name in s for s in self.scopes)

    def block(self, statements, owner=None) -> None:
        if owner is not None and not statements:
            self.diagnostics.append(
                Diagnostic(
                    "W106",
                    "empty block: it draws nothing",
                    owner.span,
                    severity="warning",
                    hint="fill it in or remove it",
                )
            )
        self.scopes.append({})
        for statement in statements:
            self.visit(statement)
        self.scopes.pop()

    def visit_Program(self, program: ast.Program) -> None:
        self.block(program.statements)

    def visit_Block(self, s: ast.Block) -> None:
        self.block(s.body)

    def visit_ShapeStmt(self, s: ast.ShapeStmt) -> None:
        self.header(s, "shape")
        self.expr(s.name)

    def visit_BoundsStmt(self, s: ast.BoundsStmt) -> None:
        self.header(s, "bounds")
        self.expr(s.size)

    def header(self, s, keyword: str) -> None:
        self.top_level_only(s, keyword)
        if type(s) in self.headers:
            self.error(
                "E212",
                f"`{keyword}` is given twice (first at line {self.headers[type(s)]})",
                s.span,
                hint=f"a program has one `{keyword}` statement",
            )
        self.headers.setdefault(type(s), s.span.line)

    def visit_LetStmt(self, s: ast.LetStmt) -> None:
        self.expr(s.value)
        self.define(s.name, s.span)

    def top_level_only(self, s, keyword: str) -> None:
        if self.in_def is not None:
            self.error(
                "E153",
                f"`{keyword}` cannot be inside a def",
                s.span,
                hint=f"write `{keyword}` at the top of the program; a def takes values as parameters",
            )

    def visit_ParamStmt(self, s: ast.ParamStmt) -> None:
        self.top_level_only(s, "param")
        self.expr(s.default)
        self.expr(s.range)
        self.define(s.name, s.span)

    def visit_PartStmt(self, s: ast.PartStmt) -> None:
        if self.in_part:
            self.error(
                "E111",
                f"part `{s.label}` is inside another part",
                s.span,
                hint="parts are flat: close the outer part's block before starting this one",
            )
        if s.label in RESERVED:
            self.error("E202", f"`{s.label}` is a reserved word and cannot be a part label", s.span)
        elif self.in_def is not None:
            self.in_def.makes_parts = True
        if s.color is not None:
            self.expr(s.color)
        outer, self.in_part, self.building = (self.in_part, self.building), True, s.label
        self.block(s.block.body, owner=s)
        self.in_part, self.building = outer
        self.parts.add(s.label)

    def visit_ForStmt(self, s: ast.ForStmt) -> None:
        self.scopes.append({})
        for var in s.vars:
            self.expr(var.iterable)
            self.define(var.name, var.span)
        self.block(s.block.body, owner=s)
        self.scopes.pop()

    def visit_IfStmt(self, s: ast.IfStmt) -> None:
        for condition, body in s.branches:
            self.expr(condition)
            self.block(body.body)
        if s.orelse is not None:
            self.block(s.orelse.body)

    def visit_TransformStmt(self, s: ast.TransformStmt) -> None:
        """An inline chain (`translate(…) rotate(…) box(…)`) is followed in a loop: it may be long."""
        while isinstance(s, ast.TransformStmt):
            self.arguments(s.kind, s.args, TRANSFORMS[s.kind], s.span)
            if isinstance(s.body, ast.Block):
                self.block(s.body.body, owner=s)
                return
            s = s.body
        self.visit(s)

    def visit_BooleanStmt(self, s: ast.BooleanStmt) -> None:
        if self.in_def is not None and not self.in_part:  # a def that cuts draws: called inside parts
            self.in_def.draws = True
        elif not self.in_part:
            self.error(
                "E140",
                f"`{s.op}` is outside any part",
                Span(s.span.line, s.span.column, s.span.line, s.span.column + len(s.op)),
                hint="a boolean combines the primitives of one part: put it in `part label { … }`",
            )
        self.block(s.block.body, owner=s)

    def visit_DefStmt(self, s: ast.DefStmt) -> None:
        keyword = Span(s.span.line, s.span.column, s.span.line, s.span.column + 3)
        if len(self.scopes) != 2 or self.in_def is not None:
            self.error(
                "E151",
                f"`def {s.name}` is inside a block",
                keyword,
                hint="write every `def` at the top level of the program, outside parts, loops and other defs",
            )
        if s.name in PRIMITIVES or s.name in FUNCTIONS:
            what = "primitive" if s.name in PRIMITIVES else "function"
            self.error("E154", f"`{s.name}` is a {what}: a def needs a name of its own", s.name_span)
        elif s.name in RESERVED:
            self.error("E202", f"`{s.name}` is a reserved word and cannot name a def", s.name_span)
        elif s.name in self.defs:
            self.error(
                "E214",
                f"def `{s.name}` is already defined at line {self.defs[s.name].node.span.line}",
                s.name_span,
                hint="give each def its own name",
            )
        params = tuple(Param(p.name, "any", REQUIRED if p.default is None else None) for p in s.params)
        info, outer = _Def(s, params), (self.in_def, self.in_part)
        self.in_def, self.in_part = info, False
        self.scopes.append({})
        for param in s.params:
            if param.default is not None:
                self.expr(param.default)
            if param.name in ("at", "rot", "color"):
                self.error(
                    "E155",
                    f"`{param.name}` is the placement of every call: it cannot be a parameter",
                    param.span,
                    hint=f"a call `{s.name}(…, at=[x, y, z], rot=[rx, ry, rz], color=…)` places and colours "
                    "the whole body; pick another parameter name",
                )
            else:
                self.define(param.name, param.span)
        self.block(s.block.body, owner=s)
        self.scopes.pop()
        self.in_def, self.in_part = outer
        self.defs.setdefault(s.name, info)

    def visit_PrimitiveStmt(self, s: ast.PrimitiveStmt) -> None:
        if s.as_name is not None:
            self.primitive_name(s)
        if s.name not in PRIMITIVES and s.name in self.all_defs:
            self.def_call(s)
            return
        if s.name not in PRIMITIVES:
            if s.name in POINT_FUNCTIONS:
                hint = f"`{s.name}(…)` makes a list of points: use it as an outline, e.g. `extrude(polygon={s.name}(…), h=…)`"
            elif s.name in FUNCTIONS:
                hint = f"`{s.name}(…)` is a function; use it inside an expression, e.g. `let x = {s.name}(…)`"
            else:
                hint = unknown_name_hint(s.name, [*PRIMITIVES, *self.defs])
            self.error(
                "E101",
                f"unknown primitive `{s.name}`",
                s.name_span,
                expected="one of " + ", ".join([*PRIMITIVES, *self.defs]),
                hint=hint,
            )
            for arg in s.args:
                self.expr(arg.value)
            return
        if s.block is not None:
            self.error(
                "E113",
                f"primitive `{s.name}` cannot take a block",
                s.block.span,
                hint="only transforms (translate, rotate, scale, mirror, symmetric, radial) and "
                "part/for/if take a `{ … }` block",
            )
        if self.in_def is not None and not self.in_part:
            self.in_def.draws = True
        elif not self.in_part:
            self.error(
                "E110",
                f"`{s.name}` is outside any part",
                s.name_span,
                hint="every primitive belongs to a part: wrap it in `part label { … }`",
            )
        params = PRIMITIVES[s.name] + PLACEMENT
        given = self.arguments(s.name, s.args, params, s.span, positional_count(s.name))
        optional = {p.name for p in PRIMITIVES[s.name] if p.default is not REQUIRED}
        if "from" in {p.name for p in PRIMITIVES[s.name]}:
            self.placement_by_points(s.name, given, s.span, "from" in optional)

    def placement_by_points(self, name: str, given: dict[str, Span], span: Span, optional: bool) -> None:
        """`from` and `to` place a primitive on their own and give its length: without them it needs `h`."""
        if "from" not in given and "to" not in given:
            if optional and "h" not in given:
                self.error(
                    "E103",
                    f"`{name}` is missing argument `h`",
                    span,
                    expected=f"{name}({signature_text(name)})",
                    hint="give its length `h`, or its two ends `from=[x, y, z], to=[x, y, z]`",
                )
            return
        for word in ("at", "rot", "align"):
            if word in given:
                self.error(
                    "E112",
                    f"`{name}` placed by `from` and `to` takes no `{word}`",
                    given[word],
                    hint="the two points place it; write them in the frame you want",
                )
        if "h" in given:
            self.error(
                "E135",
                f"`{name}` placed by `from` and `to` takes no `h`: its length is their distance",
                given["h"],
                hint="leave out `h`, or `from` and `to`",
            )
        for end in ("from", "to"):
            if optional and end not in given:
                self.error(
                    "E103",
                    f"`{name}` is missing argument `{end}`",
                    span,
                    expected=f"{name}({signature_text(name)})",
                )

    def primitive_name(self, s: ast.PrimitiveStmt) -> None:
        """`… as name`: a name anchors can follow (`stage.plate.top`), so not an anchor word."""
        assert s.as_name is not None and s.as_span is not None
        if s.as_name in RESERVED:
            self.error("E202", f"`{s.as_name}` is a reserved word and cannot name a primitive", s.as_span)
        elif s.as_name in ANCHORS:
            self.error(
                "E245",
                f"`{s.as_name}` is an anchor word: `part.{s.as_name}` already means the whole part's",
                s.as_span,
                expected="a name other than " + ", ".join(ANCHORS),
                hint=f"pick another name, e.g. `as {s.as_name}_{s.name}`",
            )

    def def_call(self, s: ast.PrimitiveStmt) -> None:
        """A call of a def: defined above it, not recursive, with its arguments, in the right place."""
        info = self.defs.get(s.name)
        if info is None:
            for arg in s.args:
                self.expr(arg.value)
            self.def_not_ready(s)
            return
        if s.block is not None:
            self.error(
                "E113",
                f"a call of `{s.name}` cannot take a block",
                s.block.span,
                hint=f"the block of `def {s.name}` is what the call draws",
            )
        signature = ", ".join(p.name if p.default is REQUIRED else f"{p.name}?" for p in info.params)
        self.arguments(
            s.name, s.args, info.params + DEF_PLACEMENT, s.span, len(info.params), f"{s.name}({signature})"
        )
        line = info.node.span.line
        if info.draws and not self.in_part:
            if self.in_def is not None:
                self.in_def.draws = True
            else:
                self.error(
                    "E110",
                    f"`{s.name}` draws primitives outside any part (def at line {line})",
                    s.name_span,
                    hint=f"call it inside a part: `part {s.name} {{ {s.name}(…) }}`",
                )
        if info.makes_parts:
            if self.in_part:
                self.error(
                    "E111",
                    f"`{s.name}` makes parts (def at line {line}), so it cannot be called inside a part",
                    s.name_span,
                    hint="call it outside part blocks, or move the primitives of its parts here",
                )
            elif self.in_def is not None:
                self.in_def.makes_parts = True
            if s.as_name is not None:
                assert s.as_span is not None
                self.error(
                    "E248",
                    f"`as {s.as_name}` names what a call draws inside a part, but `{s.name}` makes its own parts",
                    s.as_span,
                    hint="name the primitives inside the def's part blocks instead",
                )

    def def_not_ready(self, s: ast.PrimitiveStmt) -> None:
        """A call of a def that is not defined yet here: recursion if it leads back to the def being checked."""
        current = self.in_def.node.name if self.in_def is not None else None
        path = self.call_path(s.name, current) if current is not None else None
        if path is not None:
            through = f" through {' → '.join(f'`{n}`' for n in path[:-1])}" if len(path) > 1 else ""
            self.error(
                "E150",
                f"`{current}` calls itself{through}: defs cannot be recursive",
                s.name_span,
                hint="repeat with `for`, `radial` or `symmetric` inside one def instead",
            )
            return
        line = self.all_defs[s.name].span.line
        self.error(
            "E152",
            f"`{s.name}` is defined below, at line {line}",
            s.name_span,
            hint=f"a def must come before its calls: move `def {s.name}` above line {s.span.line}",
        )

    def call_path(self, start: str, goal: str) -> list[str] | None:
        """The defs a call of `start` runs through to reach `goal` (`start` first, `goal` last), or None."""
        paths, seen = [[start]], {start}
        while paths:
            path = paths.pop(0)
            if path[-1] == goal:
                return path
            for callee in sorted(self.calls.get(path[-1], ())):
                if callee not in seen:
                    seen.add(callee)
                    paths.append([*path, callee])
        return None

    def arguments(
        self,
        name: str,
        args,
        params,
        span: Span,
        max_positional: int | None = None,
        signature: str | None = None,
        values: bool = True,
    ) -> dict[str, Span]:
        """Check the arguments against the parameters (and, if `values`, the names in their values);
        the names given (or meant), with their spans."""
        expected = signature or f"{name}({signature_text(name)})"
        names = [p.name for p in params]
        seen: set[str] = set()
        given: dict[str, Span] = {}
        covered: set[str] = set()  # required names an unknown argument was probably meant as
        positional = 0
        max_positional = len(names) if max_positional is None else max_positional
        for arg in args:
            if values:
                self.expr(arg.value)
            if arg.name is None:
                if positional >= max_positional or seen & set(names[positional : positional + 1]):
                    self.error(
                        "E105",
                        f"too many positional arguments for `{name}`",
                        arg.span,
                        expected=expected,
                        hint="name the arguments: `r=0.1`",
                    )
                    continue
                seen.add(names[positional])
                given[names[positional]] = arg.span
                positional += 1
                continue
            if arg.name not in names:
                alias = ARG_ALIASES.get(arg.name) or nearest(arg.name, names)
                covered.add((alias or "").split()[0] if alias else "")
                given.setdefault((alias or "").split()[0] if alias else "", arg.span)
                message = f"`{name}` has no argument `{arg.name}`" + (
                    f"; it takes `{alias}`" if alias else ""
                )
                self.error(
                    "E102",
                    message,
                    arg.span,
                    expected=expected,
                    hint=f"write `{alias.split()[0]}=`" if alias else f"its arguments: {', '.join(names)}",
                )
                continue
            if arg.name in seen:
                self.error("E104", f"argument `{arg.name}` given twice", arg.span)
            seen.add(arg.name)
            given.setdefault(arg.name, arg.span)
        missing = [p.name for p in params if p.default is REQUIRED and p.name not in seen | covered]
        has_radius = "r" in seen | covered or {"r1", "r2"} <= seen
        if name in EITHER_RADIUS and not has_radius:
            missing.insert(0, "r (or r1 and r2)")
        for param in missing:
            self.error(
                "E103",
                f"`{name}` is missing argument `{param}`",
                span,
                expected=expected,
            )
        return given

    def expr(self, e) -> None:
        """The names, calls, anchors and comprehensions of an expression, walked without recursion:
        expressions nest deep. A comprehension's names are known inside it only (`free_names`); the
        names come last, once the attributes have said which of them read a part's own named primitives."""
        for node in ast.walk(e):
            if type(node) is ast.Call:
                self.visit_Call(node)
            elif type(node) is ast.Comprehension:
                self.visit_Comprehension(node)
            elif type(node) is ast.Attr:
                self.part_attribute(node)
        for name in free_names([e]):
            self.visit_Name(name)

    def part_attribute(self, node: ast.Attr) -> None:
        """`seat.upper`: a part's attribute is an anchor or the name of one of its primitives."""
        target = node.target.target if isinstance(node.target, ast.Index) else node.target
        if not isinstance(target, ast.Name) or target.id not in self.all_labels:
            return
        if target.id == self.building and node.name in self.as_names:
            self.own_pieces.add(id(target))  # a part may read its own named primitives as it builds them
        if node.name not in ANCHORS and node.name not in self.as_names:
            self.error(
                "E208",
                f"part `{target.id}` has no anchor or named primitive `{node.name}`",
                node.span,
                expected=", ".join(ANCHORS),
                hint=unknown_name_hint(node.name, [*ANCHORS, *self.as_names])
                or "name a primitive with `as`: `box(…) as plate`, then `stage.plate.top`",
            )

    def visit_Comprehension(self, node: ast.Comprehension) -> None:
        """Its names: each new, no reserved word and no part label (its reads are checked by `expr`)."""
        scope: dict[str, int] = {}
        for clause in node.clauses:
            if type(clause) is ast.LoopVar:
                self.define(clause.name, clause.span, scope)
                self.comprehension_names.add(clause.name)

    def visit_Name(self, node: ast.Name) -> None:
        if (
            not self.known(node.id)
            and node.id in self.all_labels
            and (self.in_def is not None or id(node) in self.own_pieces)
        ):
            return  # a def's body may read a part its calls come after; a part its own named primitives
        if not self.known(node.id) and node.id in self.all_labels:
            self.error(
                "E209",
                f"part `{node.id}` is not built yet at this point",
                node.span,
                hint="anchors can only name parts whose block comes earlier in the program",
            )
        elif not self.known(node.id):
            names = {n for scope in self.scopes for n in scope} | self.parts | BUILTIN_NAMES
            hint = unknown_name_hint(node.id, names)
            if not hint and node.id in self.comprehension_names:
                hint = f"`{node.id}` belongs to a comprehension: its names exist only inside its brackets"
            self.error(
                "E201",
                f"`{node.id}` is not defined",
                node.span,
                hint=hint or "define it with `let` above, or build the part it names first",
            )

    def visit_Call(self, node: ast.Call) -> None:
        if node.func in POINT_FUNCTIONS:
            self.arguments(node.func, node.args, POINT_FUNCTIONS[node.func], node.span, values=False)
        elif node.func not in FUNCTIONS:
            hint = unknown_name_hint(node.func, FUNCTIONS)
            if node.func in PRIMITIVES:
                hint = f"`{node.func}` is a primitive statement, not a value"
            self.error(
                "E203",
                f"unknown function `{node.func}`",
                node.span,
                expected="one of " + ", ".join(FUNCTIONS),
                hint=hint,
            )
