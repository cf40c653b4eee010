"""The `proto3d` command line: compile, check, fmt, render, agent, sample, dataset."""
from __future__ import annotations

import contextlib
import importlib
import json
import sys
import time
from pathlib import Path

import click

from proto3d.grammar.diagnostics import Diagnostic, Proto3dError, Span

# Commands that pull in heavy stages (GL, HTTP clients) load only when used, so `proto3d compile`
# starts fast.
LAZY_COMMANDS = {
    "render": "proto3d.render_cmd:render_command",
    "agent": "proto3d.agent_cmd:agent_command",
    "sample": "proto3d.dataset_cmd:sample_command",
    "dataset": "proto3d.dataset_cmd:dataset_command",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx):
        available = [name for name, target in LAZY_COMMANDS.items()
                     if importlib.util.find_spec(target.split(":")[0]) is not None]
        return sorted(set(super().list_commands(ctx)) | set(available))

    def get_command(self, ctx, name):
        if name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[name].split(":")
            if importlib.util.find_spec(module) is None:
                return None
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="proto3d")
def cli():
    """proto3d: part-labelled 3D prototypes from a small shape language (.pdsl).

    \b
    Typical use:
      proto3d check examples/chair.pdsl          # errors and lints
      proto3d compile examples/chair.pdsl -o chair.glb --parts chair.json
      proto3d render examples/chair.pdsl -o out/ --sheet
      proto3d fmt -w examples/chair.pdsl
    """


def read_program(path: str) -> str:
    """Source text of a .pdsl file ('-' for standard input); bad files become diagnostics."""
    if path == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise Proto3dError(Diagnostic("E000", f"cannot read {path}: {error.strerror}"), path) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise Proto3dError(Diagnostic("E000", "the file is not UTF-8 text", Span(line, 1, line, 2)), path) from None


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
    for diagnostic in diagnostics:
        click.echo(diagnostic.format(filename), err=True)


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
                click.echo("proto3d: compiling the geometry kernels this program needs "
                           "(a one-off: they are cached for every later run)…", err=True)

        def on_end(self, event):
            pass

    with numba_event.install_listener("numba:compile", Notice()):
        yield
    if started:
        click.echo(f"proto3d: kernels compiled in {time.perf_counter() - started[0]:.1f} s, once; "
                   "later runs load them from the cache in a fraction of a second", err=True)


PARAM_OPTION = click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
                            help="Override a `param` of the program (repeatable).")


@cli.command("compile")
@click.argument("file")
@click.option("-o", "--out", "outputs", multiple=True, required=True, metavar="PATH",
              help="Output file: .glb, .obj (+ .mtl), .ply or .json (parts manifest). Repeatable.")
@click.option("--parts", "parts_path", metavar="PATH", help="Also write the parts JSON manifest here.")
@PARAM_OPTION
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def compile_command(file, outputs, parts_path, params, quiet):
    """Compile FILE (.pdsl, or - for stdin) into a part-labelled mesh."""
    from proto3d.compiler import compile_text, export

    start = time.perf_counter()
    with first_run_notice():
        shape = compile_text(read_program(file), params=parse_params(params), filename=file)
    elapsed = time.perf_counter() - start
    print_diagnostics(shape.diagnostics, file)
    targets = list(outputs) + ([parts_path] if parts_path else [])
    for target in targets:
        export(shape, target)
    if not quiet:
        instances = sum(len(p.instance_ids) for p in shape.parts)
        click.echo(f"{shape.name or Path(file).stem}: {len(shape.parts)} parts, {instances} instances, "
                   f"{len(shape.primitives)} primitives, {len(shape.faces)} triangles "
                   f"in {elapsed * 1000:.1f} ms -> {', '.join(targets)}")


@cli.command("check")
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="Print diagnostics as JSON (for tools and the agent).")
@PARAM_OPTION
def check_command(file, as_json, params):
    """Report every error and lint of FILE; exit 1 if there is an error."""
    from proto3d.compiler import check

    try:
        with first_run_notice():
            diagnostics = check(read_program(file), params=parse_params(params), filename=file)
    except Proto3dError as error:
        diagnostics = error.diagnostics
    errors = sum(d.severity == "error" for d in diagnostics)
    if as_json:
        click.echo(json.dumps({"file": file, "ok": errors == 0, "errors": errors,
                               "warnings": len(diagnostics) - errors,
                               "diagnostics": [d.to_json() for d in diagnostics]}, indent=2))
    else:
        print_diagnostics(diagnostics, file)
        click.echo(f"{file}: {errors} error(s), {len(diagnostics) - errors} warning(s)", err=True)
    sys.exit(1 if errors else 0)


@cli.command("fmt")
@click.argument("files", nargs=-1, required=True)
@click.option("-w", "--write", is_flag=True, help="Rewrite the files in place instead of printing.")
@click.option("--check", "check_only", is_flag=True, help="Exit 1 if a file is not canonically formatted.")
def fmt_command(files, write, check_only):
    """Print FILES canonically formatted (comments kept)."""
    from proto3d.compiler.files import write_atomic
    from proto3d.grammar import format_program, parse

    unformatted = []
    for file in files:
        text = read_program(file)
        formatted = format_program(parse(text, file))
        if check_only:
            if formatted != text:
                unformatted.append(file)
        elif write and file != "-":
            if formatted != text:
                write_atomic(file, formatted)
        else:
            click.echo(formatted, nl=False)
    for file in unformatted:
        click.echo(f"{file}: not formatted", err=True)
    sys.exit(1 if unformatted else 0)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except Proto3dError as error:
        click.echo(error.format(), err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except SystemExit:
        raise
    except OSError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
