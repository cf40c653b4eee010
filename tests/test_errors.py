"""The diagnostic code table: every code the source uses is listed once, documented, and built the same way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proto3d.errors import CODES, Diagnostic, Proto3dError, Span, diagnostic, errors

ROOT = Path(__file__).resolve().parent.parent
SOURCE_FOLDERS = ("grammar", "compiler", "renderer", "prompts", "proto3d", "bench", "tests")
CODE = re.compile(r"""["']([EWRVX]\d{3})["']""")
# Where each family is documented for users: language codes in docs/language.md's tables.
DOCS = {
    "E": "docs/language.md",
    "W": "docs/language.md",
    "R": "renderer/README.md",
    "V": "docs/datasets.md",
    "X": "docs/experiments.md",
}


def _codes_in_source() -> dict[str, set[str]]:
    """Each code written as a string literal in a Python file, with the files that write it."""
    found: dict[str, set[str]] = {}
    for folder in SOURCE_FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            if path.is_symlink() or any(
                p.is_symlink() for p in path.relative_to(ROOT).parents if p != Path(".")
            ):
                continue
            relative = path.relative_to(ROOT).as_posix()
            if relative in ("proto3d/errors.py", "tests/test_errors.py"):
                continue
            for code in CODE.findall(path.read_text(encoding="utf-8")):
                found.setdefault(code, set()).add(relative)
    return found


def test_every_code_in_the_source_is_in_the_table_and_every_entry_is_used():
    used = _codes_in_source()
    assert sorted(set(used) - set(CODES)) == []
    assert sorted(set(CODES) - set(used)) == []


def test_the_table_is_sorted_and_each_meaning_is_one_short_line():
    assert list(CODES) == sorted(CODES, key=lambda code: ("EWRVX".index(code[0]), code))
    assert all(meaning and "\n" not in meaning and len(meaning) < 100 for meaning in CODES.values())


def test_language_codes_are_the_rows_of_the_tables_in_language_md():
    text = (ROOT / "docs/language.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([EW]\d{3}) \|", text, re.M)
    assert len(rows) == len(set(rows))
    assert sorted(rows) == sorted(code for code in CODES if code[0] in "EW")


@pytest.mark.parametrize("family", ["R", "V", "X"])
def test_other_codes_are_documented_where_their_stage_is(family):
    text = (ROOT / DOCS[family]).read_text(encoding="utf-8")
    missing = [code for code in CODES if code[0] == family and not re.search(rf"\b{code}\b", text)]
    assert missing == []


def test_diagnostic_takes_its_severity_from_the_code():
    span = Span(2, 5, 2, 9)
    assert diagnostic("E101", "unknown primitive `cube`", span, expected="box", hint="use box") == Diagnostic(
        "E101", "unknown primitive `cube`", span, "error", "box", "use box"
    )
    assert diagnostic("W106", "empty block").severity == "warning"
    assert diagnostic("R002", "unknown view").span == Span()
    with pytest.raises(ValueError, match="E123 is not in proto3d.errors.CODES"):
        diagnostic("E123", "no such code")


def test_errors_keeps_only_errors_in_order():
    warning = diagnostic("W103", "not grounded")
    first, second = diagnostic("E201", "undefined name `a`"), diagnostic("E205", "type error")
    assert errors([warning, first, warning, second]) == [first, second]
    assert errors([warning]) == []


def test_a_message_alone_is_the_catch_all_code():
    error = Proto3dError("something broke", "chair.pdsl")
    assert [d.code for d in error.diagnostics] == ["E000"]
    assert str(error) == "chair.pdsl: error E000: something broke"
