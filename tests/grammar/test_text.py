"""Program text: one decoding for every entry point, bounded reading, characters that would make
code read differently from how it runs, programs that draw nothing, writing through links."""

import os
import resource
import stat
import subprocess
import sys

import numpy as np
import pytest

from proto3d.compiler import check, compile_text
from proto3d.compiler.files import write_atomic
from proto3d.grammar import Proto3dError, parse
from proto3d.grammar.source import read_program

BOX = 'box(size=[0.2, 0.2, 0.2], align="bottom")'
PROGRAM = f"# a box\npart body {{\n    {BOX}\n}}\n"


def codes(diagnostics):
    return [(d.code, d.line, d.column) for d in diagnostics]


def cli(*args, stdin=None, input=None, memory=1 << 30):
    """Run `proto3d ARGS` in a process whose address space is capped (1 GB unless told)."""

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run(
        [sys.executable, "-m", "proto3d.cli", *args],
        stdin=stdin,
        input=input,
        capture_output=True,
        preexec_fn=cap,
    )


# ---- one decoding: str or bytes, with or without a BOM, any line ends ----------------------------


@pytest.mark.parametrize(
    "variant",
    [
        PROGRAM,
        "\ufeff" + PROGRAM,
        PROGRAM.encode(),
        b"\xef\xbb\xbf" + PROGRAM.encode(),
        PROGRAM.replace("\n", "\r\n"),
        PROGRAM.replace("\n", "\r"),
        ("\ufeff" + PROGRAM.replace("\n", "\r\n")).encode(),
    ],
    ids=["str", "str+bom", "bytes", "bytes+bom", "crlf", "cr", "bytes+bom+crlf"],
)
def test_every_entry_point_reads_the_same_program(variant):
    plain = compile_text(PROGRAM)
    shape = compile_text(variant)
    assert np.array_equal(shape.vertices, plain.vertices) and np.array_equal(shape.part_id, plain.part_id)
    assert [p.label for p in shape.parts] == ["body"]
    assert shape.primitives[0].span == plain.primitives[0].span  # line 3, as an editor shows it
    assert check(variant) == check(PROGRAM) == []
    assert parse(variant).text == PROGRAM


def test_a_lone_carriage_return_ends_a_line_even_in_a_comment():
    """An editor shows the code after a lone CR on its own line: it runs, and positions say so."""
    shape = compile_text(f"# a comment\rpart hidden {{ {BOX} }}")
    assert [p.label for p in shape.parts] == ["hidden"]
    assert shape.primitives[0].span.line == 2
    (error,) = check("let a = 1\r\rlet b = nope\r")
    assert (error.code, error.line, error.column, error.source_line) == ("E201", 3, 9, "let b = nope")


def test_invalid_utf8_is_an_error_where_the_editor_shows_it():
    data = "part a {\r\n    box(size=[1, 1, 1]) # café ".encode() + b"\xff\xfe rest\n}\n"
    (error,) = check(data)
    assert codes([error]) == [("E004", 2, 32)]  # the column counts characters: é is one
    assert error.message == "byte 42 (0xff) is not UTF-8 text"
    assert error.source_line == "    box(size=[1, 1, 1]) # café \ufffd\ufffd rest"
    with pytest.raises(Proto3dError) as raised:
        compile_text(data)
    assert codes(raised.value.diagnostics) == [("E004", 2, 32)]
    assert codes(check(b"\xef\xbb\xbf\xc3(")) == [("E004", 1, 1)]  # after the BOM: column 1


# ---- characters that are not what they seem --------------------------------------------------------


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028", "\u2029"])
@pytest.mark.parametrize("where", ["code", "comment", "string"])
def test_control_characters_are_errors_anywhere(char, where):
    line = {"code": f"let a{char} = 1", "comment": f"let a = 1  # x{char}y", "string": f'let a = "x{char}y"'}[
        where
    ]
    column = line.index(char) + 1
    diagnostics = check(f"{PROGRAM}{line}\n")
    assert codes(diagnostics) == [("E005", 5, column)]
    assert diagnostics[0].message == f"control character U+{ord(char):04X} in the text"
    assert diagnostics[0].source_line == line.replace(char, "\ufffd")  # printable, caret aligned


