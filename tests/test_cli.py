"""The one CLI convention (README "Command line"): which stream gets what, -q/-v, the same exit code
for the same mistake in every command, Ctrl-C, a closed pipe, --version, python -m proto3d, completion."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from proto3d.cli import cli, main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
COMMANDS = ["agent", "check", "compile", "dataset", "fmt", "render", "sample", "view"]
UNGROUNDED = 'shape "block"\npart a { box(size=[1, 1, 1]) }\n'  # compiles, with one lint: W103 at 2:1
BAD = "part a { cube(size=1) }\n"  # E101 at 1:10
STOOL = 'shape "stool"\nparam h = 0.45 in [0.4, 0.5]\npart seat { box(size=[0.3, 0.3, h], align="bottom") }\n'


def invoke(*args, input=None):
    """Run the command line in this process; stdout and stderr come back apart."""
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, prog_name="proto3d")


def run_main(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """Run the `proto3d` entry point (not only the click group) in this process."""
    monkeypatch.setattr(sys, "argv", ["proto3d", *map(str, args)])
    with pytest.raises(SystemExit) as exit:
        main()
    out, err = capsys.readouterr()
    return exit.value.code or 0, out, err


def proto3d(*args, **popen):
    return subprocess.Popen(
        [sys.executable, "-m", "proto3d", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


@pytest.fixture
def files(tmp_path):
    for name, text in [
        ("lint.pdsl", UNGROUNDED),
        ("bad.pdsl", BAD),
        ("stool.pdsl", STOOL),
        ("ugly.pdsl", "part a {box(size=[1,1,1])}\n"),
        ("cats.txt", "table\n"),
    ]:
        (tmp_path / name).write_text(text)
    (tmp_path / "latin1.pdsl").write_bytes(b"# caf\xe9\n")
    (tmp_path / "folder.pdsl").mkdir()
    (tmp_path / "blocker").write_text("a file where a folder should be\n")
    return tmp_path


# ---- which stream gets what ------------------------------------------------------------------


def test_check_findings_on_stdout_summary_on_stderr(files):
    result = invoke("check", files / "bad.pdsl", files / "lint.pdsl")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == f"{files / 'bad.pdsl'}:1:10: error E101: unknown primitive `cube`"
    assert f"{files / 'lint.pdsl'}:2:1: warning W103:" in result.stdout
    assert result.stderr.splitlines() == [
        f"{files / 'bad.pdsl'}: 1 error(s), 0 warning(s)",
        f"{files / 'lint.pdsl'}: 0 error(s), 1 warning(s)",
    ]
    quiet = invoke("check", "-q", files / "bad.pdsl", files / "lint.pdsl")
    assert quiet.exit_code == 1 and quiet.stdout == result.stdout and quiet.stderr == ""
    assert invoke("check", files / "lint.pdsl").exit_code == 0  # warnings alone are not a failure


def test_check_json_is_one_object_per_file(files):
    result = invoke("check", "--json", "-q", files / "lint.pdsl", "-", input=BAD)
    first, second = map(json.loads, result.stdout.splitlines())
    assert (first["file"], first["ok"], first["warnings"]) == (str(files / "lint.pdsl"), True, 1)
    assert first["diagnostics"][0]["code"] == "W103"
    assert (second["file"], second["ok"], second["errors"]) == ("-", False, 1)
    assert (second["diagnostics"][0]["line"], second["diagnostics"][0]["column"]) == (1, 10)
    assert result.exit_code == 1 and result.stderr == ""


def test_compile_lints_on_stdout_status_on_stderr(files):
    glb = files / "lint.glb"
    result = invoke("compile", files / "lint.pdsl", "-o", glb)
    assert result.exit_code == 0
    assert result.stdout.startswith(
        f"{files / 'lint.pdsl'}:2:1: warning W103: the shape does not stand on the ground"
    )
    assert result.stderr.startswith("block: 1 parts, 1 instances, 1 primitives, 12 triangles in ")
    assert result.stderr.rstrip().endswith(f"-> {glb}")
    quiet = invoke("compile", files / "lint.pdsl", "-o", glb, "-q")
    assert quiet.stdout == result.stdout and quiet.stderr == ""
    verbose = invoke("compile", files / "lint.pdsl", "-o", files / "lint.obj", "-v")
    assert verbose.stdout == result.stdout
    assert "kernel cache: " in verbose.stderr
    for written in (files / "lint.mtl", files / "lint.obj"):  # every file written, with its size
        assert f"wrote {written} ({written.stat().st_size} bytes)" in verbose.stderr


def test_compile_checks_every_output_format_before_writing_any(files):
    result = invoke("compile", files / "stool.pdsl", "-o", files / "stool.glb", "-o", files / "stool.stl")
    assert result.exit_code == 1
    assert "error E901: unknown export format '.stl'" in result.stderr
    assert not (files / "stool.glb").exists()


def test_fmt_streams_and_every_file_reported(files):
    neat = "part a {\n    box(size=[1, 1, 1])\n}\n"
    (files / "neat.pdsl").write_text(neat)
    result = invoke("fmt", files / "ugly.pdsl", files / "neat.pdsl")
    assert result.exit_code == 0 and result.stdout == neat + neat and result.stderr == ""
    check = invoke("fmt", "--check", files / "ugly.pdsl", files / "neat.pdsl")
    assert (
        check.exit_code == 1
        and check.stdout == f"{files / 'ugly.pdsl'}: not formatted\n"
        and check.stderr == ""
    )
    (files / "broken.pdsl").write_text("part a { box(size=[1, 1, 1] }\n")
    write = invoke("fmt", "-w", "-v", files / "broken.pdsl", files / "ugly.pdsl", files / "neat.pdsl")
    assert write.exit_code == 1  # the broken file is reported, the others still formatted
    assert write.stderr.startswith(f"{files / 'broken.pdsl'}:1:29: error E011: unexpected `}}`")
    assert write.stderr.splitlines()[-2:] == [
        f"{files / 'ugly.pdsl'}: rewritten",
        f"{files / 'neat.pdsl'}: already formatted",
    ]
    quiet = invoke("fmt", "-w", "-q", files / "broken.pdsl")
    assert quiet.exit_code == 1 and "error E011" in quiet.stderr  # -q never hides an error
    assert write.stdout == "" and (files / "ugly.pdsl").read_text() == neat


def test_render_lints_on_stdout_status_on_stderr(files):
    args = [
        "render",
        files / "lint.pdsl",
        "-o",
        files / "out",
        "--views",
        "front",
        "--size",
        "32",
        "--passes",
        "rgb",
    ]
    result = invoke(*args)
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{files / 'lint.pdsl'}:2:1: warning W103:")
    assert result.stderr.startswith(f"block: 1 views at 32x32 -> {files / 'out'}/ (compile ")
    assert result.stderr.splitlines()[1].split() == [
        "front",
        "a",
        str(json.loads((files / "out" / "visibility.json").read_text())["views"]["front"]["parts"]["a"]),
    ]
    quiet = invoke(*args, "-q", "--overwrite")
    assert quiet.exit_code == 0 and quiet.stdout == result.stdout and quiet.stderr == ""


def test_sample_status_on_stderr_and_files_with_verbose(files):
    out = files / "variants"
    result = invoke("sample", files / "stool.pdsl", "-n", "2", "-o", out, "-v")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"wrote {out / 'variants.json'}",
        f"wrote {out / 'stool_0000.pdsl'}",
        f"wrote {out / 'stool_0001.pdsl'}",
        f"2 variants of {files / 'stool.pdsl'} -> {out}",
    ]
    plain = invoke(
        "sample", files / "lint.pdsl", "-n", "1", "-o", files / "plain", "-q"
    )  # no `param`: a finding
    assert plain.exit_code == 0 and plain.stderr == ""
    assert (
        plain.stdout == f"{files / 'lint.pdsl'}: the program has no `param`: every variant is the original\n"
    )


def test_dataset_progress_on_stderr_report_on_stdout(files):
    args = [
        "dataset",
        files / "stool.pdsl",
        "-o",
        files / "data",
        "--variants",
        "1",
        "--views",
        "1",
        "--size",
        "16",
        "-j",
        "1",
        "--val",
        "0",
    ]
    result = invoke(*args)
    assert result.exit_code == 0
    assert result.stdout.startswith(
        f"1 images (1 train, 0 val), 1 categories, 1 part labels -> {files / 'data'} ["
    )
    assert "dataset" in result.stderr and "1/1" in result.stderr  # the progress bar
    again = invoke(*args, "-q", "--json")  # resumed: nothing new, no progress bar
    assert again.exit_code == 0 and again.stderr == ""
    summary = json.loads(again.stdout)
    assert (summary["images"], summary["new_images"]) == (1, 0)


def test_agent_progress_on_stderr_table_on_stdout(scripted_model, tmp_path):
    server = scripted_model
    result = invoke(
        "agent", "Dining Table", "--base-url", server.base_url, "-o", tmp_path, "--max-iterations", "1"
    )
    assert result.exit_code == 0
    assert "accepted" in result.stdout and "Dining Table" in result.stdout  # the final table
    assert "Dining Table" not in result.stderr and result.stderr.startswith("  ")  # progress lines
    replay = invoke("agent", "--replay", tmp_path / "dining-table", "-o", tmp_path / "replayed", "-q")
    assert replay.exit_code == 0 and replay.stderr == ""
    assert "accepted" in replay.stdout


# ---- the same mistake, the same answer, in every command -----------------------------------------


def _with_input(command: str, path) -> list:
    """The command line of `command` reading `path` as its main input."""
    return {
        "agent": ["agent", "--categories", path, "--base-url", "http://127.0.0.1:9/v1"],
        "check": ["check", path],
        "compile": ["compile", path, "-o", Path(path).with_suffix(".glb")],
        "dataset": ["dataset", path, "-o", Path(path).parent / "data"],
        "fmt": ["fmt", path],
        "render": ["render", path, "-o", Path(path).parent / "renders"],
        "sample": ["sample", path, "-o", Path(path).parent / "variants"],
        "view": ["view", path, "--no-browser"],
    }[command]


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_file_is_an_input_error(command, files, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    missing = files / "missing.pdsl"
    result = invoke(*_with_input(command, missing))
    assert result.exit_code == 1
    message = result.stdout if command == "check" else result.stderr  # check's diagnostics are its findings
    assert message.startswith(f"{missing}: error E903: ") and "Traceback" not in message
    assert "No such file" in message or "no such file" in message


def test_missing_file_named_by_an_option_is_an_input_error(files, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    missing = files / "missing.json"
    for args, message in [
        (
            ["render", files / "stool.pdsl", "-o", files / "out", "--cameras", missing],
            f"error R004: cannot read cameras from {missing}: No such file or directory",
        ),
        (
            ["agent", "chair", "--config", missing],
            f"error E000: cannot read config {missing}: No such file or directory",
        ),
        (
            ["agent", "chair", "--config", files / "latin1.pdsl"],
            f"error E000: cannot read config {files / 'latin1.pdsl'}: 'utf-8' codec can't decode",
        ),
    ]:
        result = invoke(*args)
        assert result.exit_code == 1 and result.stderr.startswith(message), result.stderr


@pytest.mark.parametrize("command", ["agent", "check", "compile", "fmt", "render", "sample", "view"])
def test_unreadable_file_is_an_input_error(command, files, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    not_utf8 = (
        "E903" if command == "agent" else "E004"
    )  # a program's text error is positioned (language.md §2)
    for path, code, reason in [
        (files / "folder.pdsl", "E903", "Is a directory"),
        (files / "latin1.pdsl", not_utf8, "UTF-8"),
    ]:
        result = invoke(*_with_input(command, path))
        message = result.stdout if command == "check" else result.stderr
        assert result.exit_code == 1 and message.startswith(f"{path}:") and f" error {code}: " in message, (
            message
        )
        assert reason in message


@pytest.mark.parametrize("command", ["check", "compile", "render"])
def test_bad_param_is_a_usage_error_unknown_param_an_input_error(command, files):
    args = _with_input(command, files / "stool.pdsl")
    malformed = invoke(*args, "--param", "h=tall")
    assert malformed.exit_code == 2 and malformed.stdout == ""
    assert malformed.stderr.startswith(f"Usage: proto3d {command} [OPTIONS]")
    assert "Invalid value for --param: expected NAME=NUMBER, got 'h=tall'" in malformed.stderr
    unknown = invoke(*args, "--param", "width=1")
    message = unknown.stdout if command == "check" else unknown.stderr
    assert unknown.exit_code == 1 and "error E211: no param named `width`" in message


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_option_is_a_usage_error(command, files):
    result = invoke(*_with_input(command, files / "stool.pdsl"), "--frobnicate")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"Usage: proto3d {command} [OPTIONS]")
    assert "\nError: No such option '--frobnicate'." in result.stderr
    both = invoke(*_with_input(command, files / "stool.pdsl"), "-q", "-v")
    assert both.exit_code == 2 and "give -q/--quiet or -v/--verbose, not both" in both.stderr


def test_output_folder_that_cannot_be_made(files):
    """A file output needs its folder; a folder output is made with its parents, unless a file is in the way."""
    glb = files / "missing" / "out.glb"
    result = invoke("compile", files / "stool.pdsl", "-o", glb)
    assert result.exit_code == 1 and result.stderr.startswith(f"error E902: cannot write '{glb}'")
    nested = invoke("sample", files / "stool.pdsl", "-n", "1", "-o", files / "a" / "b")
    assert nested.exit_code == 0 and (files / "a" / "b" / "variants.json").is_file()
    blocked = files / "blocker" / "out"
    for command, message in [
        ("sample", f"error E902: cannot write '{blocked / 'variants.json'}': Not a directory"),
        ("dataset", f"{blocked}: error E903: Not a directory"),
        ("render", f"error R010: cannot create output folder '{blocked}': Not a directory"),
    ]:
        result = invoke(*_with_input(command, files / "stool.pdsl")[:-1], blocked)
        assert result.exit_code == 1 and result.stderr.startswith(message), (command, result.stderr)
    assert not list(files.rglob("*.tmp"))


@pytest.mark.parametrize("command", COMMANDS)
def test_interrupt_anywhere_exits_130_without_traceback(command, files, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.get_command(None, command), "callback", interrupted)
    code, out, err = run_main(monkeypatch, capsys, *_with_input(command, files / "stool.pdsl"))
    assert (code, out, err) == (130, "", "\ninterrupted\n")


def test_entry_point_exit_codes(files, monkeypatch, capsys):
    assert run_main(monkeypatch, capsys, "check", files / "lint.pdsl")[0] == 0
    assert run_main(monkeypatch, capsys, "check", files / "bad.pdsl")[0] == 1
    code, out, err = run_main(monkeypatch, capsys, "compile", files / "missing.pdsl", "-o", files / "x.glb")
    assert (
        (code, out) == (1, "")
        and err
        == f"{files / 'missing.pdsl'}: error E903: cannot read {files / 'missing.pdsl'}: No such file or directory\n"
    )
    code, out, err = run_main(monkeypatch, capsys, "render", files / "stool.pdsl")
    assert (code, out) == (2, "") and err.endswith("Error: Missing option '-o' / '--out'.\n")
    code, out, err = run_main(monkeypatch, capsys, "--help")
    assert code == 0 and out.startswith("Usage: proto3d [OPTIONS] COMMAND") and err == ""


def test_ctrl_c_while_reading_stdin(files):
    process = proto3d("check", "-v", "-", stdin=subprocess.PIPE)
    assert process.stderr.readline() == "checking -\n"  # -v: it is waiting for standard input
    process.send_signal(signal.SIGINT)
    assert process.wait() == 130
    assert process.stderr.read() == "\ninterrupted\n" and process.stdout.read() == ""


def test_closed_pipe_ends_quietly(files):
    """`proto3d check FILE | head -1`: the reader goes away; no traceback, no 'Exception ignored'."""
    process = proto3d("check", files / "bad.pdsl", files / "bad.pdsl")
    process.stdout.close()
    assert process.wait() == 1 and process.stderr.read() == ""


# ---- --version, python -m, --help, completion -------------------------------------------------


def test_version_from_python_m():
    process = proto3d("--version")
    assert process.wait() == 0 and process.stdout.read() == f"proto3d, version {version('proto3d')}\n"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_lists_quiet_and_verbose(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "-q, --quiet" in result.stdout and "-v, --verbose" in result.stdout


def complete(monkeypatch, capsys, shell_request: str, words: str = "") -> str:
    monkeypatch.setenv("_PROTO3D_COMPLETE", shell_request)
    monkeypatch.setenv("COMP_WORDS", words)
    monkeypatch.setenv("COMP_CWORD", str(len(words.split()) - (0 if words.endswith(" ") else 1)))
    code, out, err = run_main(monkeypatch, capsys)
    assert code == 0 and err == ""
    return out


def test_shell_completion(monkeypatch, capsys):
    script = complete(monkeypatch, capsys, "bash_source")
    assert "complete -o nosort -F _proto3d_completion proto3d" in script
    assert "compdef _proto3d_completion proto3d" in complete(monkeypatch, capsys, "zsh_source")
    assert '--command proto3d --arguments "(_proto3d_completion)"' in complete(
        monkeypatch, capsys, "fish_source"
    )
    assert complete(monkeypatch, capsys, "bash_complete", "proto3d ren").split() == [
        "plain,render"
    ]  # a lazy command
    assert complete(monkeypatch, capsys, "bash_complete", "proto3d render --she").split() == ["plain,--sheet"]
    assert complete(monkeypatch, capsys, "bash_complete", "proto3d dataset --engine ").split() == [
        "plain,local",
        "plain,ray",
    ]
    assert complete(monkeypatch, capsys, "bash_complete", "proto3d check exa").split() == [
        "file,exa"
    ]  # file names
