"""Train/val splits without leakage (`--split-by design|variant`) and the agent's several designs per category."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from proto3d.cli import cli
from proto3d.dataset.build import Settings, build_dataset, find_prototypes
from proto3d.dataset.task import plan, split_warnings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DESIGNS = {
    "windsor": "chair",
    "folding": "stool",
    "office": "office_chair",
    "bar": "stool",
    "lounge": "chair",
}


def agent_runs(root: Path, designs: dict[str, str]) -> Path:
    """What `proto3d agent chair --designs K -o runs/` leaves: runs/chair/<design>/ plus a K = 1 run of mug."""
    for design, example in designs.items():
        (root / "chair" / design / "final").mkdir(parents=True)
        shutil.copy(EXAMPLES / f"{example}.pdsl", root / "chair" / design / "final" / "program.pdsl")
        (root / "chair" / design / "run.json").write_text(json.dumps({"category": "chair", "design": design}))
    (root / "mug" / "final").mkdir(parents=True)
    shutil.copy(EXAMPLES / "mug.pdsl", root / "mug" / "final" / "program.pdsl")
    (root / "mug" / "run.json").write_text(json.dumps({"category": "mug"}))
    return root


def test_agent_designs_are_prototypes_of_their_category(tmp_path):
    runs = agent_runs(tmp_path / "runs", DESIGNS)
    shutil.copytree(
        runs / "chair" / "bar", runs / "office-chair" / "mesh-back"
    )  # the folder of "office chair" designs
    (runs / "office-chair" / "mesh-back" / "run.json").write_text(json.dumps({"category": "office chair"}))
    shutil.copytree(
        runs / "chair" / "bar", tmp_path / "mine" / "seating" / "run-1"
    )  # filed by hand in another category
    found = find_prototypes([runs, tmp_path / "mine"])
    assert [(p.category, p.name) for p in found] == [
        ("chair", "bar"),
        ("chair", "folding"),
        ("chair", "lounge"),
        ("chair", "office"),
        ("chair", "windsor"),
        ("mug", "mug"),
        ("office chair", "mesh_back"),
        ("seating", "run_1"),
    ]
    assert (
        found[0].text == (EXAMPLES / "stool.pdsl").read_text()
        and found[0].file == "prototypes/chair/bar.pdsl"
    )


def splits(tmp_path: Path, split_by: str, designs=DESIGNS) -> tuple[list, list[dict]]:
    runs = agent_runs(tmp_path / f"runs-{split_by}", designs)
    settings = Settings(seed=2, variants=5, views=1, size=16, val=0.2, split_by=split_by)
    summary = build_dataset([runs], tmp_path / f"out-{split_by}", settings, workers=1)
    lines = (tmp_path / f"out-{split_by}" / "manifest.jsonl").read_text().splitlines()
    return summary, [json.loads(line) for line in lines]


@pytest.mark.parametrize("split_by", ["design", "variant"])
def test_no_shape_is_in_both_splits(tmp_path, split_by):
    summary, records = splits(tmp_path, split_by)
    shapes = {
        split: {(r["prototype"], r["variant"]) for r in records if r["split"] == split}
        for split in ("train", "val")
    }
    assert shapes["train"] and shapes["val"] and not shapes["train"] & shapes["val"]
    assert len(shapes["train"]) + len(shapes["val"]) == 6 * 5
    chairs = {
        split: {r["prototype"] for r in records if r["split"] == split and r["category"] == "chair"}
        for split in ("train", "val")
    }
    mugs = {r["variant"] for r in records if r["split"] == "val" and r["category"] == "mug"}
    assert len(mugs) == 1  # one design: split by variant, round(0.2 * 5) of them
    if split_by == "design":  # a whole design in val, round(0.2 * 5) of the five, all its variants
        assert len(chairs["val"]) == 1 and not chairs["train"] & chairs["val"] and len(chairs["train"]) == 4
        val = next(iter(chairs["val"]))
        assert sorted(r["variant"] for r in records if r["prototype"] == val) == [0, 1, 2, 3, 4]
    else:  # every design has a variant in val, so the designs are in both splits
        assert chairs["val"] == chairs["train"] and len(chairs["val"]) == 5
    assert summary["val"] == len(shapes["val"])


def test_split_warnings(tmp_path):
    two = agent_runs(tmp_path / "two", {"windsor": "chair", "folding": "stool"})
    tasks, _ = plan(find_prototypes([two]), Settings(variants=5, val=0.2))
    assert split_warnings(tasks, Settings(variants=5, val=0.2)) == [
        "--val 0.2 of 2 designs per category rounds to none: the val split will have no images of chair "
        "(it takes 3 or more designs)"
    ]
    settings = Settings(variants=2, val=0.2, split_by="variant")
    tasks, _ = plan(find_prototypes([two, EXAMPLES / "dog.pdsl"]), settings)
    assert split_warnings(tasks, settings) == [
        "--val 0.2 of 2 variants per prototype rounds to none: the val split will be empty (it takes 3 or more --variants)"
    ]
    settings = Settings(variants=5, val=0.2, split_by="variant")
    tasks, _ = plan(find_prototypes([two, EXAMPLES / "dog.pdsl"]), settings)
    assert split_warnings(tasks, settings) == [
        "dog has no `param`: every variant is the same shape, so val images show shapes the train split has "
        "(give the category several designs, or add params)"
    ]
    assert split_warnings(tasks, Settings(variants=5, val=0, split_by="variant")) == []


def test_split_by_on_the_command_line(tmp_path):
    runs = agent_runs(tmp_path / "runs", {"windsor": "chair", "folding": "stool"})
    args = [
        "dataset",
        str(runs),
        "--variants",
        "2",
        "--views",
        "1",
        "--size",
        "16",
        "-j",
        "1",
        "-q",
        "--json",
    ]
    design = CliRunner().invoke(cli, args + ["-o", str(tmp_path / "design"), "--val", "0.5"])
    assert design.exit_code == 0 and design.stderr == "", design.output
    assert (
        json.loads(design.stdout)["val"] == 2 + 1
    )  # one chair design (2 variants) and one of the mug's 2 variants
    empty = CliRunner().invoke(cli, args + ["-o", str(tmp_path / "variant"), "--split-by", "variant"])
    assert empty.exit_code == 0 and empty.stderr == (
        "warning: --val 0.2 of 2 variants per prototype rounds to none: the val split will be empty "
        "(it takes 3 or more --variants)\n"
    )
    bad = CliRunner().invoke(cli, args + ["-o", str(tmp_path / "bad"), "--split-by", "shape"])
    assert bad.exit_code == 2 and "'--split-by': 'shape' is not one of 'design', 'variant'" in bad.stderr
