"""`proto3d dataset`: labelled renders of prototype variants for classification and part segmentation.

    summary = build_dataset(["examples/chair.pdsl", "runs/"], "data/", Settings(variants=20, views=10))
    regenerate("data/", 42)  # {"image": {"path", "identical"}, "parts": ..., "instances": ...}

This module runs the tasks (in process, on a local process pool or on Ray), resumes, writes the
final files and regenerates images; `dataset_task` plans the tasks and renders one.

Layout of a dataset folder:

    dataset.json                       settings, prototypes, counts (checked when resuming)
    prototypes/<category>/<name>.pdsl  the programs as read (regeneration needs nothing else)
    classification/{train,val}/<category>/<id>.png   RGB images (ImageFolder layout)
    segmentation/parts/<id>.png        uint16 global part id per pixel, 0 = background
    segmentation/instances/<id>.png    uint16 instance index + 1 within the image's shape
    segmentation/img_dir/{train,val}/<id>.png   mmsegmentation's layout: the RGB image (a hard link)
    segmentation/ann_dir/{train,val}/<id>.png   uint8 part id per pixel, 0 = background, 255 = ignore
    labels.json                        categories, global part ids and names
    coco_train.json, coco_val.json     COCO instance segmentation (RLE), one annotation per visible part instance
    manifest.jsonl                     one line per image: everything needed to regenerate it
    tasks/<task>.json                  finished tasks' records (the resume checkpoints)
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from proto3d.compiler import compile_text
from proto3d.compiler.files import write_atomic, write_json
from proto3d.dataset.task import (
    BACKGROUNDS,
    FORMAT_VERSION,
    PASSES,
    SPLIT_BY,
    Labelling,
    Picture,
    Prototype,
    Result,
    Settings,
    Task,
    add_images,
    find_prototypes,
    load_picture,
    load_pictures,
    plan,
    render_records,
    run_task,
    split_warnings,
)
from proto3d.grammar import Diagnostic, Proto3dError
from proto3d.grammar.source import read_program
from proto3d.output_folder import paths_inside, remove_files
from proto3d.renderer.render import MEMORY_LIMIT, check_memory, view_bytes
from proto3d.vocab import LabelMap, load_label_map

ENGINES = ("local", "ray")
__all__ = [
    "BACKGROUNDS",
    "ENGINES",
    "SPLIT_BY",
    "Settings",
    "build_dataset",
    "find_prototypes",
    "load_record",
    "regenerate",
]


def build_dataset(
    paths: Iterable[str],
    out: str | Path,
    settings: Settings = Settings(),
    *,
    engine: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    limit: int | None = None,
    overwrite: bool = False,
    label_map: str | Path | LabelMap | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> dict:
    """Make (or resume) the dataset in `out`; returns the summary (counts, seconds, images/s).

    `label_map` (a LabelMap or its TOML file) maps the programs' part labels to a vocabulary's
    classes. `on_warning(message)` hears about the split before any work (an empty val split, a
    shape in both splits). `on_progress(done_images, total_images)` is called after every finished task. `limit` stops
    after that many newly finished tasks (tests use it to interrupt a run). A folder that holds
    anything but this dataset is refused unless `overwrite`, which first removes the files an
    earlier dataset there recorded (`owned_files`).
    """
    out = Path(out)
    check_memory(
        task_bytes(settings),
        MEMORY_LIMIT,
        f"--views {settings.views} images of {settings.size}x{settings.size} per variant",
        hint="a task holds one variant's images until they are written: use fewer --views or a smaller --size",
    )
    prototypes = find_prototypes(paths)
    if label_map is not None and not isinstance(label_map, LabelMap):
        label_map = load_label_map(label_map)
    pictures = _pictures(settings)
    tasks, labels = plan(prototypes, settings, label_map, pictures)
    for warning in split_warnings(tasks, settings):
        if on_warning:
            on_warning(warning)
    _start(out, settings, prototypes, tasks, labels, overwrite, pictures)
    todo = [t for t in tasks if not (out / "tasks" / f"{t.name}.json").exists()]
    total = len(tasks) * settings.views
    done = total - len(todo) * settings.views
    if on_progress:
        on_progress(done, total)
    start, made = time.perf_counter(), 0
    runner = {"local": _run_local, "ray": _run_ray}[engine]
    for task, result in runner(todo, settings, workers, ray_address, limit):
        for path, data in result.files.items():
            write_atomic(out / path, data, parents=True)
        for path, source in result.links.items():
            _link(out / source, out / path, result.files[source])
        write_json(
            out / "tasks" / f"{task.name}.json", result.records, indent=None, parents=True
        )  # last: marks the task done
        done += len(result.records)
        made += len(result.records)
        if on_progress:
            on_progress(done, total)
    seconds = time.perf_counter() - start
    summary = {
        "images": done,
        "total": total,
        "new_images": made,
        "seconds": round(seconds, 3),
        "images_per_second": round(made / seconds, 2) if made and seconds > 0 else None,
        "complete": done == total,
    }
    if done == total:
        summary.update(finalize(out, tasks, labels))
    return summary


def _link(source: Path, target: Path, data: bytes) -> None:
    """`target` as a hard link to `source`: no second copy on disk, and a plain file to every reader
    and to tar, rsync or zip (which at worst copy it). A copy where links are not supported."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.link.tmp")
    try:
        tmp.unlink(missing_ok=True)
        os.link(source, tmp)
        os.replace(tmp, target)  # atomic, like every other write of the driver
    except OSError:
        tmp.unlink(missing_ok=True)
        write_atomic(target, data)