def test_tabs_stay_allowed_and_nul_bytes_are_each_reported():
    assert check(f"part a {{\n\t{BOX}\n}}") == []
    assert codes(check("\x00" * 1000))[:3] == [("E005", 1, 1), ("E005", 1, 2), ("E005", 1, 3)]
    assert len(check("\x00" * 1000)) == 20  # as many as syntax errors, no more


BIDI = [
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
]


@pytest.mark.parametrize("char", BIDI)
def test_bidirectional_controls_outside_strings_are_errors(char):
    """The "Trojan Source" trick: a comment that reorders the code shown around it."""
    text = f"let admin = false  # {char}check{char}\nlet b = 1 {char}\n{PROGRAM}"
    diagnostics = check(text)
    assert codes(diagnostics) == [("E006", 1, 22), ("E006", 1, 28), ("E006", 2, 11)]
    assert diagnostics[0].message == f"bidirectional control character U+{ord(char):04X} outside a string"
    with pytest.raises(Proto3dError):
        compile_text(text)


@pytest.mark.parametrize("char", BIDI)
def test_bidirectional_controls_inside_strings_are_warnings(char):
    text = f'shape "cup {char}a"\n{PROGRAM}'
    shape = compile_text(text)
    assert shape.name == f"cup {char}a"
    assert codes(shape.diagnostics) == [("W108", 1, 12)]
    assert shape.diagnostics[0].severity == "warning"
    assert codes(check(text)) == [("W108", 1, 12)]
    assert parse(text).warnings[0].source_line == 'shape "cup \ufffda"'


def test_a_string_left_open_still_counts_as_a_string():
    """A string runs to its quote or its line's end (as the lexer reads it): its error is E010, not E006."""
    assert codes(check('shape "a\u202e\nlet b = 1')) == [("E010", 1, 7)]


def test_lone_surrogates_from_the_in_process_api_are_errors():
    (error,) = check(f'shape "a\ud800"\n{PROGRAM}')
    assert codes([error]) == [("E004", 1, 9)] and error.message == "lone surrogate U+D800 is not a character"
    error.format()  # printable: the surrogate is shown as U+FFFD
    assert "\ud800" not in error.source_line


# ---- a program that draws nothing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  \n\t\n",
        "# only a comment\n// and another",
        'shape "cup"\nbounds [1, 1, 1]',
        "param n = 0 in [0, 3]\nfor i in range(n) { part a { box(size=[1, 1, 1]) } }",
        "part a { }",
        "if false { part a { sphere(r=1) } }",
    ],
)
def test_a_program_that_draws_nothing_is_an_error(text):
    with pytest.raises(Proto3dError) as raised:
        compile_text(text, filename="empty.pdsl")
    (error,) = raised.value.diagnostics
    assert (error.code, error.severity, error.line) == ("E007", "error", 0)  # the whole program, no position
    assert error.message == "the program draws nothing: no primitive was made"
    assert raised.value.format().startswith("empty.pdsl: error E007: the program draws nothing")
    assert codes(check(text)) == [("E007", 0, 0)]


def test_a_param_that_makes_something_compiles():
    text = "param n = 0 in [0, 3]\nfor i in range(n) { part a { box(size=[1, 1, 1], at=[2 * i, 0, 0.5]) } }"
    assert len(compile_text(text, params={"n": 2}).instances) == 2


# ---- bounded reading, for every command -------------------------------------------------------------


def test_read_program_reads_no_further_than_the_limit(tmp_path):
    with pytest.raises(Proto3dError) as raised:
        read_program("/dev/zero")
    assert codes(raised.value.diagnostics) == [("E001", 1, 1)]
    assert raised.value.diagnostics[0].message == "program is over 50000 bytes; the limit is 50000"
    path = tmp_path / "a.pdsl"
    path.write_bytes(b"#" * 50_000)
    assert read_program(str(path)) == "#" * 50_000
    path.write_bytes(b"#" * 50_001)
    with pytest.raises(Proto3dError):
        read_program(str(path))
    path.write_bytes(b"\xef\xbb\xbfpart a {\r\n}")
    assert read_program(str(path)) == "\ufeffpart a {\r\n}"  # as written: `fmt --check` sees it
    with pytest.raises(Proto3dError) as raised:
        read_program(str(tmp_path / "missing.pdsl"))
    assert raised.value.diagnostics[0].code == "E000"


