"""`proto3d render`: compile a .pdsl file and write its views, ID buffers, cameras and sheet."""
from __future__ import annotations

import json
import time
from pathlib import Path

import click

from proto3d import renderer
from proto3d.cli import PARAM_OPTION, PROGRAM_PATH, first_run_notice, parse_params, read_program
from proto3d.cli_conventions import command_conventions, echo
from proto3d.compiler import compile_text
from proto3d.compiler.files import write_atomic
from proto3d.grammar.diagnostics import Proto3dError
from proto3d.renderer.errors import BAD_CAMERA, render_error
from proto3d.renderer.save import png_bytes

PASSES_HELP = "rgb, depth, normal, part, instance, primitive"


@click.command("render")
@command_conventions
@click.argument("file", type=PROGRAM_PATH)
@click.option("-o", "--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write into (created if missing; files are replaced atomically).")
@click.option("--views", default=None, metavar="NAMES",
              help="Comma-separated named views: front, back, left, right, top, bottom, iso. "
                   "Default: front,left,back,iso. Each is framed automatically on the shape's bounds.")
@click.option("--orbit", type=int, default=None, metavar="N",
              help="Instead of --views: N views evenly spaced around the object, starting at the front.")
@click.option("--elevation", type=float, default=20.0, show_default=True, metavar="DEG",
              help="Camera elevation in degrees for --orbit.")
@click.option("--cameras", "cameras_file", type=click.Path(path_type=Path), default=None,
              help="Instead of --views: explicit OpenCV cameras from a JSON file (a cameras.json written by an "
                   "earlier render, a list of cameras, or one camera).")
@click.option("--size", type=int, default=512, show_default=True, metavar="PX", help="Image width and height in pixels.")
@click.option("--passes", default="all", show_default=True, metavar="LIST",
              help=f"Comma-separated outputs to write: {PASSES_HELP}, or all.")
@click.option("--antialias", type=click.Choice(renderer.ANTIALIAS), default="fxaa", show_default=True,
              help="Smoothing of the RGB images' edges: fxaa post-processes them (about 1 ms a view); msaa "
                   "draws the colour again with --samples per pixel (finer on thin details such as spokes, "
                   "about twice the cost on a CPU); none leaves them jagged. ID buffers are always exact.")
@click.option("--samples", type=int, default=4, show_default=True, metavar="N",
              help="Samples per pixel with --antialias msaa.")
@click.option("--sheet", is_flag=True, help="Also write sheet.png, the inspector's contact sheet "
              "(views beside part colours, part names, legend, parts no view shows).")
@click.option("--transparent", is_flag=True, help="Transparent background in the RGB images (RGBA PNGs).")
@PARAM_OPTION
def render_command(file, out, views, orbit, elevation, cameras_file, size, passes, antialias, samples, sheet, transparent, params):
    """Render FILE (.pdsl, or - for stdin) from several views into OUT.

    Per view NAME it writes NAME_rgb.png (shaded, anti-aliased), NAME_part.png and
    NAME_instance.png (a fixed palette), lossless 16-bit NAME_part_id.png,
    NAME_instance_id.png and NAME_primitive_id.png (table index + 1, 0 = background),
    NAME_depth.png (uint16 millimetres), NAME_normal.png and NAME.npz (float depth,
    normals and all ID buffers); plus cameras.json (OpenCV intrinsics and extrinsics) and
    visibility.json (visible pixels per part and instance per view, parts no view shows).

    \b
    Examples:
      proto3d render examples/chair.pdsl -o out/
      proto3d render chair.pdsl -o out/ --orbit 8 --size 256 --sheet
      proto3d render chair.pdsl -o out/ --views front,iso --passes rgb,part
    """
    if sum(x is not None for x in (views, orbit, cameras_file)) > 1:
        raise click.UsageError("give only one of --views, --orbit and --cameras")
    params = parse_params(params)
    try:
        started = time.perf_counter()
        with first_run_notice():
            shape = compile_text(read_program(file), params=params, filename=file)
        compiled = time.perf_counter()
        if orbit is not None:
            chosen = renderer.orbit(orbit, elevation, shape.bbox, size)
        elif cameras_file is not None:
            chosen = _load_cameras(cameras_file)
        else:
            chosen = [v.strip() for v in (views or ",".join(renderer.DEFAULT_VIEWS)).split(",") if v.strip()]
        wanted = renderer.ALL_PASSES if passes.strip() == "all" else [p.strip() for p in passes.split(",") if p.strip()]
        background = (1.0, 1.0, 1.0, 0.0) if transparent else (1.0, 1.0, 1.0, 1.0)
        renders = renderer.render(shape, chosen, size=size, passes=wanted, background=background,
                                   antialias=antialias, samples=samples)
        renders.save(out)
        if sheet:
            write_atomic(out / "sheet.png", png_bytes(renderer.contact_sheet(shape, renders)))
        timing = (compiled - started, time.perf_counter() - compiled)
    except Proto3dError as err:
        click.echo(err.format(), err=True)
        raise SystemExit(1) from None
    for warning in shape.diagnostics:  # lints: the shape rendered, but may not be what was meant
        click.echo(warning.format(file))
    _summary(shape, renders, out, timing)


def _load_cameras(path: Path) -> list:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise render_error(BAD_CAMERA, f"cannot read cameras from {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if isinstance(data, dict) and "views" in data:
        data = data["views"]
    return [renderer.Camera.from_json(c) for c in (data if isinstance(data, list) else [data])]


def _summary(shape, renders, out: Path, timing: tuple[float, float]) -> None:
    say, first = echo(), renders.views[0].camera
    say.status(f"{shape.name}: {len(renders.views)} views at {first.width}x{first.height} -> {out}/ "
               f"(compile {timing[0]:.2f} s, render and write {timing[1]:.2f} s)")
    counts = renders.visible_pixels()
    for view in renders.views:
        parts = ", ".join(f"{label} {n}" for label, n in counts[view.name]["parts"].items() if n)
        say.status(f"  {view.name:<10} {parts}")
    hidden = renders.invisible_parts()
    if hidden:
        click.echo(f"not visible from any view: {', '.join(hidden)}")  # a finding: stdout
