"""`proto3d dataset --label-map`: masks in a vocabulary's ids, the mmsegmentation layout, label map errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from proto3d.cli import cli
from proto3d.dataset.build import Settings, build_dataset, regenerate
from proto3d.dataset.reader import SegmentationSet, read_png
from proto3d.grammar import Proto3dError
from proto3d.vocab import IGNORE_INDEX, load_label_map, load_vocabulary

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SETTINGS = Settings(seed=3, variants=2, views=2, size=48, val=0.5)
LABEL_MAP = """\
vocabulary = "partimagenet"

[labels]
"*leg*" = "foot"
eye = "ignore"
neck = "body"

[labels.Car]
"wind*" = "body"
cabin = "body"
"*light" = "body"
wheel = "tier"

[labels.dog]
snout = "head"
ear = "head"
"""
# What the map above must do to every label of the three examples (None: unmapped, so ignored).
EXPECTED = {
    "dog": {
        "body": "Quadruped/body",
        "ear": "Quadruped/head",
        "eye": "ignore",
        "head": "Quadruped/head",
        "leg": "Quadruped/foot",
        "neck": "Quadruped/body",
        "nose": None,
        "snout": "Quadruped/head",
        "tail": "Quadruped/tail",
    },
    "duck": {
        "bill": None,
        "body": "Bird/body",
        "collar": None,
        "eye": "ignore",
        "head": "Bird/head",
        "neck": "Bird/body",
        "tail": "Bird/tail",
        "wing": "Bird/wing",
    },
    "car": {
        "body": "Car/body",
        "cabin": "Car/body",
        "headlight": "Car/body",
        "taillight": "Car/body",
        "wheel": "Car/tier",
        "window": "Car/body",
        "windshield": "Car/body",
    },
}


def manifest(out: Path) -> dict[int, dict]:
    return {r["id"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same three examples rendered twice: with their own labels, and mapped into PartImageNet."""
    tmp = tmp_path_factory.mktemp("vocab")
    (tmp / "map.toml").write_text(LABEL_MAP)
    paths = [str(EXAMPLES / f"{name}.pdsl") for name in ("dog", "duck", "car")]
    build_dataset(paths, tmp / "free", SETTINGS, workers=1)
    summary = build_dataset(paths, tmp / "mapped", SETTINGS, workers=1, label_map=tmp / "map.toml")
    return tmp / "free", tmp / "mapped", summary


def test_label_map_masks_hold_the_vocabularys_ids_pixel_by_pixel(pair):
    free, mapped, _ = pair
    classes = load_vocabulary("partimagenet").all_labels()
    free_labels = json.loads((free / "labels.json").read_text())
    free_records, mapped_records = manifest(free), manifest(mapped)
    assert free_records.keys() == mapped_records.keys() and len(free_records) == 3 * 2 * 2
    for image_id, r in free_records.items():
        m = mapped_records[image_id]
        lut = np.full(len(free_labels["parts"]) + 1, -1)
        lut[0] = 0
        for p in free_labels[
            "parts"
        ]:  # the free id of each (category, label) -> the vocabulary id it must become
            target = EXPECTED[p["category"]][p["label"]]
            lut[p["id"]] = IGNORE_INDEX if target in (None, "ignore") else classes.index(target) + 1
        free_parts, mapped_parts = (
            read_png(free / r["files"]["parts"]),
            read_png(mapped / m["files"]["parts"]),
        )
        assert np.array_equal(mapped_parts, lut[free_parts]), image_id
        assert np.array_equal(
            read_png(mapped / m["files"]["instances"]), read_png(free / r["files"]["instances"])
        )
        assert (mapped / m["files"]["image"]).read_bytes() == (free / r["files"]["image"]).read_bytes()
        assert {i["part"]: i["part_id"] for i in m["instances"]} == {
            label: IGNORE_INDEX if t in (None, "ignore") else classes.index(t) + 1
            for label, t in EXPECTED[r["category"]].items()
            if label in {i["part"] for i in r["instances"]}
        }
    assert any(IGNORE_INDEX in read_png(mapped / m["files"]["parts"]) for m in mapped_records.values())


