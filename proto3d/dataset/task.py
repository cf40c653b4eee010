"""Dataset tasks: prototypes, planning, and rendering one task (a variant's images) to bytes.

The work is a list of tasks, one per (prototype, variant). A task compiles the variant once,
uploads it once and renders all its views; it is a pure function of the task (no file access),
returning file bytes and manifest records, so any engine can run it: in process, a local
process pool (each worker process owns one GL context), or Ray. The driver writes every file
atomically and a task's record last, so an interrupted run resumes by skipping tasks whose
record exists: nothing is lost and nothing is written twice.

Randomness, all from NumPy Generators (see `rng`):
  * per variant (seed, prototype, variant): parameter values, part colours, light rig, split;
  * per image (seed, image id): camera, exposure, background.
The manifest stores every value drawn (matrices as exact JSON floats), and
`proto3d.dataset.build.regenerate` renders an image from its record alone, byte for byte.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from proto3d.compiler import CompiledShape, compile_program
from proto3d.compiler.kernel_cache import load_kernels_lightly
from proto3d.dataset.reader import encode_png, rle_encode
from proto3d.dataset.variants import draw_variant, stable_key
from proto3d.errors import Proto3dError, diagnostic
from proto3d.files import slug
from proto3d.grammar import Program, parse
from proto3d.grammar.source import read_program
from proto3d.vocab import IGNORE, IGNORE_INDEX, LabelMap, category_key

FORMAT_VERSION = 3  # 2: splits by design, the mmsegmentation layout, label maps; 3: fill, picture backgrounds, ground shadow
BACKGROUNDS = ("solid", "gradient", "noise")  # the default kinds; "images" needs a folder of pictures
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
SPLIT_BY = ("design", "variant")
PASSES = ("rgb", "part", "instance")
PNG_LEVEL = 3  # zlib level: half the time of level 6 for about 10 % more bytes (measured on dataset images)
MAX_ID = 0xFFFF  # masks are 16-bit PNGs
MAX_MMSEG_ID = 254  # the mmsegmentation layout's 8-bit label PNGs: 0 = background, 255 = ignore
RUN_FILE = "final/program.pdsl"  # an agent run folder's final program (docs/agent.md)

# Sensible material colours (woods, metals, plastics, fabrics, paints) for part recolouring.
MATERIALS = (
    "#8b5a2b",
    "#b07a3f",
    "#d2b48c",
    "#5c4033",
    "#a0522d",
    "#c0c0c0",
    "#8a8d91",
    "#4a4a4a",
    "#1f1f1f",
    "#f5f5f0",
    "#e8dcc8",
    "#b22222",
    "#7b1e1e",
    "#1e3a8a",
    "#457b9d",
    "#2e7d32",
    "#81b29a",
    "#556b2f",
    "#f2c14e",
    "#e07a5f",
    "#f4a261",
    "#3d405b",
    "#6d597a",
    "#cdb4db",
    "#264653",
    "#a8dadc",
    "#d4a373",
)


@dataclass(frozen=True)
class Settings:
    """Everything that decides the images; stored in dataset.json and checked on resume."""

    seed: int = 0
    variants: int = 10  # per prototype
    views: int = 8  # per variant
    size: int = 256
    antialias: str = "fxaa"  # colour anti-aliasing: fxaa, msaa or none (masks are always exact)
    samples: int = 4  # samples per pixel with antialias="msaa"
    val: float = (
        0.2  # fraction of each category's designs, or of each prototype's variants, in the validation split
    )
    split_by: str = (
        "design"  # "design": whole prototypes go to val where a category has several; "variant": variants
    )
    backgrounds: tuple[str, ...] = (
        BACKGROUNDS  # kinds drawn from; "images": crops of `background_folder`'s pictures
    )
    background_folder: str | None = (
        None  # absolute path of the user's background pictures (--backgrounds images:DIR)
    )
    azimuth: tuple[float, float] = (0.0, 360.0)
    elevation: tuple[float, float] = (-10.0, 60.0)
    fov: tuple[float, float] = (20.0, 50.0)  # degrees; the focal length is size / 2 / tan(fov / 2)
    fill: tuple[float, float] = (
        0.3,
        0.8,
    )  # the object's projected extent (the longer of width and height) over the image side
    roll: tuple[float, float] = (-10.0, 10.0)
    shift: float = 0.5  # how far off-centre the object may sit, as a fraction of the free margin around it
    exposure: tuple[float, float] = (0.75, 1.2)
    light_yaw: tuple[float, float] = (-90.0, 90.0)
    light_tilt: tuple[float, float] = (0.0, 35.0)
    keep_colors: float = 0.3  # chance a part keeps its program colour (brightness-jittered)
    ground: bool = True  # a soft contact shadow on the background under the object (never in the masks)
    shadow: tuple[float, float] = (0.45, 0.75)  # the shadow's darkness where it is densest

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class Prototype:
    category: str
    name: str
    text: str
    source: str  # where it was read from

    @property
    def file(self) -> str:
        """Its copy inside the dataset folder, relative to it."""
        return f"prototypes/{file_name(self.category)}/{self.name}.pdsl"

    @property
    def key(self) -> int:
        return stable_key(f"{self.category}/{self.name}")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Labelling:
    """How a prototype's part labels become mask values."""

    part_ids: dict[str, int]  # part label -> its value in the part masks
    ignore_index: int | None = (
        None  # with a label map: the value of parts in no class (they get no COCO annotation)
    )
    mmseg: bool = True  # the values fit 8 bits: also write the mmsegmentation layout


