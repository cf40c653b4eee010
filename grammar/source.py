"""Program text as an editor shows it: one reading and decoding for every way a program comes in.

A file, standard input, and `parse`/`check`/`compile_text` given bytes or a str all go through
`decode` and `normalise`, so a program means the same wherever it comes from and every line and
column agrees with what an editor shows. `character_problems` rejects what would make the text
read differently from how it parses.
"""

from __future__ import annotations

import re
import sys

from proto3d.errors import Diagnostic, Proto3dError, Span
from proto3d.limits import Limits

MAX_PROGRAM_BYTES = Limits.max_program_bytes
BOM = "\ufeff"
_LINE_BREAK = re.compile(r"\r\n?")
# Control characters other than tab and line feed (a carriage return is a line feed by then), and
# the separators some editors break lines at and others do not show: a comment could hide code.
_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029"
# Bidirectional controls (embeddings, overrides, isolates, marks) reorder how text displays, so
# code could show other than it runs ("Trojan Source", CVE-2021-42574).
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_SURROGATE = "\ud800-\udfff"  # only a str can hold one: never valid text
_SUSPECT = re.compile(f"([{_CONTROL}])|([{_SURROGATE}])|[{_BIDI}]")
MAX_REPORTED = 20


def read_program(path: str, max_bytes: int = MAX_PROGRAM_BYTES) -> str:
    """Source text of a .pdsl file ('-' for standard input); bad files become diagnostics.

    Reads at most `max_bytes` + 1 bytes, so `/dev/zero` or an endless pipe is refused at once.
    """
    try:
        if path == "-":
            data = sys.stdin.buffer.read(max_bytes + 1)
        else:
            with open(path, "rb") as file:
                data = file.read(max_bytes + 1)
    except OSError as error:
        raise Proto3dError(
            Diagnostic("E903", f"cannot read {path}: {error.strerror or error}"), path
        ) from None
    if len(data) > max_bytes:
        raise Proto3dError(too_large(None, max_bytes), path)
    text, error = decode(data)
    if error:
        raise Proto3dError(error, path)
    return text


def too_large(size: int | None, max_bytes: int) -> Diagnostic:
    """E001 for a program of `size` bytes (None: not read to its end)."""
    message = f"program is {size} bytes" if size is not None else f"program is over {max_bytes} bytes"
    return Diagnostic(
        "E001",
        f"{message}; the limit is {max_bytes}",
        Span(1, 1, 1, 2),
        hint="split the object into fewer, larger primitives",
    )


def decode(data: bytes | str) -> tuple[str, Diagnostic | None]:
    """`data` as text, and for bytes that are not UTF-8 an E004 error at the first bad one (the
    text then holds U+FFFD there, so the error can show its line)."""
    if isinstance(data, str):
        return data, None
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        text = normalise(data.decode("utf-8", "replace"))
        before = normalise(data[: error.start].decode("utf-8"))
        line, column = line_column(before, len(before))
        diagnostic = Diagnostic(
            "E004",
            f"byte {error.start} (0x{data[error.start]:02x}) is not UTF-8 text",
            Span(line, column, line, column + 1),
            hint="save the file as UTF-8",
        )
        return text, diagnostic.with_source(text)


def normalise(text: str) -> str:
    """Drop a leading byte order mark; `\\r\\n` and a lone `\\r` end a line, as in an editor: both become `\\n`."""
    return _LINE_BREAK.sub("\n", text.removeprefix(BOM))


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of `offset` in normalised text."""
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


def character_problems(text: str, strings: list[tuple[int, int]]) -> list[Diagnostic]:
    """The errors for the characters of normalised `text` or, if there are none, its warnings (at
    most `MAX_REPORTED` of either, in the order written); `strings` are the sorted `(start, end)`
    offsets of its string literals.

    Control characters other than tab, and lone surrogates, are errors anywhere; a bidirectional control is
    an error in code and comments and a warning inside a string, where right-to-left text may need it.
    """
    errors, warnings, string = [], [], iter(strings)
    start, end = next(string, (len(text), len(text)))
    for match in _SUSPECT.finditer(text):
        offset = match.start()
        while end <= offset:
            start, end = next(string, (len(text), len(text)))
        char = f"U+{ord(match.group()):04X}"
        line, column = line_column(text, offset)
        span = Span(line, column, line, column + 1)
        if match.group(1):
            errors.append(
                Diagnostic(
                    "E005",
                    f"control character {char} in the text",
                    span,
                    hint="delete it: editors show it differently or not at all "
                    "(tab and line breaks are the only control characters allowed)",
                )
            )
        elif match.group(2):
            errors.append(
                Diagnostic(
                    "E004",
                    f"lone surrogate {char} is not a character",
                    span,
                    hint="the text was decoded wrongly; read the file as UTF-8",
                )
            )
        elif offset < start:
            errors.append(
                Diagnostic(
                    "E006",
                    f"bidirectional control character {char} outside a string",
                    span,
                    hint="delete it: it can make the code display in another order than it runs",
                )
            )
        elif len(warnings) < MAX_REPORTED:
            warnings.append(
                Diagnostic(
                    "W108",
                    f"bidirectional control character {char} in a string",
                    span,
                    severity="warning",
                    hint="it reorders how the text around it displays; remove it unless "
                    "the string needs right-to-left text",
                )
            )
        if len(errors) == MAX_REPORTED:
            break
    return errors or warnings
