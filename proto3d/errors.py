"""Diagnostics: errors and warnings as values with positions, and the table of every code.

Every stage reports problems as `Diagnostic` values; only the edge of the library raises them,
bundled in one exception type, `Proto3dError`. A code is stable: tools and models match on it, so
each one is listed once in `CODES` (as mypy's errorcodes.py) and documented beside the stage that
reports it (tests/test_errors.py checks both). A new code is an entry here, a row in the table of
docs/language.md (R codes: renderer/README.md; V: docs/datasets.md; X: docs/experiments.md) and a
test that makes it happen; a code once published keeps its meaning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

CODES: dict[str, str] = {
    # E0xx: text and syntax (docs/language.md §2, §12)
    "E000": "a failure with no code of its own",
    "E001": "program too large",
    "E002": "nesting deeper than the limit",
    "E003": "string or name longer than the limit",
    "E004": "not UTF-8 text, or a lone surrogate",
    "E005": "control character",
    "E006": "bidirectional control character outside a string",
    "E007": "the program draws nothing",
    "E010": "unexpected character",
    "E011": "unexpected token",
    "E012": "unexpected end of input",
    "E013": "number literal out of range",
    # E1xx: statements and arguments
    "E101": "unknown primitive",
    "E102": "unknown argument",
    "E103": "missing argument",
    "E104": "argument given twice",
    "E105": "too many positional arguments",
    "E106": "wrong argument type",
    "E107": "invalid size",
    "E108": "bad `align`",
    "E109": "bad colour",
    "E110": "primitive outside a part",
    "E111": "part inside a part",
    "E112": "`at`, `rot` or `align` with `from`/`to`",
    "E113": "primitive with a block",
    "E125": "`round` too large for the outline or the height",
    "E126": "`round` or `smooth` with `holes`, or `smooth` with a lathe `thickness`",
    "E130": "`loft` with both `z` and `path`",
    "E131": "`loft` with a different number of sections and heights (or path points)",
    "E132": "`sweep` with both `r` and `profile`",
    "E135": "`h` with `from`/`to`",
    "E136": "`thickness` on a closed lathe profile",
    "E140": "boolean block outside a part",
    "E141": "boolean operand not a closed solid",
    "E150": "a def that calls itself, directly or through other defs",
    "E151": "`def` inside a block",
    "E152": "a def called above its definition",
    "E153": "`shape`, `bounds` or `param` inside a def",
    "E154": "a def named like a primitive or a function",
    "E155": "a def parameter named like a call's placement (`at`, `rot`, `color`)",
    # E2xx: names and values
    "E201": "undefined name",
    "E202": "reserved word used as a name",
    "E203": "unknown function",
    "E204": "bad function arguments",
    "E205": "type error",
    "E206": "division by zero",
    "E207": "index out of range",
    "E208": "unknown attribute or anchor",
    "E209": "part not built yet",
    "E210": "number out of range",
    "E211": "bad `param`, or a value for a param the program does not have",
    "E212": "bad or repeated `shape`/`bounds`",
    "E214": "name defined twice",
    "E215": "name that is also a part label",
    "E245": "a primitive named like an anchor (`as top`)",
    "E246": "a primitive name drawn by two statements in one instance",
    "E247": "no primitive of that name in the part (yet)",
    "E248": "`as` on a call that draws no primitive of a part",
    # E3xx: limits (docs/language.md §10)
    "E301": "too many primitives",
    "E302": "too many triangles",
    "E303": "too many loop iterations",
    "E304": "too many evaluation steps",
    "E305": "too many segments",
    "E306": "too complex to evaluate",
    "E307": "too many points",
    "E308": "evaluation time limit passed",
    "E315": "def calls nested deeper than the limit",
    # E4xx: transforms
    "E401": "bad transform (zero scale, radial count, symmetric or mirror axis)",
    # E9xx: files, datasets and the tools around the language
    "E901": "unknown export format",
    "E902": "a file cannot be written",
    "E903": "a file or folder cannot be read, found or made",
    "E904": "a folder is not the dataset the command needs (not empty, other settings, no dataset)",
    "E905": "dataset background pictures missing, unreadable or changed",
    "E906": "prototypes that cannot make a dataset (none found, clashing names, over the masks' ids)",
    "E907": "an optional package is not installed",
    "E908": "no such image in the dataset, or its prototype changed since it was made",
    "E999": "internal compiler error (the agent reports it like any error)",
    # W1xx: lints and text warnings (docs/language.md §12)
    "W101": "floating part",
    "W102": "outside the declared bounds",
    "W103": "not grounded",
    "W104": "hidden instance",
    "W105": "degenerate primitive",
    "W106": "empty block",
    "W107": "an instance coloured unlike its part",
    "W108": "bidirectional control character inside a string",
    "W109": "a part placed from an anchor that moved since the previous version",
    # R0xx: rendering (renderer/README.md)
    "R001": "no OpenGL context",
    "R002": "unknown view",
    "R003": "image size out of range",
    "R004": "malformed camera or camera file",
    "R005": "bad orbit",
    "R006": "empty or malformed shape",
    "R007": "the shape covers no pixel of a view",
    "R008": "unknown pass",
    "R009": "pixel outside the image",
    "R010": "other bad render option",
    "R011": "rendering in a forked process",
    "R012": "buffers over the memory limit",
    "R013": "out of memory",
    # V0xx: vocabulary and label-map files (docs/datasets.md)
    "V001": "vocabulary file missing, unreadable or not UTF-8",
    "V002": "vocabulary file is not TOML",
    "V003": "vocabulary key missing, unknown or of the wrong kind",
    "V004": "unknown vocabulary",
    "V005": "dataset category the vocabulary does not map",
    # X0xx: experiments (docs/experiments.md)
    "X001": "run folder holds a run with other settings",
    "X002": "no training images",
    "X003": "model weights or config missing or unusable",
    "X004": "malformed image dataset",
    "X005": "bad class map",
    "X006": "target labels outside the synthetic vocabulary",
}


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
class CallSite:
    """A def call a diagnostic happened inside: the error's own span is the line in the def's body,
    so a call site says which of the def's calls ran it."""

    name: str  # the def called
    span: Span
    source_line: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, **asdict(self.span), "source_line": self.source_line}