@dataclass(frozen=True)
class Task:
    """One variant of one prototype and the ids of its images."""

    prototype: Prototype
    variant: int
    first_id: int
    views: int
    program: Program  # the prototype parsed (once, by the planner)
    specs: dict  # its param specs
    labelling: Labelling  # its category's part label -> mask value
    val: frozenset[int]  # which of the prototype's variants are in the validation split
    backgrounds: tuple[dict, ...] = ()  # each view's background (`draw_background`)
    pictures: dict[str, np.ndarray] = field(default_factory=dict)  # the pictures those use, by file name

    @property
    def name(self) -> str:
        return f"{file_name(self.prototype.category)}-{self.prototype.name}-{self.variant:05d}"


@dataclass
class Result:
    files: dict[str, bytes] = field(default_factory=dict)  # path relative to the dataset folder -> bytes
    links: dict[str, str] = field(default_factory=dict)  # path -> a path in `files` holding the same bytes
    records: list[dict] = field(default_factory=list)  # one per image


@dataclass(frozen=True)
class Picture:
    """A background picture of the user's folder, as the images crop it."""

    name: str  # file name in the folder
    sha256: str  # of the file's bytes
    reduce: int  # the file's pixels were reduced by this integer factor (box filter), 1 = not
    pixels: np.ndarray = field(repr=False)  # (h, w, 3) uint8


def load_pictures(folder: str | Path, size: int) -> list[Picture]:
    """Every picture in `folder` (by suffix, sorted by name), decoded now so a bad one stops the run
    before any work. Each is reduced by the integer factor that leaves its shorter side between
    `size` and 2 `size` (Pillow's `reduce`), so a task ships, and a crop resamples, no more pixels than needed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise Proto3dError(
            diagnostic(
                "E905",
                f"no such folder of background pictures: {folder}",
                hint="--backgrounds images:DIR takes a folder of PNG or JPEG pictures",
            ),
            str(folder),
        )
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES)
    if not files:
        raise Proto3dError(
            diagnostic(
                "E905",
                f"{folder} holds no pictures ({', '.join(PICTURE_SUFFIXES)})",
                hint="--backgrounds images:DIR takes a folder of PNG or JPEG pictures",
            ),
            str(folder),
        )
    return [load_picture(path, size) for path in files]


def load_picture(path: Path, size: int) -> Picture:
    """One picture, upright (EXIF orientation) in RGB, reduced for images of `size` (`load_pictures`)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as error:
        raise Proto3dError(
            diagnostic(
                "E905", f"cannot read the background picture {path}: {error}", hint="remove or convert it"
            ),
            str(path),
        ) from None
    factor = _reduction(image.width, image.height, size)
    if factor > 1:
        image = image.reduce(factor)
    return Picture(path.name, hashlib.sha256(data).hexdigest(), factor, np.asarray(image))


