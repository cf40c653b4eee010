"""Datasets that train well: framing by --fill, background pictures, the ground's contact shadow."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from proto3d.cli import cli
from proto3d.dataset.build import Settings, build_dataset, regenerate
from proto3d.dataset.reader import read_png
from proto3d.dataset.task import FORMAT_VERSION
from proto3d.grammar import Proto3dError

ROOT = Path(__file__).resolve().parents[2]
PROTOTYPES = [str(ROOT / "examples" / f"{name}.pdsl") for name in ("chair", "mug", "table")]
# no anti-aliasing, so an object pixel is wholly the object's; low cameras, so the ground under the
# object is seen below its top
SETTINGS = Settings(
    seed=3,
    variants=1,
    views=4,
    size=64,
    val=0,
    antialias="none",
    backgrounds=("solid", "gradient"),
    elevation=(5.0, 20.0),
)


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def pixels(out: Path, record: dict, kind: str) -> np.ndarray:
    return read_png(out / record["files"][kind])


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same dataset with and without the ground."""
    tmp = tmp_path_factory.mktemp("ground")
    for ground in (True, False):
        build_dataset(PROTOTYPES, tmp / str(ground), dataclasses.replace(SETTINGS, ground=ground), workers=1)
    return tmp / "True", tmp / "False"


def test_the_object_fills_the_drawn_fraction_of_the_image(pair):
    out = pair[0]
    records = manifest(out)
    fills = []
    for r in records:
        mask = pixels(out, r, "parts") > 0
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        extent = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
        assert abs(extent - r["camera"]["fill"] * SETTINGS.size) <= 2, (r["id"], extent, r["camera"]["fill"])
        assert not (
            mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()
        )  # whole in the frame
        fills.append(r["camera"]["fill"])
    assert (
        min(fills) >= 0.3 and max(fills) <= 0.8 and max(fills) - min(fills) > 0.2
    )  # drawn in the default range


def test_the_ground_shadow_darkens_only_the_background_under_the_object(pair):
    on, off = pair
    for r_on, r_off in zip(manifest(on), manifest(off)):
        assert r_on["camera"] == r_off["camera"] and r_on["background"] == r_off["background"]
        assert r_on["shadow"] > 0 and r_off["shadow"] is None
        for kind in ("parts", "instances"):  # the masks are exactly as without the ground
            assert (on / r_on["files"][kind]).read_bytes() == (off / r_off["files"][kind]).read_bytes()
        mask = pixels(on, r_on, "parts") > 0
        lit, shaded = pixels(off, r_off, "image").astype(int), pixels(on, r_on, "image").astype(int)
        assert np.array_equal(lit[mask], shaded[mask])  # object pixels unchanged
        darkening = (lit - shaded).sum(axis=-1)
        assert darkening.min() >= 0  # the shadow only darkens
        rows = np.flatnonzero(mask.any(axis=1))
        near = ~mask & _dilate(mask, 2)
        near[: (rows[0] + rows[-1]) // 2] = False  # beside the lower half of the object: its base
        far = ~mask
        far[rows[0] :] = False  # above the object's top: far from the ground under it
        assert darkening[near].mean() > 3 and darkening[far].max() == 0, r_on["id"]
    assert all(row["identical"] for row in regenerate(on, 1, on / "again").values())


def _dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def make_pictures(folder: Path) -> dict[str, np.ndarray]:
    """Small random pictures of several sizes and modes (smaller than twice the image size: not reduced)."""
    folder.mkdir()
    g = np.random.default_rng(0)
    made = {}
    for name, (h, w) in {"a.png": (70, 90), "b.png": (100, 80), "c.jpg": (66, 66)}.items():
        image = Image.fromarray(g.integers(0, 256, (h, w, 3), dtype=np.uint8))
        image.save(folder / name)
        made[name] = np.asarray(Image.open(folder / name).convert("RGB"))  # as decoded (the JPEG is lossy)
    (folder / "notes.txt").write_text("not a picture: skipped")
    return made


def test_background_pictures_are_recorded_crops_and_regenerate(tmp_path):
    sources = make_pictures(tmp_path / "pictures")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "dataset",
            *PROTOTYPES[:2],
            "-o",
            str(out),
            "--variants",
            "1",
            "--views",
            "4",
            "--size",
            "48",
            "--seed",
            "1",
            "-j",
            "1",
            "-q",
            "--no-ground",
            "--backgrounds",
            f"noise,images:{tmp_path / 'pictures'}",
        ],
    )
    assert result.exit_code == 0, result.output
    records = manifest(out)
    pictured = [r for r in records if r["background"]["kind"] == "images"]
    assert (
        pictured
        and len(pictured) < len(records)
        and {r["background"]["file"] for r in pictured} <= set(sources)
    )
    meta = json.loads((out / "dataset.json").read_text())
    assert [p["file"] for p in meta["pictures"]] == ["a.png", "b.png", "c.jpg"] and meta[
        "format"
    ] == FORMAT_VERSION
    for r in pictured:
        b = r["background"]
        x0, y0, x1, y1 = b["crop"]
        picture = sources[b["file"]]
        assert b["reduce"] == 1 and 0 <= x0 < x1 <= picture.shape[1] and 0 <= y0 < y1 <= picture.shape[0]
        assert x1 - x0 == pytest.approx(y1 - y0) and x1 - x0 >= 0.5 * min(picture.shape[:2]) - 1e-9
        crop = np.asarray(
            Image.fromarray(picture).resize((48, 48), Image.Resampling.BILINEAR, box=(x0, y0, x1, y1))
        )
        background = ~_dilate(pixels(out, r, "parts") > 0, 1)  # not the object nor its anti-aliased edge
        assert background.sum() > 48 * 48 / 4
        assert np.array_equal(pixels(out, r, "image")[background], crop[background])
    for r in (pictured[0], next(r for r in records if r["background"]["kind"] == "noise")):
        assert all(row["identical"] for row in regenerate(out, r["id"], tmp_path / "again").values())
    Image.fromarray(np.zeros((70, 90, 3), np.uint8)).save(
        tmp_path / "pictures" / pictured[0]["background"]["file"]
    )
    with pytest.raises(Proto3dError, match="changed since"):
        regenerate(out, pictured[0]["id"], tmp_path / "again")