def task_bytes(settings: Settings) -> int:
    """About the most memory one task holds: its images' files (at most their raw pixels: RGB and
    two 16-bit masks) and the views being rendered."""
    return settings.views * settings.size * settings.size * 7 + 3 * view_bytes(
        settings.size, settings.size, PASSES
    )


def _pictures(settings: Settings) -> list[Picture]:
    """The background pictures `settings` asks for, all read now: a bad one stops the run before any work."""
    if "images" not in settings.backgrounds:
        return []
    if not settings.background_folder:
        raise Proto3dError(
            Diagnostic(
                "E000",
                "the `images` background kind needs a folder of pictures",
                hint="--backgrounds images:DIR",
            ),
            "dataset",
        )
    return load_pictures(settings.background_folder, settings.size)


def _start(
    out: Path,
    settings: Settings,
    prototypes: list[Prototype],
    tasks: list[Task],
    labels: dict,
    overwrite: bool,
    pictures: list[Picture],
) -> None:
    """Write dataset.json and the prototype copies, or check that a resumed folder matches them."""
    meta = {
        "format": FORMAT_VERSION,
        "settings": settings.to_json(),
        "pictures": [{"file": p.name, "sha256": p.sha256, "reduce": p.reduce} for p in pictures],
        "prototypes": [
            {"category": p.category, "name": p.name, "file": p.file, "source": p.source, "sha256": p.sha256}
            for p in prototypes
        ],
        "tasks": len(tasks),
        "images": len(tasks) * settings.views,
        "labels": {
            "parts": [p["name"] for p in labels["parts"]],
            "ignore_index": labels.get("ignore_index"),
            "mmseg": labels["mmseg"],
            "vocabulary": labels.get("vocabulary"),
            "label_map": labels.get("label_map"),
        },
    }
    path = out / "dataset.json"
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            old = None
        if isinstance(old, dict) and _identity(old) == _identity(meta):
            for tmp in out.rglob(".*.tmp"):  # half-written files of a killed run
                tmp.unlink(missing_ok=True)
            return
        if not overwrite:
            raise Proto3dError(
                Diagnostic(
                    "E000",
                    f"{out} holds a dataset made with other settings or prototypes",
                    hint="resume with the same prototypes and options, write to a new folder, or give --overwrite to "
                    "replace it",
                ),
                str(out),
            )
    elif out.is_dir() and any(out.iterdir()) and not overwrite:
        raise Proto3dError(
            Diagnostic(
                "E000",
                f"{out} is not empty and holds no proto3d dataset",
                hint="write to a new or empty folder, or give --overwrite to write there",
            ),
            str(out),
        )
    remove_files(out, owned_files(out))
    out.mkdir(parents=True, exist_ok=True)
    for p in prototypes:
        write_atomic(out / p.file, p.text, parents=True)
    write_json(path, meta, parents=True)