def _reduction(width: int, height: int, size: int) -> int:
    return max(1, min(width, height) // size)


def file_name(text: str) -> str:
    """A category or prototype name as the dataset's folders and files spell it ("Office chair!" ->
    "office_chair"): "_" keeps it a valid class name, and resuming a dataset finds the names it wrote."""
    return slug(text, "_", "unnamed")


def rng(settings: Settings, stream: int, *ids: int) -> np.random.Generator:
    """Streams: 2 = variant look (colours, light), 3 = image (camera, exposure, shadow), 4 = split,
    5 = image background (apart from the shape, so the driver knows which pictures a task needs)."""
    return np.random.default_rng([settings.seed, stream, *ids])


# ---- prototypes --------------------------------------------------------------------------------


def find_prototypes(paths) -> list[Prototype]:
    """Prototypes from files and folders.

    A `.pdsl` file is one prototype of the category its file name gives (`chair.pdsl`: chair).
    A folder is a collection: its own `.pdsl` files are read as above, each sub-folder is one
    category (the sub-folder's name) of the `.pdsl` files and agent runs inside it at any depth,
    and an agent run folder (final/program.pdsl) is one prototype of its run.json category. So
    `examples/`, a folder of category folders and a folder of agent runs all do what they say,
    including the agent's several designs of a category (`runs/<category>/<design>/`): the
    designs of one category folder are prototypes of the category their run.json names.
    """
    found: list[Prototype] = []
    for path in map(Path, paths):
        if path.is_file():
            found.append(_prototype(path.stem, path.stem, path))
        elif path.is_dir():
            found.extend(_collection(path))
        else:
            raise Proto3dError(diagnostic("E903", f"no such file or folder: {path}"), str(path))
    if not found:
        raise Proto3dError(
            diagnostic(
                "E906",
                "no prototypes found",
                hint="give .pdsl files, folders of category folders, or agent run folders",
            ),
            " ".join(map(str, paths)),
        )
    names: dict[tuple[str, str], int] = {}
    unique = []
    for p in found:  # the same file name twice in one category: number the later ones
        n = names[(p.category, p.name)] = names.get((p.category, p.name), 0) + 1
        unique.append(p if n == 1 else dataclasses.replace(p, name=f"{p.name}_{n}"))
    return unique


def _collection(folder: Path) -> list[Prototype]:
    if (folder / RUN_FILE).is_file():
        return [_run(folder, None)]
    found = [_prototype(p.stem, p.stem, p) for p in sorted(folder.glob("*.pdsl"))]
    for sub in _subfolders(folder):
        found.extend([_run(sub, None)] if (sub / RUN_FILE).is_file() else _category(sub, sub.name))
    return found


def _category(folder: Path, category: str) -> list[Prototype]:
    found = [_prototype(category, p.stem, p) for p in sorted(folder.glob("*.pdsl"))]
    for sub in _subfolders(folder):
        found.extend([_run(sub, category)] if (sub / RUN_FILE).is_file() else _category(sub, category))
    return found


def _run(folder: Path, category: str | None) -> Prototype:
    """An agent run's final program; its category is run.json's, unless it sits in a category folder
    of another name (a folder named after the run's category is the agent's own: `runs/office-chair/`)."""
    try:
        named = str(json.loads((folder / "run.json").read_text(encoding="utf-8"))["category"])
    except (OSError, ValueError, KeyError, TypeError):
        named = None
    if category is None or (named is not None and category_key(named) == category_key(category)):
        category = named or folder.name
    return _prototype(category, folder.name, folder / RUN_FILE)


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _prototype(category: str, name: str, path: Path) -> Prototype:
    return Prototype(category.strip() or "unnamed", file_name(name), read_program(str(path)), str(path))


# ---- planning ----------------------------------------------------------------------------------


def plan(
    prototypes: list[Prototype],
    settings: Settings,
    label_map: LabelMap | None = None,
    pictures: list[Picture] | None = None,
) -> tuple[list[Task], dict]:
    """Tasks in a fixed order (image ids follow it) and the label map (labels.json).

    Each task gets its images' backgrounds and the `pictures` (`load_pictures`) they crop.

    Categories are sorted by folder name, as torchvision's ImageFolder numbers its classes. Part
    ids are global (1..P over all categories, 0 = background) in order of first appearance; with
    a `label_map`, they are its vocabulary's class ids and parts in no class get `IGNORE_INDEX`.
    """
    programs, specs, labels = {}, {}, {}
    for p in prototypes:
        programs[p] = parse(p.text, p.source)  # diagnostics name the user's file
        shape = compile_program(programs[p])
        specs[p] = shape.params
        for part in shape.parts:
            labels.setdefault(p.category, {}).setdefault(part.label, None)
    categories = sorted(labels, key=lambda c: (file_name(c), c))
    folders = [file_name(c) for c in categories]
    clash = next((f for f in folders if folders.count(f) > 1), None)
    if clash:
        raise Proto3dError(
            diagnostic(
                "E906", f"two categories share the folder name `{clash}`", hint="rename one of the categories"
            ),
            "dataset",
        )
    if label_map is None:
        label_table, labelling = _free_labels(categories, labels)
    else:
        label_table, labelling = _vocabulary_labels(categories, labels, label_map)
    if not 0 < settings.fill[0] <= settings.fill[1] <= 1:
        raise ValueError(f"fill must be (lo, hi) with 0 < lo <= hi <= 1, not {settings.fill!r}")
    if "images" in settings.backgrounds and not pictures:
        raise ValueError("the `images` background kind needs pictures (load_pictures)")
    tasks, next_id = [], 0
    val = val_variants_of(prototypes, settings)
    by_name = {picture.name: picture.pixels for picture in pictures or []}
    for p in sorted(prototypes, key=lambda p: (categories.index(p.category), p.name)):
        for v in range(settings.variants):
            backgrounds = tuple(
                draw_background(settings, i, pictures or []) for i in range(next_id, next_id + settings.views)
            )
            used = {b["file"]: by_name[b["file"]] for b in backgrounds if b["kind"] == "images"}
            tasks.append(
                Task(
                    p,
                    v,
                    next_id,
                    settings.views,
                    programs[p],
                    specs[p],
                    labelling[p.category],
                    val[p],
                    backgrounds,
                    used,
                )
            )
            next_id += settings.views
    return tasks, label_table


def _free_labels(categories: list[str], labels: dict) -> tuple[dict, dict[str, Labelling]]:
    """Every (category, label) its own class: "chair/seat"."""
    parts, part_ids = [], {}
    for c in categories:
        part_ids[c] = {}
        for label in labels[c]:
            parts.append({"id": len(parts) + 1, "name": f"{c}/{label}", "category": c, "label": label})
            part_ids[c][label] = len(parts)
    if len(parts) > MAX_ID:
        raise Proto3dError(
            diagnostic(
                "E906",
                f"{len(parts)} part labels do not fit the 16-bit part masks (at most {MAX_ID})",
                hint="split the categories over several datasets",
            ),
            "dataset",
        )
    mmseg = len(parts) <= MAX_MMSEG_ID
    table = {
        "background": 0,
        "categories": [
            {
                "id": i,
                "name": c,
                "folder": file_name(c),
                "parts": [p for p in parts if p["category"] == c],
                "labels": part_ids[c],
            }
            for i, c in enumerate(categories)
        ],
        "parts": parts,
        "mmseg": mmseg,
    }
    return table, {c: Labelling(part_ids[c], None, mmseg) for c in categories}


def _vocabulary_labels(
    categories: list[str], labels: dict, label_map: LabelMap
) -> tuple[dict, dict[str, Labelling]]:
    """The vocabulary's classes ("Quadruped/head"), each category's labels mapped onto them."""
    vocab = label_map.vocabulary
    classes = vocab.all_labels()
    if len(classes) > MAX_MMSEG_ID:
        raise Proto3dError(
            diagnostic(
                "E906",
                f"the vocabulary `{vocab.name}` has {len(classes)} classes; its masks "
                f"hold at most {MAX_MMSEG_ID} (255 is the ignore index)",
            ),
            label_map.source,
        )
    parts = [
        {"id": i, "name": name, "category": name.split("/")[0], "label": name.split("/", 1)[1]}
        for i, name in enumerate(classes, start=1)
    ]
    rows, labelling, mapped, unmapped = [], {}, {}, {}
    for i, c in enumerate(categories):
        group = label_map.group(c)
        ids = {label: label_map.class_id(c, label) for label in labels[c]}
        mapped[c] = {
            label: (classes[v - 1] if v != IGNORE_INDEX else label_map.target(c, label))
            for label, v in ids.items()
        }
        unmapped[c] = [label for label, target in mapped[c].items() if target is None]
        labelling[c] = Labelling(ids, IGNORE_INDEX, True)
        rows.append(
            {
                "id": i,
                "name": c,
                "folder": file_name(c),
                "super_category": group,
                "parts": [p for p in parts if p["category"] == group],
                "labels": ids,
            }
        )
    table = {
        "background": 0,
        "ignore_index": IGNORE_INDEX,
        "vocabulary": vocab.name,
        "categories": rows,
        "parts": parts,
        "mmseg": True,
        "label_map": {
            "file": label_map.source,
            "labels": mapped,
            "ignored_labels": sum(t == IGNORE for m in mapped.values() for t in m.values()),
            "unmapped": {c: u for c, u in unmapped.items() if u},
            "unmapped_labels": sum(map(len, unmapped.values())),
        },
    }
    return table, labelling


# ---- splits ------------------------------------------------------------------------------------


def val_variants_of(prototypes: list[Prototype], settings: Settings) -> dict[Prototype, frozenset[int]]:
    """Each prototype's variants in the validation split, so that no shape is in both splits.

    By design (the default), a category with several prototypes sends `val_share` of them, all
    their variants, to val; a category of one prototype, or `split_by="variant"`, sends
    `val_share` of each prototype's variants.
    """
    if settings.split_by not in SPLIT_BY:
        raise ValueError(f"split_by must be one of {', '.join(SPLIT_BY)}, not {settings.split_by!r}")
    by_category: dict[str, list[Prototype]] = {}
    for p in sorted(prototypes, key=lambda p: p.name):
        by_category.setdefault(p.category, []).append(p)
    val = {}
    for category, members in by_category.items():
        if by_design(settings, len(members)):
            order = rng(settings, 4, stable_key(category)).permutation(len(members))
            chosen = {int(i) for i in order[: val_share(settings.val, len(members))]}
            val.update(
                {
                    p: frozenset(range(settings.variants)) if i in chosen else frozenset()
                    for i, p in enumerate(members)
                }
            )
        else:
            val.update({p: frozenset(val_variants(settings, p.key)) for p in members})
    return val


def by_design(settings: Settings, designs: int) -> bool:
    return settings.split_by == "design" and designs > 1


def val_variants(settings: Settings, key: int) -> set[int]:
    """The prototype's variants in the validation split: `val_share` of them, at random."""
    return {
        int(v)
        for v in rng(settings, 4, key).permutation(settings.variants)[
            : val_share(settings.val, settings.variants)
        ]
    }


def val_share(fraction: float, count: int) -> int:
    """How many of `count` designs or variants go to val: round(fraction * count), one kept for training."""
    return min(math.floor(fraction * count + 0.5), count - 1) if count > 1 else 0


def split_warnings(tasks: list[Task], settings: Settings) -> list[str]:
    """What a user should know about the split before the run: categories whose val split ends up
    empty, and prototypes whose variants are all one shape (split by variant, train and val share it)."""
    if settings.val <= 0:
        return []
    designs: dict[str, dict[Prototype, bool]] = {}
    for t in tasks:
        has_val = designs.setdefault(t.prototype.category, {}).get(t.prototype, False)
        designs[t.prototype.category][t.prototype] = has_val or t.variant in t.val
    empty = [c for c, members in designs.items() if not any(members.values())]
    warnings = []
    for design_split in (False, True):
        names = [c for c in empty if by_design(settings, len(designs[c])) == design_split]
        if not names:
            continue
        where = "be empty" if len(names) == len(designs) else f"have no images of {_some(names)}"
        if design_split:
            counts = sorted({len(designs[c]) for c in names})
            warnings.append(
                f"--val {settings.val:g} of {'/'.join(map(str, counts))} designs per category rounds to none: "
                f"the val split will {where} (it takes {math.ceil(0.5 / settings.val)} or more designs)"
            )
        else:
            enough = max(2, math.ceil(0.5 / settings.val))
            warnings.append(
                f"--val {settings.val:g} of {settings.variants} variant{'s' * (settings.variants > 1)} per "
                f"prototype rounds to none: the val split will {where} (it takes {enough} or more --variants)"
            )
    same = sorted(
        {t.prototype.name for t in tasks if t.val and len(t.val) < settings.variants and not t.specs}
    )
    if same:
        warnings.append(
            f"{_some(same)} ha{'ve' if len(same) > 1 else 's'} no `param`: every variant is the same shape, so "
            "val images show shapes the train split has (give the category several designs, or add params)"
        )
    return warnings


def _some(names: list[str], most: int = 5) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


# ---- rendering one task ------------------------------------------------------------------------


def run_task(task: Task, settings: Settings) -> Result:
    """Compile the variant, render its views, encode the files: no file access, safe in any worker."""
    p = task.prototype
    params, shape = draw_variant(task.program, task.specs, settings.seed, p.key, task.variant)
    if len(shape.instances) > MAX_ID:
        raise Proto3dError(
            diagnostic(
                "E906",
                f"variant {task.variant} has {len(shape.instances)} part instances; "
                f"the 16-bit instance masks hold at most {MAX_ID}",
            ),
            p.source,
        )
    unknown = [part.label for part in shape.parts if part.label not in task.labelling.part_ids]
    if unknown:
        raise Proto3dError(
            diagnostic(
                "E906",
                f"variant {task.variant} of {p.source} has part `{unknown[0]}`, which "
                "its defaults do not build; part ids are given to the defaults' labels",
                hint="make the defaults build every part label the params can produce",
            ),
            p.source,
        )
    look = draw_look(shape, settings, rng(settings, 2, p.key, task.variant))
    points = shape.vertices.astype(np.float64)  # what the framing projects
    split = "val" if task.variant in task.val else "train"
    base = {
        "category": p.category,
        "prototype": p.file,
        "prototype_sha256": p.sha256,
        "variant": task.variant,
        "params": params,
        "split": split,
        "seed": settings.seed,
        "size": settings.size,
        "antialias": settings.antialias,
        "samples": settings.samples,
        **look,
    }
    records = []
    for view in range(task.views):
        image_id = task.first_id + view
        records.append(
            {
                "id": image_id,
                **base,
                "view": view,
                **draw_image(shape, points, settings, rng(settings, 3, image_id)),
                "background": task.backgrounds[view],
            }
        )
    result = Result()
    for record, images in zip(
        records, render_records(shape, records, task.labelling.part_ids, task.pictures)
    ):
        add_images(result, record, images, shape, task.labelling)
    return result


def draw_look(shape: CompiledShape, settings: Settings, g: np.random.Generator) -> dict:
    """Per-variant part colours and light rig."""
    colors = []
    for part in shape.parts:
        if g.random() < settings.keep_colors:
            colors.append({"part": part.label, "color": None, "scale": float(g.uniform(0.8, 1.2))})
        else:
            base = np.array(
                [int(h[i : i + 2], 16) for h in [MATERIALS[g.integers(len(MATERIALS))]] for i in (1, 3, 5)]
            )
            color = np.clip(base / 255 * g.uniform(0.85, 1.15, 3), 0, 1)
            colors.append({"part": part.label, "color": [float(c) for c in color], "scale": 1.0})
    yaw, tilt, axis = g.uniform(*settings.light_yaw), g.uniform(*settings.light_tilt), g.uniform(0, 360)
    rotation = _rot_z(yaw) @ _rot_z(axis) @ _rot_x(tilt) @ _rot_z(-axis)
    return {
        "colors": colors,
        "lighting": {
            "yaw": float(yaw),
            "tilt": float(tilt),
            "tilt_axis": float(axis),
            "normal_rotation": rotation.tolist(),
        },
    }


def draw_image(shape: CompiledShape, points: np.ndarray, settings: Settings, g: np.random.Generator) -> dict:
    """Per-image camera, exposure and shadow darkness.

    The camera looks at the bounding box's centre from a random direction, at the distance where
    the shape's projected extent (the longer of its width and height, from its vertices) is `fill`
    of the image side; its principal point then moves the shape off-centre by up to `shift` of the
    margin left around it, so it is whole in the frame.
    """
    from proto3d.renderer import look_at
    from proto3d.renderer.camera import intrinsics

    lo, hi = shape.bbox
    azimuth, elevation = g.uniform(*settings.azimuth), g.uniform(*settings.elevation)
    fov, fill, roll = g.uniform(*settings.fov), g.uniform(*settings.fill), g.uniform(*settings.roll)
    size = settings.size
    target = (lo + hi) / 2
    az, el = math.radians(azimuth), math.radians(elevation)
    direction = np.array([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)])
    K = intrinsics(size, fov)
    R = (
        _rot_z(roll) @ look_at("probe", target + direction, target, K, size).world_to_camera[:3, :3]
    )  # rolled about the optical axis
    cam = (points - target) @ R.T
    distance = _fit_distance(cam, fill * size / K[0, 0])
    xy = cam[:, :2] / (cam[:, 2:] + distance) * K[0, 0]  # pixels from the principal point
    low, high = xy.min(axis=0), xy.max(axis=0)
    centred = (size - 1) / 2 - (low + high) / 2  # the principal point that centres the shape
    margin = np.maximum(size - 1 - (high - low), 0) / 2
    K[:2, 2] = centred + g.uniform(-1, 1, 2) * settings.shift * margin
    M = np.eye(4)
    M[:3, :3] = R
    M[:3, 3] = -R @ (target + direction * distance)
    return {
        "camera": {
            "azimuth": float(azimuth),
            "elevation": float(elevation),
            "fov": float(fov),
            "fill": float(fill),
            "roll": float(roll),
            "distance": distance,
            "width": size,
            "height": size,
            "K": K.tolist(),
            "world_to_camera": M.tolist(),
        },
        "exposure": float(g.uniform(*settings.exposure)),
        "shadow": float(g.uniform(*settings.shadow)) if settings.ground else None,
    }