@pytest.mark.parametrize(
    "command",
    [
        ["compile", "/dev/zero", "-o", "{tmp}/a.glb"],
        ["check", "/dev/zero"],
        ["fmt", "/dev/zero"],
        ["render", "/dev/zero", "-o", "{tmp}/views"],
        ["sample", "/dev/zero", "-n", "2", "-o", "{tmp}/variants"],
        ["dataset", "{tmp}/zero", "-o", "{tmp}/data"],
    ],
    ids=lambda c: c[0],
)
def test_every_command_refuses_an_endless_file_in_little_memory(command, tmp_path):
    (tmp_path / "zero").mkdir()
    (tmp_path / "zero" / "endless.pdsl").symlink_to("/dev/zero")
    result = cli(*[part.format(tmp=tmp_path) for part in command])
    output = (result.stdout + result.stderr).decode()  # `check` reports its findings on stdout
    assert result.returncode == 1, output
    assert "error E001: program is over 50000 bytes; the limit is 50000" in output
    assert "Traceback" not in output and "MemoryError" not in output


def test_a_huge_standard_input_is_refused_in_little_memory(tmp_path):
    with open("/dev/zero", "rb") as endless:
        result = cli("compile", "-", "-o", str(tmp_path / "a.glb"), stdin=endless)
    assert result.returncode == 1 and b"-:1:1: error E001: program is over 50000 bytes" in result.stderr
    result = cli("check", "-", input=b"# padding\n" * 1_000_000)  # 10 MB through a pipe
    assert result.returncode == 1 and b"-:1:1: error E001: program is over 50000 bytes" in result.stdout
    assert not (tmp_path / "a.glb").exists()


def test_the_cli_positions_text_errors(tmp_path):
    path = tmp_path / "latin1.pdsl"
    path.write_bytes(f"{PROGRAM}# caf".encode() + b"\xe9\n")
    result = cli("check", str(path))
    assert result.returncode == 1
    assert f"{path}:5:6: error E004: byte 73 (0xe9) is not UTF-8 text".encode() in result.stdout
    path.write_bytes(b"\xef\xbb\xbf" + PROGRAM.replace("\n", "\r\n").encode())
    assert cli("compile", str(path), "-o", str(tmp_path / "a.glb")).returncode == 0


# ---- fmt -w through a symbolic link --------------------------------------------------------------------


def test_fmt_writes_through_a_symbolic_link(tmp_path):
    real = tmp_path / "real" / "chair.pdsl"
    real.parent.mkdir()
    real.write_text("part a {box(size=[1,1,1])}\n")
    real.chmod(0o640)
    link = tmp_path / "link.pdsl"
    link.symlink_to(os.path.relpath(real, tmp_path))
    result = cli("fmt", "-w", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert real.read_text() == "part a {\n    box(size=[1, 1, 1])\n}\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # the file keeps its permissions
    assert sorted(p.name for p in real.parent.iterdir()) == ["chair.pdsl"]  # no temp file left


def test_write_atomic_through_a_dangling_link_creates_its_target(tmp_path):
    link = tmp_path / "out.json"
    link.symlink_to(tmp_path / "target.json")
    write_atomic(link, "{}\n")
    assert link.is_symlink() and (tmp_path / "target.json").read_text() == "{}\n"


def test_fmt_makes_line_ends_and_the_bom_canonical(tmp_path):
    path = tmp_path / "a.pdsl"
    path.write_bytes(b"\xef\xbb\xbf" + PROGRAM.replace("\n", "\r\n").encode())
    assert cli("fmt", "--check", str(path)).returncode == 1
    assert cli("fmt", "-w", str(path)).returncode == 0
    assert path.read_bytes() == PROGRAM.encode()
    assert cli("fmt", "--check", str(path)).returncode == 0


def test_variants_edit_the_text_as_parsed():
    """`sample` rewrites param defaults by position: positions and text agree whatever the line ends."""
    from proto3d.dataset.variants import with_defaults

    text = '\ufeff# x\rparam h = 0.5 in [0.2, 1]\r\npart a { box(size=[1, 1, h], align="bottom") }\r'
    assert (
        with_defaults(text, {"h": 0.75})
        == '# x\nparam h = 0.75 in [0.2, 1]\npart a { box(size=[1, 1, h], align="bottom") }\n'
    )
