"""`proto3d render` end to end on a real program: files written, errors formatted, exit codes."""
from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from proto3d.render_cmd import render_command

CHAIR = """\
shape "chair"
bounds [0.50, 0.55, 0.90]
param seat_h = 0.45 in [0.40, 0.50]
let leg_r = 0.02

part seat color "#8b5a2b" {
    box(size=[0.46, 0.44, 0.05], at=[0, 0, seat_h], align="top")
}
for x in [-0.2, 0.2], y in [-0.18, 0.18] {
    part leg {
        cylinder(r=leg_r, h=seat_h - 0.05, at=[x, y, 0], align="bottom")
    }
}
part backrest {
    box(size=[0.46, 0.04, 0.42], at=[0, seat.back.y - 0.02, seat.top.z], align="bottom", rot=[-8, 0, 0])
}
"""


def run(args, tmp_path, text=CHAIR):
    src = tmp_path / "chair.pdsl"
    src.write_text(text)
    return CliRunner().invoke(render_command, [str(src), "-o", str(tmp_path / "out"), *args])


def test_render_writes_views_sheet_and_json(tmp_path):
    result = run(["--views", "front,iso", "--size", "96", "--sheet"], tmp_path)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    for name in ("front_rgb.png", "iso_part.png", "iso_part_id.png", "front_depth.png", "iso.npz", "sheet.png",
                 "cameras.json", "visibility.json"):
        assert (out / name).exists(), name
    assert Image.open(out / "front_rgb.png").size == (96, 96)
    vis = json.loads((out / "visibility.json").read_text())
    assert [p["label"] for p in vis["parts"]] == ["seat", "leg", "backrest"]
    assert vis["invisible_parts"] == []
    assert [c["name"] for c in json.loads((out / "cameras.json").read_text())["views"]] == ["front", "iso"]
    assert "chair: 2 views at 96x96" in result.output and "seat" in result.output


def test_orbit_passes_and_camera_reuse(tmp_path):
    result = run(["--orbit", "3", "--size", "48", "--passes", "part,depth", "--samples", "1"], tmp_path)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert sorted(p.name for p in out.glob("orbit_000*")) == [
        "orbit_000.npz", "orbit_000_depth.png", "orbit_000_part.png", "orbit_000_part_id.png"]
    again = CliRunner().invoke(render_command, [str(tmp_path / "chair.pdsl"), "-o", str(tmp_path / "again"),
                                                "--cameras", str(out / "cameras.json"), "--passes", "part"])
    assert again.exit_code == 0, again.output
    np.testing.assert_array_equal(np.load(tmp_path / "again" / "orbit_002.npz")["part"], np.load(out / "orbit_002.npz")["part"])


def test_errors_are_messages_not_tracebacks(tmp_path):
    bad = run([], tmp_path, text='shape "x"\npart a { cube(size=1) }\n')
    assert bad.exit_code == 1 and "chair.pdsl:2" in bad.output and "Traceback" not in bad.output
    for args, needle in [
        (["--views", "frnot"], "R002"),
        (["--size", "0"], "R003"),
        (["--orbit", "0"], "R005"),
        (["--passes", "rgb,colour"], "R008"),
    ]:
        result = run(args, tmp_path)
        assert result.exit_code == 1 and needle in result.output and "Traceback" not in result.output, (args, result.output)
    (tmp_path / "cams.json").write_text("{not json")
    result = run(["--cameras", str(tmp_path / "cams.json")], tmp_path)
    assert result.exit_code == 1 and "R004" in result.output
    both = run(["--views", "front", "--orbit", "4"], tmp_path)
    assert both.exit_code == 2 and "only one of" in both.output


def test_params_and_stdin(tmp_path):
    low = CliRunner().invoke(render_command, ["-", "-o", str(tmp_path / "low"), "--views", "front", "--size", "64",
                                              "--passes", "part", "-p", "seat_h=0.40"], input=CHAIR)
    high = CliRunner().invoke(render_command, ["-", "-o", str(tmp_path / "high"), "--views", "front", "--size", "64",
                                               "--passes", "part", "-p", "seat_h=0.50"], input=CHAIR)
    assert low.exit_code == 0 and high.exit_code == 0, low.output + high.output
    a, b = (np.load(tmp_path / d / "front.npz")["part"] for d in ("low", "high"))
    assert not np.array_equal(a, b)
    unreadable = CliRunner().invoke(render_command, [str(tmp_path / "missing.pdsl"), "-o", str(tmp_path / "x")])
    assert unreadable.exit_code == 1 and "cannot read" in unreadable.output


def test_lints_are_printed(tmp_path):
    floating = 'shape "x"\npart a { box(size=[1, 1, 1], at=[0, 0, 0.5]) }\npart b { sphere(r=0.2, at=[3, 0, 3]) }\n'
    result = run(["--views", "front", "--size", "32"], tmp_path, text=floating)
    assert result.exit_code == 0 and "warning" in result.output


def test_help_explains_every_option():
    result = CliRunner().invoke(render_command, ["--help"])
    assert result.exit_code == 0
    for option in ("--out", "--views", "--orbit", "--elevation", "--cameras", "--size", "--passes", "--antialias", "--samples", "--sheet", "--transparent", "--param"):
        assert option in result.output


def test_unwritable_output_is_a_message(tmp_path):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    src = tmp_path / "chair.pdsl"
    src.write_text(CHAIR)
    result = CliRunner().invoke(render_command, [str(src), "-o", str(tmp_path / "blocker" / "out"), "--size", "32"])
    assert result.exit_code == 1 and "cannot create output folder" in result.output and "Traceback" not in result.output
