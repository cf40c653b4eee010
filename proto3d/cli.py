"""The `proto3d` command line: compile, check, fmt, render, agent, sample, dataset."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
import time
from pathlib import Path

import click

from proto3d.cli_conventions import EXIT_INPUT_ERROR, EXIT_INTERRUPTED, command_conventions, echo
from proto3d.grammar.diagnostics import Proto3dError
from proto3d.grammar.source import read_program  # the one way every command reads a program

# Commands that pull in heavy stages (GL, HTTP clients) load only when used, so `proto3d compile`
# starts fast.
LAZY_COMMANDS = {
    "render": "proto3d.render_cmd:render_command",
    "agent": "proto3d.agent.command:agent_command",
    "sample": "proto3d.dataset.command:sample_command",
    "dataset": "proto3d.dataset.command:dataset_command",
    "vocab": "proto3d.vocab_cmd:vocab_command",
    "view": "proto3d.view.command:view_command",
    "experiment": "proto3d.experiment.command:experiment_command",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx):
        available = [
            name
            for name, target in LAZY_COMMANDS.items()
            if importlib.util.find_spec(target.split(":")[0]) is not None
        ]
        return sorted(set(super().list_commands(ctx)) | set(available))

    def get_command(self, ctx, name):
        if name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[name].split(":")
            if importlib.util.find_spec(module) is None:
                return None
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="proto3d", prog_name="proto3d")
def cli():
    """proto3d: part-labelled 3D prototypes from a small shape language (.pdsl).

    \b
    Typical use:
      proto3d check examples/chair.pdsl          # errors and lints
      proto3d compile examples/chair.pdsl -o chair.glb --parts chair.json
      proto3d render examples/chair.pdsl -o out/ --sheet
      proto3d fmt --check examples/*.pdsl

    Findings go to stdout; progress, summaries and errors to stderr. Exit codes:
    0 ok, 1 an input is wrong, 2 the command line is wrong, 130 interrupted.
    """


def parse_params(values: tuple[str, ...]) -> dict:
    params = {}
    for item in values:
        name, sep, value = item.partition("=")
        try:
            params[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME=NUMBER, got {item!r}", param_hint="--param")
    return params


def print_diagnostics(diagnostics, filename: str) -> None:
    """Diagnostics are findings: stdout."""
    for diagnostic in diagnostics:
        click.echo(diagnostic.format(filename))


@contextlib.contextmanager
def first_run_notice():
    """Say so while Numba compiles kernels (the first run, or the first use of a kind of primitive):
    a wait of seconds that happens once, since the compiled kernels are cached on disk."""
    from numba.core import event as numba_event

    started = []

    class Notice(numba_event.Listener):
        def on_start(self, event):
            if not started:
                started.append(time.perf_counter())
                click.echo(
                    "proto3d: compiling the geometry kernels this program needs "
                    "(a one-off: they are cached for every later run)…",
                    err=True,
                )

        def on_end(self, event):
            pass

    with numba_event.install_listener("numba:compile", Notice()):
        yield
    if started:
        click.echo(
            f"proto3d: kernels compiled in {time.perf_counter() - started[0]:.1f} s, once; "
            "later runs load them from the cache in a fraction of a second",
            err=True,
        )


PROGRAM_PATH = click.Path(allow_dash=True)  # read by read_program; a Path type so shells complete file names

PARAM_OPTION = click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a `param` of the program (repeatable).",
)


@cli.command("compile")
@command_conventions
@click.argument("file", type=PROGRAM_PATH)
@click.option(
    "-o",
    "--out",
    "outputs",
    multiple=True,
    required=True,
    metavar="PATH",
    type=click.Path(),
    help="Output file: .glb, .obj (+ .mtl), .ply or .json (parts manifest). Repeatable.",
)
@click.option(
    "--parts",
    "parts_path",
    metavar="PATH",
    type=click.Path(),
    help="Also write the parts JSON manifest here.",
)
@click.option(
    "--up",
    type=click.Choice(["y", "z"]),
    help="Up axis of .obj and .ply outputs "
    "(default: y for .obj, z for .ply, what Blender and most readers expect).",
)
@PARAM_OPTION
def compile_command(file, outputs, parts_path, params, up):
    """Compile FILE (.pdsl, or - for stdin) into a part-labelled mesh; lints go to stdout.

    \b
    Frames (metres): .glb is Y up, front +Z, as glTF requires; .obj is Y up and
    .ply Z up unless --up says otherwise (Y up maps the program's x, y, z to
    x, z, -y); the parts JSON keeps the program's frame: Z up, front -Y.
    """
    from proto3d.compiler import compile_text, export
    from proto3d.compiler.export import check_export_path

    say = echo()
    params = parse_params(params)
    targets = list(outputs) + ([parts_path] if parts_path else [])
    for target in targets:
        check_export_path(target)
    start = time.perf_counter()
    text = read_program(file)
    say.detail(f"read {file} in {_ms(start)}; kernel cache: {kernel_cache_folder()}")
    start = time.perf_counter()
    with first_run_notice():
        shape = compile_text(text, params=params, filename=file)
    elapsed = time.perf_counter() - start
    print_diagnostics(shape.diagnostics, file)
    for target in targets:
        start = time.perf_counter()
        for written in export(shape, target, up=up):
            say.detail(f"wrote {written} ({written.stat().st_size} bytes) in {_ms(start)}")
    instances = sum(len(p.instance_ids) for p in shape.parts)
    say.status(
        f"{shape.name or Path(file).stem}: {len(shape.parts)} parts, {instances} instances, "
        f"{len(shape.primitives)} primitives, {len(shape.faces)} triangles "
        f"in {elapsed * 1000:.1f} ms -> {', '.join(targets)}"
    )


@cli.command("check")
@command_conventions
@click.argument("files", nargs=-1, required=True, type=PROGRAM_PATH)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the diagnostics as JSON, one object per file and line (for tools and the agent).",
)
@PARAM_OPTION
def check_command(files, as_json, params):
    """Report every error and lint of FILES (.pdsl, or - for stdin) on stdout; exit 1 if any has an error."""
    from proto3d.compiler import check

    say = echo()
    params = parse_params(params)
    failed = False
    for file in files:
        say.detail(f"checking {file}")
        start = time.perf_counter()
        try:
            with first_run_notice():
                diagnostics = check(read_program(file), params=params, filename=file)
        except Proto3dError as error:  # the file could not be read: its one diagnostic
            diagnostics = error.diagnostics
        errors = sum(d.severity == "error" for d in diagnostics)
        failed |= errors > 0
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "file": file,
                        "ok": errors == 0,
                        "errors": errors,
                        "warnings": len(diagnostics) - errors,
                        "diagnostics": [d.to_json() for d in diagnostics],
                    }
                )
            )
        else:
            print_diagnostics(diagnostics, file)
        say.status(f"{file}: {errors} error(s), {len(diagnostics) - errors} warning(s)")
        say.detail(f"checked {file} in {_ms(start)}")
    sys.exit(EXIT_INPUT_ERROR if failed else 0)


@cli.command("fmt")
@command_conventions
@click.argument("files", nargs=-1, required=True, type=PROGRAM_PATH)
@click.option("-w", "--write", is_flag=True, help="Rewrite the files in place instead of printing.")
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Print the files that are not canonically formatted; exit 1 if there is one.",
)
def fmt_command(files, write, check_only):
    """Print FILES canonically formatted (comments kept); a file that does not parse is reported and skipped."""
    from proto3d.compiler.files import write_atomic
    from proto3d.grammar import format_program, parse

    say = echo()
    unformatted, failed = [], False
    for file in files:
        try:
            text = read_program(file)
            formatted = format_program(parse(text, file))
        except Proto3dError as error:
            click.echo(error.format(), err=True)
            failed = True
            continue
        if check_only:
            if formatted != text:
                unformatted.append(file)
        elif write and file != "-":
            if formatted != text:
                write_atomic(file, formatted)
                say.status(f"{file}: rewritten")
            else:
                say.detail(f"{file}: already formatted")
        else:
            click.echo(formatted, nl=False)
    for file in unformatted:
        click.echo(f"{file}: not formatted")
    sys.exit(EXIT_INPUT_ERROR if failed or unformatted else 0)


def kernel_cache_folder() -> str:
    """Where Numba keeps the compiled geometry kernels (Numba has no public accessor for it)."""
    from proto3d.compiler import build

    return str(getattr(getattr(build._label, "_cache", None), "_cache_path", "unknown"))


def _ms(start: float) -> str:
    return f"{(time.perf_counter() - start) * 1000:.1f} ms"


def main() -> None:
    """The `proto3d` entry point: click's own error handling, except that Ctrl-C says so and exits 130."""
    try:
        sys.exit(cli.main(prog_name="proto3d", standalone_mode=False))
    except click.Abort:  # click turns KeyboardInterrupt (and EOF at a prompt) into Abort
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