def _fit_distance(cam: np.ndarray, extent: float) -> float:
    """The distance along the optical axis at which points (camera axes, relative to the look-at
    point) span `extent` (in focal lengths) across their longer image axis. The inverse of the span
    grows almost linearly with the distance once every point is in front of the camera, so regula
    falsi (Illinois) finds it in a few steps."""

    def miss(d: float) -> float:  # increasing in d, 0 at the answer
        return 1 / _span(cam, d) - 1 / extent

    near = -float(cam[:, 2].min()) + 1e-6 * (1 + float(np.abs(cam).max()))
    guess = (
        near + float((cam[:, :2].max(axis=0) - cam[:, :2].min(axis=0)).max()) / extent
    )  # as if orthographic
    lo, hi = near, guess
    m_hi = miss(hi)
    while m_hi < 0:  # too near: look farther
        lo, hi = hi, near + 1.5 * (hi - near)
        m_hi = miss(hi)
    if lo == near:  # the guess was far enough: look nearer, down to the nearest distance
        lo = near + (hi - near) / 1.5
        m_lo = miss(lo)
        while m_lo > 0 and lo > near * (1 + 1e-9):
            hi, m_hi, lo = lo, m_lo, near + (lo - near) / 1.5
            m_lo = miss(lo)
    else:
        m_lo = miss(lo)
    kept = 0
    for _ in range(100):
        d = hi - m_hi * (hi - lo) / (m_hi - m_lo)
        m = miss(d)
        if abs(m) * extent < 1e-12 or not lo < d < hi:
            return d
        if m > 0:
            hi, m_hi = d, m
            m_lo, kept = (m_lo / 2 if kept < 0 else m_lo), -1
        else:
            lo, m_lo = d, m
            m_hi, kept = (m_hi / 2 if kept > 0 else m_hi), 1
    return hi