def test_label_map_labels_coco_and_counts(pair):
    _, mapped, summary = pair
    labels = json.loads((mapped / "labels.json").read_text())
    classes = load_vocabulary("partimagenet").all_labels()
    assert [p["name"] for p in labels["parts"]] == classes and [p["id"] for p in labels["parts"]] == list(
        range(1, 41)
    )
    assert (
        labels["ignore_index"] == 255 and labels["vocabulary"] == "partimagenet" and labels["background"] == 0
    )
    assert [(c["name"], c["super_category"]) for c in labels["categories"]] == [
        ("car", "Car"),
        ("dog", "Quadruped"),
        ("duck", "Bird"),
    ]
    assert [p["name"] for p in labels["categories"][0]["parts"]] == [
        "Car/body",
        "Car/tier",
        "Car/side mirror",
    ]
    meta = json.loads((mapped / "dataset.json").read_text())["labels"]["label_map"]
    assert meta["labels"] == EXPECTED
    assert meta["unmapped"] == {
        "dog": ["nose"],
        "duck": ["collar", "bill"],
    }  # in the order the programs use them
    assert (meta["unmapped_labels"], meta["ignored_labels"]) == (3, 2)
    assert (summary["vocabulary"], summary["unmapped_labels"], summary["parts"]) == ("partimagenet", 3, 40)
    records = manifest(mapped)
    for split in ("train", "val"):
        coco = json.loads((mapped / f"coco_{split}.json").read_text())
        assert [(c["id"], c["name"], c["supercategory"]) for c in coco["categories"]] == [
            (i, name, name.split("/")[0]) for i, name in enumerate(classes, start=1)
        ]
        for a in coco["annotations"]:
            assert 1 <= a["category_id"] <= 40
        expected = sum(
            1
            for image in coco["images"]
            for i in records[image["id"]]["instances"]
            if i["pixels"] and i["part_id"] != IGNORE_INDEX
        )
        assert len(coco["annotations"]) == expected > 0


def test_mmsegmentation_layout_loads(pair):
    for out in pair[:2]:
        records = manifest(out)
        for split in ("train", "val"):
            images = sorted(p.name for p in (out / "segmentation" / "img_dir" / split).glob("*.png"))
            # mmsegmentation's CustomDataset: every image in img_dir has its label map of the same name in ann_dir
            assert images == sorted(p.name for p in (out / "segmentation" / "ann_dir" / split).glob("*.png"))
            assert images == [f"{i:07d}.png" for i, r in sorted(records.items()) if r["split"] == split] != []
        for r in records.values():
            image, ann = out / r["files"]["mmseg_image"], out / r["files"]["mmseg_ann"]
            assert image.read_bytes() == (out / r["files"]["image"]).read_bytes()
            assert image.stat().st_ino == (out / r["files"]["image"]).stat().st_ino  # a hard link, not a copy
            with Image.open(ann) as png:
                assert png.mode == "L" and png.size == (48, 48)
                label = np.array(png)
            assert label.dtype == np.uint8 and np.array_equal(label, read_png(out / r["files"]["parts"]))
            assert set(np.unique(label)) <= set(range(41)) | {255}


def test_regenerate_a_mapped_image(pair, tmp_path):
    _, mapped, _ = pair
    report = regenerate(mapped, 5, tmp_path)
    assert sorted(report) == ["image", "instances", "mmseg_ann", "parts"] and all(
        r["identical"] for r in report.values()
    )


def test_segmentation_reader_names_mapped_ids(pair):
    data = SegmentationSet(pair[1], split=None)
    assert data.ignore_index == 255 and data.part_names[1] == "Quadruped/head" and len(data.part_names) == 41
    assert SegmentationSet(pair[0]).ignore_index is None


def map_error(tmp_path, text: str) -> str:
    path = tmp_path / "map.toml"
    path.write_text(text)
    with pytest.raises(Proto3dError) as caught:
        load_label_map(path)
    return caught.value.format().removeprefix(f"{path}: ")  # an error in the map file itself names it


