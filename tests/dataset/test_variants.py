"""Parameter variants: ranges, integers, seeds, standalone programs, redraws, `proto3d sample`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from proto3d.cli import cli
from proto3d.compiler import compile_text
from proto3d.dataset.variants import param_specs, sample_variants, with_defaults
from proto3d.grammar import Proto3dError

ROOT = Path(__file__).resolve().parents[2]
STOOL = (ROOT / "examples" / "stool.pdsl").read_text()  # seat_h float in [0.55, 0.75], n_legs int in [3, 5]

PROGRAM = """shape "slab"
# width of the slab
param w = 2 in [0, 3]   # an integer param; w = 0 divides by zero below
param t = 5cm in [1cm, 10cm]
part slab { box(size=[1 / w, 1, t]) }
"""

ONLY_DEFAULT = """shape "fussy"
param t = 0.5 in [0.0, 1.0]
if t == 0.5 { part a { box(size=[1, 1, 1]) } }
else { part a { box(size=[1, 1, 1 / (t - t)]) } }   # every draw but the default fails
"""


def test_variants_respect_ranges_and_integers():
    specs = param_specs(STOOL)
    assert specs["n_legs"]["integer"] and not specs["seat_h"]["integer"]
    variants = sample_variants(STOOL, 40, seed=3)
    for v in variants:
        for name, spec in specs.items():
            assert spec["lo"] <= v.params[name] <= spec["hi"]
        assert type(v.params["n_legs"]) is int and type(v.params["seat_h"]) is float
    assert {v.params["n_legs"] for v in variants} == {3, 4, 5}  # every integer in the closed range
    seats = [v.params["seat_h"] for v in variants]
    assert len(set(seats)) == len(seats)


def test_seed_reproduces_and_variant_k_does_not_depend_on_n():
    a = sample_variants(STOOL, 6, seed=7)
    assert [v.params for v in a] == [v.params for v in sample_variants(STOOL, 6, seed=7)]
    assert [v.params for v in a[:3]] == [v.params for v in sample_variants(STOOL, 3, seed=7)]
    assert [v.params for v in a[4:]] == [v.params for v in sample_variants(STOOL, 2, seed=7, start=4)]
    assert [v.params for v in a] != [v.params for v in sample_variants(STOOL, 6, seed=8)]
    assert [v.params for v in a] != [v.params for v in sample_variants(STOOL, 6, seed=7, key=1)]


def test_variant_programs_compile_alone_with_the_sampled_defaults():
    for v in sample_variants(STOOL, 5, seed=0):
        shape = compile_text(v.text)
        assert {k: p["value"] for k, p in shape.params.items()} == v.params
        assert {k: p["default"] for k, p in shape.params.items()} == v.params
        reference = compile_text(STOOL, params=v.params)  # the same shape as overriding the params
        assert (shape.vertices == reference.vertices).all() and (shape.part_id == reference.part_id).all()
        assert v.text.count("\n") == STOOL.count("\n") and "#" in v.text  # comments and lines kept


def test_with_defaults_rewrites_only_the_defaults():
    text = with_defaults(PROGRAM, {"w": 3, "t": 0.0625})
    assert "param w = 3 in [0, 3]   # an integer param" in text
    assert "param t = 0.0625 in [1cm, 10cm]" in text
    assert compile_text(text).params["w"]["integer"]
    with pytest.raises(Proto3dError, match="no param `depth`"):
        with_defaults(PROGRAM, {"depth": 1.0})


def test_failing_draws_are_redrawn():
    variants = sample_variants(PROGRAM, 30, seed=0)
    assert all(v.params["w"] != 0 for v in variants)  # w = 0 fails to compile and is redrawn
    assert {v.params["w"] for v in variants} == {1, 2, 3}
    with pytest.raises(Proto3dError, match="no draw of the params compiled"):
        sample_variants(ONLY_DEFAULT, 1)


def test_program_without_params_has_its_defaults():
    text = 'shape "cube"\npart cube { box(size=[1, 1, 1]) }\n'
    assert [(v.params, v.text) for v in sample_variants(text, 2)] == [({}, text), ({}, text)]


def test_sample_command(tmp_path):
    src = tmp_path / "stool.pdsl"
    src.write_text(STOOL)
    result = CliRunner().invoke(
        cli, ["sample", str(src), "-n", "4", "--seed", "0", "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    listing = json.loads((tmp_path / "out" / "variants.json").read_text())
    assert [row["file"] for row in listing["variants"]] == [f"stool_{i:04d}.pdsl" for i in range(4)]
    assert listing["variants"][0]["params"] == sample_variants(STOOL, 1, key=listing_key("stool"))[0].params
    for row in listing["variants"]:
        assert isinstance(row["params"]["n_legs"], int)
        shape = compile_text((tmp_path / "out" / row["file"]).read_text())
        assert shape.params["n_legs"]["value"] == row["params"]["n_legs"]
    bad = CliRunner().invoke(cli, ["sample", str(tmp_path / "missing.pdsl"), "-o", str(tmp_path)])
    assert bad.exit_code != 0


def listing_key(name: str) -> int:
    from proto3d.dataset.variants import stable_key

    return stable_key(name)


def test_sample_into_a_used_folder_is_refused_and_overwrite_removes_only_its_own_files(tmp_path):
    src, out = tmp_path / "stool.pdsl", tmp_path / "out"
    src.write_text(STOOL)
    first = CliRunner().invoke(cli, ["sample", str(src), "-n", "4", "-o", str(out)])
    assert first.exit_code == 0, first.output
    assert json.loads((out / "variants.json").read_text())["files"] == [
        "stool_0000.pdsl",
        "stool_0001.pdsl",
        "stool_0002.pdsl",
        "stool_0003.pdsl",
        "variants.json",
    ]
    (out / "README.txt").write_text("my notes")
    again = CliRunner().invoke(cli, ["sample", str(src), "-n", "2", "-o", str(out)])
    assert again.exit_code == 2 and "is not empty; give --overwrite" in again.output
    assert len(list(out.glob("stool_*.pdsl"))) == 4
    fewer = CliRunner().invoke(cli, ["sample", str(src), "-n", "2", "-o", str(out), "--overwrite"])
    assert fewer.exit_code == 0, fewer.output
    assert sorted(p.name for p in out.iterdir()) == [
        "README.txt",
        "stool_0000.pdsl",
        "stool_0001.pdsl",
        "variants.json",
    ]
    assert [row["file"] for row in json.loads((out / "variants.json").read_text())["variants"]] == [
        "stool_0000.pdsl",
        "stool_0001.pdsl",
    ]