@njit(cache=True, nogil=True)
def _span(cam: np.ndarray, d: float) -> float:
    """The longer side of the image-plane box of points `cam` (camera axes) seen from `d` farther back."""
    x0 = y0 = np.inf
    x1 = y1 = -np.inf
    for i in range(cam.shape[0]):
        z = cam[i, 2] + d
        x, y = cam[i, 0] / z, cam[i, 1] / z
        x0, x1, y0, y1 = min(x0, x), max(x1, x), min(y0, y), max(y1, y)
    return max(x1 - x0, y1 - y0)


def draw_background(settings: Settings, image_id: int, pictures: list[Picture]) -> dict:
    """An image's background, from its own stream (apart from the shape: the planner draws it, to
    give each task only the pictures it uses). A picture is cropped to a random square of half to
    all of its shorter side, anywhere in it."""
    g = rng(settings, 5, image_id)
    kind = settings.backgrounds[g.integers(len(settings.backgrounds))]
    if kind == "images":
        picture = pictures[g.integers(len(pictures))]
        h, w = picture.pixels.shape[:2]
        side = g.uniform(0.5, 1.0) * min(h, w)
        x, y = g.uniform(0, w - side), g.uniform(0, h - side)
        return {
            "kind": kind,
            "file": picture.name,
            "reduce": picture.reduce,
            "crop": [float(x), float(y), float(x + side), float(y + side)],
        }
    background = {"kind": kind, "colors": g.uniform(0, 1, (2, 3)).tolist()}
    if kind == "gradient":
        background["angle"] = float(g.uniform(0, 360))
    elif kind == "noise":
        background.update(
            cells=int(g.integers(2, 17)), grain=float(g.uniform(0, 0.08)), seed=int(g.integers(2**32))
        )
    return background


