"""`proto3d dataset`: layout, masks vs the renderer's ID buffers, COCO, manifest, regeneration, resume."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from proto3d.cli import cli
from proto3d.compiler import compile_text
from proto3d.dataset.build import Settings, build_dataset, find_prototypes, regenerate
from proto3d.dataset.reader import SegmentationSet, decode_png, encode_png, read_png, rle_decode, rle_encode
from proto3d.dataset.task import plan, run_task
from proto3d.grammar import Proto3dError
from proto3d.renderer import Camera, render

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SETTINGS = Settings(seed=5, variants=2, views=2, size=64, val=0.3)


def sources(tmp: Path) -> list[str]:
    """chair and stool (params, one an integer) in a category folder `seating`, and a loose mug."""
    (tmp / "src" / "seating").mkdir(parents=True)
    for name in ("chair", "stool"):
        shutil.copy(EXAMPLES / f"{name}.pdsl", tmp / "src" / "seating")
    return [str(tmp / "src"), str(EXAMPLES / "mug.pdsl")]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dataset")
    paths = sources(tmp)
    summary = build_dataset(paths, tmp / "out", SETTINGS, workers=1)
    return paths, tmp / "out", summary


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_layout_and_label_map(made):
    _, out, summary = made
    records = manifest(out)
    assert summary["complete"] and summary["images"] == len(records) == 3 * 2 * 2
    assert [r["id"] for r in records] == list(range(12))
    labels = json.loads((out / "labels.json").read_text())
    assert [c["name"] for c in labels["categories"]] == ["mug", "seating"]  # ImageFolder's sorted class order
    assert [p["id"] for p in labels["parts"]] == list(range(1, len(labels["parts"]) + 1))
    seating = {p["label"] for p in labels["parts"] if p["category"] == "seating"}
    assert seating == {
        p.label
        for name in ("chair", "stool")
        for p in compile_text((EXAMPLES / f"{name}.pdsl").read_text()).parts
    }
    for r in records:
        image = Image.open(out / r["files"]["image"])
        assert image.size == (64, 64) and image.mode == "RGB"
        assert r["files"]["image"] == f"classification/{r['split']}/{r['category']}/{r['id']:07d}.png"
        assert {
            x["split"] for x in records if x["variant"] == r["variant"] and x["prototype"] == r["prototype"]
        } == {r["split"]}
    assert {r["split"] for r in records} == {"train", "val"}
    for r in records:  # the masks read the same through Pillow and through the numpy-only reader
        for kind in ("parts", "instances"):
            assert np.array_equal(
                np.array(Image.open(out / r["files"][kind])), read_png(out / r["files"][kind])
            )


def test_masks_agree_with_the_renderers_id_buffers(made):
    _, out, _ = made
    labels = json.loads((out / "labels.json").read_text())
    for r in manifest(out):
        shape = compile_text((out / r["prototype"]).read_text(), params=r["params"])
        cam = r["camera"]
        view = render(
            shape,
            [Camera("c", cam["K"], cam["world_to_camera"], cam["width"], cam["height"])],
            size=64,
            passes=["part", "instance"],
        ).views[0]
        ids = {p["label"]: p["id"] for p in labels["parts"] if p["category"] == r["category"]}
        lut = np.array([0] + [ids[p.label] for p in shape.parts])
        parts, instances = read_png(out / r["files"]["parts"]), read_png(out / r["files"]["instances"])
        assert np.array_equal(parts, lut[view.part]) and np.array_equal(instances, view.instance)
        assert np.array_equal(parts > 0, instances > 0)
        image = read_png(out / r["files"]["image"]).astype(int)
        assert parts.any()
        for i, inst in enumerate(r["instances"]):  # the record names every instance value
            assert inst["name"] == shape.instance_name(i) and inst["pixels"] == int(
                (instances == i + 1).sum()
            )
        # the object, not the background, is what differs from the background colour in a solid image
        # (which the ground's shadow only darkens)
        if r["background"]["kind"] == "solid":
            bg = np.round(np.array(r["background"]["colors"][0]) * 255)
            away = (image[parts == 0] - bg)[~_near_object(parts)]
            assert np.all(away <= 1) and np.all(
                away >= -1 if r["shadow"] is None else away >= -255 * r["shadow"] - 1
            )


def _near_object(parts: np.ndarray) -> np.ndarray:
    """Background pixels next to the object (anti-aliased edges), on the background pixel grid."""
    near = parts > 0
    grown = near.copy()
    for axis in (0, 1):
        for shift in (1, -1):
            grown |= np.roll(near, shift, axis=axis)
    return grown[parts == 0]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools on NumPy 2
def test_coco_annotations_match_the_masks(made):
    _, out, _ = made
    records = {r["id"]: r for r in manifest(out)}
    labels = json.loads((out / "labels.json").read_text())
    seen = 0
    for split in ("train", "val"):
        coco = json.loads((out / f"coco_{split}.json").read_text())
        assert {c["id"] for c in coco["categories"]} == {p["id"] for p in labels["parts"]}
        assert len({a["id"] for a in coco["annotations"]}) == len(coco["annotations"])
        for a in coco["annotations"]:
            r = records[a["image_id"]]
            instances = read_png(out / r["files"]["instances"])
            mask = instances == a["instance"]
            assert np.array_equal(rle_decode(a["segmentation"]), mask)
            assert a["area"] == int(mask.sum()) > 0
            assert a["category_id"] == int(read_png(out / r["files"]["parts"])[mask][0])
            x, y, w, h = a["bbox"]
            assert (
                mask[y : y + h, x : x + w].sum() == a["area"]
                and mask[y, x : x + w].any()
                and mask[y : y + h, x].any()
            )
        visible = sum(
            len(np.unique(read_png(out / records[i["id"]]["files"]["instances"]))) - 1 for i in coco["images"]
        )
        assert len(coco["annotations"]) == visible
        seen += len(coco["images"])
        try:
            from pycocotools import mask as cocomask
            from pycocotools.coco import COCO
        except ImportError:
            continue
        api = COCO(str(out / f"coco_{split}.json"))
        for a in api.loadAnns(api.getAnnIds()):
            assert cocomask.area(a["segmentation"]) == a["area"]
            assert np.array_equal(api.annToMask(a).astype(bool), rle_decode(a["segmentation"]))
    assert seen == len(records)


def test_regenerate_reproduces_the_same_bytes(made, tmp_path):
    _, out, _ = made
    for image_id in (0, 7, 11):
        report = regenerate(out, image_id, tmp_path)
        assert all(row["identical"] for row in report.values())
        r = next(r for r in manifest(out) if r["id"] == image_id)
        assert Path(report["image"]["path"]).read_bytes() == (out / r["files"]["image"]).read_bytes()
    result = CliRunner().invoke(
        cli, ["dataset", "-o", str(out), "--regenerate", "3", "--into", str(tmp_path)]
    )
    assert (
        result.exit_code == 0 and result.output.count("identical") == 4
    )  # image, parts, instances, mmseg_ann
    with pytest.raises(Proto3dError, match="no image 99"):
        regenerate(out, 99, tmp_path)


def test_resume_after_an_interruption_loses_and_duplicates_nothing(made, tmp_path):
    paths, full, _ = made
    out = tmp_path / "out"
    first = build_dataset(paths, out, SETTINGS, workers=1, limit=2)  # stops as a kill would, between tasks
    assert not first["complete"] and first["images"] == 4 and not (out / "manifest.jsonl").exists()
    assert all(
        row["identical"] for row in regenerate(out, 3, tmp_path / "again").values()
    )  # unfinished runs too
    # a kill during a task leaves temporary files and images without a record: both are redone
    (out / "classification" / "train" / "mug").mkdir(parents=True, exist_ok=True)
    leftover = out / "classification" / "train" / "mug" / ".0000011.png.1234.tmp"
    leftover.write_bytes(b"half")
    seen = []
    second = build_dataset(paths, out, SETTINGS, workers=1, on_progress=lambda done, total: seen.append(done))
    assert second["complete"] and second["new_images"] == 8 and seen[0] == 4 and seen[-1] == 12
    assert not leftover.exists()
    assert (out / "manifest.jsonl").read_bytes() == (full / "manifest.jsonl").read_bytes()
    for name in ("coco_train.json", "coco_val.json", "labels.json"):
        assert (out / name).read_bytes() == (full / name).read_bytes()
    assert len(list((out / "segmentation" / "parts").glob("*.png"))) == 12
    third = build_dataset(paths, out, SETTINGS, workers=1)
    assert third["new_images"] == 0 and third["complete"]
    with pytest.raises(Proto3dError, match="other settings"):
        build_dataset(paths, out, Settings(seed=6, variants=2, views=2, size=64), workers=1)


def test_random_choices_follow_the_seed(made, tmp_path):
    paths, full, _ = made
    tasks, _ = plan(find_prototypes(paths), SETTINGS)
    again = run_task(tasks[0], SETTINGS)
    recorded = [r for r in manifest(full) if r["id"] in (0, 1)]
    for r in again.records:
        r.pop("annotations")
    assert again.records == recorded
    other = run_task(tasks[0], Settings(seed=6, variants=2, views=2, size=64))
    assert (
        other.records[0]["camera"] != recorded[0]["camera"]
        and other.records[0]["params"] != recorded[0]["params"]
    )


def test_find_prototypes(tmp_path):
    runs = tmp_path / "runs"
    (runs / "office-chair" / "final").mkdir(parents=True)
    shutil.copy(EXAMPLES / "chair.pdsl", runs / "office-chair" / "final" / "program.pdsl")
    (runs / "office-chair" / "run.json").write_text(json.dumps({"category": "office chair"}))
    (runs / "mugs" / "old").mkdir(parents=True)
    shutil.copy(EXAMPLES / "mug.pdsl", runs / "mugs" / "a.pdsl")
    shutil.copy(EXAMPLES / "mug.pdsl", runs / "mugs" / "old" / "a.pdsl")
    shutil.copytree(runs / "office-chair", runs / "mugs" / "run-7")  # a run filed under a category folder
    shutil.copy(EXAMPLES / "bowl.pdsl", runs)
    found = find_prototypes([runs, EXAMPLES / "stool.pdsl"])
    assert [(p.category, p.name) for p in found] == [
        ("bowl", "bowl"),
        ("mugs", "a"),
        ("mugs", "a_2"),
        ("mugs", "run_7"),
        ("office chair", "office_chair"),
        ("stool", "stool"),
    ]
    assert found[4].file == "prototypes/office_chair/office_chair.pdsl"
    assert found[4].text == (EXAMPLES / "chair.pdsl").read_text()
    assert [p.category for p in find_prototypes([runs / "office-chair"])] == ["office chair"]
    examples = find_prototypes([EXAMPLES])  # a folder of loose programs: one category each
    assert sorted(p.category for p in examples) == sorted(p.stem for p in EXAMPLES.glob("*.pdsl"))
    with pytest.raises(Proto3dError, match="no such file"):
        find_prototypes([tmp_path / "nothing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(Proto3dError, match="no prototypes"):
        find_prototypes([tmp_path / "empty"])


def test_dataset_command(tmp_path):
    out = tmp_path / "out"
    args = [
        "dataset",
        str(EXAMPLES / "stool.pdsl"),
        "-o",
        str(out),
        "--variants",
        "1",
        "--views",
        "2",
        "--size",
        "32",
        "-j",
        "1",
        "-q",
        "--json",
        "--backgrounds",
        "noise",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["images"] == 2
    assert {r["background"]["kind"] for r in manifest(out)} == {"noise"}
    bad = CliRunner().invoke(cli, args[:-1] + ["plaid"])
    assert bad.exit_code != 0 and "solid, gradient, noise" in bad.output


def test_segmentation_reader(made):
    _, out, _ = made
    data = SegmentationSet(out, split="val")
    assert 0 < len(data) < 12
    sample = data[0]
    assert sample["image"].shape == (64, 64, 3) and sample["parts"].dtype == np.uint16
    assert data.categories[sample["category"]] == sample["record"]["category"]
    names = {data.part_names[i] for i in np.unique(sample["parts"])}
    assert "background" in names and all(
        n == "background" or n.startswith(sample["record"]["category"] + "/") for n in names
    )


def test_png_codec_and_rle_against_pillow_and_pycocotools():
    rng = np.random.default_rng(0)
    for array in (
        rng.integers(0, 256, (9, 13, 3), dtype=np.uint8),
        rng.integers(0, 65536, (7, 5), dtype=np.uint16),
        rng.integers(0, 256, (4, 6, 4), dtype=np.uint8),
        np.zeros((3, 3), np.uint8),
    ):
        data = encode_png(array)
        assert np.array_equal(decode_png(data), array)
        assert np.array_equal(np.array(Image.open(io.BytesIO(data))).astype(array.dtype), array)
    with pytest.raises(ValueError):
        decode_png(b"not a png")
    masks = [rng.random((h, w)) < p for h, w, p in ((5, 7, 0.5), (1, 1, 1.0), (6, 3, 0.0), (40, 33, 0.9))]
    for mask in masks:
        assert np.array_equal(rle_decode(rle_encode(mask)), mask)
    try:
        from pycocotools import mask as cocomask
    except ImportError:
        return
    for mask in masks:
        assert (
            rle_encode(mask)["counts"]
            == cocomask.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode()
        )


GROWS_A_PART = """\
shape "lamp"
param arms = 1 in [1, 3]
part base { box(size=[0.3, 0.3, 0.1], at=[0, 0, 0], align="bottom") }
if arms > 1 {
    part arm { box(size=[0.05, 0.05, 0.4], at=[0, 0, 0.1], align="bottom") }
}
"""


def test_a_task_error_with_one_worker_is_the_tasks_own_message(tmp_path):
    """One worker runs tasks in process: their errors are diagnostics, not `'tuple' object has no attribute`."""
    with pytest.raises(Proto3dError) as err:
        build_dataset(
            [str(EXAMPLES / "stool.pdsl")],
            tmp_path / "big",
            Settings(variants=1, views=1, size=4096),
            workers=1,
        )
    assert err.value.diagnostics[0].code == "R003"
    assert (
        err.value.diagnostics[0].message
        == "image width must be a whole number of pixels from 16 to 2048, got 4096"
    )
    src = tmp_path / "lamp.pdsl"
    src.write_text(GROWS_A_PART)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "proto3d.cli",
            "dataset",
            str(src),
            "-o",
            str(tmp_path / "lamp"),
            "--variants",
            "3",
            "--views",
            "1",
            "--size",
            "32",
            "-j",
            "1",
            "-q",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        f"{src}: error E000: variant 0 of {src} has part `arm`, which its defaults do not build"
        in result.stderr
    ), result.stderr


def test_options_beyond_the_renderers_limits_are_usage_errors(tmp_path):
    args = ["dataset", str(EXAMPLES / "stool.pdsl"), "-o", str(tmp_path / "out"), "-j", "1", "-q"]
    result = CliRunner().invoke(cli, args + ["--size", "4096"])
    assert (
        result.exit_code == 2
        and "Invalid value for '--size': 4096 is not in the range 16<=x<=2048" in result.output
    )
    assert not (tmp_path / "out").exists()
    big = CliRunner().invoke(cli, args + ["--size", "2048", "--views", "100"])
    assert big.exit_code == 1 and big.stderr.startswith(
        "error R012: --views 100 images of 2048x2048 per variant need about 2,992 MB of memory; the limit is 2,048 MB"
    )
    assert not (tmp_path / "out").exists()


def test_too_few_variants_for_a_val_split_warn(tmp_path):
    args = [
        "dataset",
        str(EXAMPLES / "stool.pdsl"),
        "--views",
        "1",
        "--size",
        "32",
        "-j",
        "1",
        "-q",
        "--json",
    ]
    result = CliRunner().invoke(cli, args + ["-o", str(tmp_path / "two"), "--variants", "2"])
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "warning: --val 0.2 of 2 variants per prototype rounds to none: the val split will be "
        "empty (it takes 3 or more --variants)\n"
    )
    assert json.loads(result.stdout)["val"] == 0
    three = CliRunner().invoke(cli, args + ["-o", str(tmp_path / "three"), "--variants", "3"])
    assert three.exit_code == 0 and three.stderr == "" and json.loads(three.stdout)["val"] == 1


def test_a_used_folder_is_refused_and_overwrite_removes_only_the_old_datasets_files(tmp_path):
    out = tmp_path / "out"
    args = [
        "dataset",
        str(EXAMPLES / "stool.pdsl"),
        "-o",
        str(out),
        "--views",
        "2",
        "--size",
        "32",
        "-j",
        "1",
        "-q",
        "--json",
    ]
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    refused = CliRunner().invoke(cli, args + ["--variants", "2"])
    assert refused.exit_code == 2 and "is not empty; give --overwrite" in refused.output
    first = CliRunner().invoke(cli, args + ["--variants", "2", "--overwrite"])
    assert first.exit_code == 0, first.output
    old_images = sorted(p.relative_to(out) for p in out.rglob("*.png"))
    assert len(old_images) == 2 * 2 * 5  # image, parts, instances, mmseg image and label
    resumed = CliRunner().invoke(cli, args + ["--variants", "2"])  # the same dataset: resumed, nothing to do
    assert resumed.exit_code == 0 and json.loads(resumed.stdout)["new_images"] == 0
    other = CliRunner().invoke(cli, args + ["--variants", "1"])
    assert other.exit_code == 1 and "holds a dataset made with other settings" in other.stderr
    assert "or give --overwrite to replace it" in other.stderr
    replaced = CliRunner().invoke(cli, args + ["--variants", "1", "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert (out / "notes.txt").read_text() == "mine"
    records = manifest(out)
    assert len(records) == 2
    assert sorted(p.relative_to(out) for p in out.rglob("*.png")) == sorted(
        Path(name) for r in records for name in r["files"].values()
    )
    assert sorted(p.name for p in (out / "tasks").iterdir()) == ["stool-stool-00000.json"]


def test_running_out_of_memory_is_a_message(tmp_path, monkeypatch):
    import proto3d.dataset.build as dataset

    def exhausted(task, settings):
        raise MemoryError

    monkeypatch.setattr(dataset, "run_task", exhausted)
    result = CliRunner().invoke(
        cli,
        [
            "dataset",
            str(EXAMPLES / "stool.pdsl"),
            "-o",
            str(tmp_path / "out"),
            "--variants",
            "1",
            "--views",
            "1",
            "--size",
            "32",
            "-j",
            "1",
            "-q",
        ],
    )
    assert result.exit_code == 1 and "error R013: the machine ran out of memory" in result.stderr
    assert "finished tasks are kept and resumed" in result.stderr