def test_bad_label_maps_name_the_key_and_what_was_expected(tmp_path):
    assert map_error(tmp_path, '[labels]\nx = "head"\n') == (
        "error V003: `vocabulary` is missing\n  expected: the name of a shipped vocabulary or the path of its .toml file"
    )
    assert map_error(tmp_path, 'vocabulary = "partimagenet"\n[labels.Car]\nwheel = "wheel"\n') == (
        "error V003: `labels.Car.wheel` is 'wheel'\n  expected: one of body, side mirror, tier, or \"ignore\""
    )
    assert map_error(tmp_path, 'vocabulary = "partimagenet"\n[labels]\nwheel = "wheels"\n').startswith(
        "error V003: `labels.wheel` is 'wheels'\n  expected: one of body, engine, fin, foot, hand, head, mouth, "
    )
    assert map_error(tmp_path, 'vocabulary = "partimagenet"\n[labels.chair]\nseat = "body"\n') == (
        "error V003: `labels.chair` is 'chair'\n  expected: a table named after a group or a category of the vocabulary"
    )
    assert map_error(
        tmp_path, 'vocabulary = "partimagenet"\n[categories]\nchair = "Chair"\n[labels]\n'
    ).startswith(
        "error V003: `categories.chair` is 'Chair'\n  expected: one of the groups of partimagenet: Quadruped, Biped, "
    )
    assert map_error(tmp_path, 'vocabulary = "imagenet"\n') == (
        "error V003: `vocabulary` is 'imagenet'\n  expected: one of partimagenet, or a path to a .toml file"
    )
    (tmp_path / "mine.toml").write_text('[parts.Seat]\nseat = "what you sit on"\n')
    mine = tmp_path / "map2.toml"
    mine.write_text(
        'vocabulary = "mine.toml"  # relative to the map\n[categories]\nchair = "Seat"\n[labels]\n"*" = "seat"\n'
    )
    assert load_label_map(mine).class_id("chair", "anything") == 1


def test_a_category_outside_the_vocabulary_is_an_input_error(tmp_path):
    (tmp_path / "map.toml").write_text('vocabulary = "partimagenet"\n[labels]\nleg = "foot"\n')
    result = CliRunner().invoke(
        cli,
        [
            "dataset",
            str(EXAMPLES / "chair.pdsl"),
            "-o",
            str(tmp_path / "out"),
            "-q",
            "--label-map",
            str(tmp_path / "map.toml"),
        ],
    )
    assert result.exit_code == 1 and not (tmp_path / "out").exists()
    assert result.stderr == (
        f"{tmp_path / 'map.toml'}: error V005: category `chair` has no super-category in the vocabulary `partimagenet`\n"
        "  expected: one of its groups: Quadruped, Biped, Fish, Bird, Snake, Reptile, Car, Bicycle, Boat, Aeroplane, Bottle\n"
        f'  hint: add `"chair" = "GROUP"` under [categories] in {tmp_path / "map.toml"}, or leave its prototypes out\n'
    )


def test_label_map_on_the_command_line_and_resume(tmp_path):
    shutil.copy(EXAMPLES / "bottle.pdsl", tmp_path)
    (tmp_path / "map.toml").write_text('vocabulary = "partimagenet"\n[labels]\n"*" = "mouth"\n')
    args = [
        "dataset",
        str(tmp_path / "bottle.pdsl"),
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
        "--label-map",
        str(tmp_path / "map.toml"),
    ]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith(
        "1 images (1 train, 0 val), 1 categories, 40 part labels of partimagenet (0 unmapped) -> "
    )
    (tmp_path / "map.toml").write_text('vocabulary = "partimagenet"\n[labels]\n"*" = "ignore"\n')
    other = CliRunner().invoke(cli, args)  # the map changed what a label becomes: not the same dataset
    assert other.exit_code == 1 and "holds a dataset made with other settings or prototypes" in other.stderr


def test_a_vocabulary_name_is_the_map_without_rules(tmp_path):
    """Programs the decomposer wrote with `--vocab partimagenet` already use its labels: no rules needed."""
    (tmp_path / "bottle.pdsl").write_text(
        'shape "bottle"\npart body { cylinder(r=0.04, h=0.2, align="bottom") }\n'
        'part mouth { cylinder(r=0.015, h=0.05, at=[0, 0, 0.2], align="bottom") }\n'
        'part other { box(size=[0.02, 0.001, 0.05], at=[0, -0.04, 0.05], align="bottom") }\n'
    )
    mapped = load_label_map("partimagenet")
    assert [mapped.class_id("bottle", label) for label in ("body", "mouth", "other", "label")] == [
        39,
        40,
        255,
        255,
    ]
    assert mapped.target("bottle", "other") == "ignore" and mapped.target("bottle", "label") is None
    build_dataset(
        [str(tmp_path / "bottle.pdsl")],
        tmp_path / "out",
        Settings(variants=1, views=1, size=32),
        workers=1,
        label_map="partimagenet",
    )
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())["labels"]["label_map"]
    assert meta["labels"] == {"bottle": {"body": "Bottle/body", "mouth": "Bottle/mouth", "other": "ignore"}}
    assert meta["unmapped_labels"] == 0 and meta["ignored_labels"] == 1