def render_records(
    shape: CompiledShape, records: list[dict], part_ids: dict, pictures: dict[str, np.ndarray] | None = None
) -> Iterator[dict]:
    """The image and masks of records that share one variant look (colours and light), in one
    upload, one record at a time (a task holds its encoded files, not every view's buffers).
    `pictures` holds the reduced pixels of the pictures their backgrounds crop, by file name.

    Lighting: the renderer lights from a fixed rig in camera axes; turning the shading normals
    by R is the same as turning that rig by R^-1 (the ID buffers do not use normals).
    """
    from proto3d.renderer import Camera, render_each

    look = records[0]
    colors = np.asarray(shape.face_colors, np.float64).copy()
    for part_id, c in enumerate(look["colors"]):
        faces = shape.part_id == part_id
        colors[faces] = c["color"] if c["color"] is not None else colors[faces] * c["scale"]
    rotation = np.asarray(look["lighting"]["normal_rotation"], np.float64)
    styled = dataclasses.replace(
        shape,
        face_colors=np.clip(colors, 0, 1).astype(np.float32),
        normals=(shape.normals.astype(np.float64) @ rotation.T).astype(np.float32),
    )
    cameras = [
        Camera(
            f"image_{r['id']}",
            r["camera"]["K"],
            r["camera"]["world_to_camera"],
            r["camera"]["width"],
            r["camera"]["height"],
        )
        for r in records
    ]
    ground = Footprint(shape) if any(r.get("shadow") for r in records) else None  # format 2 records have none
    views = render_each(
        styled,
        ([ground.camera] if ground else []) + cameras,
        size=records[0]["size"],
        passes=PASSES,
        background=(0, 0, 0, 0),
        samples=records[0]["samples"],
        antialias=records[0]["antialias"],
    )
    if ground:
        ground.take(next(views).face)
    lut = np.zeros(len(shape.parts) + 1, np.uint16)
    lut[1:] = [part_ids[p.label] for p in shape.parts]
    for record, view in zip(records, views):
        rgba = view.rgb.astype(np.float32) / 255
        alpha = rgba[..., 3:]
        bg = background_image(record["background"], view.rgb.shape[0], view.rgb.shape[1], pictures)
        seen = 1 - alpha  # how much of each pixel shows the background
        if ground is not None and record.get("shadow"):
            ground.darken(seen[..., 0], record["camera"], record["shadow"])
        rgb = np.clip(rgba[..., :3] * record["exposure"], 0, 1) * alpha + bg * seen
        yield {
            "image": np.round(rgb * 255).astype(np.uint8),
            "parts": lut[view.part],
            "instances": view.instance.astype(np.uint16),
        }