def test_large_pictures_are_reduced_before_cropping(tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    Image.fromarray(np.full((200, 300, 3), 90, np.uint8)).save(folder / "big.png")
    settings = dataclasses.replace(
        SETTINGS, views=2, backgrounds=("images",), background_folder=str(folder), size=32
    )
    build_dataset(PROTOTYPES[:1], tmp_path / "out", settings, workers=1)
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert meta["pictures"][0]["reduce"] == 200 // 32
    for r in manifest(tmp_path / "out"):
        assert r["background"]["reduce"] == 6 and r["background"]["crop"][3] <= 200 // 6
        corner = pixels(tmp_path / "out", r, "image")[0, 0]
        assert corner.tolist() == [90, 90, 90]


@pytest.mark.parametrize("case", ["missing", "empty", "unreadable"])
def test_a_bad_picture_folder_is_an_error_before_any_work(tmp_path, case):
    folder = tmp_path / "pictures"
    if case != "missing":
        folder.mkdir()
    if case == "unreadable":
        Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(folder / "good.png")
        (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a JPEG")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["dataset", PROTOTYPES[0], "-o", str(out), "--backgrounds", f"solid,images:{folder}"]
    )
    assert result.exit_code == 1
    expected = {"missing": "no such folder", "empty": "holds no pictures", "unreadable": "broken.jpg"}[case]
    assert expected in result.output and "Traceback" not in result.output
    assert not out.exists()  # nothing was started


@pytest.mark.parametrize(
    "args",
    [
        ["--fill", "0.9:0.3"],
        ["--fill", "big"],
        ["--fill", "0:0.5"],
        ["--backgrounds", "solid,photos"],
        ["--backgrounds", "images:"],
    ],
)
def test_bad_framing_or_background_options_are_usage_errors(tmp_path, args):
    result = CliRunner().invoke(cli, ["dataset", PROTOTYPES[0], "-o", str(tmp_path / "out"), *args])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_fixed_fill_and_a_dataset_of_the_old_format_is_not_resumed(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "dataset",
            PROTOTYPES[1],
            "-o",
            str(out),
            "--variants",
            "1",
            "--views",
            "2",
            "--size",
            "32",
            "--fill",
            "0.5",
            "--no-ground",
            "-j",
            "1",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert {(r["camera"]["fill"], r["shadow"]) for r in manifest(out)} == {(0.5, None)}
    meta = json.loads((out / "dataset.json").read_text())
    meta["format"] = FORMAT_VERSION - 1
    (out / "dataset.json").write_text(json.dumps(meta))
    settings = Settings(variants=1, views=2, size=32, fill=(0.5, 0.5), ground=False)
    with pytest.raises(Proto3dError, match="other settings"):
        build_dataset(PROTOTYPES[1:2], out, settings, workers=1)
