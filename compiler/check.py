"""Static checks over the syntax tree: every independent naming error of a program in one pass.

Runtime problems (types, values, limits) are found by the evaluator; these are the mistakes
a model makes most (unknown primitives and arguments, undefined names, nested parts), and
reporting all of them at once saves repair rounds.
"""

from __future__ import annotations

from proto3d.compiler.language import (
    ARG_ALIASES,
    EITHER_RADIUS,
    FUNCTIONS,
    PLACEMENT,
    PRIMITIVES,
    REQUIRED,
    RESERVED,
    TRANSFORMS,
    nearest,
    positional_count,
    signature_text,
    unknown_name_hint,
)
from proto3d.errors import Diagnostic, Span
from proto3d.grammar import ast

BUILTIN_NAMES = {"pi"}


def check_program(program: ast.Program) -> list[Diagnostic]:
    checker = _Checker({s.label for s in ast.walk(program) if isinstance(s, ast.PartStmt)})
    checker.visit(program)
    return checker.diagnostics


class _Checker(ast.Visitor):
    """Visits the statements in order, keeping the scopes and the parts built so far."""

    def __init__(self, all_labels: set[str]):
        self.diagnostics: list[Diagnostic] = []
        self.scopes: list[dict[str, int]] = [{}]  # name -> line of its definition
        self.parts: set[str] = set()  # labels built so far
        self.all_labels = all_labels
        self.headers: dict[type, int] = {}
        self.in_part = False

    def error(self, code: str, message: str, span: Span, expected: str = "", hint: str = "") -> None:
        self.diagnostics.append(Diagnostic(code, message, span, expected=expected, hint=hint))

    def define(self, name: str, span: Span) -> None:
        if name in RESERVED:
            self.error(
                "E202",
                f"`{name}` is a reserved word and cannot be used as a name",
                span,
                hint=f"pick another name, e.g. `{name}_`",
            )
        elif name in self.scopes[-1]:
            self.error(
                "E214",
                f"`{name}` is already defined at line {self.scopes[-1][name]}",
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
        self.scopes[-1][name] = span.line

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

    def visit_ParamStmt(self, s: ast.ParamStmt) -> None:
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
        if s.color is not None:
            self.expr(s.color)
        outer, self.in_part = self.in_part, True
        self.block(s.block.body, owner=s)
        self.in_part = outer
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
        if not self.in_part:
            self.error(
                "E140",
                f"`{s.op}` is outside any part",
                Span(s.span.line, s.span.column, s.span.line, s.span.column + len(s.op)),
                hint="a boolean combines the primitives of one part: put it in `part label { … }`",
            )
        self.block(s.block.body, owner=s)

    def visit_PrimitiveStmt(self, s: ast.PrimitiveStmt) -> None:
        if s.name not in PRIMITIVES:
            if s.name in FUNCTIONS:
                hint = f"`{s.name}(…)` is a function; use it inside an expression, e.g. `let x = {s.name}(…)`"
            else:
                hint = unknown_name_hint(s.name, PRIMITIVES)
            self.error(
                "E101",
                f"unknown primitive `{s.name}`",
                s.name_span,
                expected="one of " + ", ".join(PRIMITIVES),
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
        if not self.in_part:
            self.error(
                "E110",
                f"`{s.name}` is outside any part",
                s.name_span,
                hint="every primitive belongs to a part: wrap it in `part label { … }`",
            )
        self.arguments(s.name, s.args, PRIMITIVES[s.name] + PLACEMENT, s.span, positional_count(s.name))

    def arguments(self, name: str, args, params, span: Span, max_positional: int | None = None) -> None:
        names = [p.name for p in params]
        seen: set[str] = set()
        covered: set[str] = set()  # required names an unknown argument was probably meant as
        positional = 0
        max_positional = len(names) if max_positional is None else max_positional
        for arg in args:
            self.expr(arg.value)
            if arg.name is None:
                if positional >= max_positional or seen & set(names[positional : positional + 1]):
                    self.error(
                        "E105",
                        f"too many positional arguments for `{name}`",
                        arg.span,
                        expected=f"{name}({signature_text(name)})",
                        hint="name the arguments: `r=0.1`",
                    )
                    continue
                seen.add(names[positional])
                positional += 1
                continue
            if arg.name not in names:
                alias = ARG_ALIASES.get(arg.name) or nearest(arg.name, names)
                covered.add((alias or "").split()[0] if alias else "")
                message = f"`{name}` has no argument `{arg.name}`" + (
                    f"; it takes `{alias}`" if alias else ""
                )
                self.error(
                    "E102",
                    message,
                    arg.span,
                    expected=f"{name}({signature_text(name)})",
                    hint=f"write `{alias.split()[0]}=`" if alias else f"its arguments: {', '.join(names)}",
                )
                continue
            if arg.name in seen:
                self.error("E104", f"argument `{arg.name}` given twice", arg.span)
            seen.add(arg.name)
        missing = [p.name for p in params if p.default is REQUIRED and p.name not in seen | covered]
        has_radius = "r" in seen | covered or {"r1", "r2"} <= seen
        if name in EITHER_RADIUS and not has_radius:
            missing.insert(0, "r (or r1 and r2)")
        for param in missing:
            self.error(
                "E103",
                f"`{name}` is missing argument `{param}`",
                span,
                expected=f"{name}({signature_text(name)})",
            )

    def expr(self, e) -> None:
        """The names and calls of an expression, walked without recursion: expressions nest deep."""
        for node in ast.walk(e):
            if isinstance(node, ast.Name):
                self.visit_Name(node)
            elif isinstance(node, ast.Call):
                self.visit_Call(node)

    def visit_Name(self, node: ast.Name) -> None:
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
            self.error(
                "E201",
                f"`{node.id}` is not defined",
                node.span,
                hint=hint or "define it with `let` above, or build the part it names first",
            )

    def visit_Call(self, node: ast.Call) -> None:
        if node.func not in FUNCTIONS:
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