class Footprint:
    """The soft contact shadow of a shape standing on z = 0, lit from straight above.

    A camera far below the ground looks up at the shape (`camera`, drawn with the images from the
    same upload); the faces it sees give, per texel of the ground under the shape, the height of the
    lowest surface above it (their mean height: exact for the flat bottoms things stand on).
    Surfaces near the ground cast a dark, tight shadow, higher ones a faint, wide one (both Gaussian
    blurs of the covered texels). Each image darkens its background, never the shape or the masks,
    by the shadow seen through its own camera: each pixel's ray meets the ground and reads the
    texture. One small view per variant serves every image.
    """

    TEXELS = 64  # the grid under the shape
    FINE = 4  # its upsampling for the lookups

    def __init__(self, shape: CompiledShape):
        from proto3d.renderer import Camera

        lo, hi = (np.asarray(b, np.float64) for b in shape.bbox)
        self.shape, self.scale = shape, float(max(hi - lo))
        n, c = self.TEXELS, (self.TEXELS - 1) / 2
        self.centre = (lo[:2] + hi[:2]) / 2
        self.texel = (float(max(hi[:2] - lo[:2])) / 2 + 0.4 * self.scale) / (
            n / 2
        )  # metres; a margin for the wide blur
        below = 50 * self.scale  # far enough to be all but orthographic
        K = np.array([[below / self.texel, 0, c], [0, below / self.texel, c], [0, 0, 1]])
        M = np.eye(4)  # looking up +z: image x = world x, image y = world y
        M[:3, 3] = [-self.centre[0], -self.centre[1], below]
        self.camera = Camera("ground", K, M, n, n)
        self.fine = np.zeros((n * self.FINE, n * self.FINE), np.float32)

    def take(self, face: np.ndarray) -> None:
        """Make the shadow texture from the face buffer (triangle + 1) of `camera`'s view."""
        covered = face > 0
        height = np.zeros(face.shape)
        height[covered] = np.maximum(
            self.shape.vertices[self.shape.faces[face[covered] - 1], 2].mean(axis=1), 0
        )
        contact = _blur(covered * np.exp(-height / (0.05 * self.scale)), 0.03 * self.scale / self.texel)
        wide = _blur(covered * np.exp(-height / (0.5 * self.scale)), 0.12 * self.scale / self.texel)
        texture = 1 - (1 - np.clip(contact, 0, 1)) * (1 - 0.6 * np.clip(wide, 0, 1))
        self.fine = _upsample(texture, self.FINE)

    def darken(self, seen: np.ndarray, camera: dict, darkness: float) -> None:
        """Multiply `seen` (h, w), how much of each pixel shows the background, by 1 - darkness x the
        shadow that `camera` (a record's) sees.

        Pixel -> ground is a homography (the inverse of K [r1 r2 t]); the texture, upsampled
        `FINE` times once, is read at the nearest texel."""
        M, K = np.asarray(camera["world_to_camera"], np.float64), np.asarray(camera["K"], np.float64)
        if (-M[:3, :3].T @ M[:3, 3])[2] <= 0:  # a camera under the ground sees no shadow on it
            return
        c, fine = (self.TEXELS - 1) / 2, self.FINE
        to_texel = np.array(
            [
                [fine / self.texel, 0, fine * (c + 0.5 - self.centre[0] / self.texel)],
                [0, fine / self.texel, fine * (c + 0.5 - self.centre[1] / self.texel)],
                [0, 0, 1],
            ]
        )
        H = to_texel @ np.linalg.inv(K @ M[:3][:, [0, 1, 3]])  # pixel -> fine texel (times 1 / depth)
        _darken(seen, H, self.fine, float(darkness))


