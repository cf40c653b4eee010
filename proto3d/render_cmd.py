"""`proto3d render`: compile a .pdsl file and write its views, ID buffers, cameras and sheet."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from proto3d import renderer
from proto3d.cli_conventions import (
    PARAM_OPTION,
    PROGRAM_PATH,
    command_conventions,
    echo,
    first_run_notice,
    parse_params,
)
from proto3d.compiler import compile_text
from proto3d.errors import Proto3dError
from proto3d.files import write_atomic
from proto3d.grammar.source import read_program
from proto3d.output_folder import OVERWRITE_OPTION, check_unused, owned_files, remove_files
from proto3d.renderer import PixelCounts, SheetBuilder
from proto3d.renderer.camera import MAX_ORBIT
from proto3d.renderer.errors import BAD_CAMERA, OUT_OF_MEMORY, render_error
from proto3d.renderer.render import check_memory
from proto3d.renderer.save import ViewWriter, png_bytes, streaming_bytes, view_file_names
from proto3d.renderer.sheet import sheet_bytes

PASSES_HELP = "rgb, depth, normal, part, instance, primitive"
MANIFEST = "manifest.json"  # the files a render wrote: what --overwrite removes


@click.command("render")
@command_conventions
@click.argument("file", type=PROGRAM_PATH)
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into: new or empty, or give --overwrite (each file is written atomically).",
)
@click.option(
    "--views",
    default=None,
    metavar="NAMES",
    help="Comma-separated named views: front, back, left, right, top, bottom, iso. "
    "Default: front,left,back,iso. Each is framed automatically on the shape's bounds.",
)
@click.option(
    "--orbit",
    type=click.IntRange(1, MAX_ORBIT),
    default=None,
    metavar="N",
    help=f"Instead of --views: N views (1 to {MAX_ORBIT}) evenly spaced around the object, starting at the front.",
)
@click.option(
    "--elevation",
    type=float,
    default=20.0,
    show_default=True,
    metavar="DEG",
    help="Camera elevation in degrees for --orbit.",
)
@click.option(
    "--cameras",
    "cameras_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Instead of --views: explicit OpenCV cameras from a JSON file (a cameras.json written by an "
    "earlier render, a list of cameras, or one camera).",
)
@click.option(
    "--size",
    type=click.IntRange(renderer.MIN_SIZE, renderer.MAX_SIZE),
    default=512,
    show_default=True,
    metavar="PX",
    help=f"Image width and height in pixels, {renderer.MIN_SIZE} to {renderer.MAX_SIZE}.",
)
@click.option(
    "--passes",
    default="all",
    show_default=True,
    metavar="LIST",
    help=f"Comma-separated outputs to write: {PASSES_HELP}, or all.",
)
@click.option(
    "--antialias",
    type=click.Choice(renderer.ANTIALIAS),
    default="fxaa",
    show_default=True,
    help="Smoothing of the RGB images' edges: fxaa post-processes them (about 1 ms a view); msaa "
    "draws the colour again with --samples per pixel (finer on thin details such as spokes, "
    "about twice the cost on a CPU); none leaves them jagged. ID buffers are always exact.",
)
@click.option(
    "--samples",
    type=click.IntRange(1, 16),
    default=4,
    show_default=True,
    metavar="N",
    help="Samples per pixel with --antialias msaa.",
)
@click.option(
    "--sheet",
    is_flag=True,
    help="Also write sheet.png, the inspector's contact sheet "
    "(views beside part colours, part names, legend, parts no view shows).",
)
@click.option("--transparent", is_flag=True, help="Transparent background in the RGB images (RGBA PNGs).")
@click.option(
    "--max-memory",
    type=click.IntRange(64),
    default=renderer.MEMORY_LIMIT >> 20,
    show_default=True,
    metavar="MB",
    help="Memory the views being rendered and written (and the sheet) may hold at once. Views are "
    "written as they are rendered, so this bounds their size and passes, not their number; a "
    "request that needs more is refused before any work.",
)
@OVERWRITE_OPTION
@PARAM_OPTION
def render_command(
    file,
    out,
    views,
    orbit,
    elevation,
    cameras_file,
    size,
    passes,
    antialias,
    samples,
    sheet,
    transparent,
    max_memory,
    overwrite,
    params,
):
    """Render FILE (.pdsl, or - for stdin) from several views into OUT.

    Per view NAME it writes NAME_rgb.png (shaded, anti-aliased), NAME_part.png and
    NAME_instance.png (a fixed palette), lossless 16-bit NAME_part_id.png,
    NAME_instance_id.png and NAME_primitive_id.png (table index + 1, 0 = background),
    NAME_depth.png (uint16 millimetres), NAME_normal.png and NAME.npz (float depth,
    normals and all ID buffers); plus cameras.json (OpenCV intrinsics and extrinsics),
    visibility.json (visible pixels per part and instance per view, parts no view shows)
    and manifest.json (the files written). OUT must be empty or new, or given --overwrite.

    \b
    Examples:
      proto3d render examples/chair.pdsl -o out/
      proto3d render chair.pdsl -o out/ --orbit 8 --size 256 --sheet
      proto3d render chair.pdsl -o out/ --views front,iso --passes rgb,part
    """
    if sum(x is not None for x in (views, orbit, cameras_file)) > 1:
        raise click.UsageError("give only one of --views, --orbit and --cameras")
    params = parse_params(params)
    check_unused(out, overwrite)
    try:
        started = time.perf_counter()
        with first_run_notice():
            shape = compile_text(read_program(file), params=params, filename=file)
        compiled = time.perf_counter()
        if orbit is not None:
            cameras = renderer.orbit(orbit, elevation, shape.bbox, size)
        elif cameras_file is not None:
            cameras = _load_cameras(cameras_file)
        else:
            names = [v.strip() for v in (views or ",".join(renderer.DEFAULT_VIEWS)).split(",") if v.strip()]
            cameras = [renderer.named_view(name, shape.bbox, size) for name in names]
        wanted = (
            renderer.ALL_PASSES
            if passes.strip() == "all"
            else [p.strip() for p in passes.split(",") if p.strip()]
        )
        background = (1.0, 1.0, 1.0, 0.0) if transparent else (1.0, 1.0, 1.0, 1.0)
        limit = max_memory << 20
        views_iter = renderer.render_each(
            shape,
            cameras,
            passes=wanted,
            background=background,
            antialias=antialias,
            samples=samples,
            memory_limit=limit,
        )
        wanted = tuple(p for p in renderer.ALL_PASSES if p in wanted)
        check_memory(
            streaming_bytes(cameras, wanted) + (sheet_bytes(len(cameras)) if sheet else 0),
            limit,
            f"{len(cameras)} views at {cameras[0].width}x{cameras[0].height} rendered and written"
            + (" with a sheet" if sheet else ""),
            hint="give a larger --max-memory, a smaller --size"
            + (
                ", fewer --passes, fewer views (the sheet keeps a thumbnail of each) or no --sheet"
                if sheet
                else " or fewer --passes (views are written as they are drawn: their number does not matter)"
            ),
        )
        counts = _write(shape, file, views_iter, cameras, wanted, out, sheet, overwrite)
        timing = (compiled - started, time.perf_counter() - compiled)
    except (Proto3dError, MemoryError) as err:
        if isinstance(err, MemoryError):
            err = render_error(
                OUT_OF_MEMORY,
                "the machine ran out of memory while rendering; nothing was kept",
                hint="give a --max-memory this machine can provide: requests are checked against it before any work",
            )
        click.echo(err.format(), err=True)
        raise SystemExit(1) from None
    for warning in shape.diagnostics:  # lints: the shape rendered, but may not be what was meant
        click.echo(warning.format(file))
    _summary(shape, counts, cameras, out, timing)


def _write(
    shape, file: str, views_iter, cameras, passes, out: Path, sheet: bool, overwrite: bool
) -> PixelCounts:
    """Stream the views into OUT as they are rendered; a failure removes what this run wrote.

    The manifest is written first with every file the run may write, so a killed run leaves a
    folder that `--overwrite` cleans; it is rewritten at the end with the files actually written.
    """
    if overwrite:
        remove_files(out, owned_files(out, MANIFEST))
    planned = [name for camera in cameras for name in view_file_names(camera.name, passes)]
    planned += ["cameras.json", "visibility.json", *(["sheet.png"] if sheet else []), MANIFEST]
    manifest = {"command": "proto3d render", "source": file, "files": planned}
    with ViewWriter(shape, out, passes) as writer:  # creates OUT
        write_atomic(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
        try:
            builder = SheetBuilder(shape) if sheet else None
            for view in views_iter:
                writer.add(view)
                if builder:
                    builder.add(view)
            written = writer.finish()
            if builder:
                written.append(write_atomic(out / "sheet.png", png_bytes(builder.image())))
            manifest["files"] = [p.name for p in written] + [MANIFEST]
            write_atomic(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
            return writer.counts
        except BaseException:
            remove_files(out, [out / name for name in planned])
            raise


def _load_cameras(path: Path) -> list:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise render_error(
            BAD_CAMERA, f"cannot read cameras from {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    if isinstance(data, dict) and "views" in data:
        data = data["views"]
    return [renderer.Camera.from_json(c) for c in (data if isinstance(data, list) else [data])]


def _summary(shape, counts: PixelCounts, cameras, out: Path, timing: tuple[float, float]) -> None:
    say, first = echo(), cameras[0]
    say.status(
        f"{shape.name}: {len(cameras)} views at {first.width}x{first.height} -> {out}/ "
        f"(compile {timing[0]:.2f} s, render and write {timing[1]:.2f} s)"
    )
    for name, view in counts.visible_pixels().items():
        parts = ", ".join(f"{label} {n}" for label, n in view["parts"].items() if n)
        say.status(f"  {name:<10} {parts}")
    hidden = counts.invisible_parts()
    if hidden:
        click.echo(f"not visible from any view: {', '.join(hidden)}")  # a finding: stdout
