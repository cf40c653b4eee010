"""Diagnostics: errors and warnings as values with positions.

Every stage reports problems as `Diagnostic` values; only the edge of the
library raises them, bundled in one exception type, `Proto3dError`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Span:
    """A 1-based source range; end is inclusive of the last character's column + 1."""

    line: int = 0
    column: int = 0
    end_line: int = 0
    end_column: int = 0

    @classmethod
    def of(cls, meta) -> Span:
        """Span of a lark token or tree `meta` (both carry line/column)."""
        if getattr(meta, "empty", False):
            return cls()
        return cls(meta.line, meta.column, meta.end_line or meta.line, meta.end_column or meta.column + 1)


@dataclass(frozen=True)
class Diagnostic:
    code: str  # stable machine code, e.g. "E201"
    message: str
    span: Span = field(default_factory=Span)
    severity: str = "error"  # "error" | "warning"
    expected: str = ""
    hint: str = ""
    source_line: str = ""

    @property
    def line(self) -> int:
        return self.span.line

    @property
    def column(self) -> int:
        return self.span.column

    def with_source(self, text: str) -> Diagnostic:
        """Attach the offending source line so the diagnostic stands alone."""
        if self.source_line or not self.span.line:
            return self
        lines = text.split(
            "\n"
        )  # lines as the parser counts them (splitlines also splits at \f, \r, \u2028…)
        if 0 < self.span.line <= len(lines):
            return _replace(self, source_line=_printable(lines[self.span.line - 1].rstrip("\r")))
        return self

    def format(self, filename: str = "<input>") -> str:
        """Human-readable form: location, message, source line, caret, expected, hint."""
        where = (
            f"{filename}:{self.line}:{self.column}: "
            if self.line
            else ("" if filename == "<input>" else f"{filename}: ")
        )
        out = [f"{where}{self.severity} {self.code}: {self.message}"]
        if self.source_line:
            out.append(f"    {self.source_line}")
            width = 1
            if self.span.end_line == self.span.line and self.span.end_column > self.span.column:
                width = self.span.end_column - self.span.column
            indent = "".join(c if c == "\t" else " " for c in self.source_line[: max(self.column - 1, 0)])
            out.append("    " + indent + "^" * max(width, 1))
        if self.expected:
            out.append(f"  expected: {self.expected}")
        if self.hint:
            out.append(f"  hint: {self.hint}")
        return "\n".join(out)

    def to_json(self) -> dict:
        d = asdict(self)
        span = d.pop("span")
        d.update(span)
        return d


def _printable(line: str) -> str:
    """The line with U+FFFD for each character a terminal would not print as itself (controls but
    tab, bidirectional and other format characters, lone surrogates): safe to print, caret aligned."""
    if line.isprintable():
        return line
    return "".join(c if c.isprintable() or c == "\t" else "\ufffd" for c in line)


def _replace(diag: Diagnostic, **changes) -> Diagnostic:
    from dataclasses import replace

    return replace(diag, **changes)


class Proto3dError(Exception):
    """The one exception proto3d raises for anything a user or a model can type."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic | str, filename: str = "<input>"):
        if isinstance(diagnostics, str):
            diagnostics = Diagnostic("E000", diagnostics)
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = list(diagnostics)
        self.filename = filename
        super().__init__(self.format())

    def format(self) -> str:
        return "\n".join(d.format(self.filename) for d in self.diagnostics)


def errors(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "error"]