@njit(cache=True, nogil=True)
def _darken(seen: np.ndarray, H: np.ndarray, fine: np.ndarray, darkness: float) -> None:
    """`seen` *= 1 - darkness x the texel of `fine` that homography `H` maps each pixel to (where the
    pixel shows some background and its ground point is in front of the camera and on the texture)."""
    size = fine.shape[0]
    for y in range(seen.shape[0]):
        for x in range(seen.shape[1]):
            q = H[2, 0] * x + H[2, 1] * y + H[2, 2]
            if seen[y, x] == 0 or q <= 0:
                continue
            tx = math.floor((H[0, 0] * x + H[0, 1] * y + H[0, 2]) / q)
            ty = math.floor((H[1, 0] * x + H[1, 1] * y + H[1, 2]) / q)
            if 0 <= tx < size and 0 <= ty < size:
                seen[y, x] *= 1 - darkness * fine[ty, tx]


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of a small square image (zero outside it), as two matrix products."""
    i = np.arange(image.shape[0], dtype=np.float64)
    g = np.exp(-((i[:, None] - i[None, :]) ** 2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
    return g @ image @ g.T


def _upsample(texture: np.ndarray, factor: int) -> np.ndarray:
    """`texture` bilinearly resampled `factor` times finer."""
    n = texture.shape[0]
    x = np.clip((np.arange(n * factor) + 0.5) / factor - 0.5, 0, n - 1)
    i = np.minimum(x.astype(int), n - 2)
    f = (x - i)[:, None]
    rows = texture[i] * (1 - f) + texture[i + 1] * f  # (n * factor, n)
    fine = rows[:, i] * (1 - f.T) + rows[:, i + 1] * f.T
    return fine.astype(np.float32)


def background_image(spec: dict, h: int, w: int, pictures: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """(h, w, 3) float32 in 0..1 from a background record; `pictures`: the reduced pictures by file name."""
    if spec["kind"] == "images":
        from PIL import Image

        crop = Image.fromarray((pictures or {})[spec["file"]]).resize(
            (w, h), Image.Resampling.BILINEAR, box=tuple(spec["crop"])
        )
        return np.asarray(crop, np.float32) / 255
    c0, c1 = (np.asarray(c, np.float32) for c in spec["colors"])
    if spec["kind"] == "solid":
        return np.broadcast_to(c0, (h, w, 3))
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    if spec["kind"] == "gradient":
        a = math.radians(spec["angle"])
        t = (x - 0.5) * np.float32(math.cos(a)) + (y - 0.5) * np.float32(math.sin(a))
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    else:  # smooth value noise (bilinear over a coarse random grid, one axis at a time) plus fine grain
        g = np.random.default_rng(spec["seed"])
        n = spec["cells"]
        grid = g.random((n + 1, n + 1), dtype=np.float32)
        iy, ix = np.minimum((y[:, 0] * n).astype(int), n - 1), np.minimum((x[0] * n).astype(int), n - 1)
        fy, fx = y * n - iy[:, None].astype(np.float32), x * n - ix[None, :].astype(np.float32)
        rows = grid[iy] * (1 - fy) + grid[iy + 1] * fy  # (h, n + 1)
        t = rows[:, ix] * (1 - fx) + rows[:, ix + 1] * fx
        t = np.clip(t + g.standard_normal((h, w), dtype=np.float32) * np.float32(spec["grain"]), 0, 1)
    return c0 + (c1 - c0) * t[..., None]


def image_files(record: dict, mmseg: bool) -> dict[str, str]:
    name = f"{record['id']:07d}.png"
    files = {
        "image": f"classification/{record['split']}/{file_name(record['category'])}/{name}",
        "parts": f"segmentation/parts/{name}",
        "instances": f"segmentation/instances/{name}",
    }
    if mmseg:
        files.update(
            mmseg_image=f"segmentation/img_dir/{record['split']}/{name}",
            mmseg_ann=f"segmentation/ann_dir/{record['split']}/{name}",
        )
    return files


def add_images(
    result: Result, record: dict, images: dict, shape: CompiledShape, labelling: Labelling
) -> None:
    """Encode one image's files and complete its record: file names and hashes, instances, COCO annotations.

    The mmsegmentation image is the classification image again (a link, see `Result.links`); its
    label PNG is the part mask in 8 bits.
    """
    files = image_files(record, labelling.mmseg)
    hashes = {}
    for kind, path in files.items():
        if kind == "mmseg_image":
            result.links[path] = files["image"]
            hashes[kind] = hashes["image"]
            continue
        pixels = images["parts"].astype(np.uint8) if kind == "mmseg_ann" else images[kind]
        data = encode_png(pixels, PNG_LEVEL)
        result.files[path] = data
        hashes[kind] = hashlib.sha256(data).hexdigest()
    part_ids = labelling.part_ids
    instances = images["instances"]
    counts = np.bincount(instances.ravel(), minlength=len(shape.instances) + 1)
    record["instances"] = [
        {
            "value": i + 1,
            "name": shape.instance_name(i),
            "part": shape.parts[inst.part_id].label,
            "part_id": part_ids[shape.parts[inst.part_id].label],
            "pixels": int(counts[i + 1]),
        }
        for i, inst in enumerate(shape.instances)
    ]
    annotations = []
    for value in np.flatnonzero(counts[1:]) + 1:
        if record["instances"][value - 1]["part_id"] == labelling.ignore_index:
            continue  # a part in no class of the vocabulary: ignored, as in the masks
        mask = instances == value
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        annotations.append(
            {
                "instance": int(value),
                "category_id": record["instances"][value - 1]["part_id"],
                "area": int(counts[value]),
                "iscrowd": 0,
                "bbox": [
                    int(cols[0]),
                    int(rows[0]),
                    int(cols[-1] - cols[0] + 1),
                    int(rows[-1] - rows[0] + 1),
                ],
                "segmentation": rle_encode(mask),
            }
        )
    record.update(files=files, sha256=hashes, annotations=annotations)
    result.records.append(record)


def _rot_z(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def _rot_x(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


load_kernels_lightly(__name__)  # its cached kernels load without readying Numba's compiler