def owned_files(out: Path) -> list[Path]:
    """The files the dataset in `out` recorded writing: its fixed files, prototype copies, finished
    tasks' records and the images those list (images of a task killed before its record are not known)."""
    try:
        meta = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = None
    if not isinstance(meta, dict):
        return []
    names = ["dataset.json", "labels.json", "manifest.jsonl", "coco_train.json", "coco_val.json"]
    prototypes = meta.get("prototypes")
    names += (
        [p.get("file") for p in prototypes if isinstance(p, dict)] if isinstance(prototypes, list) else []
    )
    for record_file in sorted((out / "tasks").glob("*.json")):
        try:
            records = json.loads(record_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(records, list) and all(
            isinstance(r, dict) and isinstance(r.get("files"), dict) for r in records
        ):
            names += [f"tasks/{record_file.name}", *(name for r in records for name in r["files"].values())]
    return paths_inside(out, names)


def _identity(meta: dict) -> tuple:
    """What must match for a folder to be resumed: format, settings, task count, prototype files and
    hashes, the mask values every label gets, and the background pictures' hashes."""
    prototypes = sorted((p["file"], p["sha256"]) for p in meta.get("prototypes", []))
    labels = meta.get("labels") or {}
    mapped = (labels.get("label_map") or {}).get("labels")
    return (
        meta.get("format"),
        meta.get("settings"),
        meta.get("tasks"),
        prototypes,
        labels.get("parts"),
        labels.get("ignore_index"),
        mapped,
        meta.get("pictures"),
    )


# ---- engines -----------------------------------------------------------------------------------


def _run_local(
    tasks: list[Task], settings: Settings, workers: int | None, _address, limit
) -> Iterator[tuple[Task, Result]]:
    """A process pool (spawned: each worker creates its own GL context); one worker runs in process."""
    tasks = tasks[:limit] if limit is not None else tasks
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks) or 1))
    if workers == 1:
        for task in tasks:
            yield task, run_task(task, settings)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_ignore_interrupts) as pool:
        pending, queue = {}, iter(tasks)
        try:
            while True:
                for task in queue:  # keep a couple of tasks per worker in flight
                    pending[pool.submit(_call, task, settings)] = task
                    if len(pending) >= 2 * workers:
                        break
                if not pending:
                    return
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: pending[f].first_id):
                    yield pending.pop(future), _unwrap(future.result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _run_ray(
    tasks: list[Task], settings: Settings, workers: int | None, address: str | None, limit
) -> Iterator[tuple[Task, Result]]:
    """The same tasks as Ray remote functions; the driver writes the files (no shared disk needed)."""
    try:
        import ray
    except ImportError:
        raise Proto3dError(
            Diagnostic("E000", "the Ray engine needs the `ray` package", hint='pip install "proto3d[ray]"'),
            "dataset",
        ) from None
    tasks = tasks[:limit] if limit is not None else tasks
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers or os.cpu_count(), log_to_driver=False, include_dashboard=False)
    remote = ray.remote(num_cpus=1)(_call)
    in_flight = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
    pending, queue = {}, iter(tasks)
    try:
        while True:
            for task in queue:
                pending[remote.remote(task, settings)] = task
                if len(pending) >= in_flight:
                    break
            if not pending:
                return
            finished, _ = ray.wait(list(pending), num_returns=1)
            for ref in finished:
                yield pending.pop(ref), _unwrap(ray.get(ref))
    except BaseException:
        for ref in pending:
            ray.cancel(ref)
        raise


def _ignore_interrupts() -> None:
    """Ctrl-C reaches the whole process group: only the driver handles it (and stops the pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _call(task: Task, settings: Settings):
    """Run a task in a worker; a Proto3dError travels back as plain data (exceptions pickle badly)."""
    try:
        return run_task(task, settings)
    except Proto3dError as error:
        return ("error", error.diagnostics, error.filename)


def _unwrap(value) -> Result:
    if isinstance(value, tuple) and value and value[0] == "error":
        raise Proto3dError(value[1], value[2])
    return value


# ---- finishing ---------------------------------------------------------------------------------


def finalize(out: Path, tasks: list[Task], label_map: dict) -> dict:
    """Assemble labels.json, manifest.jsonl and the COCO files from the finished tasks' records."""
    records = []
    for task in tasks:
        records.extend(json.loads((out / "tasks" / f"{task.name}.json").read_text(encoding="utf-8")))
    write_json(out / "labels.json", label_map, parents=True)
    lines = [json.dumps({k: v for k, v in r.items() if k != "annotations"}) for r in records]
    write_atomic(out / "manifest.jsonl", "\n".join(lines) + "\n", parents=True)
    categories = [
        {"id": p["id"], "name": p["name"], "supercategory": p["category"]} for p in label_map["parts"]
    ]
    counts = {}
    for split in ("train", "val"):
        chosen = [r for r in records if r["split"] == split]
        images = [
            {
                "id": r["id"],
                "file_name": r["files"]["image"],
                "width": r["size"],
                "height": r["size"],
                "parts_mask": r["files"]["parts"],
                "instances_mask": r["files"]["instances"],
            }
            for r in chosen
        ]
        annotations = []
        for r in chosen:
            for a in r["annotations"]:
                name = r["instances"][a["instance"] - 1]["name"]
                annotations.append(
                    {"id": len(annotations) + 1, "image_id": r["id"], **a, "instance_name": name}
                )
        write_json(
            out / f"coco_{split}.json",
            {
                "info": {"description": "proto3d dataset", "version": str(FORMAT_VERSION)},
                "images": images,
                "annotations": annotations,
                "categories": categories,
            },
            indent=None,
        )
        counts[split] = len(images)
    summary = {
        "train": counts["train"],
        "val": counts["val"],
        "categories": len(label_map["categories"]),
        "parts": len(label_map["parts"]),
    }
    if "label_map" in label_map:
        summary.update(
            vocabulary=label_map["vocabulary"], unmapped_labels=label_map["label_map"]["unmapped_labels"]
        )
    return summary


