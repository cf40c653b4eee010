# pyright: basic
"""`proto3d view FILE`: serve the live preview page and keep it in step with the file."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import click

from proto3d.cli_conventions import PARAM_OPTION, command_conventions, echo, first_run_notice, parse_params
from proto3d.errors import Proto3dError, diagnostic
from proto3d.grammar.source import read_program


@click.command("view")
@command_conventions
@click.argument("file", type=click.Path())  # read by read_program, which says what is wrong with it
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port on 127.0.0.1 to serve on; 0 picks a free one.",
)
@click.option("--no-browser", is_flag=True, help="Only print the page's address; do not open a browser.")
@PARAM_OPTION
def view_command(file, port, no_browser, params):
    """Preview FILE (.pdsl) in the browser, re-rendered every time it is saved.

    The page shows the shape rendered by proto3d itself (drag to orbit, wheel to zoom), what
    part, instance and source line drew the pixel under the pointer, the errors and lints,
    the parts and sliders for the params. It is served on 127.0.0.1 only, from this process;
    nothing is loaded from the internet. Ctrl-C stops it.

    \b
    Examples:
      proto3d view examples/chair.pdsl
      proto3d view chair.pdsl --port 8000 --no-browser
    """
    from proto3d.view.server import ViewServer
    from proto3d.view.session import Session

    if file == "-":
        raise click.BadParameter("a file to watch, not standard input", param_hint="FILE")
    say = echo()
    read_program(file)  # a missing or unreadable file is an input error before anything starts
    session = Session(Path(file), parse_params(params))
    with first_run_notice():
        session.start()
    unknown = [d for d in session.errors if d.code == "E211" and not d.line]
    if unknown:  # a --param the program does not declare: refused as `compile` refuses it
        session.close()
        raise Proto3dError(unknown, file)
    try:
        server = ViewServer(session, port, say)
    except OSError as error:
        session.close()
        raise Proto3dError(
            diagnostic(
                "E000",
                f"cannot serve on 127.0.0.1:{port}: {error.strerror}",
                hint="choose another --port, or 0 for a free one",
            )
        ) from None
    say.finding(server.url)
    say.status(f"watching {file}; Ctrl-C to stop")
    if not no_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        session.close()
