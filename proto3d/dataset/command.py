"""`proto3d sample` (parameter variants) and `proto3d dataset` (labelled renders)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from proto3d.cli import PROGRAM_PATH, read_program
from proto3d.cli_conventions import command_conventions, echo
from proto3d.output_folder import OVERWRITE_OPTION, check_unused, owned_files, remove_files
from proto3d.renderer.camera import MAX_SIZE, MIN_SIZE
from proto3d.renderer.errors import OUT_OF_MEMORY, render_error


@click.command("sample")
@command_conventions
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "-n", "count", type=click.IntRange(1, 100_000), default=10, show_default=True, help="Number of variants."
)
@click.option(
    "--seed",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="The same seed gives the same variants.",
)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for NAME_NNNN.pdsl programs and variants.json (empty or new, or give --overwrite).",
)
@OVERWRITE_OPTION
def sample_command(file, count, seed, out, overwrite):
    """Sample COUNT variants of FILE's `param` ranges into OUT.

    Each variant is a program whose param defaults are the sampled values (it compiles on its
    own, with `proto3d render` or `proto3d compile`); variants.json lists the parameter sets
    and the files written (what --overwrite removes).
    Integer params stay integers; variant k is the same for any -n.

    \b
    Example:
      proto3d sample examples/stool.pdsl -n 100 --seed 0 -o variants/
    """
    from proto3d.compiler.files import write_atomic, write_json
    from proto3d.dataset.task import slug
    from proto3d.dataset.variants import param_specs, sample_variants, stable_key

    say = echo()
    check_unused(out, overwrite)
    text = read_program(str(file))
    specs = param_specs(text, str(file))
    variants = sample_variants(text, count, seed, key=stable_key(file.stem), filename=str(file))
    name = slug(file.stem)
    rows = [{"index": v.index, "file": f"{name}_{v.index:04d}.pdsl", "params": v.params} for v in variants]
    if overwrite:
        remove_files(out, owned_files(out, "variants.json"))
    # the listing first: a run killed halfway leaves a folder --overwrite cleans
    index = write_json(
        out / "variants.json",
        {
            "source": str(file),
            "seed": seed,
            "params": specs,
            "variants": rows,
            "files": [row["file"] for row in rows] + ["variants.json"],
        },
        parents=True,
    )
    say.detail(f"wrote {index}")
    for v, row in zip(variants, rows):
        say.detail(f"wrote {write_atomic(out / row['file'], v.text)}")
    if not specs:
        click.echo(f"{file}: the program has no `param`: every variant is the original")
    say.status(f"{count} variants of {file} -> {out}")


@click.command("dataset")
@command_conventions
@click.argument("prototypes", nargs=-1, type=PROGRAM_PATH)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dataset folder; an existing one made with the same options is resumed, any other used "
    "folder is refused unless --overwrite.",
)
@click.option(
    "--variants",
    type=click.IntRange(1, 1_000_000),
    default=10,
    show_default=True,
    help="Parameter variants per prototype.",
)
@click.option(
    "--views", type=click.IntRange(1, 10_000), default=8, show_default=True, help="Images per variant."
)
@click.option(
    "--size",
    type=click.IntRange(MIN_SIZE, MAX_SIZE),
    default=256,
    show_default=True,
    help=f"Image size in pixels, {MIN_SIZE} to {MAX_SIZE}.",
)
@click.option(
    "--antialias",
    type=click.Choice(["fxaa", "msaa", "none"]),
    default="fxaa",
    show_default=True,
    help="Anti-aliasing of the images (masks are always exact): fxaa is fast, msaa smoothest.",
)
@click.option(
    "--samples",
    type=click.IntRange(1, 16),
    default=4,
    show_default=True,
    help="Samples per pixel with --antialias msaa.",
)
@click.option(
    "--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of every random choice."
)
@click.option(
    "--val",
    type=click.FloatRange(0, 1),
    default=0.2,
    show_default=True,
    help="Fraction of each category's designs (or of each prototype's variants) in the validation split.",
)
@click.option(
    "--split-by",
    type=click.Choice(["design", "variant"]),
    default="design",
    show_default=True,
    help="design: a category with several prototypes sends whole prototypes to val (others split by "
    "variant); variant: every prototype's variants are split. No shape is in both splits.",
)
@click.option(
    "--label-map",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="TOML mapping the programs' part labels to a vocabulary's classes, or a vocabulary's name "
    "(partimagenet) for programs that already use its labels: masks, labels.json and COCO use "
    "its ids; parts in no class are 255 (ignore).",
)
@click.option(
    "--backgrounds",
    default="solid,gradient,noise",
    show_default=True,
    metavar="KINDS",
    help="Background kinds to draw from, comma-separated: solid, gradient, noise, and images:DIR (random "
    "crops of the pictures in folder DIR).",
)
@click.option(
    "--fill",
    default="0.3:0.8",
    show_default=True,
    metavar="LO:HI",
    help="The object's projected extent (the longer of its width and height) as a fraction of the image "
    "side, drawn per image in this range.",
)
@click.option(
    "--ground/--no-ground",
    default=True,
    show_default=True,
    help="A soft contact shadow on the background under the object (never in the masks).",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help='local: a process pool on this machine; ray: a Ray cluster (pip install "proto3d[ray]").',
)
@click.option(
    "-j",
    "--workers",
    type=click.IntRange(1, 1024),
    default=None,
    help="Worker processes (local) or CPUs for a local Ray (default: all cores).",
)
@click.option(
    "--ray-address",
    default=None,
    metavar="ADDR",
    help="Join this Ray cluster (e.g. auto) instead of starting one.",
)
@click.option(
    "--regenerate",
    "regenerate_id",
    type=int,
    default=None,
    metavar="ID",
    help="Render image ID of the dataset in OUT again from its manifest record and compare the bytes.",
)
@click.option(
    "--into",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --regenerate: folder for the regenerated files (default OUT/regenerated).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the final summary as one JSON object.")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Write into a used folder: first remove the files a dataset made with other options recorded "
    "there (other files are kept).",
)
def dataset_command(
    prototypes,
    out,
    variants,
    views,
    size,
    antialias,
    samples,
    seed,
    val,
    split_by,
    label_map,
    backgrounds,
    fill,
    ground,
    engine,
    workers,
    ray_address,
    regenerate_id,
    into,
    as_json,
    overwrite,
):
    """Render a classification and part-segmentation dataset from PROTOTYPES into OUT.

    PROTOTYPES are .pdsl files (category = file name), folders of .pdsl files (category =
    folder name), agent run folders (their final program and category), or folders of these.
    Each prototype gets VARIANTS parameter variants, each variant VIEWS images with random
    camera (the object filling --fill of the frame), lighting, part colours, background and
    the ground's contact shadow, plus part-id and instance-id masks,
    labels.json, COCO JSON and manifest.jsonl, and the segmentation split again in
    mmsegmentation's layout (segmentation/img_dir, ann_dir; see docs/datasets.md).

    \b
    Examples:
      proto3d dataset examples/chair.pdsl examples/mug.pdsl -o data/ --variants 20 --views 10
      proto3d dataset runs/ -o data/ --label-map partimagenet_map.toml
      proto3d dataset examples/ -o data/ --backgrounds noise,images:photos/ --fill 0.4:0.9
      proto3d dataset runs/ -o data/ --engine ray
      proto3d dataset -o data/ --regenerate 42
    """
    from proto3d.dataset.build import BACKGROUNDS, Settings, build_dataset, regenerate

    if regenerate_id is not None:
        report = regenerate(out, regenerate_id, into)
        for kind, row in report.items():
            click.echo(f"{kind:9s} {row['path']}  {'identical' if row['identical'] else 'DIFFERS'}")
        raise SystemExit(0 if all(r["identical"] for r in report.values()) else 1)
    if not prototypes:
        raise click.UsageError("give prototype files or folders (or --regenerate ID)")
    kinds, folder = _backgrounds(backgrounds, BACKGROUNDS)
    settings = Settings(
        seed=seed,
        variants=variants,
        views=views,
        size=size,
        antialias=antialias,
        samples=samples,
        val=val,
        split_by=split_by,
        backgrounds=kinds,
        background_folder=folder,
        fill=_fill(fill),
        ground=ground,
    )
    say = echo()
    say.detail(f"{engine} engine, {workers or 'all'} workers; {settings}")
    check_unused(
        out, overwrite or (out / "dataset.json").exists()
    )  # a dataset folder is resumed or judged by build_dataset
    try:
        with _progress(say.quiet) as on_progress:
            summary = build_dataset(
                prototypes,
                out,
                settings,
                engine=engine,
                workers=workers,
                ray_address=ray_address,
                on_progress=on_progress,
                overwrite=overwrite,
                label_map=label_map,
                on_warning=lambda message: click.echo(f"warning: {message}", err=True),
            )
    except MemoryError:
        raise render_error(
            OUT_OF_MEMORY,
            "the machine ran out of memory; finished tasks are kept and resumed by "
            "running the same command again",
            hint="use fewer -j workers, fewer --views or a smaller --size",
        ) from None
    click.echo(
        json.dumps(summary)
        if as_json
        else f"{summary['images']} images ({summary.get('train', 0)} train, {summary.get('val', 0)} val), "
        f"{summary.get('categories', 0)} categories, {summary.get('parts', 0)} part labels"
        + (
            f" of {summary['vocabulary']} ({summary['unmapped_labels']} unmapped)"
            if "vocabulary" in summary
            else ""
        )
        + f" -> {out} "
        f"[{summary['new_images']} new in {summary['seconds']:.1f} s, "
        f"{summary['images_per_second'] or 0:.1f} images/s]"
    )


def _backgrounds(text: str, known: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    """`solid,images:DIR` -> the kinds and the pictures' folder (absolute, so --regenerate finds it from anywhere)."""
    kinds, folder = [], None
    for item in (k.strip() for k in text.split(",")):
        if item.startswith("images:") and item[len("images:") :].strip():
            kinds.append("images")
            folder = str(Path(item[len("images:") :].strip()).expanduser().resolve())
        elif item in known:
            kinds.append(item)
        elif item:
            raise click.BadParameter(
                f"unknown kind {item!r}: expected some of {', '.join(known)} or images:DIR",
                param_hint="--backgrounds",
            )
    if not kinds or kinds.count("images") > 1:
        raise click.BadParameter(
            f"expected some of {', '.join(known)} and at most one images:DIR", param_hint="--backgrounds"
        )
    return tuple(kinds), folder