def _picture(meta: dict, name: str) -> Picture:
    """A background picture as the dataset cropped it: read again from its folder, its hash checked."""
    folder = Path(meta["settings"]["background_folder"])
    recorded = next(p for p in meta["pictures"] if p["file"] == name)
    path = folder / name
    if not path.is_file():
        raise Proto3dError(
            Diagnostic(
                "E000",
                f"the background picture {path} is gone",
                hint="regenerating an image needs the pictures the dataset was made with",
            ),
            str(path),
        )
    picture = load_picture(path, meta["settings"]["size"])
    if picture.sha256 != recorded["sha256"]:
        raise Proto3dError(
            Diagnostic("E000", f"the background picture {path} changed since the dataset was made"), str(path)
        )
    return picture


def load_record(out: str | Path, image_id: int) -> dict:
    """An image's record, from manifest.jsonl or, in an unfinished run, from the task files."""
    out = Path(out)
    if not (out / "dataset.json").exists():
        raise Proto3dError(Diagnostic("E000", f"{out} is not a proto3d dataset (no dataset.json)"), str(out))
    sources = (
        [out / "manifest.jsonl"]
        if (out / "manifest.jsonl").exists()
        else sorted((out / "tasks").glob("*.json"))
    )
    for source in sources:
        text = source.read_text(encoding="utf-8")
        rows = (
            (json.loads(line) for line in text.splitlines() if line.strip())
            if source.suffix == ".jsonl"
            else json.loads(text)
        )
        for record in rows:
            if record["id"] == image_id:
                return record
    raise Proto3dError(
        Diagnostic(
            "E000",
            f"no image {image_id} in {out}",
            hint="ids are the numbers in the image file names and the manifest",
        ),
        str(out),
    )


def regenerate(out: str | Path, image_id: int, into: str | Path | None = None) -> dict:
    """Render image `image_id` again from its record alone; write its files under `into` and compare.

    Returns {kind: {"path", "identical"}} for the image, both masks and the mmsegmentation label
    PNG (its image is the classification image). The record's instances give each label's mask value.
    """
    out = Path(out)
    record = load_record(out, image_id)
    text = read_program(str(out / record["prototype"]))  # as written: its hash is the one recorded
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != record["prototype_sha256"]:
        raise Proto3dError(
            Diagnostic("E000", f"{record['prototype']} changed since image {image_id} was made"), str(out)
        )
    meta = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    shape = compile_text(
        text, params=record["params"], filename=record["prototype"]
    )  # as the worker compiled it
    part_ids = {instance["part"]: instance["part_id"] for instance in record["instances"]}
    labelling = Labelling(part_ids, meta["labels"]["ignore_index"], "mmseg_ann" in record["files"])
    result = Result()
    pictures = {}
    if record["background"]["kind"] == "images":
        pictures = {record["background"]["file"]: _picture(meta, record["background"]["file"]).pixels}
    add_images(
        result, dict(record), next(render_records(shape, [record], part_ids, pictures)), shape, labelling
    )
    into = Path(into) if into is not None else out / "regenerated"
    report = {}
    for kind, path in record["files"].items():
        if path not in result.files:  # a link to another of its files
            continue
        data = result.files[path]
        target = into / Path(path).name.replace(".png", f"_{kind}.png")
        write_atomic(target, data, parents=True)
        report[kind] = {
            "path": str(target),
            "identical": hashlib.sha256(data).hexdigest() == record["sha256"][kind],
        }
    return report