@dataclass(frozen=True)
class Diagnostic:
    code: str  # stable machine code from CODES, e.g. "E201"
    message: str
    span: Span = field(default_factory=Span)
    severity: str = "error"  # "error" | "warning"
    expected: str = ""
    hint: str = ""
    source_line: str = ""
    calls: tuple[CallSite, ...] = ()  # the def calls it happened inside, innermost first

    @property
    def line(self) -> int:
        return self.span.line

    @property
    def column(self) -> int:
        return self.span.column

    def with_source(self, text: str) -> Diagnostic:
        """Attach the offending source line (and those of its call sites) so the diagnostic stands alone."""
        if (self.source_line or not self.span.line) and all(c.source_line for c in self.calls):
            return self
        lines = text.split(
            "\n"
        )  # lines as the parser counts them (splitlines also splits at \f, \r, \u2028…)

        def line_of(span: Span, known: str) -> str:
            if known or not 0 < span.line <= len(lines):
                return known
            return _printable(lines[span.line - 1].rstrip("\r"))

        calls = tuple(replace(c, source_line=line_of(c.span, c.source_line)) for c in self.calls)
        return replace(self, source_line=line_of(self.span, self.source_line), calls=calls)

    def format(self, filename: str = "<input>") -> str:
        """Human-readable form: location, message, source line, caret, expected, hint."""
        where = (
            f"{filename}:{self.line}:{self.column}: "
            if self.line
            else ("" if filename == "<input>" else f"{filename}: ")
        )
        out = [f"{where}{self.severity} {self.code}: {self.message}"]
        out += _quoted(self.source_line, self.span)
        for call in self.calls:
            out.append(f"  in the call of `{call.name}` at line {call.span.line}, column {call.span.column}:")
            out += _quoted(call.source_line, call.span)
        if self.expected:
            out.append(f"  expected: {self.expected}")
        if self.hint:
            out.append(f"  hint: {self.hint}")
        return "\n".join(out)

    def to_json(self) -> dict:
        d = asdict(self)
        span = d.pop("span")
        d.update(span)
        d["calls"] = [call.to_json() for call in self.calls]
        return d


def _quoted(source_line: str, span: Span) -> list[str]:
    """The source line and a caret under the span (nothing without the line)."""
    if not source_line:
        return []
    width = 1
    if span.end_line == span.line and span.end_column > span.column:
        width = span.end_column - span.column
    indent = "".join(c if c == "\t" else " " for c in source_line[: max(span.column - 1, 0)])
    return [f"    {source_line}", "    " + indent + "^" * max(width, 1)]


def diagnostic(
    code: str, message: str, span: Span | None = None, *, expected: str = "", hint: str = ""
) -> Diagnostic:
    """A diagnostic with a code from `CODES`; W codes are warnings, every other code an error."""
    if code not in CODES:
        raise ValueError(f"{code} is not in proto3d.errors.CODES")
    severity = "warning" if code.startswith("W") else "error"
    return Diagnostic(code, message, span or Span(), severity, expected, hint)


def errors(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """The errors among `diagnostics` (warnings do not stop compilation)."""
    return [d for d in diagnostics if d.severity == "error"]


def _printable(line: str) -> str:
    """The line with U+FFFD for each character a terminal would not print as itself (controls but
    tab, bidirectional and other format characters, lone surrogates): safe to print, caret aligned."""
    if line.isprintable():
        return line
    return "".join(c if c.isprintable() or c == "\t" else "\ufffd" for c in line)


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
