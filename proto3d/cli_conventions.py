"""What every `proto3d` command shares, so the same mistake reads the same in each of them.

* stdout carries findings: what the command found in its input or made for you to read or
  pipe on (diagnostics of `check`, lints, formatted text, a batch's final report);
* stderr carries status (progress, one-line summaries, timings) and errors;
* `-q/--quiet` hides status, `-v/--verbose` adds details; neither ever hides an error;
* exit codes: 0 ok, 1 an input is wrong (a file, a program, a value), 2 the command line is
  wrong (click's usage errors), 130 interrupted;
* a program argument is a `PROGRAM_PATH` ('-' for stdin), `--param NAME=VALUE` (`PARAM_OPTION`,
  `parse_params`) overrides a param, and the one-off Numba compile says so (`first_run_notice`).

Command modules import these from here, never from `cli.py`, which only gathers the commands.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass

import click

from proto3d.errors import Proto3dError, diagnostic

EXIT_INPUT_ERROR = 1
EXIT_INTERRUPTED = 130

_ECHO = "proto3d.echo"  # key of the command's Echo in click's ctx.meta


@dataclass(frozen=True)
class Echo:
    """Writes each kind of message to its stream, at the verbosity the command was given."""

    verbosity: int = 0  # -1 with -q, 1 with -v

    @property
    def quiet(self) -> bool:
        return self.verbosity < 0

    @property
    def verbose(self) -> bool:
        return self.verbosity > 0

    def finding(self, message: str = "", nl: bool = True) -> None:
        click.echo(message, nl=nl)

    def status(self, message: str) -> None:
        if not self.quiet:
            click.echo(message, err=True)

    def detail(self, message: str) -> None:
        if self.verbose:
            click.echo(message, err=True)


def echo() -> Echo:
    """The running command's Echo. Worker threads have no click context: take it before starting them."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(_ECHO, Echo()) if ctx else Echo()


class InputError(click.ClickException):
    """A `Proto3dError` on its way out of a command: shown as its diagnostics, exit code 1."""

    exit_code = EXIT_INPUT_ERROR

    def __init__(self, error: Proto3dError):
        super().__init__(error.format())

    def show(self, file=None) -> None:
        click.echo(self.message, err=True)


def _set_verbosity(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value:
        return
    level = -1 if param.name == "quiet" else 1
    if ctx.meta.get(_ECHO, Echo(level)).verbosity != level:
        raise click.UsageError("give -q/--quiet or -v/--verbose, not both", ctx)
    ctx.meta[_ECHO] = Echo(level)


def command_conventions(command):
    """Give a command -q/--quiet and -v/--verbose (read back with `echo()`), and report a
    `Proto3dError` or a failed file operation as its diagnostic on stderr with exit code 1."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except Proto3dError as error:
            raise InputError(error) from None
        except OSError as error:  # a file the command named could not be read or written
            if isinstance(error, BrokenPipeError):
                raise  # click's main stops quietly when the reader of stdout has gone
            where = error.filename if error.filename is not None else "<input>"
            raise InputError(
                Proto3dError(diagnostic("E903", error.strerror or str(error)), str(where))
            ) from None

    run = click.option(
        "-v",
        "--verbose",
        is_flag=True,
        expose_value=False,
        callback=_set_verbosity,
        help="Also print details: timings, the kernel cache, every file written.",
    )(run)
    return click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=_set_verbosity,
        help="Print only findings and errors (no progress or summaries).",
    )(run)


PROGRAM_PATH = click.Path(allow_dash=True)  # read by read_program; a Path type so shells complete file names

PARAM_OPTION = click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a `param` of the program (repeatable).",
)


def parse_params(values: tuple[str, ...]) -> dict:
    """The `--param` values as {name: number}; a malformed one is a usage error (exit 2)."""
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