def _fill(text: str) -> tuple[float, float]:
    """`0.3:0.8` (or one number, a fixed fill) -> (lo, hi) with 0 < lo <= hi <= 1."""
    try:
        lo, hi = (float(x) for x in (text.split(":") if ":" in text else (text, text)))
    except ValueError:
        lo = hi = float("nan")
    if not 0 < lo <= hi <= 1:
        raise click.BadParameter(f"expected LO:HI with 0 < LO <= HI <= 1, got {text!r}", param_hint="--fill")
    return lo, hi


class _progress:
    """A rich progress bar with images/s on stderr, as a context manager yielding the on_progress callback."""

    def __init__(self, quiet: bool):
        self.bar = None
        if not quiet:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("[bold]dataset"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} images/s"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
        self.task = None
        self.first = None

    def __enter__(self):
        return self.update

    def __exit__(self, *exc):
        if self.task is not None:  # started by the first update: a bad prototype path prints nothing else
            self.bar.stop()

    def update(self, done: int, total: int) -> None:
        if not self.bar:
            return
        if self.task is None:
            self.bar.start()
            self.first = done
            self.task = self.bar.add_task("dataset", total=total, completed=done, rate="-")
            return
        elapsed = self.bar.tasks[0].elapsed or 0
        rate = f"{(done - self.first) / elapsed:.1f}" if elapsed > 0 else "-"
        self.bar.update(self.task, completed=done, rate=rate)
